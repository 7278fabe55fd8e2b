"""The daily print batch: every letter waiting to be posted by the organisation, typeset
again in one PDF in postal order (country, postcode), with its list (the registered ones
marked, for the post office's deposit slip)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Case, When

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.documents import letters, typesetting
from relance.documents.models import Letter, PrintBatch, Route

LIST_COLUMNS = ("rank", "customer", "name", "address", "postcode", "country", "template",
                "registered", "letter")  # fmt: skip


@dataclass(frozen=True)
class Batch:
    batch: PrintBatch | None
    pdf: bytes
    rows: list[dict[str, Any]]

    def list_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=LIST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


# Postal order, for the list, the batch and the console alike: France first, then abroad by
# country; by postcode, then name.
POSTAL_ORDER = (
    Case(When(country="FR", then=0), default=1),
    "country",
    "postcode",
    "customer__legal_name",
    "pk",
)


def waiting(organisation: Organisation, day: date) -> Any:
    """The letters of ``day`` or before that no batch has printed, in postal order."""
    return (
        Letter.objects.filter(
            organisation_id=organisation.pk, route=Route.PRINT, batch__isnull=True, day__lte=day
        )
        .select_related("customer")
        .order_by(*POSTAL_ORDER)
    )


def make_batch(
    organisation: Organisation, day: date, *, user: Any = None, dry_run: bool = False
) -> Batch:
    """Typeset the letters waiting into one PDF and mark them printed (all or none);
    ``dry_run`` makes the PDF and marks nothing."""
    found = list(waiting(organisation, day))
    rows = listing(found)
    if not found:
        return Batch(None, b"", rows)
    project = letters.project_of(organisation)
    pdf = _typeset(organisation, project, found, day)
    if dry_run:
        return Batch(None, pdf, rows)
    with transaction.atomic():
        batch = PrintBatch(
            organisation=organisation, day=day, count=len(found),
            registered=sum(1 for letter in found if letter.registered), created_by=user,
        )  # fmt: skip
        batch.file.save(f"{organisation.pk}-{day.isoformat()}.pdf", ContentFile(pdf), save=False)
        batch.save()
        marked = Letter.objects.filter(
            pk__in=[letter.pk for letter in found], batch__isnull=True
        ).update(batch=batch)
        if marked != len(found):  # another batch took some meanwhile: make it again
            raise BatchConflict("letters were printed by another batch meanwhile; try again")
        trail.record(
            organisation, "letters.batch", user=user, target=batch,
            summary=f"print batch of {len(found)} letters for {day.isoformat()}",
            data={"count": len(found), "registered": batch.registered},
        )  # fmt: skip
    return Batch(batch, pdf, rows)


# Letters typeset per Typst document: one document of 10,000 letters took 24 GB; the
# documents are then put end to end (docs/performance.md).
CHUNK = 250


def _typeset(
    organisation: Organisation, project: typesetting.Project, found: list[Letter], day: date
) -> bytes:
    """One PDF of the letters, in order, typeset ``CHUNK`` at a time and joined."""
    parts = []
    for start in range(0, len(found), CHUNK):
        chunk = found[start : start + CHUNK]
        parts.append(
            typesetting.compile_letters(
                project,
                [
                    (
                        _module(project, letter),
                        {**letter.data, "sender": {**letter.data["sender"], "logo": project.logo}},
                    )
                    for letter in chunk
                ],
                title=f"{organisation.name} {day.isoformat()}",
                author=organisation.legal_name or organisation.name,
                tagged=False,
            )
        )
    return parts[0] if len(parts) == 1 else typesetting.join_pdfs(parts)


def listing(found: list[Letter]) -> list[dict[str, Any]]:
    """The batch's list, in its order: what the post office's deposit slip asks."""
    return [
        {
            "rank": rank,
            "customer": letter.customer.reference,
            "name": letter.recipient["name"],
            "address": " / ".join(letter.recipient["lines"]),
            "postcode": letter.postcode,
            "country": letter.country,
            "template": letter.template,
            "registered": "yes" if letter.registered else "no",
            "letter": letter.pk,
        }
        for rank, letter in enumerate(found, 1)
    ]


def batch_listing(batch: PrintBatch) -> Batch:
    """A batch printed before: its list again (its PDF is ``batch.file``)."""
    found = list(batch.letters.select_related("customer").order_by(*POSTAL_ORDER))
    return Batch(batch, b"", listing(found))


class BatchConflict(Exception):
    pass


def _module(project: typesetting.Project, letter: Letter) -> str:
    """The template it was written with, or today's for its slug if that one is gone."""
    if letter.module in project.templates:
        return letter.module
    return typesetting.template_for(project, letter.language, letter.template)
