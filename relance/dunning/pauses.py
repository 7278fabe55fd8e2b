"""What pauses dunning, recorded the one way that also writes the customer's timeline:
disputes, promises to pay, holds and payment plans. The console, the API and the portal
call these; the run reads their rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_noop

from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.dunning.models import Instalment, PaymentPlan, Promise
from relance.ledger import timeline
from relance.ledger.models import Customer, Dispute, DisputeReason, Hold, HoldKind, Invoice
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
    summary: str,
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
) -> Dispute:
    if amount is not None and not 0 < amount <= invoice.amount:
        raise PauseError(f"a disputed amount must be between 0 and {invoice.amount}")
    dispute = Dispute.objects.create(
        organisation_id=invoice.organisation_id, invoice=invoice, reason=reason, amount=amount,
        note=note, opened_on=on, source="manual",
    )  # fmt: skip
    _event(invoice.customer, "dispute_opened",
           Text(gettext_noop("Dispute on %(number)s: %(reason)s"),
                {"number": invoice.number, "reason": label(DisputeReason, dispute.reason)}),
           invoice=invoice, user_id=user_id, dispute=dispute.pk, amount=amount)  # fmt: skip
    _audit(invoice.customer, "dispute.opened", dispute,
           f"dispute on {invoice.number} ({reason}) from {on}", user_id=user_id,
           invoice=invoice.number, reason=reason, amount=amount, on=on, note=note)  # fmt: skip
    return dispute


@transaction.atomic
def resolve_dispute(
    dispute: Dispute, *, on: dt.date, resolution: str, user_id: int | None = None
) -> Dispute:
    if dispute.resolved_on is not None:
        raise PauseError("this dispute is already resolved")
    dispute.resolved_on, dispute.resolution = on, resolution
    dispute.save(update_fields=["resolved_on", "resolution"])
    _event(dispute.invoice.customer, "dispute_resolved",
           Text(gettext_noop("Dispute on %(number)s resolved: %(resolution)s"),
                {"number": dispute.invoice.number, "resolution": resolution}),
           invoice=dispute.invoice, user_id=user_id, dispute=dispute.pk)  # fmt: skip
    _audit(dispute.invoice.customer, "dispute.resolved", dispute,
           f"dispute on {dispute.invoice.number} resolved on {on}: {resolution}",
           user_id=user_id, invoice=dispute.invoice.number, on=on,
           resolution=resolution)  # fmt: skip
    return dispute


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
    covered = invoice.number if invoice else "all open invoices"
    _audit(customer, "promise.added", promise,
           f"{customer.reference} promises to pay {covered} by {promised_on}", user_id=user_id,
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
) -> Hold:
    """Stop dunning a customer: by hand, during a negotiation, or for collective
    proceedings (then with the publication date that starts the claim deadline)."""
    if kind == HoldKind.INSOLVENCY and published_on is None:
        raise PauseError("collective proceedings need their date of publication")
    hold = Hold.objects.create(
        organisation_id=customer.organisation_id, customer=customer, kind=kind,
        start_date=start, reason=reason, published_on=published_on, created_by_id=user_id,
    )  # fmt: skip
    _event(customer, "hold_placed",
           Text(gettext_noop("%(kind)s from %(date)s"),
                {"kind": label(HoldKind, kind), "date": lazy_short_date(start)}),
           user_id=user_id, hold=hold.pk, reason=reason)  # fmt: skip
    _audit(customer, "hold.placed", hold, f"{kind} hold on {customer.reference} from {start}",
           user_id=user_id, kind=kind, start=start, published_on=published_on,
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
           f"{hold.kind} hold on {hold.customer.reference} released on {on}", user_id=user_id,
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
) -> PaymentPlan:
    """A payment plan covering some open invoices; the instalments must add up to what
    they owe, so that nothing is forgotten or asked twice."""
    owed = sum((i.balance for i in invoices), Decimal(0))
    scheduled = sum((amount for _, amount in instalments), Decimal(0))
    if any(i.customer_id != customer.pk for i in invoices):
        raise PauseError("a plan covers the invoices of one customer")
    if not instalments or scheduled != owed:
        raise PauseError(f"the instalments add up to {scheduled}, the invoices owe {owed}")
    plan = PaymentPlan.objects.create(
        organisation_id=customer.organisation_id, customer=customer, agreed_on=on, note=note
    )
    plan.invoices.set(invoices)
    Instalment.objects.bulk_create(
        [Instalment(plan=plan, due_date=d, amount=a) for d, a in sorted(instalments)]
    )
    numbers = ", ".join(i.number for i in invoices)
    _event(customer, "plan_agreed",
           Text(gettext_noop("Payment plan of %(count)s instalments for %(numbers)s"),
                {"count": len(instalments), "numbers": numbers}),
           user_id=user_id, plan=plan.pk, total=owed)  # fmt: skip
    _audit(customer, "plan.created", plan,
           f"payment plan of {len(instalments)} instalments for {numbers}", user_id=user_id,
           invoices=[i.number for i in invoices], total=owed, on=on, note=note,
           instalments=[{"due_date": d, "amount": a} for d, a in sorted(instalments)])  # fmt: skip
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
