"""What came of a call, recorded in one step with its effect on dunning.

A call is a task of kind ``call`` (a run's call step handed to a person by the outbox, or a
call rescheduled here). ``record_outcome`` closes it (``Task.outcome``, ``closed_at``,
``closed_by``), writes the customer's timeline and the audit trail, and does what the
outcome means for the engine:

- reached: a note, nothing else;
- promise: a promise to pay all the customer's open invoices by a date
  (``pauses.record_promise``, with the organisation's grace): the run reminds none of them
  until the date plus grace, and the promise is kept or broken as any other;
- dispute: a dispute with its reason on each open invoice the call was about
  (``pauses.open_dispute``): they leave dunning until it is resolved;
- no answer: the same call again ``RETRY_AFTER`` business days later (weekends, the
  country's public holidays and the organisation's closed days skipped);
- wrong number: the numbers dialled are marked invalid (``Contact.phone_valid``) and a task
  asks for the right one;
- paid (the customer says it has paid): a promise dated today with ``PAID_GRACE`` days of
  grace, so that no reminder leaves while the payment is on its way and checked; it is kept
  when the payment is imported, broken if none comes; and a task to check it, due when the
  grace ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.dunning import pauses, tasks
from relance.dunning.engine import calendar_for
from relance.dunning.models import CommunicationItem, Task
from relance.ledger import timeline
from relance.ledger.models import Contact, DisputeReason, Invoice
from relance.ledger.timeline import Text, label

CALL = "call"
# After no answer, the call comes back this many business days later.
RETRY_AFTER = 2
# "We have paid": days the customer's items wait while the payment arrives and is checked
# (calendar days, as any promise's grace).
PAID_GRACE = 5
# A search for the next business day gives up after this many closed days in a row.
MAX_CLOSED_DAYS = 60


class Outcome(TextChoices):
    REACHED = "reached", _("Reached")
    PROMISE = "promise", _("Promise to pay")
    DISPUTE = "dispute", _("Dispute")
    NO_ANSWER = "no_answer", _("No answer")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    PAID = "paid", _("Says it has paid")


class CallError(ValueError):
    """The outcome cannot be recorded as given: nothing was written."""


def is_business_day(organisation: Organisation, day: dt.date) -> bool:
    """Open for business: not a weekend, a public holiday of the organisation's country or
    one of its closed days."""
    if day.isoformat() in set(organisation.closed_days or ()):
        return False
    return calendar_for(organisation, day).business_day


def business_days_after(organisation: Organisation, day: dt.date, count: int) -> dt.date:
    """The ``count``-th business day after ``day``."""
    found = 0
    for _n in range(count + MAX_CLOSED_DAYS):
        day += dt.timedelta(days=1)
        if is_business_day(organisation, day):
            found += 1
            if found == count:
                return day
    return day


def invoices_of(task: Task) -> list[Invoice]:
    """The open invoices a call is about: those of its communication, else those its data
    names; all the customer's open invoices when it names none."""
    organisation = task.organisation
    owing = Invoice.objects.filter(
        customer_id=task.customer_id, balance__gt=organisation.min_balance
    ).order_by("due_date", "number")
    if task.communication_id:
        ids = CommunicationItem.objects.filter(communication_id=task.communication_id)
        return list(owing.filter(pk__in=ids.values("invoice_id")))
    numbers = task.data.get("invoices") or []
    return list(owing.filter(number__in=numbers) if numbers else owing)


@transaction.atomic
def record_outcome(
    task: Task,
    outcome: str,
    *,
    on: dt.date | None = None,
    promised_on: dt.date | None = None,
    amount: Decimal | None = None,
    reason: str = "",
    note: str = "",
    user_id: int | None = None,
) -> Task:
    """Close the call ``task`` with ``outcome`` and do what it means (see the module)."""
    on = on or timezone.localdate()
    organisation = task.organisation
    customer = task.customer
    if outcome not in Outcome.values:
        raise CallError(f"unknown outcome {outcome!r}: one of {', '.join(Outcome.values)}")
    if task.kind != CALL:
        raise CallError(f"task {task.pk} is a {task.kind}, not a call")
    if outcome == Outcome.PROMISE and promised_on is None:
        raise CallError("a promise needs the date promised")
    if promised_on is not None and promised_on < on:
        raise CallError(f"the date promised ({promised_on}) is before the call ({on})")
    if amount is not None and amount <= 0:
        raise CallError("an amount promised is above zero")
    if outcome == Outcome.DISPUTE and reason not in DisputeReason.values:
        raise CallError(f"a dispute needs its reason: one of {', '.join(DisputeReason.values)}")
    note = note.strip()
    now = timezone.now()
    closed = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
        status=Task.Status.DONE, outcome=outcome, closed_at=now, closed_by_id=user_id,
        data={**task.data, "done_on": on.isoformat(), "note": note},
    )  # fmt: skip
    if not closed:
        raise CallError(f"call {task.pk} is not open: someone recorded it already")
    effect: dict[str, Any] = {}
    if outcome == Outcome.PROMISE:
        assert promised_on is not None
        promise = pauses.record_promise(
            customer, promised_on=promised_on, amount=amount, note=note, user_id=user_id,
            grace_days=organisation.promise_grace_days,
        )  # fmt: skip
        effect = {"promise": promise.pk, "promised_on": promised_on, "amount": amount}
    elif outcome == Outcome.DISPUTE:
        invoices = invoices_of(task)
        if not invoices:
            raise CallError("the call's invoices are paid: nothing left to dispute")
        disputes = [
            pauses.open_dispute(invoice, reason=reason, on=on, note=note, user_id=user_id)
            for invoice in invoices
        ]
        effect = {"disputes": [d.pk for d in disputes], "reason": reason}
    elif outcome == Outcome.NO_ANSWER:
        effect = {"retry": _call_again(task, on).pk}
    elif outcome == Outcome.WRONG_NUMBER:
        effect = _wrong_number(task, on)
    elif outcome == Outcome.PAID:
        promise = pauses.record_promise(
            customer, promised_on=on, grace_days=PAID_GRACE, user_id=user_id,
            note=note or "says it has paid",
        )  # fmt: skip
        check = _check_payment(task, on)
        effect = {"promise": promise.pk, "check": check.pk}
    params = {"outcome": label(Outcome, outcome), "note": note}
    summary = Text(
        gettext_noop("Call: %(outcome)s. %(note)s") if note else gettext_noop("Call: %(outcome)s"),
        params,
    )
    timeline.record(organisation, customer.pk, "call_made", summary, actor_id=user_id, at=now,
                    data={"task": task.pk, "outcome": outcome, "note": note, **effect})  # fmt: skip
    trail.record(organisation, "call.recorded", user_id=user_id, target=task,
                 summary=Text(gettext_noop("call to %(customer)s: %(outcome)s %(note)s") if note
                              else gettext_noop("call to %(customer)s: %(outcome)s"),
                              {"customer": customer.reference, **params}),
                 data={"customer": customer.reference, "outcome": outcome, "on": on,
                       "note": note, **effect})  # fmt: skip
    task.refresh_from_db()
    return task


def _call_again(task: Task, on: dt.date) -> Task:
    attempt = int(task.data.get("attempt", 1)) + 1
    due = business_days_after(task.organisation, on, RETRY_AFTER)
    title = Text(
        gettext_noop("Call %(customer)s again (no answer on %(date)s)"),
        {"customer": task.customer.legal_name, "date": lazy_short_date(on)},
    )
    key = f"call-again:{task.pk}"
    tasks.open_task(
        task.organisation, key=key, customer_id=task.customer_id, kind=CALL, title=title,
        due_on=due, communication_id=task.communication_id,
        data={**_kept(task.data), "attempt": attempt, "retry_of": task.pk},
    )  # fmt: skip
    again = Task.objects.get(organisation_id=task.organisation_id, key=key)
    if task.assignee_id and again.assignee_id is None:
        Task.objects.filter(pk=again.pk).update(assignee_id=task.assignee_id)
    return again


def _kept(data: dict[str, Any]) -> dict[str, Any]:
    """What a call's data says of the call itself (not of its outcome)."""
    return {k: v for k, v in data.items() if k not in {"done_on", "note", "attempt", "retry_of"}}


def _wrong_number(task: Task, on: dt.date) -> dict[str, Any]:
    numbers = list(
        Contact.objects.filter(customer_id=task.customer_id, phone_valid=True)
        .exclude(phone="")
        .values_list("pk", "phone")
    )
    Contact.objects.filter(pk__in=[pk for pk, _phone in numbers]).update(phone_valid=False)
    dialled = [phone for _pk, phone in numbers] or (
        [task.customer.phone] if task.customer.phone else []
    )
    title = Text(
        gettext_noop("Find the right phone number of %(customer)s"),
        {"customer": task.customer.legal_name},
    )
    found = tasks.open_or_extend(
        task.organisation, key=f"find_number:{task.customer_id}", customer_id=task.customer_id,
        kind="find_number", title=title, due_on=on, data={"wrong": dialled, "call": task.pk},
        extend=lambda data: {**data, "wrong": sorted({*data.get("wrong", []), *dialled}),
                             "call": task.pk},
    )  # fmt: skip
    return {"wrong_numbers": dialled, "find_number": found.pk}


def _check_payment(task: Task, on: dt.date) -> Task:
    due = on + dt.timedelta(days=PAID_GRACE)
    title = Text(
        gettext_noop("Check the payment %(customer)s says it made on %(date)s"),
        {"customer": task.customer.legal_name, "date": lazy_short_date(on)},
    )
    key = f"check_payment:{task.pk}"
    tasks.open_task(
        task.organisation, key=key, customer_id=task.customer_id, kind="check_payment",
        title=title, due_on=due, data={"call": task.pk, "invoices": _numbers(invoices_of(task))},
    )  # fmt: skip
    return Task.objects.get(organisation_id=task.organisation_id, key=key)


def _numbers(invoices: Sequence[Invoice]) -> list[str]:
    return [invoice.number for invoice in invoices]
