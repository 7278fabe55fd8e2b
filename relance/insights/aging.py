"""The aged balance (*balance âgée*): what customers owe at a date, by how late it is.

As of a date D:

* an item (invoice or debit note) counts if it was issued on or before D;
* its balance at D is its amount minus its allocations dated on or before D, so the
  report is right for any past date, whatever was paid since; items whose balance at D
  is positive are listed;
* days overdue = D - due date, sorted into the buckets "not_due" (0 or less), "1-30",
  "31-60", "61-90" and "over_90";
* a customer's unallocated credits at D (its payments and credit notes dated on or
  before D, minus their allocations dated on or before D) are shown beside the buckets,
  never netted into them.

Everything is kept per currency: totals are keyed by currency and never add two.

The figures come from three aggregate queries (the items, the payments, their
allocations); no invoice or payment is loaded into Python, which keeps the report fast on
a million invoices. Amounts are added up in whole cents (``relance.ledger.balances``), so
that they are exact on SQLite as on PostgreSQL: an invoice paid in full is never open at
0.00.

The console's figures are this report's, as of today.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, F, Min, Q, QuerySet, Sum, When

from relance.accounts.models import Organisation
from relance.ledger.balances import CENTS, NO_CENTS, from_cents, open_cents, sum_cents
from relance.ledger.models import Allocation, Invoice, Payment

ZERO = Decimal("0.00")

# (name, lowest, highest days overdue); None is unbounded.
BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("not_due", None, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("over_90", 91, None),
)
BUCKET_NAMES: tuple[str, ...] = tuple(name for name, _, _ in BUCKETS)


@dataclass
class CustomerLine:
    """What one customer owes in one currency."""

    reference: str
    legal_name: str
    currency: str
    buckets: dict[str, Decimal]
    total: Decimal
    items: int
    overdue_items: int  # items past their due date: all but those "not_due"
    unallocated_credits: Decimal


@dataclass
class CurrencyTotal:
    currency: str
    buckets: dict[str, Decimal]
    total: Decimal
    items: int
    overdue_items: int
    customers: int
    unallocated_credits: Decimal


@dataclass
class AgedBalance:
    organisation: str
    as_of: date
    customers: list[CustomerLine] = field(default_factory=list)
    totals: dict[str, CurrencyTotal] = field(default_factory=dict)


def open_items(organisation: Organisation, as_of: date) -> QuerySet[Invoice]:
    """The organisation's items open at ``as_of``, annotated with ``open_at``: the balance
    at that date in cents. Shared with the DSO, whose receivables are the same figure."""
    return (
        Invoice.objects.filter(organisation=organisation, issue_date__lte=as_of)
        .annotate(open_at=open_cents(Q(date__lte=as_of)))
        .filter(open_at__gt=0)
        .order_by()
    )


def bucket_condition(as_of: date, lowest: int | None, highest: int | None) -> Q:
    """Days overdue within [lowest, highest], said on the due date itself: comparing with
    fixed dates is portable (no date arithmetic in SQL) and can use an index."""
    condition = Q()
    if lowest is not None:
        condition &= Q(due_date__lte=as_of - timedelta(days=lowest))
    if highest is not None:
        condition &= Q(due_date__gte=as_of - timedelta(days=highest))
    return condition


def bucket_sums(as_of: date) -> dict[str, Sum]:
    """One aggregate per bucket (cents), under SQL-safe aliases b0, b1, ..."""
    return {
        f"b{index}": Sum(
            Case(
                When(bucket_condition(as_of, lowest, highest), then=F("open_at")),
                default=NO_CENTS,
                output_field=CENTS,
            )
        )
        for index, (_, lowest, highest) in enumerate(BUCKETS)
    }


CUSTOMER_FIELDS = ("customer_id", "customer__reference", "customer__legal_name", "currency")
Key = tuple[int, str]  # (customer id, currency)


def aged_balance(organisation: Organisation, as_of: date) -> AgedBalance:
    lines: dict[Key, CustomerLine] = {}

    def line_for(row: dict[str, Any]) -> CustomerLine:
        key = (row["customer_id"], row["currency"])
        if key not in lines:
            lines[key] = CustomerLine(
                reference=row["customer__reference"],
                legal_name=row["customer__legal_name"],
                currency=row["currency"],
                buckets=dict.fromkeys(BUCKET_NAMES, ZERO),
                total=ZERO,
                items=0,
                overdue_items=0,
                unallocated_credits=ZERO,
            )
        return lines[key]

    overdue = Q(due_date__lt=as_of)  # days overdue 1 or more: any bucket but "not_due"
    item_rows = (
        open_items(organisation, as_of)
        .values(*CUSTOMER_FIELDS)
        .annotate(
            items=Count("pk"), overdue_items=Count("pk", filter=overdue), **bucket_sums(as_of)
        )
    )
    for row in item_rows:
        line = line_for(row)
        line.buckets = {name: from_cents(row[f"b{i}"]) for i, name in enumerate(BUCKET_NAMES)}
        line.total = sum(line.buckets.values(), ZERO)
        line.items = row["items"]
        line.overdue_items = row["overdue_items"]
    for row, credits in unallocated_credits(organisation, as_of):
        line_for(row).unallocated_credits = credits

    report = AgedBalance(
        organisation=organisation.slug,
        as_of=as_of,
        customers=sorted(lines.values(), key=lambda c: (c.currency, c.legal_name, c.reference)),
    )
    report.totals = currency_totals(report.customers)
    return report


def unallocated_credits(
    organisation: Organisation, as_of: date
) -> list[tuple[dict[str, Any], Decimal]]:
    """(customer row, credits) for each customer and currency with credits at ``as_of``:
    payments dated on or before it, minus their allocations dated on or before it.

    Two grouped sums rather than a sum per payment: a million payments take a second,
    not several."""
    received = (
        Payment.objects.filter(organisation=organisation, date__lte=as_of)
        .order_by()
        .values(*CUSTOMER_FIELDS)
        .annotate(amount=sum_cents("amount"))
    )
    used = {
        (row["payment__customer_id"], row["payment__currency"]): from_cents(row["amount"])
        for row in Allocation.objects.filter(
            organisation=organisation, date__lte=as_of, payment__date__lte=as_of
        )
        .order_by()
        .values("payment__customer_id", "payment__currency")
        .annotate(amount=sum_cents("amount"))
    }
    credits = []
    for row in received:
        left = from_cents(row["amount"]) - used.get((row["customer_id"], row["currency"]), ZERO)
        if left:
            credits.append((row, left))
    return credits


def currency_totals(lines: list[CustomerLine]) -> dict[str, CurrencyTotal]:
    """The overall totals, one per currency. Summing the customer lines (aggregated rows,
    not invoices) keeps them equal to the sum of what is shown, to the cent."""
    totals: dict[str, CurrencyTotal] = {}
    for line in lines:
        total = totals.get(line.currency)
        if total is None:
            total = totals[line.currency] = CurrencyTotal(
                currency=line.currency,
                buckets=dict.fromkeys(BUCKET_NAMES, ZERO),
                total=ZERO,
                items=0,
                overdue_items=0,
                customers=0,
                unallocated_credits=ZERO,
            )
        for name in BUCKET_NAMES:
            total.buckets[name] += line.buckets[name]
        total.total += line.total
        total.items += line.items
        total.overdue_items += line.overdue_items
        total.customers += 1
        total.unallocated_credits += line.unallocated_credits
    return dict(sorted(totals.items()))


@dataclass
class Receivables:
    currency: str
    amount: Decimal
    oldest_issue_date: date


def receivables(organisation: Organisation, as_of: date) -> dict[str, Receivables]:
    """Open balances at ``as_of`` per currency (the aged balance's total), with the issue
    date of the oldest open item. One query."""
    rows = (
        open_items(organisation, as_of)
        .values("currency")
        .annotate(amount=Sum("open_at", output_field=CENTS), oldest=Min("issue_date"))
        .order_by("currency")
    )
    return {
        row["currency"]: Receivables(row["currency"], from_cents(row["amount"]), row["oldest"])
        for row in rows
    }
