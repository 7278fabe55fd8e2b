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

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    DecimalField,
    Expression,
    ExpressionWrapper,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from relance.ledger.models import Allocation, Invoice
from relance.lib import bulk

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

    Set-based, per chunk of invoices: one query reads them (their amount in cents, whether
    they were open), one sums their allocations by invoice, and the new values go back in
    one bulk UPDATE (``relance.lib.bulk``), read and written by the driver: a bank
    statement settles tens of thousands of invoices at once.
    """
    from relance.ledger import summaries

    ids = sorted(set(invoice_ids))
    customers = set(customer_ids)
    paid: list[dict[str, Any]] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        # By id alone, unordered: given the organisation too, SQLite walked the
        # organisation's index (a million rows) rather than find each id; the
        # organisation is checked on each row instead.
        invoices = (
            Invoice.objects.filter(pk__in=chunk)
            .order_by()
            .annotate(owed=cents("amount"), was_open=_OPEN)
            .values_list(
                "pk", "organisation_id", "customer_id", "number", "owed", "currency", "was_open"
            )
        )
        allocated = (
            Allocation.objects.filter(invoice_id__in=chunk)
            .order_by()
            .values("invoice_id")
            .annotate(total=sum_cents("amount"), last=Max("date"))
            .values_list("invoice_id", "total", "last")
        )
        sums = {pk: (total, last) for pk, total, last in _rows(allocated)}
        updates: list[tuple[str, Any, int]] = []
        for pk, org_id, customer_id, number, owed, currency, was_open in _rows(invoices):
            if org_id != organisation_id:
                continue
            customers.add(customer_id)
            total, last = sums.get(pk, (0, None))
            left = int(owed) - int(total or 0)
            settled = _date(last) if left <= 0 else None
            updates.append((str(Decimal(left).scaleb(-2)), _plain_date(settled), pk))
            if was_open and left <= 0:
                paid.append({"pk": pk, "customer_id": customer_id, "number": number,
                             "amount": Decimal(int(owed)).scaleb(-2), "currency": currency,
                             "settled_on": settled})  # fmt: skip
        bulk.update(Invoice._meta.db_table, ["balance", "settled_on"], ["id"], updates)
    summaries.customers_changed(organisation_id, customers)
    _record_paid(organisation_id, paid)


# Open before the refresh, said as the partial indexes of open items say it.
_OPEN = ExpressionWrapper(Q(balance__gt=0), output_field=BooleanField())


def _rows(query: Any) -> list[tuple[Any, ...]]:
    """The rows of a ``values_list`` query as the driver gives them (no converters)."""
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _plain_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


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
