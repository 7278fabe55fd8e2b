"""The lists a credit team follows up: disputes, promises and payment plans, filtered by the
console's agreed parameters (docs/customers.md). Each answers a queryset of the
organisation's rows with what a page shows of them joined in, so that a page of 3 rows and
a page of 30 cost the same queries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, F, Q, QuerySet

from relance.dunning.models import PaymentPlan, Promise
from relance.ledger.models import Dispute

# Age of a dispute in days since it was opened: the buckets of the aged balance.
AGES: dict[str, tuple[int, int | None]] = {
    "0-30": (0, 30),
    "31-60": (31, 60),
    "61-90": (61, 90),
    "over_90": (91, None),
}
# "Due this week": open promises whose date falls within the next seven days, or has
# passed while their grace runs (not broken yet).
WEEK = 7


def opened_between(age: str, today: dt.date) -> Q:
    """Disputes ``age`` days old on ``today`` (an unknown age filters nothing)."""
    if age not in AGES:
        return Q()
    lowest, highest = AGES[age]
    condition = Q(opened_on__lte=today - dt.timedelta(days=lowest))
    if highest is not None:
        condition &= Q(opened_on__gte=today - dt.timedelta(days=highest))
    return condition


def assigned_to(value: str, user_id: int) -> Q:
    """``me``, ``none`` or a user id; anything else filters nothing."""
    if value == "me":
        return Q(assignee_id=user_id)
    if value == "none":
        return Q(assignee__isnull=True)
    if value.isdigit():
        return Q(assignee_id=int(value))
    return Q()


def disputes(
    rows: QuerySet[Dispute],
    *,
    today: dt.date,
    user_id: int,
    status: str = "",
    reason: str = "",
    age: str = "",
    assignee: str = "",
    customer: int | None = None,
) -> QuerySet[Dispute]:
    """Open disputes first (oldest first), then resolved ones (latest first)."""
    if status == "open":
        rows = rows.filter(resolved_on__isnull=True)
    elif status == "resolved":
        rows = rows.filter(resolved_on__isnull=False)
    if reason:
        rows = rows.filter(reason=reason)
    if customer is not None:
        rows = rows.filter(invoice__customer_id=customer)
    rows = rows.filter(opened_between(age, today) & assigned_to(assignee, user_id))
    # NULL (open) first on SQLite as on PostgreSQL, whose defaults differ.
    return rows.select_related("invoice", "invoice__customer", "assignee").order_by(
        F("resolved_on").desc(nulls_first=True), "opened_on", "pk"
    )


def promises(
    rows: QuerySet[Promise],
    *,
    today: dt.date,
    status: str = "",
    due: str = "",
    customer: int | None = None,
) -> QuerySet[Promise]:
    if status in Promise.Status.values:
        rows = rows.filter(status=status)
    if due == "week":
        rows = rows.filter(
            status=Promise.Status.OPEN, promised_on__lte=today + dt.timedelta(days=WEEK - 1)
        )
    if customer is not None:
        rows = rows.filter(customer_id=customer)
    order: Any = ("promised_on", "pk") if status in ("", "open") else ("-promised_on", "-pk")
    return rows.select_related("customer", "invoice").order_by(*order)


def plans(
    rows: QuerySet[PaymentPlan], *, status: str = "", customer: int | None = None
) -> QuerySet[PaymentPlan]:
    if status in PaymentPlan.Status.values:
        rows = rows.filter(status=status)
    if customer is not None:
        rows = rows.filter(customer_id=customer)
    return (
        rows.select_related("customer", "confirmation")
        .annotate(instalment_count=Count("instalments", distinct=True))
        .order_by("-agreed_on", "-pk")
    )
