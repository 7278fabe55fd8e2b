"""Bounces: an address that cannot receive mail is marked invalid and a person is asked
for a better one. Fed by SMTP refusals at send time and by providers' webhooks (through
django-anymail's ``tracking`` signal, connected in ``apps``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import getaddresses, parseaddr
from typing import Any

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.email import COMMUNICATION_METADATA
from relance.dunning import tasks
from relance.dunning.models import CommStatus, Communication, StepChannel
from relance.ledger import timeline
from relance.ledger.models import Contact
from relance.ledger.timeline import Text

log = logging.getLogger(__name__)


# How far back an address-only bounce looks for the message it is about: providers report
# bounces within minutes to days; an older message to the address is not evidence.
RECENT = timedelta(days=30)


@dataclass(frozen=True)
class Match:
    """The communication a provider's event is about, and how it was found."""

    communication: Communication | None = None
    by: str = ""  # "communication", "message_id", "address" or "" (nothing matched)
    # Organisations that all sent to the address recently: no single one can be chosen.
    ambiguous: tuple[int, ...] = ()


@dataclass
class BounceResult:
    communication_id: int | None = None
    invalidated: list[int] = field(default_factory=list)  # contact ids
    tasks: int = 0
    organisation_id: int | None = None
    matched_by: str = ""
    ambiguous: tuple[int, ...] = ()


def normalise_message_id(message_id: str) -> str:
    text = message_id.strip()
    if text and not text.startswith("<"):
        text = f"<{text}>"
    return text


def bare_address(text: str | None) -> str:
    """The address alone, lower-cased; "" unless it looks like one (``local@domain``)."""
    address = parseaddr(text or "")[1].strip().lower()
    return address if "@" in address.strip("@") else ""


def pick(
    candidates: Iterable[tuple[int, int, str]], address: str
) -> tuple[int | None, tuple[int, ...]]:
    """Among ``(communication, organisation, recipient field)`` rows, latest first: the
    communication sent to exactly ``address``, when one organisation alone sent to it.
    Several organisations: none is chosen, and they are returned as ambiguous."""
    latest: dict[int, int] = {}
    for comm_id, org_id, recipients in candidates:
        if org_id not in latest and address in _addresses(recipients):
            latest[org_id] = comm_id
    if len(latest) == 1:
        return next(iter(latest.values())), ()
    return None, tuple(sorted(latest))


def match_communication(
    message_id: str | None,
    recipient: str | None,
    *,
    now: datetime,
    communication: str | int | None = None,
) -> Match:
    """The e-mail named by the provider (``communication``, the metadata we sent with it);
    else ours by Message-ID; else the latest e-mail sent to exactly that address within
    ``RECENT``, by the one organisation that sent to it (never a substring, never a guess
    between organisations)."""
    comms = Communication.objects.select_related("organisation", "customer")
    if _communication_id(communication):
        comm = comms.filter(pk=int(str(communication)), channel=StepChannel.EMAIL).first()
        if comm is not None:
            return Match(comm, "communication")
    if message_id and (normalised := normalise_message_id(message_id)):
        comm = comms.filter(message_id=normalised).first()
        if comm is not None:
            return Match(comm, "message_id")
    address = bare_address(recipient)
    if not address:
        return Match()
    rows = (
        Communication.objects.annotate(at=Coalesce("sent_at", "claimed_at"))
        .filter(
            channel=StepChannel.EMAIL,
            status__in=[CommStatus.SENT, CommStatus.AMBIGUOUS],
            at__gte=now - RECENT,
            recipient__icontains=address,  # narrows; ``pick`` compares exactly
        )
        .order_by("-at", "-pk")
        .values_list("pk", "organisation_id", "recipient")
    )
    comm_id, ambiguous = pick(rows, address)
    if comm_id is None:
        return Match(ambiguous=ambiguous)
    return Match(comms.get(pk=comm_id), "address")


def _communication_id(value: str | int | None) -> bool:
    """Whether the provider's echo can be one of our ids (plain digits, within bigint)."""
    text = str(value) if value is not None else ""
    return text.isascii() and text.isdigit() and len(text) <= 18


@transaction.atomic
def record_bounce(
    *,
    message_id: str | None = None,
    recipient: str | None = None,
    permanent: bool = True,
    reason: str = "",
    now: datetime | None = None,
    communication: str | int | None = None,
) -> BounceResult:
    """A message came back. Permanent: its address is marked invalid and a task opened;
    temporary: only noted on the customer's timeline (the next message will try again).
    Only in the organisation of the matched communication: a bounce matching none changes
    nothing."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    found = match_communication(message_id, recipient, now=now, communication=communication)
    comm = found.communication
    result = BounceResult(
        communication_id=comm.pk if comm else None,
        organisation_id=comm.organisation_id if comm else None,
        matched_by=found.by,
        ambiguous=found.ambiguous,
    )
    if comm is None:
        if found.ambiguous:
            log.warning(
                "bounce for %s without a known message: organisations %s all sent to it,"
                " none is changed",
                recipient,
                ", ".join(map(str, found.ambiguous)),
            )
        else:
            log.info("bounce for an unknown message %s / %s", message_id, recipient)
        return result
    address = bare_address(recipient)
    addresses = [address] if address else _addresses(comm.recipient)
    Communication.objects.filter(pk=comm.pk).update(last_error=f"bounced: {reason}"[:2000])
    timeline.record(
        comm.organisation,
        comm.customer_id,
        "email_bounced" if permanent else "email_delayed",
        Text(
            gettext_noop("E-mail to %(addresses)s bounced")
            if permanent
            else gettext_noop("E-mail to %(addresses)s delayed"),
            {"addresses": ", ".join(addresses)},
        ),
        data={"communication": comm.pk, "reason": reason, "permanent": permanent},
    )
    if permanent:
        for address in addresses:
            invalidated = invalidate_address(comm, address, reason, today)
            result.invalidated += invalidated
            result.tasks += 1
    return result


def invalidate_address(comm: Communication, address: str, reason: str, today: date) -> list[int]:
    """Marks the customer's contacts at ``address`` invalid and opens a task to find a
    better one. The billing e-mail has no validity flag: the task says to fix it. For a
    text message, ``address`` is a number (E.164) and the same is done with phones."""
    if comm.channel == StepChannel.SMS:
        return _invalidate_number(comm, address, reason, today)
    contacts = list(
        Contact.objects.filter(customer_id=comm.customer_id, email__iexact=address.strip())
    )
    invalidated: list[int] = []
    for contact in contacts:
        invalidated += _invalidate(contact, reason, today, comm)
    if not contacts:
        title = Text(
            gettext_noop("The e-mail address %(address)s of %(customer)s bounced: correct it"),
            {"address": address, "customer": comm.customer.legal_name},
        )
        _task(
            comm.organisation,
            comm.customer_id,
            f"invalid_email:{comm.customer_id}:{address}",
            title,
            today,
            comm,
            {"address": address, "reason": reason},
        )
    return invalidated


def _invalidate(contact: Contact, reason: str, today: date, comm: Communication) -> list[int]:
    Contact.objects.filter(pk=contact.pk).update(email_valid=False)
    title = Text(
        gettext_noop("Find a valid e-mail address for %(contact)s: %(address)s bounced"),
        {"contact": contact.name, "address": contact.email},
    )
    _task(
        comm.organisation,
        contact.customer_id,
        f"invalid_email:{contact.pk}:{today}",
        title,
        today,
        comm,
        {"contact": contact.pk, "address": contact.email, "reason": reason},
    )
    return [contact.pk]


def _invalidate_number(comm: Communication, number: str, reason: str, today: date) -> list[int]:
    """A text message to ``number`` could not be delivered for good: the contacts with
    that number get their phone marked invalid, and a person a task to find another."""
    from relance.channels.sms.numbers import NotMobile, normalise

    country = comm.customer.country or "FR"
    invalidated: list[int] = []
    for contact in Contact.objects.filter(customer_id=comm.customer_id).exclude(phone=""):
        try:
            same = normalise(contact.phone, country) == number
        except NotMobile:
            same = False
        if same:
            Contact.objects.filter(pk=contact.pk).update(phone_valid=False)
            invalidated.append(contact.pk)
    title = Text(
        gettext_noop("Find a valid mobile number for %(customer)s: texts to %(number)s fail"),
        {"customer": comm.customer.legal_name, "number": number},
    )
    _task(
        comm.organisation,
        comm.customer_id,
        f"invalid_phone:{comm.customer_id}:{number}",
        title,
        today,
        comm,
        {"number": number, "contacts": invalidated, "reason": reason},
        kind="invalid_phone",
    )
    return invalidated


def _task(
    organisation: Organisation,
    customer_id: int,
    key: str,
    title: Text,
    today: date,
    comm: Communication,
    data: dict[str, Any],
    kind: str = "invalid_email",
) -> None:
    tasks.open_task(
        organisation,
        key=key,
        customer_id=customer_id,
        kind=kind,
        title=title,
        due_on=today,
        communication_id=comm.pk,
        data=data,
    )


def _addresses(recipient_field: str) -> list[str]:
    """Each address of a recipient field (``a@x, Name <b@y>``), bare and lower-cased."""
    return [a.strip().lower() for _, a in getaddresses([recipient_field]) if a.strip()]


# -- django-anymail -----------------------------------------------------------------------


def on_tracking_event(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """django-anymail's ``tracking`` signal, for a delivery that passed the webhook's secret:
    bounces and rejections become bounces here; every event is written to the audit trail,
    in the organisation of the communication it matched (none when it matched nothing)."""
    kind = getattr(event, "event_type", None) or "unknown"
    message_id = getattr(event, "message_id", None)
    recipient = getattr(event, "recipient", None)
    metadata = getattr(event, "metadata", None)
    communication = metadata.get(COMMUNICATION_METADATA) if isinstance(metadata, dict) else None
    permanent = _bounce(kind, getattr(event, "reject_reason", None))
    description = getattr(event, "description", None) or getattr(event, "mta_response", None)
    data: dict[str, Any] = {
        "event_type": kind,
        "event_id": getattr(event, "event_id", None),
        "message_id": message_id,
        "communication": communication,
        "recipient": recipient,
        "reject_reason": getattr(event, "reject_reason", None),
        "description": (description or "")[:500],
    }
    with transaction.atomic():  # the bounce and its audit event, or neither
        if permanent is None:  # deliveries, opens, deferrals: nothing to act on
            found = match_communication(
                message_id, recipient, now=timezone.now(), communication=communication
            )
            comm_id = found.communication.pk if found.communication else None
            org_id = found.communication.organisation_id if found.communication else None
            matched_by, ambiguous = found.by, found.ambiguous
        else:
            result = record_bounce(
                message_id=message_id,
                recipient=recipient,
                permanent=permanent,
                reason=f"{esp_name}: {description or kind}",
                communication=communication,
            )
            comm_id, org_id = result.communication_id, result.organisation_id
            matched_by, ambiguous = result.matched_by, result.ambiguous
            data |= {
                "permanent": permanent,
                "invalidated": result.invalidated,
                "tasks": result.tasks,
            }
        data |= {"matched_by": matched_by, "ambiguous_organisations": list(ambiguous)}
        trail.record(
            org_id,
            f"webhook.{kind}",
            actor=f"webhook:{esp_name}",
            target=("communication", comm_id) if comm_id else None,
            summary=recipient or message_id or "",
            data=data,
        )


def _bounce(kind: str, reject_reason: str | None) -> bool | None:
    """Whether an event is a permanent bounce, a temporary one, or (None) not a bounce."""
    if kind == "bounced":
        return True
    if kind == "rejected":
        return reject_reason in {"invalid", "bounced"}
    return None
