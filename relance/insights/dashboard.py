"""The dashboard's figures: what is owed and how late, DSO over twelve months, what came in
this month, who owes most, the disputes still open.

Open amounts come from the customer balances (``relance.ledger.summaries.balances``), one
aggregate over those rows: the aged balance's figures as of today
(``relance report aged-balance``) without reading a million invoices. Every amount is kept
per currency, never added to another, and added up in whole cents (exact on SQLite too).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum

from relance.accounts.models import Organisation
from relance.insights.aging import BUCKET_NAMES
from relance.insights.dso import DsoResult, dso_series
from relance.ledger import summaries
from relance.ledger.balances import from_cents, sum_cents
from relance.ledger.models import (
    CustomerBalance,
    Dispute,
    DisputeReason,
    Payment,
    PaymentKind,
)
from relance.ledger.summaries import BUCKET_COLUMNS

T = TypeVar("T")

ZERO = Decimal("0.00")

# The aged balance's bucket names (the customers list's ``bucket`` values) and the
# CustomerBalance columns that hold them, in the same order.
BUCKETS: tuple[tuple[str, str], ...] = tuple(
    zip(BUCKET_NAMES, (column for column, _, _ in BUCKET_COLUMNS), strict=True)
)

# Open disputes by how long they have been open: (name, lowest, highest days) as the
# disputes list's ``age`` values.
DISPUTE_AGES: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("over_90", 91, None),
)


@dataclass
class CurrencyFigures:
    currency: str
    open_amount: Decimal
    overdue_amount: Decimal
    buckets: dict[str, Decimal]  # by aged balance bucket name
    customers: int
    overdue_customers: int
    open_items: int
    overdue_items: int


def receivables(rows: QuerySet[CustomerBalance]) -> dict[str, CurrencyFigures]:
    """What is owed per currency, from the customer balances (``balances(organisation,
    day)``): one aggregate query."""
    totals = (
        rows.order_by()
        .values("currency")
        .annotate(
            t_open=sum_cents("open_amount"),
            t_overdue=sum_cents("overdue_amount"),
            t_customers=Count("customer_id"),
            t_overdue_customers=Count("customer_id", filter=Q(overdue_amount__gt=0)),
            t_open_items=Sum("open_items"),
            t_overdue_items=Sum("overdue_items"),
            **{f"t_{column}": sum_cents(column) for _, column in BUCKETS},
        )
    )
    figures = {}
    for row in sorted(totals, key=lambda r: r["currency"]):
        figures[row["currency"]] = CurrencyFigures(
            currency=row["currency"],
            open_amount=from_cents(row["t_open"]),
            overdue_amount=from_cents(row["t_overdue"]),
            buckets={name: from_cents(row[f"t_{column}"]) for name, column in BUCKETS},
            customers=row["t_customers"],
            overdue_customers=row["t_overdue_customers"],
            open_items=row["t_open_items"] or 0,
            overdue_items=row["t_overdue_items"] or 0,
        )
    return figures


def top_overdue(rows: QuerySet[CustomerBalance], size: int = 10) -> list[CustomerBalance]:
    """The customer balances (``rows``) most overdue, largest first (read through the
    (organisation, -overdue_amount) index)."""
    return list(
        rows.filter(overdue_amount__gt=0)
        .select_related("customer")
        .order_by("-overdue_amount", "customer__legal_name", "pk")[:size]
    )


# -- money received -------------------------------------------------------------------


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of ``day``'s month."""
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def parse_month(text: str | None, default: dt.date) -> dt.date:
    """``YYYY-MM`` as the month's first day; ``default``'s month when absent or wrong."""
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        return dt.date(year, month, 1)
    except ValueError:
        return default.replace(day=1)


def received(organisation: Organisation) -> Any:
    """The payments: money received, not credit notes, settlements or write-offs."""
    return Payment.objects.filter(organisation=organisation, kind=PaymentKind.PAYMENT)


def payments_in(organisation: Organisation, month: dt.date) -> Any:
    """The payments dated in ``month``'s month."""
    first, last = month_of(month)
    return received(organisation).filter(date__gte=first, date__lte=last)


def received_before(organisation: Organisation, month: dt.date) -> bool:
    """Whether money came in before ``month``'s month: how far back its months go."""
    return received(organisation).filter(date__lt=month_of(month)[0]).exists()


def collected(organisation: Organisation, month: dt.date) -> dict[str, Decimal]:
    """Money received in ``month``'s month, per currency."""
    rows = (
        payments_in(organisation, month)
        .order_by()
        .values("currency")
        .annotate(total=sum_cents("amount"), n=Count("pk"))
    )
    return {
        r["currency"]: from_cents(r["total"]) for r in sorted(rows, key=lambda r: r["currency"])
    }


# -- disputes -------------------------------------------------------------------------


@dataclass
class DisputeFigures:
    total: int = 0
    by_reason: list[tuple[str, Any, int]] = field(default_factory=list)  # (value, label, n)
    by_age: dict[str, int] = field(default_factory=dict)


def open_disputes(organisation: Organisation, today: dt.date) -> DisputeFigures:
    """Open disputes counted by reason and by how long they have been open: one query."""
    ages = {
        name: Count("pk", filter=_opened_within(today, lowest, highest))
        for name, lowest, highest in DISPUTE_AGES
    }
    rows = list(
        Dispute.objects.filter(organisation=organisation, resolved_on__isnull=True)
        .order_by()
        .values("reason")
        .annotate(n=Count("pk"), **{f"age_{i}": a for i, a in enumerate(ages.values())})
    )
    labels = dict(DisputeReason.choices)
    figures = DisputeFigures(by_age=dict.fromkeys(ages, 0))
    for row in sorted(rows, key=lambda r: (-r["n"], r["reason"])):
        figures.total += row["n"]
        figures.by_reason.append(
            (row["reason"], labels.get(row["reason"], row["reason"]), row["n"])
        )
        for i, name in enumerate(ages):
            figures.by_age[name] += row[f"age_{i}"]
    return figures


def _opened_within(today: dt.date, lowest: int, highest: int | None) -> Q:
    """Open for [lowest, highest] days, said on the opening date (portable, indexable)."""
    condition = Q(opened_on__lte=today - dt.timedelta(days=lowest))
    if highest is not None:
        condition &= Q(opened_on__gte=today - dt.timedelta(days=highest))
    return condition


# -- DSO ------------------------------------------------------------------------------


def month_ends(today: dt.date, count: int = 12) -> list[dt.date]:
    """The last ``count`` month-ends on or before ``today``, oldest first."""
    ends: list[dt.date] = []
    first = today.replace(day=1)
    end = today if today == month_of(today)[1] else first - dt.timedelta(days=1)
    while len(ends) < count:
        ends.append(end)
        end = end.replace(day=1) - dt.timedelta(days=1)
    return ends[::-1]


def dso_over_months(
    organisation: Organisation, today: dt.date, count: int = 12
) -> tuple[list[DsoResult], DsoResult]:
    """DSO at each of the last ``count`` month-ends, and today's: two queries over the whole
    ledger, kept until the ledger changes or the day does."""

    def compute() -> tuple[list[DsoResult], DsoResult]:
        results = dso_series(organisation, [*month_ends(today, count), today])
        return results[:count], results[-1]

    found: tuple[list[DsoResult], DsoResult] = kept(organisation, today, f"dso-{count}", compute)
    return found


def kept(organisation: Organisation, today: dt.date, name: str, compute: Callable[[], T]) -> T:
    """``compute()``, a figure of the whole ledger as of ``today``, from the cache while
    the ledger has not changed since (``summaries.version``): one query on a primary key
    instead of a pass over every row."""
    version = summaries.version(organisation.pk)
    key = f"relance:{name}:{organisation.pk}:{today.isoformat()}:{version}"
    found: T | None = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, timeout=24 * 3600)
    return found
