"""Re-checking a communication's invoices just before it leaves.

Planning happened hours or days ago: since then an invoice may have been paid, disputed,
promised, put in a payment plan, or the customer put on hold. Nobody gets a reminder for
an invoice paid this morning. The decision per item is a pure function over facts read
when the batch starts (``batch.load``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from relance.dunning import batch, owed
from relance.dunning.batch import Facts
from relance.dunning.models import CommPurpose, Communication, CommunicationItem, PaymentPlan
from relance.dunning.policy import promise_active

PAID = "paid"
NOT_PAID = "not_paid"  # a thank-you for a payment that was reversed
DISPUTED = "disputed"
PROMISED = "promise"
PAYMENT_PLAN = "payment_plan"
HOLD = "hold"
NOT_APPROVED = "not_approved"  # partly approved: nothing of the approved part is owed
PLAN_CLOSED = "plan_closed"  # an instalment reminder whose plan ended meanwhile


def drop_reason(
    *,
    thanks: bool,
    balance: Decimal,
    min_balance: Decimal,
    disputed: bool,
    promised: bool,
    in_plan: bool,
    held: bool,
    asked: Decimal | None = None,
) -> str:
    """Why an item must leave the message now, or "" to keep it. ``asked``: what a partly
    approved item is dunned for (``policy.amount_asked``)."""
    if thanks:
        # A thank-you lists paid invoices: it only stops if the payment was undone.
        return NOT_PAID if balance > min_balance else ""
    if balance <= min_balance:
        return PAID
    if disputed:
        return DISPUTED
    if asked is not None and asked <= 0:
        return NOT_APPROVED
    if held:
        return HOLD
    if in_plan:
        return PAYMENT_PLAN
    if promised:
        return PROMISED
    return ""


def promise_covers(promised_on: date, grace_days: int, today: date) -> bool:
    """A promise suspends dunning until its date plus grace (then it is broken)."""
    return promise_active(promised_on, grace_days, today)


@dataclass
class Check:
    kept: list[CommunicationItem] = field(default_factory=list)
    dropped: list[CommunicationItem] = field(default_factory=list)
    # Items whose ``dropped`` field changed and must be saved.
    changed: list[CommunicationItem] = field(default_factory=list)
    # What the partly approved invoices are dunned for, by invoice id (``owed.asked``).
    asked: dict[int, Decimal] = field(default_factory=dict)

    def owed(self, item: CommunicationItem) -> Decimal:
        """What the message states for the item: what its invoice is dunned for."""
        return self.asked.get(item.invoice_id, item.invoice.balance)

    def record(self, item: CommunicationItem, reason: str) -> None:
        """Keep the item (reason "") or drop it, noting a changed ``dropped`` to be saved."""
        if reason != item.dropped:
            item.dropped = reason
            self.changed.append(item)
        (self.dropped if reason else self.kept).append(item)

    @property
    def reasons(self) -> dict[str, str]:
        return {item.invoice.number: item.dropped for item in self.dropped}


def recheck(comm: Communication, today: date, facts: Facts | None = None) -> Check:
    """Decide, per item of ``comm``, to keep or drop it, from facts read for its batch.

    The decision is set on each item's ``dropped`` (unsaved: see ``Check.changed``); it is
    made afresh at every attempt, so a promise that ran out since a failed attempt lets
    its invoice back in.
    """
    if facts is None:
        facts = batch.load([comm], today)
    if comm.purpose == CommPurpose.INSTALMENT:
        return _recheck_instalment(comm, facts)
    if comm.purpose == CommPurpose.PLAN_CONFIRMATION:
        return _recheck_plan_confirmation(comm, facts)
    thanks = comm.purpose == CommPurpose.THANKS
    promises = facts.promises.get(comm.customer_id, [])
    promised_customer = any(
        invoice_id is None and promise_covers(day, grace, today)
        for invoice_id, day, grace in promises
    )
    promised = {
        invoice_id
        for invoice_id, day, grace in promises
        if invoice_id is not None and promise_covers(day, grace, today)
    }
    min_balance = comm.organisation.min_balance
    check = Check()
    for item in facts.items.get(comm.pk, []):
        asked = None
        if item.invoice_id in facts.unapproved and not thanks:
            # What the message states and the item records (``owed.asked``).
            asked = check.asked[item.invoice_id] = owed.asked(
                item.invoice, facts.unapproved, min_balance
            )
        reason = drop_reason(
            thanks=thanks,
            balance=item.invoice.balance,
            min_balance=min_balance,
            disputed=item.invoice_id in facts.disputed,
            promised=promised_customer or item.invoice_id in promised,
            in_plan=item.invoice_id in facts.in_plan,
            held=comm.customer_id in facts.held,
            asked=asked,
        )
        check.record(item, reason)
    return check


def instalment_reason(owed: Decimal, paid_when_owed: Decimal | None, plan_active: bool) -> str:
    """Why an instalment reminder must not leave, or "": its plan ended meanwhile (or its
    instalment is gone), or the payments since planning covered the instalment (the
    invoices owe no more than what is left once it is paid)."""
    if not plan_active or paid_when_owed is None:
        return PLAN_CLOSED
    if owed <= paid_when_owed:
        return PAID
    return ""


def _recheck_instalment(comm: Communication, facts: Facts) -> Check:
    """The items of an instalment reminder are the plan's invoices, listed for reference:
    they leave or stay together, on what the plan's invoices owe now."""
    items = facts.items.get(comm.pk, [])
    owed = sum((item.invoice.balance for item in items), Decimal(0))
    due = facts.instalments.get(comm.instalment_id) if comm.instalment_id else None
    reason = instalment_reason(
        owed,
        due.paid_when_owed if due else None,
        due is not None and due.plan_id in facts.active_plans,
    )
    check = Check()
    for item in items:
        check.record(item, reason)
    return check


def _recheck_plan_confirmation(comm: Communication, facts: Facts) -> Check:
    """A plan's confirmation lists the plan's invoices, which the plan itself suspends: it
    leaves while the plan is active, and not once it was cancelled (or ended) meanwhile."""
    plan = facts.plans.get(comm.pk)  # none: the plan names another confirmation now
    reason = "" if plan is not None and plan.status == PaymentPlan.Status.ACTIVE else PLAN_CLOSED
    check = Check()
    for item in facts.items.get(comm.pk, []):
        check.record(item, reason)
    return check
