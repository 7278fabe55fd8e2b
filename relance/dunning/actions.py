"""What a person does about a customer, by the references people use (account, invoice
number), within one organisation: open or resolve a dispute, record a promise, place or
release a hold, agree a payment plan. The commands call these, and the console will.

Lookups never leave the organisation: another organisation's customer is "not found".
Every check is made before the one service of ``relance.dunning.pauses`` that writes the
pause and its timeline event, so a refused action writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal

from django.db import transaction

from relance.accounts.models import Organisation
from relance.dunning import pauses, policy
from relance.dunning.models import PaymentPlan, Promise
from relance.ledger.models import Customer, Dispute, DisputeReason, Hold, HoldKind, Invoice


class Refused(ValueError):
    """The action cannot be done as asked; the message says what is wrong."""


class NotFound(Refused):
    pass


@contextmanager
def _refused(what: str) -> Iterator[None]:
    """A service of ``pauses`` refusing (having written nothing) refuses the action, its
    message prefixed by ``what`` it was about."""
    try:
        yield
    except pauses.PauseError as exc:
        raise Refused(f"{what}: {exc}") from None


def customer_by_reference(org: Organisation, reference: str) -> Customer:
    found = Customer.objects.filter(organisation=org, reference=reference).first()
    if found is None:
        raise NotFound(f"customer {reference!r} not found in organisation {org.slug!r}")
    return found


def invoice_by_number(org: Organisation, number: str) -> Invoice:
    found = (
        Invoice.objects.filter(organisation=org, number=number).select_related("customer").first()
    )
    if found is None:
        raise NotFound(f"invoice {number!r} not found in organisation {org.slug!r}")
    return found


def invoice_of(customer: Customer, number: str, org: Organisation) -> Invoice:
    """The customer's invoice ``number``; another customer's invoice is refused by name."""
    invoice = invoice_by_number(org, number)
    if invoice.customer_id != customer.pk:
        raise Refused(
            f"invoice {number!r} is customer {invoice.customer.reference!r}'s, "
            f"not {customer.reference!r}'s"
        )
    return invoice


def open_dispute(
    org: Organisation,
    number: str,
    *,
    reason: str,
    on: dt.date,
    amount: Decimal | None = None,
    note: str = "",
    user_id: int | None = None,
) -> Dispute:
    invoice = invoice_by_number(org, number)
    if reason not in DisputeReason.values:
        raise Refused(f"unknown reason {reason!r}: one of {', '.join(DisputeReason.values)}")
    with _refused(f"invoice {number!r}"):
        return pauses.open_dispute(
            invoice, reason=reason, on=on, amount=amount, note=note, user_id=user_id
        )


@transaction.atomic
def resolve_disputes(
    org: Organisation, target: str, *, resolution: str, on: dt.date, user_id: int | None = None
) -> list[Dispute]:
    """Resolve the open disputes of invoice ``target``, or the dispute whose id it is (an
    invoice number takes precedence over an id)."""
    invoice = Invoice.objects.filter(organisation=org, number=target).first()
    if invoice is not None:
        disputes = list(
            Dispute.objects.filter(invoice=invoice, resolved_on__isnull=True).order_by("pk")
        )
        if not disputes:
            raise Refused(f"invoice {target!r} has no open dispute")
    elif target.isdigit():
        dispute = (
            Dispute.objects.filter(organisation=org, pk=int(target))
            .select_related("invoice")
            .first()
        )
        if dispute is None:
            raise NotFound(
                f"no invoice and no dispute {target!r} found in organisation {org.slug!r}"
            )
        disputes = [dispute]
    else:
        raise NotFound(f"invoice {target!r} not found in organisation {org.slug!r}")
    for dispute in disputes:
        if dispute.opened_on > on:
            raise Refused(f"dispute {dispute.pk} was opened on {dispute.opened_on}, after {on}")
        with _refused(f"dispute {dispute.pk}"):
            pauses.resolve_dispute(dispute, on=on, resolution=resolution, user_id=user_id)
    return disputes


def add_promise(
    org: Organisation,
    reference: str,
    *,
    promised_on: dt.date,
    invoice: str | None = None,
    amount: Decimal | None = None,
    grace_days: int | None = None,  # the organisation's default
    note: str = "",
    user_id: int | None = None,
) -> Promise:
    customer = customer_by_reference(org, reference)
    covered = invoice_of(customer, invoice, org) if invoice is not None else None
    if covered is not None and covered.balance <= 0:
        raise Refused(f"invoice {invoice!r} is paid: there is nothing to promise")
    if grace_days is None:
        grace_days = org.promise_grace_days
    return pauses.record_promise(
        customer, promised_on=promised_on, invoice=covered, amount=amount, grace_days=grace_days,
        note=note, user_id=user_id,
    )  # fmt: skip


def add_hold(
    org: Organisation,
    reference: str,
    *,
    kind: str,
    start: dt.date,
    reason: str = "",
    published_on: dt.date | None = None,
    user_id: int | None = None,
) -> Hold:
    customer = customer_by_reference(org, reference)
    if kind not in HoldKind.values:
        raise Refused(f"unknown kind of hold {kind!r}: one of {', '.join(HoldKind.values)}")
    if published_on is not None and kind != HoldKind.INSOLVENCY:
        raise Refused("a date of publication is for collective proceedings (--kind insolvency)")
    with _refused(f"customer {reference!r}"):
        return pauses.place_hold(
            customer, kind=kind, start=start, reason=reason, published_on=published_on,
            user_id=user_id,
        )  # fmt: skip


def holds_in_force(customer: Customer, day: dt.date) -> list[Hold]:
    holds = Hold.objects.filter(customer=customer, start_date__lte=day).order_by("pk")
    return [h for h in holds if policy.hold_active(h.start_date, h.end_date, day)]


def release_hold(
    org: Organisation, target: str, *, on: dt.date, user_id: int | None = None
) -> Hold:
    """Release the hold in force of customer ``target``, or the hold whose id it is (a
    customer reference takes precedence over an id)."""
    customer = Customer.objects.filter(organisation=org, reference=target).first()
    if customer is not None:
        held = holds_in_force(customer, on)
        if not held:
            raise Refused(f"customer {target!r} has no hold in force on {on}")
        if len(held) > 1:
            ids = ", ".join(str(h.pk) for h in held)
            raise Refused(f"customer {target!r} has {len(held)} holds in force: name one ({ids})")
        hold = held[0]
    elif target.isdigit():
        found = Hold.objects.filter(organisation=org, pk=int(target)).first()
        if found is None:
            raise NotFound(f"no customer and no hold {target!r} found in organisation {org.slug!r}")
        hold = found
    else:
        raise NotFound(f"customer {target!r} not found in organisation {org.slug!r}")
    if on < hold.start_date:
        raise Refused(f"hold {hold.pk} starts on {hold.start_date}, after {on}")
    with _refused(f"hold {hold.pk}"):
        return pauses.release_hold(hold, on=on, user_id=user_id)


def create_plan(
    org: Organisation,
    reference: str,
    numbers: Sequence[str],
    instalments: Sequence[tuple[dt.date, Decimal]],
    *,
    on: dt.date,
    note: str = "",
    user_id: int | None = None,
) -> PaymentPlan:
    customer = customer_by_reference(org, reference)
    if len(set(numbers)) != len(numbers):
        raise Refused("an invoice is named twice")
    invoices = [invoice_of(customer, number, org) for number in numbers]
    paid = [invoice.number for invoice in invoices if invoice.balance <= 0]
    if paid:
        raise Refused(f"invoice {paid[0]!r} is paid: a plan covers what is owed")
    taken = list(
        PaymentPlan.invoices.through.objects.filter(
            invoice_id__in=[invoice.pk for invoice in invoices],
            paymentplan__status=PaymentPlan.Status.ACTIVE,
        ).values_list("invoice__number", "paymentplan_id")
    )
    if taken:
        number, plan = sorted(taken)[0]
        raise Refused(f"invoice {number!r} is already in the active payment plan {plan}")
    days = [day for day, _ in instalments]
    if len(set(days)) != len(days):
        raise Refused("two instalments fall on the same day: make them one")
    if any(amount <= 0 for _, amount in instalments):
        raise Refused("an instalment must be above zero")
    with _refused(f"customer {reference!r}"):
        return pauses.agree_plan(customer, invoices, instalments, on=on, note=note,
                                 user_id=user_id)  # fmt: skip
