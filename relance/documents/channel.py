"""The letter and registered-letter channels: a communication becomes a PDF letter
(``letters``), filed for the day's print batch, or handed to an online mail service for a
registered letter when one is set up (``relance.channels.registered_mail``).

A letter that must state penalties whose rate Relance does not know is held (``Held``):
the outbox keeps it queued and gives a person a task naming the rate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile

from relance.channels import registered_mail, registry
from relance.channels.base import Delivery, Held, Outgoing
from relance.channels.context import contact_name
from relance.documents import letters, typesetting
from relance.documents.models import Letter, Route
from relance.dunning.batch import Facts
from relance.dunning.models import Communication, CommunicationItem, StepChannel
from relance.ledger.models import Address
from relance.ledger.postal import PostalAddress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Posted:
    """What the transport files: the letter, its PDF, for which communication."""

    communication_id: int
    letter: letters.Letter
    pdf: bytes


def build_letter(
    comm: Communication, items: Sequence[CommunicationItem], today: date, facts: Facts
) -> Outgoing:
    """The PDF letter of ``comm``; raises ``NoRecipient`` (no postal address) and ``Held``
    (a rate it must state is unknown)."""
    org = comm.organisation
    plan = facts.plans.get(comm.pk)
    request = letters.Request(
        organisation=org,
        customer=comm.customer,
        template=comm.template,
        day=today,
        invoices=[item.invoice for item in items],
        language=comm.language,
        registered=comm.channel == StepChannel.REGISTERED_LETTER,
        reference=f"R{comm.pk}",
        contact_name=contact_name(facts.contacts.get(comm.customer_id, [])),
        plan={"agreed_on": plan.agreed_on, "instalments": plan.instalments} if plan else None,
        tables=facts.rate_tables,
        portal_url=facts.portal_urls.get(comm.customer_id, ""),
    )
    addresses = list(Address.objects.filter(customer_id=comm.customer_id))
    project = letters.project_of(org)
    try:
        letter = letters.build(request, addresses, project)
    except letters.RateMissing as error:
        raise Held(f"a rate the letter must state is unknown: {error}", key="rate") from error
    pdf = letters.typeset(org, project, [letter], title=str(letter.data["subject"]))
    to = letter.data["to"]
    address = ", ".join([to["name"], *to["lines"]])
    return Outgoing(
        payload=Posted(comm.pk, letter, pdf),
        message_id=f"letter.{comm.pk}",
        recipients=(address,),
        subject=str(letter.data["subject"]),
        text=describe(letter),
    )


def describe(letter: letters.Letter) -> str:
    """What the timeline shows of a letter: the address and the sums; the PDF is kept."""
    data = letter.data
    lines = [data["subject"], "", data["to"]["name"], *data["to"]["lines"], ""]
    lines += [f"{row['number']}  {row['due']}  {row['balance']}" for row in data["invoices"]]
    if data["claimed_text"]:
        lines += ["", data["claimed_text"]]
    return "\n".join(lines)


def file_letter(posted: Posted, route: str = Route.PRINT) -> Letter:
    """Keep the letter and its PDF: waiting for the print batch, or for the mail service."""
    letter, request = posted.letter, posted.letter.request
    to = letter.data["to"]
    row = Letter(
        organisation=request.organisation,
        customer=request.customer,
        communication_id=posted.communication_id,
        template=request.template,
        module=letter.module,
        language=letter.data["lang"],
        day=request.day,
        registered=request.registered,
        route=route,
        recipient={"name": to["name"], "lines": to["lines"]},
        country=letter.data["country"],
        postcode=letter.data["postcode"],
        # Its length, for "page 2 / 3" in the batch without a document-wide query.
        data={**letter.data, "pages": typesetting.page_count(posted.pdf)},
    )
    row.pdf.save(f"{request.organisation.pk}-{posted.communication_id}.pdf",
                 ContentFile(posted.pdf), save=False)  # fmt: skip
    row.save()
    return row


class PostTransport:
    """Files each letter: for the print batch, or with the online registered-mail service
    when one is set up. Nothing leaves the building here: the batch or the service does."""

    channel: str = StepChannel.LETTER

    def open(self) -> None:
        pass

    def send(self, message: Any) -> Delivery:
        # Filed by the outbox with the outcome (its thread, its transaction): nothing here
        # touches the database.
        return Delivery(record=lambda: keep(message))

    def close(self) -> None:
        pass


def keep(posted: Posted) -> dict[str, Any]:
    """File the letter (and its registered-letter record); the details for the timeline."""
    route = Route.PROVIDER if _provider_takes(posted) else Route.PRINT
    row = file_letter(posted, route)
    details: dict[str, Any] = {"letter": row.pk, "route": route}
    registered = _register(row, posted)
    if registered is not None:
        details["registered_letter"] = registered
    return details


def _provider_takes(posted: Posted) -> bool:
    """Whether an online registered-mail service posts this letter (a registered one)."""
    return posted.letter.request.registered and bool(settings.RELANCE_REGISTERED_MAIL_PROVIDER)


def _register(row: Letter, posted: Posted) -> int | None:
    """A registered letter gets its record at once (tracking number, receipt, the date a
    deadline counts from), and goes to the online service when there is one."""
    if not row.registered:
        return None
    request = posted.letter.request
    record = registered_mail.prepare(
        row.communication,
        request.organisation,
        request.customer,
        posted.pdf,
        PostalAddress.from_dict(posted.letter.data["address"]),
        acknowledgement=True,
        provider_name=None if row.route == Route.PROVIDER else "",
    )
    return int(record.pk)


registry.register(StepChannel.LETTER, build=build_letter, transport=PostTransport)
registry.register(StepChannel.REGISTERED_LETTER, build=build_letter, transport=PostTransport)
