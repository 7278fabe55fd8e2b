"""What pauses dunning, recorded the one way that also writes the customer's timeline:
disputes, promises to pay, holds and payment plans. The console, the API and the portal
call these; the run reads their rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import transaction
from django.utils.translation import gettext_noop

from relance.accounts.models import Membership, Role
from relance.audit import trail
from relance.channels.formatting import lazy_money, lazy_short_date
from relance.dunning.models import Instalment, PaymentPlan, Promise
from relance.ledger import balances, timeline
from relance.ledger.models import (
    Allocation,
    Customer,
    Dispute,
    DisputeOutcome,
    DisputeReason,
    Hold,
    HoldKind,
    Invoice,
    Payment,
    PaymentKind,
)
from relance.ledger.timeline import Text, label


class PauseError(ValueError):
    pass


def _event(
    customer: Customer,
    kind: str,
    summary: Text | str,  # a Text, to be written in the organisation's language
    *,
    invoice: Invoice | None = None,
    user_id: int | None = None,
    **data: Any,
) -> None:
    timeline.record(customer.organisation, customer.pk, kind, summary, data=data,
                    invoice_id=invoice.pk if invoice else None, actor_id=user_id)  # fmt: skip


def _audit(
    customer: Customer,
    action: str,
    target: Any,
    summary: Text,
    *,
    user_id: int | None,
    **data: Any,
) -> None:
    """The audit trail's event of what a person did (the timeline tells the customer's
    story, the trail who did it)."""
    trail.record(customer.organisation_id, action, user_id=user_id, target=target,
                 summary=summary, data={"customer": customer.reference, **data})  # fmt: skip


@transaction.atomic
def open_dispute(
    invoice: Invoice,
    *,
    reason: str,
    on: dt.date,
    amount: Decimal | None = None,
    note: str = "",
    user_id: int | None = None,
    group: str = "",
    assignee_id: int | None = None,
) -> Dispute:
    if amount is not None and not 0 < amount <= invoice.amount:
        raise PauseError(f"a disputed amount must be between 0 and {invoice.amount}")
    if assignee_id is not None:
        _check_assignee(invoice.organisation_id, assignee_id)
    dispute = Dispute.objects.create(
        organisation_id=invoice.organisation_id, invoice=invoice, reason=reason, amount=amount,
        note=note, opened_on=on, source="manual", group=group, assignee_id=assignee_id,
    )  # fmt: skip
    _event(invoice.customer, "dispute_opened",
           Text(gettext_noop("Dispute on %(number)s: %(reason)s"),
                {"number": invoice.number, "reason": label(DisputeReason, dispute.reason)}),
           invoice=invoice, user_id=user_id, dispute=dispute.pk, amount=amount,
           group=group or None)  # fmt: skip
    _audit(invoice.customer, "dispute.opened", dispute,
           Text(gettext_noop("dispute on %(number)s (%(reason)s) from %(date)s"),
                {"number": invoice.number, "reason": label(DisputeReason, reason),
                 "date": lazy_short_date(on)}),
           user_id=user_id,
           invoice=invoice.number, reason=reason, amount=amount, on=on, note=note,
           group=group or None, assignee=assignee_id)  # fmt: skip
    return dispute


class DisputedInvoice(NamedTuple):
    """One invoice of a dispute opened on several: its own note and disputed part."""

    invoice: Invoice
    amount: Decimal | None = None
    note: str = ""


@transaction.atomic
def open_disputes(
    customer: Customer,
    lines: Sequence[DisputedInvoice],
    *,
    reason: str,
    on: dt.date,
    note: str = "",
    assignee_id: int | None = None,
    user_id: int | None = None,
) -> list[Dispute]:
    """One dispute per invoice, sharing a ``group``: the customer disputes several invoices
    of theirs at once (one delivery, one price list). Every invoice is checked before
    anything is written."""
    if not lines:
        raise PauseError("choose at least one invoice to dispute")
    if reason not in DisputeReason.values:
        raise PauseError(f"unknown reason {reason!r}: one of {', '.join(DisputeReason.values)}")
    numbers = [line.invoice.number for line in lines]
    if len(set(numbers)) != len(numbers):
        raise PauseError("an invoice is named twice")
    for line in lines:
        invoice = line.invoice
        if invoice.customer_id != customer.pk:
            raise PauseError(f"invoice {invoice.number} is not {customer.legal_name}'s")
        if invoice.balance <= 0:
            raise PauseError(f"invoice {invoice.number} is paid: there is nothing to dispute")
        if line.amount is not None and not 0 < line.amount <= invoice.amount:
            raise PauseError(
                f"invoice {invoice.number}: a disputed amount must be between 0 and "
                f"{invoice.amount}"
            )
    already = (
        Dispute.objects.filter(invoice__in=[line.invoice for line in lines], resolved_on=None)
        .order_by("invoice__number")
        .values_list("invoice__number", "pk")
        .first()
    )
    if already:
        raise PauseError(f"invoice {already[0]} already has an open dispute ({already[1]})")
    group = uuid.uuid4().hex[:12]
    return [
        open_dispute(line.invoice, reason=reason, on=on, amount=line.amount,
                     note=line.note or note, user_id=user_id, group=group,
                     assignee_id=assignee_id)
        for line in lines
    ]  # fmt: skip


def _check_assignee(organisation_id: int, user_id: int) -> None:
    """A dispute is followed up by a member who may work customers (not a viewer)."""
    if not (
        Membership.objects.filter(organisation_id=organisation_id, user_id=user_id)
        .exclude(role=Role.VIEWER)
        .exists()
    ):
        raise PauseError("a dispute is assigned to a member of the organisation who works")


def group_of(dispute: Dispute) -> list[Dispute]:
    """The disputes opened together with ``dispute`` (itself alone when it has no group)."""
    if not dispute.group:
        return [dispute]
    return list(
        Dispute.objects.filter(organisation_id=dispute.organisation_id, group=dispute.group)
        .select_related("invoice", "invoice__customer", "assignee")
        .order_by("invoice__number", "pk")
    )


@transaction.atomic
def assign_dispute(
    dispute: Dispute, assignee_id: int | None, *, user_id: int | None = None
) -> list[Dispute]:
    """Give the dispute, and those opened with it, to a member to follow up (or to nobody)."""
    if assignee_id is not None:
        _check_assignee(dispute.organisation_id, assignee_id)
    disputes = group_of(dispute)
    Dispute.objects.filter(pk__in=[d.pk for d in disputes]).update(assignee_id=assignee_id)
    for d in disputes:
        d.assignee_id = assignee_id
    invoice = dispute.invoice
    numbers = ", ".join(d.invoice.number for d in disputes)
    who = _member_name(assignee_id)
    _event(invoice.customer, "dispute_assigned",
           Text(gettext_noop("Dispute on %(numbers)s assigned to %(who)s"),
                {"numbers": numbers, "who": who})
           if assignee_id else
           Text(gettext_noop("Dispute on %(numbers)s no longer assigned"), {"numbers": numbers}),
           invoice=invoice, user_id=user_id, dispute=dispute.pk,
           assignee=assignee_id)  # fmt: skip
    _audit(invoice.customer, "dispute.assigned", dispute,
           Text(gettext_noop("dispute on %(numbers)s assigned to %(who)s"),
                {"numbers": numbers, "who": who})
           if who else
           Text(gettext_noop("dispute on %(numbers)s assigned to nobody"), {"numbers": numbers}),
           user_id=user_id,
           invoices=[d.invoice.number for d in disputes], assignee=assignee_id)  # fmt: skip
    return disputes


def _member_name(user_id: int | None) -> str:
    if user_id is None:
        return ""
    member = Membership.objects.filter(user_id=user_id).select_related("user").first()
    if member is None:
        return ""
    user = member.user
    return str(user.get_full_name() or user.email or user.get_username())


class CreditNote(NamedTuple):
    """The credit note a dispute ends with: its number in the accounting system, so that
    the accounting export bringing it later matches it (``payment.reference``)."""

    reference: str
    amount: Decimal


def dunning_after(outcome: str) -> str:
    """What a resolved dispute does to its invoice's dunning (docs/customers.md):

    - ``rejected``: the invoice is due as it is; dunning resumes where it stood (its level
      was kept while paused: the next step is eligible at once if its offset and gap have
      passed);
    - ``settled``: the disagreement ended otherwise (delivered, explained, a purchase
      order given): the same;
    - ``credit_note``: the credit note is recorded against the invoice at once, and
      dunning resumes on what is left (nothing when it is credited in full).
    """
    if outcome == DisputeOutcome.CREDIT_NOTE:
        return "credit_then_resume"
    return "resume"


@transaction.atomic
def resolve_dispute(
    dispute: Dispute,
    *,
    on: dt.date,
    resolution: str,
    outcome: str = "",
    credit_note: CreditNote | None = None,
    user_id: int | None = None,
) -> Dispute:
    if dispute.resolved_on is not None:
        raise PauseError("this dispute is already resolved")
    if outcome and outcome not in DisputeOutcome.values:
        raise PauseError(f"unknown outcome {outcome!r}: one of {', '.join(DisputeOutcome.values)}")
    if dispute.opened_on > on:
        raise PauseError(f"the dispute was opened on {dispute.opened_on}, after {on}")
    invoice = Invoice.objects.select_related("customer", "customer__organisation").get(
        pk=dispute.invoice_id
    )
    credited: Payment | None = None
    if dunning_after(outcome) == "credit_then_resume":
        if credit_note is None:
            raise PauseError("a credit note needs its number and its amount")
        credited = _record_credit_note(invoice, credit_note, on)
    elif credit_note is not None:
        raise PauseError("a credit note is for the outcome credit_note")
    dispute.resolved_on, dispute.resolution, dispute.outcome = on, resolution, outcome
    dispute.save(update_fields=["resolved_on", "resolution", "outcome"])
    customer = invoice.customer
    if outcome:
        summary = Text(
            gettext_noop("Dispute on %(number)s resolved (%(outcome)s): %(resolution)s"),
            {"number": invoice.number, "outcome": label(DisputeOutcome, outcome),
             "resolution": resolution},
        )  # fmt: skip
    else:
        summary = Text(gettext_noop("Dispute on %(number)s resolved: %(resolution)s"),
                       {"number": invoice.number, "resolution": resolution})  # fmt: skip
    _event(customer, "dispute_resolved", summary, invoice=invoice, user_id=user_id,
           dispute=dispute.pk, outcome=outcome or None,
           credit_note=credited.reference if credited else None)  # fmt: skip
    _audit(customer, "dispute.resolved", dispute,
           Text(gettext_noop("dispute on %(number)s resolved on %(date)s (%(outcome)s): "
                             "%(resolution)s")
                if outcome else
                gettext_noop("dispute on %(number)s resolved on %(date)s: %(resolution)s"),
                {"number": invoice.number, "date": lazy_short_date(on),
                 "outcome": label(DisputeOutcome, outcome) if outcome else "",
                 "resolution": resolution}),
           user_id=user_id, invoice=invoice.number, on=on, resolution=resolution,
           outcome=outcome or None,
           credit_note={"reference": credit_note.reference, "amount": credit_note.amount}
           if credit_note else None)  # fmt: skip
    return dispute


def _record_credit_note(invoice: Invoice, credit: CreditNote, on: dt.date) -> Payment:
    """The credit note against the invoice, through the ledger's own path (a payment of
    kind credit note, its allocation, ``balances.refresh``). Keyed by its number as the
    imports key payments: when the accounting export brings the same credit note later, the
    import matches it (and its figures win) rather than adding it twice; when the export
    brought it already, allocated to this invoice, it is used as it is."""
    reference = credit.reference.strip()
    if not reference:
        raise PauseError("a credit note needs its number (as the accounting system has it)")
    existing = Payment.objects.filter(
        organisation_id=invoice.organisation_id, reference=reference
    ).first()
    if existing is not None:
        if (
            existing.kind == PaymentKind.CREDIT_NOTE
            and existing.customer_id == invoice.customer_id
            and Allocation.objects.filter(payment=existing, invoice=invoice).exists()
        ):
            return existing
        raise PauseError(
            f"{reference} is already in the ledger ({existing.get_kind_display()} of "
            f"{existing.amount} {existing.currency}), not a credit note on {invoice.number}"
        )
    if not 0 < credit.amount <= invoice.balance:
        raise PauseError(
            f"the credit note must be above 0 and at most what {invoice.number} owes "
            f"({invoice.balance} {invoice.currency})"
        )
    payment = Payment.objects.create(
        organisation_id=invoice.organisation_id, customer_id=invoice.customer_id,
        kind=PaymentKind.CREDIT_NOTE, reference=reference, date=on, currency=invoice.currency,
        amount=credit.amount, memo=f"credit note agreed on dispute of {invoice.number}",
        source="dispute",
    )  # fmt: skip
    Allocation.objects.create(
        organisation_id=invoice.organisation_id, payment=payment, invoice=invoice,
        amount=credit.amount, date=on,
    )  # fmt: skip
    balances.refresh(invoice.organisation_id, [invoice.pk])
    _event(invoice.customer, "credit_note",
           Text(gettext_noop("Credit note %(reference)s of %(amount)s on %(number)s"),
                {"reference": reference, "number": invoice.number,
                 "amount": lazy_money(credit.amount, invoice.currency)}),
           invoice=invoice, payment=payment.pk, amount=credit.amount)  # fmt: skip
    return payment


@transaction.atomic
def record_promise(
    customer: Customer,
    *,
    promised_on: dt.date,
    invoice: Invoice | None = None,
    amount: Decimal | None = None,
    grace_days: int | None = None,
    note: str = "",
    user_id: int | None = None,
) -> Promise:
    """A promise to pay on a date: the items it covers wait until that date plus grace
    (without one given, the organisation's default grace, ``promise_grace_days``)."""
    if invoice is not None and invoice.customer_id != customer.pk:
        raise PauseError(f"invoice {invoice.number} is not {customer}'s")
    if grace_days is None:
        grace_days = customer.organisation.promise_grace_days
    promise = Promise.objects.create(
        organisation_id=customer.organisation_id, customer=customer, invoice=invoice,
        promised_on=promised_on, amount=amount, grace_days=grace_days, note=note,
    )  # fmt: skip
    summary = Text(
        gettext_noop("Promise to pay %(number)s by %(date)s")
        if invoice
        else gettext_noop("Promise to pay all open invoices by %(date)s"),
        {"number": invoice.number if invoice else "", "date": lazy_short_date(promised_on)},
    )
    _event(customer, "promise_recorded", summary,
           invoice=invoice, user_id=user_id, promise=promise.pk, amount=amount)  # fmt: skip
    _audit(customer, "promise.added", promise,
           Text(gettext_noop("%(customer)s promises to pay %(number)s by %(date)s")
                if invoice else
                gettext_noop("%(customer)s promises to pay all open invoices by %(date)s"),
                {"customer": customer.reference, "number": invoice.number if invoice else "",
                 "date": lazy_short_date(promised_on)}),
           user_id=user_id,
           invoice=invoice.number if invoice else None, promised_on=promised_on,
           amount=amount, grace_days=grace_days, note=note)  # fmt: skip
    return promise


@transaction.atomic
def place_hold(
    customer: Customer,
    *,
    kind: str,
    start: dt.date,
    reason: str = "",
    published_on: dt.date | None = None,
    user_id: int | None = None,
    end: dt.date | None = None,
) -> Hold:
    """Stop dunning a customer: by hand, during a negotiation, or for collective
    proceedings (then with the publication date that starts the claim deadline); until
    ``end`` (the day dunning resumes) when given."""
    if kind == HoldKind.INSOLVENCY and published_on is None:
        raise PauseError("collective proceedings need their date of publication")
    if end is not None and end <= start:
        raise PauseError(f"a hold ends after it starts ({start}), not on {end}")
    hold = Hold.objects.create(
        organisation_id=customer.organisation_id, customer=customer, kind=kind,
        start_date=start, end_date=end, reason=reason, published_on=published_on,
        created_by_id=user_id,
    )  # fmt: skip
    _event(customer, "hold_placed",
           Text(gettext_noop("%(kind)s from %(date)s"),
                {"kind": label(HoldKind, kind), "date": lazy_short_date(start)}),
           user_id=user_id, hold=hold.pk, reason=reason)  # fmt: skip
    _audit(customer, "hold.placed", hold,
           Text(gettext_noop("%(kind)s on %(customer)s from %(date)s"),
                {"kind": label(HoldKind, kind), "customer": customer.reference,
                 "date": lazy_short_date(start)}),
           user_id=user_id, kind=kind, start=start, end=end, published_on=published_on,
           reason=reason)  # fmt: skip
    return hold


@transaction.atomic
def release_hold(hold: Hold, *, on: dt.date, user_id: int | None = None) -> Hold:
    if hold.end_date is not None and hold.end_date <= on:
        raise PauseError("this hold has already ended")
    hold.end_date = on
    hold.save(update_fields=["end_date"])
    _event(hold.customer, "hold_released",
           Text(gettext_noop("%(kind)s lifted on %(date)s"),
                {"kind": label(HoldKind, hold.kind), "date": lazy_short_date(on)}),
           user_id=user_id, hold=hold.pk)  # fmt: skip
    _audit(hold.customer, "hold.released", hold,
           Text(gettext_noop("%(kind)s on %(customer)s released on %(date)s"),
                {"kind": label(HoldKind, hold.kind), "customer": hold.customer.reference,
                 "date": lazy_short_date(on)}),
           user_id=user_id,
           kind=hold.kind, on=on)  # fmt: skip
    return hold


@transaction.atomic
def agree_plan(
    customer: Customer,
    invoices: Sequence[Invoice],
    instalments: Sequence[tuple[dt.date, Decimal]],
    *,
    on: dt.date,
    note: str = "",
    user_id: int | None = None,
    proposed: bool = False,
) -> PaymentPlan:
    """A payment plan covering some open invoices; the instalments must add up to what
    they owe, so that nothing is forgotten or asked twice. ``proposed``: the customer's
    proposal (the portal), which suspends nothing until a manager accepts it
    (``accept_plan``) or refuses it (``refuse_plan``)."""
    owed = sum((i.balance for i in invoices), Decimal(0))
    scheduled = sum((amount for _, amount in instalments), Decimal(0))
    if any(i.customer_id != customer.pk for i in invoices):
        raise PauseError("a plan covers the invoices of one customer")
    if not instalments or scheduled != owed:
        raise PauseError(f"the instalments add up to {scheduled}, the invoices owe {owed}")
    status = PaymentPlan.Status.PROPOSED if proposed else PaymentPlan.Status.ACTIVE
    plan = PaymentPlan.objects.create(
        organisation_id=customer.organisation_id, customer=customer, agreed_on=on, note=note,
        status=status,
    )  # fmt: skip
    plan.invoices.set(invoices, through_defaults={"organisation_id": plan.organisation_id})
    Instalment.objects.bulk_create(
        [Instalment(organisation_id=plan.organisation_id, plan=plan, due_date=d, amount=a)
         for d, a in sorted(instalments)]
    )  # fmt: skip
    numbers = ", ".join(i.number for i in invoices)
    if proposed:
        _event(customer, "plan_proposed",
               Text(gettext_noop("Payment plan of %(count)s instalments proposed for "
                                 "%(numbers)s"), {"count": len(instalments), "numbers": numbers}),
               user_id=user_id, plan=plan.pk, total=owed)  # fmt: skip
    else:
        _event(customer, "plan_agreed",
               Text(gettext_noop("Payment plan of %(count)s instalments for %(numbers)s"),
                    {"count": len(instalments), "numbers": numbers}),
               user_id=user_id, plan=plan.pk, total=owed)  # fmt: skip
    _audit(customer, "plan.proposed" if proposed else "plan.created", plan,
           Text(gettext_noop("payment plan of %(count)s instalments for %(numbers)s"),
                {"count": len(instalments), "numbers": numbers}),
           user_id=user_id,
           invoices=[i.number for i in invoices], total=owed, on=on, note=note,
           instalments=[{"due_date": d, "amount": a} for d, a in sorted(instalments)])  # fmt: skip
    return plan


@transaction.atomic
def accept_plan(plan: PaymentPlan, *, on: dt.date, user_id: int | None = None) -> PaymentPlan:
    """A manager accepts a proposed plan: it becomes active from ``on`` if its instalments
    still add up to what its invoices owe and none of them is in another active plan."""
    if plan.status != PaymentPlan.Status.PROPOSED:
        raise PauseError("only a proposed payment plan can be accepted")
    invoices = list(plan.invoices.order_by("number"))
    owed = sum((i.balance for i in invoices), Decimal(0))
    scheduled = sum((i.amount for i in plan.instalments.all()), Decimal(0))
    if scheduled != owed:
        raise PauseError(f"the instalments add up to {scheduled}, the invoices now owe {owed}")
    taken = (
        PaymentPlan.invoices.through.objects.filter(
            invoice_id__in=[i.pk for i in invoices], paymentplan__status=PaymentPlan.Status.ACTIVE
        )
        .values_list("invoice__number", flat=True)
        .first()
    )
    if taken:
        raise PauseError(f"invoice {taken} is already in an active payment plan")
    if not PaymentPlan.objects.filter(pk=plan.pk, status=PaymentPlan.Status.PROPOSED).update(
        status=PaymentPlan.Status.ACTIVE, agreed_on=on
    ):
        raise PauseError("only a proposed payment plan can be accepted")
    plan.status, plan.agreed_on = PaymentPlan.Status.ACTIVE, on
    numbers = ", ".join(i.number for i in invoices)
    count = plan.instalments.count()
    _event(plan.customer, "plan_agreed",
           Text(gettext_noop("Payment plan of %(count)s instalments for %(numbers)s"),
                {"count": count, "numbers": numbers}),
           user_id=user_id, plan=plan.pk, total=owed, proposed=True)  # fmt: skip
    _audit(plan.customer, "plan.accepted", plan,
           Text(gettext_noop("proposed payment plan %(plan)s of %(customer)s accepted on "
                             "%(date)s"),
                {"plan": plan.pk, "customer": plan.customer.reference,
                 "date": lazy_short_date(on)}),
           user_id=user_id, on=on, invoices=[i.number for i in invoices])  # fmt: skip
    return plan


@transaction.atomic
def refuse_plan(
    plan: PaymentPlan, *, on: dt.date, note: str = "", user_id: int | None = None
) -> PaymentPlan:
    """A manager refuses a proposed plan: its invoices stay in their scenario."""
    if not PaymentPlan.objects.filter(pk=plan.pk, status=PaymentPlan.Status.PROPOSED).update(
        status=PaymentPlan.Status.REFUSED
    ):
        raise PauseError("only a proposed payment plan can be refused")
    plan.status = PaymentPlan.Status.REFUSED
    _event(plan.customer, "plan_refused",
           Text(gettext_noop("Proposed payment plan of %(date)s refused"),
                {"date": lazy_short_date(plan.agreed_on)}),
           user_id=user_id, plan=plan.pk, note=note)  # fmt: skip
    _audit(plan.customer, "plan.refused", plan,
           Text(gettext_noop("proposed payment plan %(plan)s of %(customer)s refused on "
                             "%(date)s"),
                {"plan": plan.pk, "customer": plan.customer.reference,
                 "date": lazy_short_date(on)}),
           user_id=user_id, on=on, note=note)  # fmt: skip
    return plan


@transaction.atomic
def keep_promises(organisation: Any, *, on: dt.date) -> list[Promise]:
    """Open promises whose debt is paid are kept: a promise on an invoice once the invoice
    is paid, a promise on the whole customer once it owes nothing. (Broken ones are the
    run's to find: a date passed without payment.)"""
    open_promises = list(
        Promise.objects.filter(organisation=organisation, status=Promise.Status.OPEN)
        .select_related("customer", "invoice")
        .order_by("pk")
    )
    if not open_promises:
        return []
    owing = set(
        Invoice.objects.filter(
            organisation=organisation,
            balance__gt=organisation.min_balance,
            customer_id__in={p.customer_id for p in open_promises},
        ).values_list("customer_id", flat=True)
    )
    kept = [
        p
        for p in open_promises
        if (
            p.invoice.balance <= organisation.min_balance
            if p.invoice
            else p.customer_id not in owing
        )
    ]
    Promise.objects.filter(pk__in=[p.pk for p in kept], status=Promise.Status.OPEN).update(
        status=Promise.Status.KEPT
    )
    for promise in kept:
        promise.status = Promise.Status.KEPT
        summary = Text(
            gettext_noop("Promise to pay %(number)s kept")
            if promise.invoice
            else gettext_noop("Promise to pay all open invoices kept"),
            {"number": promise.invoice.number if promise.invoice else ""},
        )
        _event(promise.customer, "promise_kept", summary,
               invoice=promise.invoice, promise=promise.pk, on=on)  # fmt: skip
    return kept


@transaction.atomic
def cancel_promise(
    promise: Promise, *, on: dt.date, note: str = "", user_id: int | None = None
) -> Promise:
    """The promise no longer stands (recorded by mistake, replaced by a plan): the items it
    covered are dunned again from the next run, at the level they kept."""
    if not Promise.objects.filter(pk=promise.pk, status=Promise.Status.OPEN).update(
        status=Promise.Status.CANCELLED
    ):
        raise PauseError("only an open promise can be cancelled")
    promise.status = Promise.Status.CANCELLED
    customer, invoice = promise.customer, promise.invoice
    summary = Text(
        gettext_noop("Promise to pay %(number)s by %(date)s cancelled")
        if invoice
        else gettext_noop("Promise to pay all open invoices by %(date)s cancelled"),
        {"number": invoice.number if invoice else "",
         "date": lazy_short_date(promise.promised_on)},
    )  # fmt: skip
    _event(customer, "promise_cancelled", summary, invoice=invoice, user_id=user_id,
           promise=promise.pk, note=note)  # fmt: skip
    _audit(customer, "promise.cancelled", promise,
           Text(gettext_noop("promise of %(customer)s for %(promised)s cancelled on %(date)s"),
                {"customer": customer.reference,
                 "promised": lazy_short_date(promise.promised_on),
                 "date": lazy_short_date(on)}),
           user_id=user_id, on=on, note=note)  # fmt: skip
    return promise


@transaction.atomic
def cancel_plan(
    plan: PaymentPlan, *, on: dt.date, note: str = "", user_id: int | None = None
) -> PaymentPlan:
    """End an active plan by hand: its invoices return to their scenario at the level they
    had (as a defaulted plan's do); a confirmation or instalment reminder not yet sent is
    dropped at send time (its plan is no longer active)."""
    if not PaymentPlan.objects.filter(pk=plan.pk, status=PaymentPlan.Status.ACTIVE).update(
        status=PaymentPlan.Status.CANCELLED
    ):
        raise PauseError("only an active payment plan can be cancelled")
    plan.status = PaymentPlan.Status.CANCELLED
    customer = plan.customer
    _event(customer, "plan_cancelled",
           Text(gettext_noop("Payment plan of %(date)s cancelled: its invoices return to the "
                             "dunning scenario"), {"date": lazy_short_date(plan.agreed_on)}),
           user_id=user_id, plan=plan.pk, note=note)  # fmt: skip
    _audit(customer, "plan.cancelled", plan,
           Text(gettext_noop("payment plan %(plan)s of %(customer)s cancelled on %(date)s"),
                {"plan": plan.pk, "customer": customer.reference, "date": lazy_short_date(on)}),
           user_id=user_id, on=on, note=note)  # fmt: skip
    return plan
