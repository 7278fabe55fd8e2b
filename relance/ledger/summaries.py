"""What each customer owes, aged as of a day: the rows the console's lists and figures read
(``CustomerBalance``) instead of summing a million invoices per page.

``balances(organisation, as_of)`` is the one way to read them: it answers rows that hold the
current open balances aged as of ``as_of``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet

from relance.accounts.models import Organisation
from relance.ledger.balances import from_cents, sum_cents
from relance.ledger.models import CustomerBalance, Invoice

ZERO = Decimal("0.00")

# The aged buckets, as (column, lowest, highest days overdue) with None unbounded; the same
# limits as relance.insights.aging.BUCKETS.
BUCKET_COLUMNS: tuple[tuple[str, int | None, int | None], ...] = (
    ("not_due", None, 0),
    ("days_1_30", 1, 30),
    ("days_31_60", 31, 60),
    ("days_61_90", 61, 90),
    ("over_90", 91, None),
)


def _due_within(as_of: date, lowest: int | None, highest: int | None) -> Q:
    condition = Q()
    if lowest is not None:
        condition &= Q(due_date__lte=as_of - timedelta(days=lowest))
    if highest is not None:
        condition &= Q(due_date__gte=as_of - timedelta(days=highest))
    return condition


def balances(organisation: Organisation, as_of: date) -> QuerySet[CustomerBalance]:
    """The organisation's customer balances, current and aged as of ``as_of``."""
    refresh(organisation, as_of)
    return CustomerBalance.objects.filter(organisation=organisation)


@transaction.atomic
def refresh(organisation: Organisation, as_of: date) -> None:
    """Recompute every row of the organisation from its open invoices, set-based."""
    rows = (
        Invoice.objects.filter(organisation=organisation, balance__gt=0)
        .values("customer_id", "currency")
        .annotate(
            open_items=Count("pk"),
            overdue_items=Count("pk", filter=Q(due_date__lt=as_of)),
            oldest_due=Min("due_date"),
            **{
                column: sum_cents("balance", filter=_due_within(as_of, low, high))
                for column, low, high in BUCKET_COLUMNS
            },
        )
        .order_by()
    )
    fresh = []
    for row in rows:
        buckets = {column: from_cents(row[column] or 0) for column, _, _ in BUCKET_COLUMNS}
        open_amount = sum(buckets.values(), ZERO)
        fresh.append(
            CustomerBalance(
                organisation=organisation,
                customer_id=row["customer_id"],
                currency=row["currency"],
                as_of=as_of,
                open_amount=open_amount,
                overdue_amount=open_amount - buckets["not_due"],
                open_items=row["open_items"],
                overdue_items=row["overdue_items"],
                oldest_due=row["oldest_due"],
                **buckets,
            )
        )
    CustomerBalance.objects.filter(organisation=organisation).delete()
    CustomerBalance.objects.bulk_create(fresh, batch_size=2000)
