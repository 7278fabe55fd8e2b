"""Bounces: an address that cannot receive mail is marked invalid and a person is asked
for a better one. Fed by SMTP refusals at send time and by providers' webhooks (through
django-anymail's ``tracking`` signal, connected in ``apps``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.dunning import tasks
from relance.dunning.models import CommStatus, Communication, StepChannel
from relance.ledger import timeline
from relance.ledger.models import Contact
from relance.ledger.timeline import Text

log = logging.getLogger(__name__)


@dataclass
class BounceResult:
    communication_id: int | None = None
    invalidated: list[int] = field(default_factory=list)  # contact ids
    tasks: int = 0


def normalise_message_id(message_id: str) -> str:
    text = message_id.strip()
    if text and not text.startswith("<"):
        text = f"<{text}>"
    return text


def find_communication(message_id: str | None, recipient: str | None) -> Communication | None:
    """Ours by Message-ID, else the latest e-mail sent to that address."""
    comms = Communication.objects.select_related("organisation", "customer")
    if message_id:
        comm = comms.filter(message_id=normalise_message_id(message_id)).first()
        if comm is not None:
            return comm
    if recipient:
        return (
            comms.filter(
                channel=StepChannel.EMAIL,
                status__in=[CommStatus.SENT, CommStatus.AMBIGUOUS],
                recipient__icontains=recipient.strip().lower(),
            )
            .order_by("-sent_at", "-pk")
            .first()
        )
    return None


@transaction.atomic
def record_bounce(
    *,
    message_id: str | None = None,
    recipient: str | None = None,
    permanent: bool = True,
    reason: str = "",
) -> BounceResult:
    """A message came back. Permanent: its address is marked invalid and a task opened;
    temporary: only noted on the customer's timeline (the next message will try again)."""
    today = timezone.localdate()
    comm = find_communication(message_id, recipient)
    result = BounceResult(communication_id=comm.pk if comm else None)
    if comm is None:
        if permanent and recipient:
            # Unknown message: the address is invalid wherever it is used.
            for contact in Contact.objects.filter(
                email__iexact=recipient.strip(), email_valid=True
            ):
                result.invalidated += _invalidate(contact, reason, today, None)
                result.tasks += 1
        else:
            log.info("bounce for an unknown message %s / %s", message_id, recipient)
        return result
    addresses = [recipient.strip().lower()] if recipient else _addresses(comm.recipient)
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
    better one. The billing e-mail has no validity flag: the task says to fix it."""
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


def _invalidate(
    contact: Contact, reason: str, today: date, comm: Communication | None
) -> list[int]:
    Contact.objects.filter(pk=contact.pk).update(email_valid=False)
    organisation = (
        comm.organisation if comm else Organisation.objects.get(pk=contact.organisation_id)
    )
    title = Text(
        gettext_noop("Find a valid e-mail address for %(contact)s: %(address)s bounced"),
        {"contact": contact.name, "address": contact.email},
    )
    _task(
        organisation,
        contact.customer_id,
        f"invalid_email:{contact.pk}:{today}",
        title,
        today,
        comm,
        {"contact": contact.pk, "address": contact.email, "reason": reason},
    )
    return [contact.pk]


def _task(
    organisation: Organisation,
    customer_id: int,
    key: str,
    title: Text,
    today: date,
    comm: Communication | None,
    data: dict[str, Any],
) -> None:
    tasks.open_task(
        organisation,
        key=key,
        customer_id=customer_id,
        kind="invalid_email",
        title=title,
        due_on=today,
        communication_id=comm.pk if comm else None,
        data=data,
    )


def _addresses(recipient_field: str) -> list[str]:
    return [part.strip().lower() for part in recipient_field.split(",") if part.strip()]


# -- django-anymail -----------------------------------------------------------------------


def on_tracking_event(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    """django-anymail's ``tracking`` signal: bounces and rejections become bounces here."""
    kind = getattr(event, "event_type", "")
    if kind == "bounced":
        permanent = True
    elif kind == "rejected":
        permanent = getattr(event, "reject_reason", None) in {"invalid", "bounced"}
    else:  # deliveries, opens, deferrals: nothing to act on
        return
    record_bounce(
        message_id=getattr(event, "message_id", None),
        recipient=getattr(event, "recipient", None),
        permanent=permanent,
        reason=f"{esp_name}: {event.description or event.mta_response or kind}",
    )
