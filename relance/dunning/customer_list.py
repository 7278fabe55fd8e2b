"""The customer list of the console: every customer of an organisation with what it owes in
one currency, filtered, searched, sorted and cut into pages, on a ledger of 100,000
customers and a million invoices.

What each customer owes comes from ``ledger.summaries.balances`` (one row per customer and
currency, aged as of the day), joined to the customer, never summed from invoices here.
Filters on pauses are ``EXISTS`` conditions on indexed columns; the scenario filter is
``segment_query.following``, the rules of ``segments.choose_scenario`` as one condition.
The badges of a page (hold, dispute, promise) are three queries on the page's customers,
whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from relance.accounts.models import Organisation
from relance.dunning.models import Promise
from relance.dunning.segment_query import following, scenario_by_slug
from relance.insights.aging import BUCKETS
from relance.ledger.models import Customer, CustomerBalance, Dispute, Hold, RiskClass
from relance.ledger.summaries import balances

PAGE_SIZE = 50
# Counts stop there: "more than 1,000 customers" says enough.
COUNT_LIMIT = 1000
# A filter leaving at most this many customers (a search, open disputes, ...) goes on with
# their ids.
FEW = 1000
SORTS = ("-overdue", "overdue", "-open", "oldest", "name", "reference")
DEFAULT_SORT = "-overdue"
BUCKET_NAMES = tuple(name for name, _, _ in BUCKETS)


@dataclass(frozen=True)
class Filters:
    """The list's query parameters, as other pages link to them (docs/customers.md)."""

    q: str = ""
    bucket: str = ""  # the age of the customer's oldest open item
    overdue: bool = False
    scenario: str = ""  # a scenario's slug
    risk: str = ""
    collector: str = ""  # a user id, "none", or "" for anyone ("me" is resolved before)
    hold: bool = False
    dispute: bool = False
    promise: bool = False
    currency: str = ""  # "" is the organisation's
    sort: str = DEFAULT_SORT
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, Any], *, me: int | None = None) -> Filters:
        """From a query string; a value that means nothing is left out rather than refused
        (an old bookmark still opens the list)."""

        def text(name: str) -> str:
            return str(params.get(name) or "").strip()

        def flag(name: str) -> bool:
            return text(name) in ("1", "true", "on", "yes")

        collector = text("collector")
        if collector == "me":
            collector = str(me) if me is not None else ""
        elif collector != "none" and not collector.isdigit():
            collector = ""
        page = text("page")
        currency = text("currency").upper()
        return cls(
            q=text("q")[:100],
            bucket=text("bucket") if text("bucket") in BUCKET_NAMES else "",
            overdue=flag("overdue"),
            scenario=text("scenario")[:64],
            risk=text("risk") if text("risk") in RiskClass.values else "",
            collector=collector,
            hold=flag("hold"),
            dispute=flag("dispute"),
            promise=flag("promise"),
            currency=currency if len(currency) == 3 and currency.isalpha() else "",
            sort=text("sort") if text("sort") in SORTS else DEFAULT_SORT,
            page=min(int(page), 100_000) if page.isdigit() and int(page) > 0 else 1,
        )

    def query(self, **changes: Any) -> dict[str, str]:
        """These filters as query parameters (defaults left out), with ``changes``."""
        values = replace(self, **changes)
        params = {
            "q": values.q, "bucket": values.bucket, "overdue": "1" if values.overdue else "",
            "scenario": values.scenario, "risk": values.risk, "collector": values.collector,
            "hold": "1" if values.hold else "", "dispute": "1" if values.dispute else "",
            "promise": "1" if values.promise else "", "currency": values.currency,
            "sort": "" if values.sort == DEFAULT_SORT else values.sort,
            "page": "" if values.page == 1 else str(values.page),
        }  # fmt: skip
        return {key: value for key, value in params.items() if value}

    @property
    def narrowed(self) -> bool:
        """Whether anything but the sort and the page narrows the list."""
        return bool(self.query(sort=DEFAULT_SORT, page=1))


@dataclass(frozen=True)
class Row:
    customer: Customer
    currency: str
    open_amount: Decimal | None  # None: nothing open in the currency
    overdue_amount: Decimal | None
    oldest_due: dt.date | None
    bucket: str  # of the oldest open item; "" when nothing is open
    hold: bool
    dispute: bool
    promise: bool


@dataclass
class Page:
    filters: Filters
    currency: str
    currencies: list[str]  # those the organisation's customers owe in
    count: int  # up to COUNT_LIMIT + 1
    more: bool = False  # a next page exists
    rows: list[Row] = field(default_factory=list)

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_LIMIT

    @property
    def first(self) -> int:  # the position of the page's first row, from 1
        return (self.filters.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def bucket_of(oldest_due: dt.date | None, today: dt.date) -> str:
    """The aged bucket of an item due on ``oldest_due``: days overdue in the limits of
    ``insights.aging.BUCKETS``."""
    if oldest_due is None:
        return ""
    late = (today - oldest_due).days
    for name, lowest, highest in BUCKETS:
        if (lowest is None or late >= lowest) and (highest is None or late <= highest):
            return name
    return ""  # unreachable: the buckets cover every number


def _bucket_condition(name: str, today: dt.date) -> Q:
    """On CustomerBalance: its oldest open item is in bucket ``name``."""
    lowest, highest = next((low, high) for n, low, high in BUCKETS if n == name)
    condition = Q(oldest_due__isnull=False)
    if lowest is not None:
        condition &= Q(oldest_due__lte=today - dt.timedelta(days=lowest))
    if highest is not None:
        condition &= Q(oldest_due__gte=today - dt.timedelta(days=highest))
    return condition


def hold_in_force(today: dt.date) -> Q:
    """``policy.hold_active`` (from its first day until the day it ends, excluded) as a
    condition on Hold."""
    return Q(start_date__lte=today) & (Q(end_date__isnull=True) | Q(end_date__gt=today))


def search(text: str, path: str = "") -> Q:
    """A customer whose legal or trade name or reference contains ``text`` (any case), or
    whose SIREN starts with its digits (spaces ignored, as people write ``123 456 789``)."""
    condition = (
        Q(**{f"{path}legal_name__icontains": text})
        | Q(**{f"{path}trade_name__icontains": text})
        | Q(**{f"{path}reference__icontains": text})
    )
    digits = text.replace(" ", "")
    if digits.isdigit():
        condition |= Q(**{f"{path}siren__startswith": digits[:9]})
    return condition


def _few(rows: QuerySet[Any]) -> set[int] | None:
    """The customer ids of ``rows`` when there are at most ``FEW``, else None."""
    ids = set(rows[: FEW * 4])  # several rows may name one customer
    return ids if len(ids) <= FEW else None


def selective_ids(
    organisation: Organisation, filters: Filters, today: dt.date
) -> tuple[set[int] | None, set[str]]:
    """The customers the selective filters (risk class, collector, search, holds, disputes,
    promises) leave, when one of them leaves few: read from that filter's own table and
    index, then every other condition works on these ids through the primary key. Also
    which filters the ids already apply. (None, {}): none leaves few; they stay
    conditions."""
    sources: dict[str, QuerySet[Any]] = {}
    customers = Customer.objects.filter(organisation=organisation).values_list("pk", flat=True)
    if filters.risk:
        sources["risk"] = customers.filter(risk_class=filters.risk)
    if filters.collector:
        sources["collector"] = customers.filter(_collector_condition(filters.collector))
    if filters.q:
        sources["q"] = Customer.objects.filter(
            search(filters.q), organisation=organisation
        ).values_list("pk", flat=True)
    if filters.hold:
        sources["hold"] = Hold.objects.filter(
            hold_in_force(today), organisation=organisation
        ).values_list("customer_id", flat=True)
    if filters.dispute:
        sources["dispute"] = Dispute.objects.filter(
            organisation=organisation, resolved_on__isnull=True
        ).values_list("invoice__customer_id", flat=True)
    if filters.promise:
        sources["promise"] = Promise.objects.filter(
            organisation=organisation, status=Promise.Status.OPEN
        ).values_list("customer_id", flat=True)
    found: set[int] | None = None
    applied: set[str] = set()
    for name, rows in sources.items():
        ids = _few(rows.order_by())
        if ids is not None:
            found = ids if found is None else found & ids
            applied.add(name)
    return found, applied


def customer_conditions(
    organisation: Organisation,
    filters: Filters,
    today: dt.date,
    path: str = "",
    applied: frozenset[str] | set[str] = frozenset(),
) -> Q | None:
    """What the filters ask of the customer itself (not of its balance), from a model whose
    ``path`` leads to Customer (``""`` on Customer, ``"customer__"`` on CustomerBalance),
    but those ``applied`` already. None when an unknown scenario leaves nobody."""
    key = OuterRef("customer_id" if path else "pk")
    condition = Q()
    if filters.q and "q" not in applied:
        condition &= search(filters.q, path)
    if filters.risk:
        condition &= Q(**{f"{path}risk_class": filters.risk})
    if filters.collector:
        condition &= _collector_condition(filters.collector, path)
    if filters.hold and "hold" not in applied:
        condition &= Q(Exists(Hold.objects.filter(hold_in_force(today), customer_id=key)))
    if filters.dispute and "dispute" not in applied:
        disputed = Dispute.objects.filter(invoice__customer_id=key, resolved_on__isnull=True)
        condition &= Q(Exists(disputed))
    if filters.promise and "promise" not in applied:
        promised = Promise.objects.filter(customer_id=key, status=Promise.Status.OPEN)
        condition &= Q(Exists(promised))
    if filters.scenario:
        scenario = scenario_by_slug(organisation, filters.scenario)
        if scenario is None:
            return None
        condition &= following(organisation, scenario.pk, today, path)
    return condition


def _collector_condition(collector: str, path: str = "") -> Q:
    if collector == "none":
        return Q(**{f"{path}collector__isnull": True})
    return Q(**{f"{path}collector_id": int(collector)})


def balance_conditions(filters: Filters, today: dt.date) -> Q:
    """What the filters ask of the balance: a customer without one in the currency fails."""
    condition = Q()
    if filters.overdue:
        condition &= Q(overdue_amount__gt=0)
    if filters.bucket:
        condition &= _bucket_condition(filters.bucket, today)
    return condition


# Amounts sort the customers that owe something in the currency (from CustomerBalance, in
# the order of its indexes), then those that owe nothing there, by name.
AMOUNT_ORDER = {
    "-overdue": ("-overdue_amount", "customer_id"),
    "overdue": ("overdue_amount", "customer_id"),
    "-open": ("-open_amount", "customer_id"),
    "oldest": ("oldest_due", "customer_id"),
}
NAME_ORDER = {"name": ("legal_name", "pk"), "reference": ("reference", "pk")}


def _sort_key(sort: str, customer: Customer, balance: Any) -> tuple[Any, ...]:
    """The order of ``AMOUNT_ORDER`` and ``NAME_ORDER``, for a few rows sorted here."""
    if sort in NAME_ORDER:
        return (getattr(customer, NAME_ORDER[sort][0]), customer.pk)
    if balance is None:
        return (1, customer.legal_name, customer.pk)
    field, *_ = AMOUNT_ORDER[sort]
    value = getattr(balance, field.lstrip("-"))
    if field.startswith("-"):
        value = -value
    return (0, value, customer.pk)


def _balance_kept(filters: Filters, balance: Any, today: dt.date) -> bool:
    """``balance_conditions`` on one row."""
    if filters.overdue and (balance is None or balance.overdue_amount <= 0):
        return False
    return not filters.bucket or bucket_of(balance and balance.oldest_due, today) == filters.bucket


def customer_page(organisation: Organisation, filters: Filters, today: dt.date) -> Page:
    """One page of the list: its rows with their balance and badges, whether more follow,
    and how many customers match up to ``COUNT_LIMIT``. A few queries whatever the page."""
    fresh = balances(organisation, today)
    currency = filters.currency or organisation.currency
    currencies = sorted({*_currencies(fresh), currency})
    found, applied = selective_ids(organisation, filters, today)
    wanted = customer_conditions(organisation, filters, today, "", applied)
    if wanted is None:
        return Page(filters, currency, currencies, 0)
    start = (filters.page - 1) * PAGE_SIZE
    if found is not None:
        count, rows = _few_rows(fresh, filters, found, wanted, currency, today, start)
    else:
        count, rows = _many_rows(organisation, fresh, filters, wanted, currency, today, start)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    badges = _badges([c.pk for c, _ in rows], today)
    return Page(
        filters=filters,
        currency=currency,
        currencies=currencies,
        count=count,
        more=more,
        rows=[
            Row(
                customer=c, currency=currency,
                open_amount=b.open_amount if b else None,
                overdue_amount=b.overdue_amount if b else None,
                oldest_due=b.oldest_due if b else None,
                bucket=bucket_of(b.oldest_due if b else None, today),
                hold=c.pk in badges["hold"], dispute=c.pk in badges["dispute"],
                promise=c.pk in badges["promise"],
            )
            for c, b in rows
        ],
    )  # fmt: skip


Rows = list[tuple[Customer, Any]]


def _few_rows(
    fresh: QuerySet[Any],
    filters: Filters,
    found: set[int],
    wanted: Q,
    currency: str,
    today: dt.date,
    start: int,
) -> tuple[int, Rows]:
    """At most ``FEW`` customers, known by id (already of the organisation): read by primary
    key with their balances, filtered and sorted here."""
    customers = list(Customer.objects.filter(wanted, pk__in=found).select_related("collector"))
    # The rows ``balances`` keeps fresh, by the (customer, currency) key: through ``fresh``
    # the organisation's index would be chosen, and read them all.
    owed = {
        b.customer_id: b
        for b in CustomerBalance.objects.filter(
            customer_id__in=[c.pk for c in customers], currency=currency
        )
    }
    kept = [(c, owed.get(c.pk)) for c in customers]
    kept = [(c, b) for c, b in kept if _balance_kept(filters, b, today)]
    kept.sort(key=lambda row: _sort_key(filters.sort, *row))
    return len(kept), kept[start : start + PAGE_SIZE + 1]


def _many_rows(
    organisation: Organisation,
    fresh: QuerySet[Any],
    filters: Filters,
    wanted: Q,
    currency: str,
    today: dt.date,
    start: int,
) -> tuple[int, Rows]:
    """Along the indexes of the sort, a page and one row more; counts capped."""
    wanted_owing = customer_conditions(organisation, filters, today, "customer__")
    assert wanted_owing is not None
    owing = fresh.filter(wanted_owing, balance_conditions(filters, today), currency=currency)
    everyone = Customer.objects.filter(wanted, organisation=organisation)
    needs_balance = filters.overdue or bool(filters.bucket)
    # Customers owing nothing in the currency.
    others = everyone.exclude(Exists(fresh.filter(currency=currency, customer_id=OuterRef("pk"))))
    wanted_rows = PAGE_SIZE + 1  # one more tells whether a next page exists
    if filters.sort in AMOUNT_ORDER:
        count = _capped(owing)
        if count <= COUNT_LIMIT and not needs_balance:
            # Those owing nothing are counted only while the debtors leave room: finding
            # 1,001 customers without a balance means reading every customer.
            count = min(count + _capped(others), COUNT_LIMIT + 1)
        debtors = owing.select_related("customer", "customer__collector")
        rows: Rows = [
            (b.customer, b)
            for b in debtors.order_by(*AMOUNT_ORDER[filters.sort])[start : start + wanted_rows]
        ]
        if len(rows) < wanted_rows and not needs_balance:
            # Past the last debtor: those owing nothing follow, by name.
            owing_count = start + len(rows) if rows or not start else owing.count()
            skip = max(0, start - owing_count)
            rows += [
                (c, None)
                for c in others.select_related("collector").order_by("legal_name", "pk")[
                    skip : skip + wanted_rows - len(rows)
                ]
            ]
        return count, rows  # fmt: skip
    if needs_balance:
        everyone = everyone.filter(pk__in=owing.values("customer_id"))
    page = list(
        everyone.select_related("collector")
        .order_by(*NAME_ORDER[filters.sort])[start : start + wanted_rows]
    )  # fmt: skip
    owed = {b.customer_id: b for b in CustomerBalance.objects.filter(
        customer_id__in=[c.pk for c in page], currency=currency)}  # fmt: skip
    return _capped(everyone), [(c, owed.get(c.pk)) for c in page]


# Currencies listed at most: an organisation owed in more is not a ledger Relance reads.
MAX_CURRENCIES = 20


def _currencies(fresh: QuerySet[Any]) -> list[str]:
    """The currencies of the organisation's balances, each found by one probe of the
    (organisation, currency) index from the previous one: a few index lookups where a
    ``DISTINCT`` reads a row per customer."""
    found: list[str] = []
    rows = fresh.order_by("currency").values_list("currency", flat=True)
    while len(found) < MAX_CURRENCIES:
        following = rows.filter(currency__gt=found[-1]) if found else rows
        currency = following.first()
        if currency is None:
            break
        found.append(currency)
    return found


def _capped(rows: QuerySet[Any]) -> int:
    """How many rows, counting no further than ``COUNT_LIMIT + 1``: an exact count of
    100,000 customers costs more than the page it titles."""
    return rows[: COUNT_LIMIT + 1].count()


def _badges(ids: list[int], today: dt.date) -> dict[str, set[int]]:
    """Which of these customers have a hold in force, an open dispute, an open promise."""
    if not ids:
        return {"hold": set(), "dispute": set(), "promise": set()}
    return {
        "hold": set(
            Hold.objects.filter(hold_in_force(today), customer_id__in=ids).values_list(
                "customer_id", flat=True
            )
        ),
        "dispute": set(
            Dispute.objects.filter(
                invoice__customer_id__in=ids, resolved_on__isnull=True
            ).values_list("invoice__customer_id", flat=True)
        ),
        "promise": set(
            Promise.objects.filter(customer_id__in=ids, status=Promise.Status.OPEN).values_list(
                "customer_id", flat=True
            )
        ),
    }
