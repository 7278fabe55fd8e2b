"""The balance of an item is its amount less what is allocated to it. This module is the one
place that recomputes the stored copy, set-based, after allocations change, and the one
place that says how money is added up in SQL.

Money adds up in whole cents. SQLite keeps a decimal column as a binary float, so that
``SUM(amount)`` drifts (0.10 + 0.20 is not 0.30 there), and an invoice paid in full can be
left owing 0.0000000000000001, open at "0.00". Every sum of money in SQL is therefore a sum
of ``cents(...)``, an exact integer on SQLite and PostgreSQL alike, turned back into a
Decimal by ``from_cents`` (in Python) or ``money_from_cents`` (in SQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    DecimalField,
    Expression,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from relance.ledger.models import Allocation, Invoice

CHUNK = 5000
MONEY: DecimalField[Any, Any] = DecimalField(max_digits=18, decimal_places=2)
CENTS: BigIntegerField[Any, Any] = BigIntegerField()
NO_CENTS = Value(0, output_field=CENTS)


class Cents(Func):
    """An amount as whole cents (an integer), which adds up exactly in SQL."""

    template = "CAST(ROUND(%(expressions)s * 100) AS BIGINT)"
    output_field = CENTS


class MoneyFromCents(Func):
    """Whole cents back to an amount, in SQL (to store it)."""

    template = "(%(expressions)s / 100.0)"
    output_field = MONEY


def cents(expression: str | Expression) -> Cents:
    return Cents(F(expression) if isinstance(expression, str) else expression)


def sum_cents(expression: str | Expression, **kwargs: Any) -> Sum:
    """``Sum`` of an amount, exact: an integer of cents (read it with ``from_cents``)."""
    return Sum(cents(expression), output_field=CENTS, **kwargs)


def from_cents(value: Any) -> Decimal:
    """A sum of cents from the database as an amount (0.00 when there was nothing)."""
    return Decimal(int(value or 0)).scaleb(-2)


def allocated_cents(outer: str, filters: Q | None = None) -> Coalesce:
    """Cents allocated to the invoice or payment (``outer`` = "invoice" or "payment") of
    the outer query, among the allocations matching ``filters``; 0 when there are none."""
    allocations = Allocation.objects.filter(**{outer: OuterRef("pk")})
    if filters is not None:
        allocations = allocations.filter(filters)
    total = allocations.order_by().values(outer).annotate(total=sum_cents("amount"))
    return Coalesce(Subquery(total.values("total"), output_field=CENTS), NO_CENTS)


def open_cents(filters: Q | None = None) -> Expression:
    """An invoice's balance in cents: its amount less its allocations (those matching
    ``filters``, e.g. dated on or before a day)."""
    difference: Expression = cents("amount") - allocated_cents("invoice", filters)
    return difference


def refresh(
    organisation_id: int, invoice_ids: Iterable[int], customer_ids: Iterable[int] = ()
) -> None:
    """Recompute ``balance`` and ``settled_on`` of the given invoices from their allocations.

    ``settled_on`` is the date of the last allocation once nothing is left to pay. The
    customer balances of their customers follow, and those of ``customer_ids`` (whose
    invoices a writer created or changed otherwise, in bulk).
    """
    from relance.ledger import summaries

    ids = sorted(set(invoice_ids))
    allocations = Allocation.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
    last_date = Subquery(allocations.annotate(last=Max("date")).values("last"))
    paid: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = Invoice.objects.filter(organisation_id=organisation_id, pk__in=chunk)
        # Those open before (read from the index of open items): the ones closed now are paid.
        was_open = list(rows.filter(balance__gt=0).values_list("pk", flat=True))
        rows.update(balance=MoneyFromCents(open_cents()))
        rows.update(settled_on=Case(When(balance__lte=0, then=last_date), default=None))
        if was_open:
            paid += list(
                Invoice.objects.filter(pk__in=was_open, balance__lte=0).values(
                    "pk", "customer_id", "number", "amount", "currency", "settled_on"
                )
            )
    summaries.invoices_changed(organisation_id, ids, customer_ids)
    _record_paid(organisation_id, paid)


def _record_paid(organisation_id: int, paid: list[Any]) -> None:
    """An ``invoice_paid`` event on the timeline of each invoice paid off now (by payments
    or credit notes allocated to it): what webhooks tell as ``invoice.paid``."""
    if not paid:
        return
    from django.utils.translation import gettext_noop

    from relance.accounts.models import Organisation
    from relance.ledger import timeline

    organisation = Organisation.objects.get(pk=organisation_id)
    timeline.record_many(
        organisation,
        [
            timeline.Event(
                row["customer_id"], "invoice_paid",
                timeline.Text(gettext_noop("Invoice %(number)s paid"), {"number": row["number"]}),
                {"number": row["number"], "amount": row["amount"], "currency": row["currency"],
                 "settled_on": row["settled_on"]},
                invoice_id=row["pk"],
            )
            for row in paid
        ],
    )  # fmt: skip
