"""Today: the day's work of one person in one organisation, ranked by what it brings in.

Each line is what one customer owes in one currency (a ``CustomerBalance`` row, never the
invoices), listed when something of it is overdue or when a person has something to do
for it: a call due, a message awaiting approval, an open dispute, a bounced address.

The ranking is ``priority``, one formula (see docs/console.md)::

    aged     = overdue 1-30 days x 1 + 31-60 x 2 + 61-90 x 3 + over 90 x 4
    priority = aged x risk weight x (1 + 0.5 x promises broken in the last 365 days)

with the risk weight 0.8 (low), 1 (medium or unknown), 1.5 (high). Money overdue longer
weighs more, a customer who broke their word or is known risky comes before another who
owes as much. Amounts of different currencies are compared as they are (each line is one
currency, never added to another).

The formula uses only ``+`` and ``*``, so that the very same function orders the rows in
the database (given column expressions) and explains a line in Python (given amounts):
the ranking never reads more rows than the page shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent
from relance.dunning.models import CommStatus, Communication, Promise, Task
from relance.ledger.models import Customer, CustomerBalance, Dispute
from relance.ledger.summaries import balances

ZERO = Decimal("0.00")

# (CustomerBalance column, weight): money overdue longer weighs more.
AGE_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("days_1_30", 1),
    ("days_31_60", 2),
    ("days_61_90", 3),
    ("over_90", 4),
)
RISK_WEIGHTS: dict[str, Decimal] = {
    "low": Decimal("0.8"),
    "medium": Decimal("1"),
    "high": Decimal("1.5"),
}
UNKNOWN_RISK = Decimal("1")
BROKEN_PROMISE_WEIGHT = Decimal("0.5")
BROKEN_PROMISE_DAYS = 365  # broken promises older than this no longer count

# The kinds of tasks Today shows as a line's next action.
CALL = "call"
BOUNCE = "invalid_email"

# Next actions, in the order a person takes them: a bounced address stops every e-mail,
# a message awaiting approval stops that message, an open dispute stops the disputed
# invoice's dunning, a call is the day's scheduled step; otherwise read the customer.
ACTIONS = ("bounce", "approve", "dispute", "call", "review")

PAGE_SIZE = 25


def priority(
    days_1_30: Any, days_31_60: Any, days_61_90: Any, over_90: Any, broken: Any, risk: Any
) -> Any:
    """The score a line is ranked by (the higher, the sooner). Pure: amounts overdue per
    age bucket, the number of promises broken lately, the risk weight (``risk_weight``).
    Only ``+`` and ``*``: it works on Decimals and on query expressions alike."""
    (_, w1), (_, w2), (_, w3), (_, w4) = AGE_WEIGHTS
    aged = days_1_30 * w1 + days_31_60 * w2 + days_61_90 * w3 + over_90 * w4
    return aged * risk * (broken * BROKEN_PROMISE_WEIGHT + 1)


def risk_weight(risk_class: str) -> Decimal:
    return RISK_WEIGHTS.get(risk_class, UNKNOWN_RISK)


def next_actions(
    *, bounce: bool, awaiting: int, disputes: int, call: bool, may_approve: bool = True
) -> list[str]:
    """What a person can do for a line, the first being the next one (``ACTIONS``); a
    message awaiting approval is an action only for who may approve it."""
    present = {
        "bounce": bounce,
        "approve": awaiting > 0 and may_approve,
        "dispute": disputes > 0,
        "call": call,
    }
    actions = [action for action in ACTIONS if present.get(action)]
    return actions or ["review"]


# -- reading --------------------------------------------------------------------------


@dataclass
class Line:
    customer: Customer
    currency: str
    open_amount: Decimal
    overdue_amount: Decimal
    overdue_items: int
    oldest_due: dt.date | None
    days_overdue: int
    buckets: dict[str, Decimal]
    broken_promises: int
    score: Decimal
    call: Task | None = None
    bounce: Task | None = None
    awaiting: int = 0
    disputes: int = 0
    actions: list[str] = field(default_factory=list)

    @property
    def next_action(self) -> str:
        return self.actions[0]

    @property
    def high_risk(self) -> bool:
        return self.customer.risk_class == "high"


@dataclass
class Worklist:
    lines: list[Line]
    page: int
    has_next: bool
    size: int = PAGE_SIZE

    @property
    def start(self) -> int:
        """The rank of the page's first line."""
        return (self.page - 1) * self.size + 1


def _scope(
    rows: QuerySet[CustomerBalance], organisation: Organisation, scope: Q, mine_of: int | None
) -> QuerySet[CustomerBalance]:
    """The balances of the customers in ``scope`` (a condition on Customer), of those
    assigned to ``mine_of`` when given."""
    if scope:
        rows = rows.filter(customer__in=Customer.objects.filter(scope, organisation=organisation))
    if mine_of is not None:
        rows = rows.filter(customer__collector_id=mine_of)
    return rows


def _with_action(organisation: Organisation, today: dt.date) -> Q:
    """Customers a person has something to do for, as a condition on CustomerBalance:
    each kind is one uncorrelated subquery (a small set), not a lookup per row."""
    tasks = Task.objects.filter(organisation=organisation, status=Task.Status.OPEN)
    calls = tasks.filter(kind=CALL, due_on__lte=today)
    bounces = tasks.filter(kind=BOUNCE)
    awaiting = Communication.objects.filter(
        organisation=organisation, status=CommStatus.AWAITING_APPROVAL
    )
    disputes = Dispute.objects.filter(organisation=organisation, resolved_on__isnull=True)
    return (
        Q(customer_id__in=calls.values("customer_id"))
        | Q(customer_id__in=bounces.values("customer_id"))
        | Q(customer_id__in=awaiting.values("customer_id"))
        | Q(customer_id__in=disputes.values("invoice__customer_id"))
    )


def worklist(
    organisation: Organisation,
    today: dt.date,
    *,
    scope: Q | None = None,
    mine_of: int | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
    may_approve: bool = True,
) -> Worklist:
    """One page of the day's work. ``scope`` is a condition on Customer (the customers
    the person may work); ``mine_of`` keeps those assigned to that user. A constant number
    of queries, whatever the page size."""
    page = max(page, 1)
    broken_since = today - dt.timedelta(days=BROKEN_PROMISE_DAYS)
    broken = (
        Promise.objects.filter(
            customer_id=OuterRef("customer_id"),
            status=Promise.Status.BROKEN,
            broken_on__gte=broken_since,
        )
        .order_by()
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    risk = Case(
        *(When(customer__risk_class=name, then=Value(w)) for name, w in RISK_WEIGHTS.items()),
        default=Value(UNKNOWN_RISK),
        output_field=DecimalField(max_digits=4, decimal_places=2),
    )
    scoped = _scope(balances(organisation, today), organisation, scope or Q(), mine_of)
    start = (page - 1) * size
    floor = _lowest_that_may_rank(organisation, scoped, broken_since, start + size + 1)
    candidates = Q(overdue_amount__gt=0) | _with_action(organisation, today)
    if floor is not None:
        candidates = Q(overdue_amount__gte=floor)
    rows = (
        scoped.filter(candidates)
        .annotate(broken=Coalesce(Subquery(broken, output_field=IntegerField()), 0))
        .annotate(
            score=priority(
                F("days_1_30"), F("days_31_60"), F("days_61_90"), F("over_90"), F("broken"), risk
            )
        )
        .select_related("customer", "customer__collector")
        .order_by("-score", "-overdue_amount", "customer__legal_name", "pk")
    )
    found = list(rows[start : start + size + 1])
    shown = found[:size]
    lines = [_line(row, today) for row in shown]
    _add_actions(organisation, today, lines, may_approve)
    return Worklist(lines=lines, page=page, has_next=len(found) > size, size=size)


def _lowest_that_may_rank(
    organisation: Organisation,
    rows: QuerySet[CustomerBalance],
    broken_since: dt.date,
    count: int,
) -> Decimal | None:
    """The smallest overdue amount a line may have and still rank among the first
    ``count``, or None when every line may (fewer than ``count`` owe something overdue).

    Each of the ``count`` lines most overdue scores at least its overdue amount times the
    lowest weights (age 1, risk ``min(RISK_WEIGHTS)``, no broken promise), so at least
    the ``count``-th of them times that; a line scores at most its overdue amount times
    the highest weights. Lines whose highest possible score is below that floor cannot
    rank, and the ranking reads only the others, through the (organisation,
    -overdue_amount) index: two small queries instead of a score for every line."""
    # Both queries always: the page makes as many queries whatever its number of lines.
    most_broken = (
        Promise.objects.filter(
            organisation=organisation, status=Promise.Status.BROKEN, broken_on__gte=broken_since
        )
        .order_by()
        .values("customer_id")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("n", flat=True)[:1]
    )
    heaviest = max(most_broken, default=0)
    kth = list(
        rows.filter(overdue_amount__gt=0)
        .order_by("-overdue_amount")
        .values_list("overdue_amount", flat=True)[count - 1 : count]
    )
    if not kth:
        return None
    lowest = priority(kth[0], 0, 0, 0, 0, min(RISK_WEIGHTS.values()))
    highest_weight = priority(0, 0, 0, 1, heaviest, max(RISK_WEIGHTS.values()))
    return Decimal(lowest / highest_weight).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)


def _line(row: CustomerBalance, today: dt.date) -> Line:
    buckets = {column: getattr(row, column) for column, _ in AGE_WEIGHTS}
    broken: int = row.broken  # type: ignore[attr-defined]
    oldest = row.oldest_due
    return Line(
        customer=row.customer,
        currency=row.currency,
        open_amount=row.open_amount,
        overdue_amount=row.overdue_amount,
        overdue_items=row.overdue_items,
        oldest_due=oldest,
        days_overdue=max((today - oldest).days, 0) if oldest else 0,
        buckets=buckets,
        broken_promises=broken,
        score=priority(
            row.days_1_30,
            row.days_31_60,
            row.days_61_90,
            row.over_90,
            broken,
            risk_weight(row.customer.risk_class),
        ),
    )


def _add_actions(
    organisation: Organisation, today: dt.date, lines: list[Line], may_approve: bool
) -> None:
    """Each line's pending work: one query per kind for the whole page."""
    ids = sorted({line.customer.pk for line in lines})
    calls: dict[int, Task] = {}
    bounces: dict[int, Task] = {}
    for task in Task.objects.filter(
        organisation=organisation,
        status=Task.Status.OPEN,
        customer_id__in=ids,
        kind__in=(CALL, BOUNCE),
    ).order_by("due_on", "pk"):
        if task.kind == CALL and task.due_on <= today:
            calls.setdefault(task.customer_id, task)
        elif task.kind == BOUNCE:
            bounces.setdefault(task.customer_id, task)
    awaiting = _counts(
        Communication.objects.filter(
            organisation=organisation,
            status=CommStatus.AWAITING_APPROVAL,
            customer_id__in=ids,
        ),
        "customer_id",
    )
    disputes = _counts(
        Dispute.objects.filter(
            organisation=organisation,
            resolved_on__isnull=True,
            invoice__customer_id__in=ids,
        ),
        "invoice__customer_id",
    )
    for line in lines:
        pk = line.customer.pk
        line.call = calls.get(pk)
        line.bounce = bounces.get(pk)
        line.awaiting = awaiting.get(pk, 0)
        line.disputes = disputes.get(pk, 0)
        line.actions = next_actions(
            bounce=line.bounce is not None,
            awaiting=line.awaiting,
            disputes=line.disputes,
            call=line.call is not None,
            may_approve=may_approve,
        )


def _counts(rows: QuerySet[Any], key: str) -> dict[int, int]:
    # COUNT(*): read from an index holding ``key`` alone (the ids are not in it).
    return {row[key]: row["n"] for row in rows.order_by().values(key).annotate(n=Count("*"))}


# -- the figures above the list -------------------------------------------------------


@dataclass
class RunCounts:
    """What the organisation's latest run planned, by what became of it."""

    run_date: dt.date | None
    planned: int = 0
    awaiting_approval: int = 0
    sent: int = 0
    failed: int = 0


FAILED = (CommStatus.FAILED, CommStatus.AMBIGUOUS)


def latest_run_date(organisation: Organisation, today: dt.date) -> dt.date | None:
    """The day of the latest run on or before ``today`` that could plan something (a run
    on a closed day plans nothing): the audit trail records each run, read through its
    (organisation, time) index. Communications written without a run (an import of
    history) are looked at only when no run was recorded."""
    latest: dt.date | None = None
    for event in (
        AuditEvent.objects.filter(organisation=organisation, action="run.completed")
        .order_by("-at")
        .only("data")[:10]
    ):
        data = event.data if isinstance(event.data, dict) else {}
        try:
            day = dt.date.fromisoformat(str(data.get("run_date")))
        except ValueError:
            continue
        if day > today:
            continue
        latest = latest or day
        if data.get("business_day", True):
            return day
    if latest is not None:
        return latest
    found: dt.date | None = Communication.objects.filter(
        organisation=organisation, run_date__lte=today
    ).aggregate(day=Max("run_date"))["day"]
    return found


def run_communications(organisation: Organisation, run_date: dt.date) -> QuerySet[Communication]:
    return Communication.objects.filter(organisation=organisation, run_date=run_date)


def run_counts(organisation: Organisation, today: dt.date) -> RunCounts:
    run_date = latest_run_date(organisation, today)
    counts = RunCounts(run_date)
    if run_date is None:
        return counts
    by_status = _counts_by(run_communications(organisation, run_date), "status")
    counts.planned = sum(by_status.values())
    counts.awaiting_approval = by_status.get(CommStatus.AWAITING_APPROVAL, 0)
    counts.sent = by_status.get(CommStatus.SENT, 0)
    counts.failed = sum(by_status.get(status, 0) for status in FAILED)
    return counts


def _counts_by(rows: QuerySet[Any], key: str) -> dict[str, int]:
    # COUNT(*): read from an index holding ``key`` alone (the ids are not in it).
    return {row[key]: row["n"] for row in rows.order_by().values(key).annotate(n=Count("*"))}


def week_of(today: dt.date) -> tuple[dt.date, dt.date]:
    """Monday to Sunday of the week holding ``today``."""
    monday = today - dt.timedelta(days=today.weekday())
    return monday, monday + dt.timedelta(days=6)


def promises_due_this_week(organisation: Organisation, today: dt.date) -> int:
    """Open promises whose date falls in this week (Monday to Sunday): the list
    ``console:promises?status=open&due=week`` shows."""
    monday, sunday = week_of(today)
    return Promise.objects.filter(
        organisation=organisation,
        status=Promise.Status.OPEN,
        promised_on__gte=monday,
        promised_on__lte=sunday,
    ).count()
