"""The daily print batch: every letter waiting to be posted by the organisation, in one PDF
in postal order (country, postcode), with its list (the registered ones marked, and each
letter's pages, for the post office's deposit slip). The batch is the filed PDFs put end to
end: what goes in the envelope is the letter the timeline keeps."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Case, When
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.documents import typesetting
from relance.documents.models import Letter, PrintBatch, Route
from relance.ledger.timeline import Text
from relance.lib import csvcells

LIST_COLUMNS = ("rank", "customer", "name", "address", "postcode", "country", "template",
                "registered", "pages", "letter")  # fmt: skip


@dataclass(frozen=True)
class Batch:
    batch: PrintBatch | None
    pdf: bytes
    rows: list[dict[str, Any]]

    def list_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=LIST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(map(csvcells.record, self.rows))  # names come from imports
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
        .with_pages()
    )


def make_batch(
    organisation: Organisation,
    day: date,
    *,
    user: Any = None,
    dry_run: bool = False,
    duplex: bool = False,
) -> Batch:
    """The letters waiting in one PDF, and marked printed (all or none); ``dry_run`` makes
    the PDF and marks nothing; ``duplex`` (printed on both sides): every letter starts on a
    sheet of its own (a blank back after a letter of an odd number of pages)."""
    found = list(waiting(organisation, day))
    rows = listing(found)
    if not found:
        return Batch(None, b"", rows)
    pdf = typesetting.join_pdfs((_filed(letter) for letter in found), duplex=duplex)
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
            summary=Text(gettext_noop("print batch of %(count)s letters for %(date)s"),
                         {"count": len(found), "date": lazy_short_date(day)}),
            data={"count": len(found), "registered": batch.registered, "duplex": duplex},
        )  # fmt: skip
    return Batch(batch, pdf, rows)


def _filed(letter: Letter) -> bytes:
    """The letter's PDF as filed: what is printed is the very letter the timeline keeps,
    and nothing is typeset again (docs/performance.md)."""
    try:
        with letter.pdf.open("rb") as file:
            return bytes(file.read())
    except (OSError, ValueError) as error:  # no file, or none recorded
        raise BatchConflict(
            f"the PDF of letter {letter.pk} ({letter.customer.reference}) is missing from "
            f"the storage: {error}"
        ) from error


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
            "pages": getattr(letter, "pages", None),  # with_pages()
            "letter": letter.pk,
        }
        for rank, letter in enumerate(found, 1)
    ]


def batch_listing(batch: PrintBatch) -> Batch:
    """A batch printed before: its list again (its PDF is ``batch.file``)."""
    found = list(batch.letters.select_related("customer").order_by(*POSTAL_ORDER).with_pages())
    return Batch(batch, b"", listing(found))


class BatchConflict(Exception):
    """The batch cannot be made as asked: nothing is marked printed."""
