"""What a person does with a reply: reads it (which lifts the pause it put on the
customer's reminders), applies the action it proposes through the engine's own services
(a promise, a dispute, a payment to check, a copy to send, a hold until a return date), or
dismisses it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.dunning import pauses, tasks
from relance.dunning.models import CommunicationItem, Task
from relance.ledger.models import DisputeReason, HoldKind, Invoice
from relance.ledger.timeline import Text, label
from relance.replies.models import Reply, ReplyKind, ReplyStatus

# The task kinds a reply opens, and when they fall due.
CHECK_PAYMENT = "check_payment"  # the kind a call's "says it paid" opens (dunning.calls)
SEND_COPY = "send_copy"
TASK_DAYS = 2


class ReplyError(ValueError):
    pass


@dataclass
class Proposal:
    """The action a reply proposes, as the console shows it before one click applies it."""

    action: str  # the reply's kind; "other": nothing to apply
    date: dt.date | None = None  # promise: the day; absence: the return date
    reason: str = ""  # dispute
    reference: str = ""  # paid
    invoices: list[Invoice] = field(default_factory=list)  # those it is about (proposed)


def open_invoices(reply: Reply) -> list[Invoice]:
    if reply.customer_id is None:
        return []
    return list(
        Invoice.objects.filter(customer_id=reply.customer_id, balance__gt=0).order_by(
            "due_date", "number"
        )
    )


def proposal(reply: Reply, owing: Sequence[Invoice] | None = None) -> Proposal:
    """The invoices a reply is about: those it names, else those of the reminder it
    answers still open (a promise or a payment about "all" when neither)."""
    owing = open_invoices(reply) if owing is None else owing
    named = set(reply.details.get("invoices") or [])
    about = [i for i in owing if i.number in named]
    if not about and reply.communication_id:
        reminded = set(
            CommunicationItem.objects.filter(communication_id=reply.communication_id).values_list(
                "invoice_id", flat=True
            )
        )
        about = [i for i in owing if i.pk in reminded]
    details = reply.details
    day = details.get("return_date") if reply.kind == ReplyKind.ABSENCE else details.get("date")
    return Proposal(
        action=reply.kind,
        date=dt.date.fromisoformat(day) if day else None,
        reason=details.get("reason", "") if reply.kind == ReplyKind.DISPUTE else "",
        reference=details.get("reference", ""),
        invoices=about,
    )


@transaction.atomic
def mark_read(reply: Reply, *, user: Any, on: dt.date | None = None) -> bool:
    """A person has read the reply: the customer's reminders resume once none of its
    replies waits (the hold is released through ``pauses.release_hold``). Returns whether
    it was new."""
    reply = Reply.objects.select_for_update().get(pk=reply.pk)
    if reply.status != ReplyStatus.NEW:
        return False
    on = on or timezone.localdate()
    reply.status, reply.read_by, reply.read_at = ReplyStatus.READ, user, timezone.now()
    reply.save(update_fields=["status", "read_by", "read_at"])
    _lift(reply, on, user)
    trail.record(reply.organisation_id, "reply.read", user=user, target=reply,
                 summary=Text(gettext_noop("reply from %(sender)s read"), {"sender": reply.sender}),
                 data={"kind": reply.kind})  # fmt: skip
    return True


def _lift(reply: Reply, on: dt.date, user: Any) -> None:
    hold = reply.hold
    if hold is None or hold.end_date is not None:
        return
    if Reply.objects.filter(hold=hold, status=ReplyStatus.NEW).exclude(pk=reply.pk).exists():
        return  # another reply of the customer still waits for a reader
    pauses.release_hold(hold, on=on, user_id=user.pk if user else None)


@transaction.atomic
def dismiss(reply: Reply, *, user: Any, on: dt.date | None = None) -> Reply:
    on = on or timezone.localdate()
    mark_read(reply, user=user, on=on)
    reply.refresh_from_db()
    if reply.status in (ReplyStatus.APPLIED, ReplyStatus.DISMISSED):
        raise ReplyError("this reply has already been dealt with")
    reply.status = ReplyStatus.DISMISSED
    reply.save(update_fields=["status"])
    trail.record(reply.organisation_id, "reply.dismissed", user=user, target=reply,
                 summary=Text(gettext_noop("reply from %(sender)s dismissed"),
                              {"sender": reply.sender}),
                 data={"kind": reply.kind})  # fmt: skip
    return reply


@transaction.atomic
def apply(
    reply: Reply,
    *,
    user: Any,
    on: dt.date | None = None,
    date: dt.date | None = None,
    reason: str = "",
    invoices: Sequence[Invoice] = (),
) -> dict[str, Any]:
    """Apply what the reply proposes (its kind), with what the person confirmed or
    corrected: a promise on ``date``; a dispute for ``reason`` on ``invoices``; a payment
    to check; a copy to send; a hold until the return ``date``. Returns what was done."""
    on = on or timezone.localdate()
    mark_read(reply, user=user, on=on)
    reply.refresh_from_db()
    if reply.status in (ReplyStatus.APPLIED, ReplyStatus.DISMISSED):
        raise ReplyError("this reply has already been dealt with")
    customer = reply.customer
    if customer is None:
        raise ReplyError("this reply is from no known customer: nothing to apply it to")
    if any(i.customer_id != customer.pk for i in invoices):
        raise ReplyError("those invoices are not this customer's")
    user_id = user.pk if user else None
    note = f"reply {reply.pk} of {timezone.localdate(reply.received_at)}"
    done: dict[str, Any] = {"action": reply.kind}
    if reply.kind == ReplyKind.PROMISE:
        if date is None or date < on:
            raise ReplyError("a promise needs its date, today or later")
        invoice = invoices[0] if len(invoices) == 1 else None
        promise = pauses.record_promise(customer, promised_on=date, invoice=invoice, note=note,
                                        user_id=user_id)  # fmt: skip
        done.update(promise=promise.pk, date=date.isoformat())
    elif reply.kind == ReplyKind.DISPUTE:
        if reason not in DisputeReason.values:
            raise ReplyError("choose the reason of the dispute")
        if not invoices:
            raise ReplyError("choose the invoices disputed")
        try:
            disputes = pauses.open_disputes(
                customer, [pauses.DisputedInvoice(i) for i in invoices], reason=reason, on=on,
                note=note, user_id=user_id,
            )  # fmt: skip
        except pauses.PauseError as error:
            raise ReplyError(str(error)) from error
        done.update(disputes=[d.pk for d in disputes], reason=reason)
    elif reply.kind == ReplyKind.PAID:
        title = Text(
            gettext_noop("Check the payment %(customer)s says it made (reply of %(date)s)"),
            {"customer": customer.legal_name, "date": lazy_short_date(reply.received_at.date())},
        )
        done["task"] = _task(reply, CHECK_PAYMENT, title, on, invoices)
    elif reply.kind == ReplyKind.COPY:
        title = Text(
            gettext_noop("Send %(customer)s a copy of %(numbers)s"),
            {"customer": customer.legal_name,
             "numbers": ", ".join(i.number for i in invoices) or "its invoices"},
        )  # fmt: skip
        done["task"] = _task(reply, SEND_COPY, title, on, invoices)
    elif reply.kind == ReplyKind.ABSENCE:
        if date is None or date <= on:
            raise ReplyError("an out-of-office needs its return date, after today")
        reason = f"out of office until {date.isoformat()} ({note})"
        hold = pauses.place_hold(customer, kind=HoldKind.MANUAL, start=on, reason=reason,
                                 user_id=user_id)  # fmt: skip
        pauses.release_hold(hold, on=date, user_id=user_id)
        done.update(hold=hold.pk, until=date.isoformat())
    else:
        raise ReplyError("this reply proposes nothing to apply")
    reply.status = ReplyStatus.APPLIED
    reply.details = {**reply.details, "applied": done}
    reply.save(update_fields=["status", "details"])
    trail.record(reply.organisation_id, "reply.applied", user=user, target=reply,
                 summary=Text(gettext_noop("reply from %(sender)s applied: %(kind)s"),
                              {"sender": reply.sender, "kind": label(ReplyKind, reply.kind)}),
                 data=done)  # fmt: skip
    return done


def _task(reply: Reply, kind: str, title: Text, on: dt.date, invoices: Sequence[Invoice]) -> int:
    key = f"reply:{reply.pk}"
    assert reply.customer_id is not None
    tasks.open_task(
        reply.organisation, key=key, customer_id=reply.customer_id, kind=kind, title=title,
        due_on=on + dt.timedelta(days=TASK_DAYS), communication_id=reply.communication_id,
        data={"reply": reply.pk, "invoices": [i.number for i in invoices],
              "reference": reply.details.get("reference"), "date": reply.details.get("date")},
    )  # fmt: skip
    return Task.objects.get(organisation_id=reply.organisation_id, key=key).pk
