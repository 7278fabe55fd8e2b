"""The daily run: load an organisation's open items in bulk, let the policy decide per
customer, write the decisions in bulk, one transaction per chunk of customers.

Loading streams the open items ordered by customer, so memory stays bounded by a chunk;
writing uses bulk inserts and a handful of set-based updates. Idempotence does not rest on
this code being careful: an item stepped today (``level_date == D``) is not stepped again,
and the database keeps communications unique per (organisation, customer, channel, D).

Only the items that may move today are read: the query leaves out, per level, the items
whose next step cannot be due yet under any scenario (too early for the smallest offset of
the steps ahead, or too soon after the last step for their smallest gap). On an ordinary
day that is most of them; the policy still decides for every item read.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import holidays
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import Max, Q
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.dunning import instalments, policy
from relance.dunning.models import (
    CommStatus,
    Communication,
    CommunicationItem,
    ItemState,
    PaymentPlan,
    Promise,
    Scenario,
    Task,
)
from relance.dunning.segments import CustomerFacts, NoDefaultScenario, choose_scenario, load_rules
from relance.ledger.models import Customer, Dispute, Hold, HoldKind, Invoice, TimelineEvent
from relance.lib import bulk
from relance.lib import shares as lib_shares
from relance.lib.dates import add_months
from relance.lib.perf import collector_paused

Progress = Callable[[str, int, int], None]
CHUNK_CUSTOMERS = 5000
CONTACT_GAP = 3
HOLD_PRIORITY: dict[str, int] = {
    HoldKind.INSOLVENCY: 0, HoldKind.NEGOTIATION: 1, HoldKind.MANUAL: 2,
}  # fmt: skip


class RunError(Exception):
    pass


@dataclass
class RunResult:
    organisation: str
    run_date: dt.date
    dry_run: bool
    business_day: bool
    holiday: str | None = None
    customers: int = 0
    # Items read: the open items that may move today (see the module's docstring).
    items_considered: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)  # payment plans' decisions

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "run_date": self.run_date,
            "dry_run": self.dry_run,
            "business_day": self.business_day,
            "holiday": self.holiday,
            "customers": self.customers,
            "items_considered": self.items_considered,
            "counts": dict(sorted(self.counts.items())),
            "decisions": self.decisions,
            "plans": self.plans,
        }


def calendar_for(organisation: Organisation, day: dt.date) -> policy.Calendar:
    """Weekends and the public holidays of the organisation's country wait."""
    try:
        calendar = holidays.country_holidays(
            organisation.country, years=day.year, language=organisation.language
        )
        name = calendar.get(day)
    except NotImplementedError:  # a country the library does not know: weekends only
        name = None
    return policy.Calendar(
        business_day=day.weekday() < 5 and name is None, holiday_name=name,
        contact_gap=CONTACT_GAP,
    )  # fmt: skip


def run(
    organisation: Organisation,
    run_date: dt.date,
    *,
    dry_run: bool = False,
    explain: bool = False,
    progress: Progress | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
    jobs: int | None = None,
) -> RunResult:
    """The run of ``run_date``. ``jobs`` processes share the customers (default: one per
    core, up to ``MAX_JOBS``, for organisations of ``PARALLEL_FROM`` open items or more)."""
    calendar = calendar_for(organisation, run_date)
    result = RunResult(organisation.slug, run_date, dry_run, calendar.business_day,
                       calendar.holiday_name)  # fmt: skip
    with collector_paused():
        context = _Context.load(organisation, run_date)
        if not dry_run:
            _insolvency_tasks(organisation, run_date, result)
        context.in_plan -= _payment_plans(organisation, run_date, calendar, result, dry_run,
                                          explain)  # fmt: skip
        # Customers done, without a total: counting those with items that may move would
        # cost a second pass over the open items.
        total = 0
        step = _Step(context, run_date, calendar, dry_run, explain, chunk_customers)
        shares = 1 if dry_run or explain else _shares(organisation, jobs)
        report = _tally(progress, total)
        if shares == 1:
            step.run_share(result, report or _ignore, reader=connection)
            return result
        try:
            parts = lib_shares.run(shares, step.share, progress=report)
        except lib_shares.ShareFailed as error:
            raise RunError(
                f"{error}. What the other processes wrote stands: run the same date again "
                "to finish (nothing is planned twice)."
            ) from None
        for customers, items, counts in parts:
            result.customers += customers
            result.items_considered += items
            result.counts.update(counts)
        return result


PARALLEL_FROM = 200_000  # open items: below, forking costs more than it saves
MAX_JOBS = 4


def _shares(org: Organisation, jobs: int | None) -> int:
    """How many processes share the run. One inside a transaction (the others could not see
    its rows), on an in-memory database (theirs would be empty) or where fork is missing."""
    name = str(connection.settings_dict["NAME"])
    in_memory = connection.vendor == "sqlite" and (name == ":memory:" or "mode=memory" in name)
    if connection.in_atomic_block or in_memory:
        return 1
    if os.name != "posix":
        return 1
    if jobs is not None:
        return max(1, jobs)
    cores = os.cpu_count() or 1
    if cores < 2:
        return 1
    open_items = Invoice.objects.filter(organisation=org, balance__gt=org.min_balance).count()
    return min(cores, MAX_JOBS) if open_items >= PARALLEL_FROM else 1


WRITE_CACHE_KIB = 256 * 1024


@contextmanager
def _write_cache() -> Iterator[None]:
    """A larger SQLite page cache for the writing connection while the run writes: the item
    state, the items and their indexes outgrow the default 64 MiB on a first run, and
    spilling them costs about a second per million items. Restored afterwards, so that a
    long-lived process does not keep it."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        before = cursor.fetchone()[0]
        cursor.execute(f"PRAGMA cache_size = -{WRITE_CACHE_KIB}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before)}")


def _ignore(done: int) -> None:
    pass


def _tally(progress: Progress | None, total: int) -> lib_shares.Report | None:
    if progress is None:
        return None
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        progress("customers", done, total)

    return report


@dataclass
class _Step:
    """Deciding and writing the customers of one share, chunk by chunk."""

    context: _Context
    day: dt.date
    calendar: policy.Calendar
    dry_run: bool
    explain: bool
    chunk_customers: int

    def run_share(
        self,
        result: RunResult,
        report: lib_shares.Report,
        reader: Any,
        share: tuple[int, int] = (0, 1),
    ) -> None:
        with _write_cache():
            for chunk in _chunks(self.context, self.day, self.chunk_customers, share, reader):
                decisions = [policy.decide(case, self.day, self.calendar) for case in chunk]
                result.customers += len(chunk)
                result.items_considered += sum(len(case.items) for case in chunk)
                if self.explain or self.dry_run:
                    result.decisions += [_describe(d) for d in decisions if _matters(d)]
                if self.dry_run:
                    _count(decisions, result)
                else:
                    _write(self.context, self.day, decisions, result)
                report(len(chunk))

    def share(
        self, k: int, shares: int, report: lib_shares.Report
    ) -> tuple[int, int, dict[str, int]]:
        """One share in its own process. It reads on a connection of its own: SQLite does
        not let a connection whose read snapshot another process has since written past
        start writing, and this one writes between reads."""
        result = RunResult(self.context.organisation.slug, self.day, False, True)
        reader = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            self.run_share(result, report, reader, (k, shares))
        finally:
            reader.close()
        return result.customers, result.items_considered, dict(result.counts)


# -- loading ------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the policy needs besides the items, loaded once per run."""

    organisation: Organisation
    scenarios: dict[int, policy.ScenarioSpec]
    rules: Any
    default_scenario: int
    explicit: dict[int, int]
    customers: dict[int, tuple[str, dt.date | None, str]]  # risk class, since, language
    disputed: set[int]
    in_plan: set[int]
    promises_by_invoice: dict[int, tuple[dt.date, int, int]]  # promised_on, grace, id
    promises_by_customer: dict[int, tuple[dt.date, int, int]]
    broken_by_invoice: dict[int, dt.date]
    broken_by_customer: dict[int, dt.date]
    holds: dict[int, str]
    last_contact: dict[int, dict[str, dt.date]]
    settled: dict[int, list[policy.Settled]]
    # Largest open balance per customer, for the rules on invoice size: only customers with
    # an item at least as large as the smallest threshold (smaller ones match no such rule).
    largest: dict[int, Decimal]
    # Items and customers concerned by a pause or a promise: their items are built in full.
    special_invoices: set[int]
    special_customers: set[int]

    @classmethod
    def load(cls, org: Organisation, day: dt.date) -> _Context:
        scenarios = _scenarios(org)
        if not scenarios:
            raise RunError(
                f"organisation {org.slug!r} has no dunning scenario: "
                "install the defaults or import some with `relance scenario import`"
            )
        try:
            rules, default, explicit = load_rules(org)
        except NoDefaultScenario as exc:
            raise RunError(str(exc)) from None
        promises, promises_c, broken, broken_c = _promises(org)
        disputed = set(
            Dispute.objects.filter(organisation=org, resolved_on__isnull=True).values_list(
                "invoice_id", flat=True
            )
        )
        in_plan = set(
            PaymentPlan.invoices.through.objects.filter(
                paymentplan__organisation=org, paymentplan__status=PaymentPlan.Status.ACTIVE
            ).values_list("invoice_id", flat=True)
        )
        return cls(
            organisation=org,
            scenarios=scenarios,
            rules=rules,
            default_scenario=default,
            explicit=explicit,
            customers={
                pk: (risk, since, language)
                for pk, risk, since, language in Customer.objects.filter(
                    organisation=org
                ).values_list("pk", "risk_class", "customer_since", "language")
            },
            disputed=disputed,
            in_plan=in_plan,
            promises_by_invoice=promises,
            promises_by_customer=promises_c,
            broken_by_invoice=broken,
            broken_by_customer=broken_c,
            holds=_holds(org, day),
            last_contact=_last_contacts(org, day),
            settled=_settled(org),
            largest=_largest(org, rules),
            special_invoices=disputed | in_plan | set(promises) | set(broken),
            special_customers=set(promises_c) | set(broken_c),
        )


def _scenarios(org: Organisation) -> dict[int, policy.ScenarioSpec]:
    scenarios: dict[int, policy.ScenarioSpec] = {}
    for scenario in Scenario.objects.filter(organisation=org).prefetch_related("steps"):
        steps = tuple(
            policy.StepSpec(
                position=s.position, name=s.name, offset=s.offset, min_gap=s.min_gap,
                channel=s.channel, template=s.template, mode=s.mode, min_amount=s.min_amount,
                step_id=s.pk,
            )
            for s in sorted(scenario.steps.all(), key=lambda s: s.position)
        )  # fmt: skip
        scenarios[scenario.pk] = policy.ScenarioSpec(
            scenario.pk, scenario.slug, steps, scenario.thank_on_payment, scenario.thank_template
        )
    return scenarios


def _promises(
    org: Organisation,
) -> tuple[dict[int, Any], dict[int, Any], dict[int, dt.date], dict[int, dt.date]]:
    """The latest open promise per invoice and per customer, and when promises broke."""
    by_invoice: dict[int, tuple[dt.date, int, int]] = {}
    by_customer: dict[int, tuple[dt.date, int, int]] = {}
    broken_i: dict[int, dt.date] = {}
    broken_c: dict[int, dt.date] = {}
    rows = Promise.objects.filter(
        organisation=org, status__in=[Promise.Status.OPEN, Promise.Status.BROKEN]
    ).values_list("pk", "customer_id", "invoice_id", "promised_on", "grace_days", "status",
                  "broken_on")  # fmt: skip
    for pk, customer, invoice, promised, grace, status, broken_on in sorted(rows):
        if status == Promise.Status.BROKEN:
            target = broken_i if invoice else broken_c
            key = invoice or customer
            if broken_on and (key not in target or target[key] < broken_on):
                target[key] = broken_on
            continue
        target_p = by_invoice if invoice else by_customer
        key = invoice or customer
        if key not in target_p or target_p[key][0] <= promised:
            target_p[key] = (promised, grace, pk)
    return by_invoice, by_customer, broken_i, broken_c


def _holds(org: Organisation, day: dt.date) -> dict[int, str]:
    active = Hold.objects.filter(organisation=org, start_date__lte=day).filter(
        Q(end_date__isnull=True) | Q(end_date__gt=day)
    )
    holds: dict[int, str] = {}
    for customer, kind in sorted(active.values_list("customer_id", "kind")):
        if customer not in holds or HOLD_PRIORITY[kind] < HOLD_PRIORITY[holds[customer]]:
            holds[customer] = kind
    return holds


def _last_contacts(org: Organisation, day: dt.date) -> dict[int, dict[str, dt.date]]:
    """Latest reminder per customer and channel in the contact-gap window before D."""
    rows = (
        Communication.objects.filter(
            organisation=org, purpose="reminder", pre_due=False,
            send_on__gt=day - dt.timedelta(days=CONTACT_GAP + 1), send_on__lt=day,
        )
        .exclude(status=CommStatus.CANCELLED)
        .values_list("customer_id", "channel", "send_on")
    )  # fmt: skip
    last: dict[int, dict[str, dt.date]] = defaultdict(dict)
    for customer, channel, send_on in rows:
        if send_on > last[customer].get(channel, dt.date.min):
            last[customer][channel] = send_on
    return last


def _settled(org: Organisation) -> dict[int, list[policy.Settled]]:
    """Items reminded at least once, paid since, not yet thanked."""
    rows = ItemState.objects.filter(
        invoice__organisation=org, thanked=False, level__gte=1,
        invoice__balance__lte=org.min_balance,
    ).values_list("invoice__customer_id", "invoice_id", "invoice__number", "level")  # fmt: skip
    settled: dict[int, list[policy.Settled]] = defaultdict(list)
    for customer, invoice, number, level in rows:
        settled[customer].append(policy.Settled(invoice, number, level))
    return settled


def _largest(org: Organisation, rules: list[Any]) -> dict[int, Decimal]:
    thresholds = [r.min_invoice_amount for r in rules if r.min_invoice_amount is not None]
    if not thresholds:
        return {}
    rows = (
        Invoice.objects.filter(
            organisation=org, balance__gt=org.min_balance, balance__gte=min(thresholds)
        )
        .values("customer_id")
        .annotate(largest=Max("balance"))
        .values_list("customer_id", "largest")
    )
    return dict(rows)


def _cutoffs(
    scenarios: dict[int, policy.ScenarioSpec], day: dt.date
) -> tuple[dict[int, dt.date], dict[int, dt.date]]:
    """Per level, the latest due date and the latest date of the last step that let an item
    of that level move today under some scenario: the smallest offset and the smallest gap
    among the steps ahead of it, over every scenario (a customer may change scenario).
    Levels with no step ahead in any scenario are absent: their items cannot move."""
    top = max((len(s.steps) for s in scenarios.values()), default=0)
    due: dict[int, dt.date] = {}
    last: dict[int, dt.date] = {}
    for level in range(top):
        ahead = [step for s in scenarios.values() for step in s.steps[level:]]
        due[level] = day - dt.timedelta(days=min(step.offset for step in ahead))
        last[level] = day - dt.timedelta(days=min(step.min_gap for step in ahead))
    return due, last


def _open_items_query(
    org: Organisation, day: dt.date, context: _Context, share: tuple[int, int]
) -> tuple[str, list[Any]]:
    """The open items that may move today, ordered by customer. Customers with a promise
    (open or broken) are read in full: a promise breaking, or broken, changes what is due."""
    due, last = _cutoffs(context.scenarios, day)
    sqlite = connection.vendor == "sqlite"
    # SQLite: read dates and amounts as text and convert them below; Django's converters
    # for declared types cost more than the query on a million rows.
    as_text = "CAST({} AS TEXT)" if sqlite else "{}"
    due_case = " ".join("WHEN %s THEN %s" for _ in due) or "WHEN -1 THEN NULL"
    last_case = " ".join("WHEN %s THEN %s" for _ in last) or "WHEN -1 THEN NULL"
    sql = (
        f"SELECT i.customer_id, i.id, i.number, {as_text.format('i.due_date')},"
        f" {as_text.format('i.balance')}, i.currency, COALESCE(s.level, 0),"
        f" {as_text.format('s.level_date')}"
        " FROM ledger_invoice i LEFT JOIN dunning_itemstate s ON s.invoice_id = i.id"
        " WHERE i.organisation_id = %s AND i.balance > %s AND ("
        f"  (i.due_date <= CASE COALESCE(s.level, 0) {due_case} END"
        f"   AND (s.level_date IS NULL OR s.level_date <= CASE s.level {last_case} END))"
        "  OR i.customer_id IN (SELECT customer_id FROM dunning_promise"
        "   WHERE organisation_id = %s AND status IN ('open', 'broken')))"
        + (" AND i.customer_id %% %s = %s" if share[1] > 1 else "")
        + " ORDER BY i.customer_id, i.id"
    )
    params: list[Any] = [org.pk, org.min_balance]
    params += [value for pair in due.items() for value in pair]
    params += [value for pair in last.items() for value in pair]
    params.append(org.pk)
    if share[1] > 1:
        params += [share[1], share[0]]
    return sql, params


_new_item = functools.partial(tuple.__new__, policy.Item)
_CENT = Decimal("0.01")


def _open_items(
    org: Organisation, day: dt.date, context: _Context, share: tuple[int, int], reader: Any
) -> Iterator[tuple[int, list[policy.Item]]]:
    """(customer id, items) for the items that may move today, streamed by customer. Items
    are built without their pauses, which ``_case`` adds for the few concerned."""
    sql, params = _open_items_query(org, day, context, share)
    sqlite = connection.vendor == "sqlite"
    dates: dict[Any, dt.date | None] = {None: None}
    current: Any = None
    items: list[policy.Item] = []
    with reader.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(20000):
            for customer, invoice, number, due, balance, currency, level, level_date in rows:
                if customer != current:
                    if items:
                        yield current, items
                    current, items = customer, []
                if sqlite:
                    due = dates.get(due) or dates.setdefault(due, dt.date.fromisoformat(due))
                    if level_date not in dates:
                        dates[level_date] = dt.date.fromisoformat(level_date)
                    level_date = dates[level_date]
                    balance = Decimal(balance).quantize(_CENT)
                items.append(
                    _new_item((invoice, number, due, balance, currency, level, level_date, False,
                               False, None, 2, None, None))
                )  # fmt: skip
    if items:
        yield current, items


def _chunks(
    context: _Context, day: dt.date, size: int, share: tuple[int, int], reader: Any
) -> Iterator[list[policy.CustomerCase]]:
    """Customer cases, a chunk of customers at a time, built from the streamed items of the
    customers of ``share`` (k, n): those whose id is k modulo n."""
    chunk: list[policy.CustomerCase] = []
    seen: set[int] = set()
    for customer_id, items in _open_items(context.organisation, day, context, share, reader):
        chunk.append(_case(context, customer_id, items, day))
        seen.add(customer_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    # Customers with nothing that may move but something to thank for.
    for customer_id in sorted(c for c in set(context.settled) - seen if c % share[1] == share[0]):
        chunk.append(_case(context, customer_id, [], day))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _case(
    context: _Context, customer_id: int, items: list[policy.Item], day: dt.date
) -> policy.CustomerCase:
    risk, since, _ = context.customers[customer_id]
    scenario_id, reason = choose_scenario(
        CustomerFacts(risk, since, context.largest.get(customer_id), day),
        context.rules,
        context.default_scenario,
        context.explicit.get(customer_id),
    )
    special = context.special_invoices
    if customer_id in context.special_customers or (
        special and any(item.invoice_id in special for item in items)
    ):
        items = [_with_pauses(context, customer_id, item) for item in items]
    return policy.CustomerCase(
        customer_id=customer_id,
        scenario=context.scenarios[scenario_id],
        scenario_reason=reason,
        items=items,
        hold=context.holds.get(customer_id),
        last_contact=context.last_contact.get(customer_id, {}),
        settled=context.settled.get(customer_id, ()),
    )


def _with_pauses(context: _Context, customer_id: int, item: policy.Item) -> policy.Item:
    """The item with its dispute, plan and promises: the latest promise covering it (its
    own or its customer's) and the latest broken one."""
    invoice = item.invoice_id
    promise = context.promises_by_invoice.get(invoice)
    customer_promise = context.promises_by_customer.get(customer_id)
    if customer_promise and (promise is None or customer_promise[0] > promise[0]):
        promise = customer_promise
    customer_broken = context.broken_by_customer.get(customer_id)
    broken = context.broken_by_invoice.get(invoice) or customer_broken
    if broken and customer_broken and customer_broken > broken:
        broken = customer_broken
    return item._replace(
        disputed=invoice in context.disputed, in_plan=invoice in context.in_plan,
        promised_on=promise[0] if promise else None, promise_grace=promise[1] if promise else 2,
        promise_id=promise[2] if promise else None, promise_broken_on=broken,
    )  # fmt: skip


# -- writing ------------------------------------------------------------------------------


def _count(decisions: list[policy.Decision], result: RunResult) -> None:
    for decision in decisions:
        for comm in decision.communications:
            result.counts[f"communications_{comm.purpose}_{comm.channel}"] += 1
            result.counts["awaiting_approval" if comm.approval else "queued"] += 1
        result.counts["levels"] += len(decision.levels)
        result.counts["broken_promises"] += len(decision.broken_promises)


def _write(
    context: _Context, day: dt.date, decisions: list[policy.Decision], result: RunResult
) -> None:
    # Rows are built before the transaction: on SQLite its write lock is the one thing
    # processes sharing a run wait for, so it is held for the inserts alone.
    rows = _Rows.of(context, day, decisions)
    try:
        with transaction.atomic():
            _write_chunk(context, day, decisions, rows)
    except IntegrityError:
        # Another run of the same date got there first: its decisions stand.
        result.counts["chunks_already_done"] += 1
        return
    _count(decisions, result)


COMMUNICATION_COLUMNS = [
    "organisation_id", "customer_id", "channel", "run_date", "purpose", "pre_due", "send_on",
    "scenario_id", "step_id", "template", "language", "status", "explanation", "recipient",
    "subject", "message_id", "attempts", "last_error", "created_at", "updated_at",
]  # fmt: skip
ITEM_COLUMNS = ["communication_id", "invoice_id", "step_position", "days_overdue", "balance",
                "dropped"]  # fmt: skip
LEVEL_COLUMNS = ["invoice_id", "level", "level_date", "thanked"]
EVENT_COLUMNS = ["organisation_id", "customer_id", "at", "kind", "summary", "data"]


@dataclass
class _Rows:
    """A chunk's rows for the driver, as far as they can be built before the communications
    have their keys. Values go as text and integers (``bulk.plain``): SQLite's adapters for
    dates, decimals and booleans cost about a microsecond a value, as much as the insert."""

    communications: list[tuple[Any, ...]]
    keys: list[tuple[int, str, str]]  # (customer, channel, purpose) of each communication
    items: list[tuple[Any, ...]]  # key index first, in place of the communication's id
    events: list[tuple[Any, ...]]  # the template (as JSON) last, in place of the data
    stepped: list[tuple[Any, ...]]
    passed: list[tuple[Any, ...]]

    @classmethod
    def of(cls, context: _Context, day: dt.date, decisions: list[policy.Decision]) -> _Rows:
        org, customers = context.organisation, context.customers
        now = bulk.db_datetime(timezone.now())
        today = bulk.plain(day)
        planned = [c for d in decisions for c in d.communications]
        rows = cls([], [], [], [], [], [])
        for n, c in enumerate(planned):
            status = CommStatus.AWAITING_APPROVAL if c.approval else CommStatus.QUEUED
            rows.communications.append(
                (org.pk, c.customer_id, c.channel, today, c.purpose, int(c.pre_due), today,
                 c.scenario_id, c.step_id, c.template, customers[c.customer_id][2], status,
                 json.dumps(c.explanation, default=str), "", "", "", 0, "", now, now)
            )  # fmt: skip
            rows.keys.append((c.customer_id, c.channel, c.purpose))
            rows.items += [(n, i.invoice_id, i.step_position, i.days_overdue, str(i.balance), "")
                           for i in c.items]  # fmt: skip
            kind = "communication_awaiting_approval" if c.approval else "communication_queued"
            rows.events.append(
                (org.pk, c.customer_id, now, kind, _summary(c), json.dumps(c.template))
            )
        # A step taken today sets the level and its date; a step passed over, the level.
        # In key order: the table is a b-tree on the invoice id.
        # A thank-you lists paid items: it steps none.
        stepped = {i.invoice_id: i.step_position for c in planned if c.purpose != "thanks"
                   for i in c.items}  # fmt: skip
        rows.stepped = [(invoice, stepped[invoice], today, 0) for invoice in sorted(stepped)]
        rows.passed = sorted(
            (invoice, level, None, 0)
            for d in decisions
            for invoice, level in d.levels.items()
            if invoice not in stepped
        )
        return rows


def _write_chunk(
    context: _Context, day: dt.date, decisions: list[policy.Decision], rows: _Rows
) -> None:
    """Communications, their items, the levels and the timeline of a chunk of customers, with
    the driver's executemany: a million items are written in seconds, not minutes."""
    org = context.organisation
    if rows.communications:
        before = _last_communication_id()
        bulk.insert(Communication._meta.db_table, COMMUNICATION_COLUMNS, rows.communications)
        by_key = _communication_ids(org, day, before)
        ids = [by_key[key] for key in rows.keys]
        bulk.insert(CommunicationItem._meta.db_table, ITEM_COLUMNS,
                    [(ids[n], *rest) for n, *rest in rows.items])  # fmt: skip
        events = [(*event[:-1], f'{{"communication": {ids[n]}, "template": {event[-1]}}}')
                  for n, event in enumerate(rows.events)]  # fmt: skip
        bulk.insert(TimelineEvent._meta.db_table, EVENT_COLUMNS, events)
    table = ItemState._meta.db_table
    bulk.insert(table, LEVEL_COLUMNS, rows.stepped, conflict=["invoice_id"],
                update=["level", "level_date"])  # fmt: skip
    bulk.insert(table, LEVEL_COLUMNS, rows.passed, conflict=["invoice_id"], update=["level"])
    _write_side_effects(org, day, decisions, timezone.now())


def _last_communication_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {Communication._meta.db_table}")
        return int(cursor.fetchone()[0] or 0)


def _communication_ids(
    org: Organisation, day: dt.date, before: int
) -> dict[tuple[int, str, str], int]:
    """The keys of the communications just written: those of the run above ``before`` (a
    range of the primary key, not a search by customer)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, channel, purpose, id FROM {Communication._meta.db_table}"
            " WHERE id > %s AND organisation_id = %s AND run_date = %s",
            [before, org.pk, day],
        )
        return {(customer, channel, purpose): pk for customer, channel, purpose, pk in cursor}


def _write_side_effects(
    org: Organisation, day: dt.date, decisions: list[policy.Decision], now: dt.datetime
) -> None:
    thanked = [i for d in decisions for i in d.thanked]
    if thanked:
        ItemState.objects.filter(invoice_id__in=thanked).update(thanked=True)
    broken = {p: d.customer_id for d in decisions for p in d.broken_promises}
    if broken:
        Promise.objects.filter(pk__in=list(broken), status=Promise.Status.OPEN).update(
            status=Promise.Status.BROKEN, broken_on=day
        )
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(organisation=org, customer_id=customer, at=now,
                              kind="promise_broken", summary="Promise to pay broken",
                              data={"promise": pk, "run_date": day.isoformat()})
                for pk, customer in sorted(broken.items())
            ]
        )  # fmt: skip


def _payment_plans(
    org: Organisation,
    day: dt.date,
    calendar: policy.Calendar,
    result: RunResult,
    dry_run: bool,
    explain: bool,
) -> set[int]:
    """Follow the payment plans; return the invoices of the plans defaulted today, which
    are dunned again from today."""
    defaulted: list[int] = []
    for decision in instalments.run(org, day, business_day=calendar.business_day,
                                    dry_run=dry_run):  # fmt: skip
        result.counts["instalments_paid"] += len(decision.newly_paid)
        if decision.remind:
            result.counts["communications_instalment_email"] += 1
        if decision.outcome:
            result.counts[f"plans_{decision.outcome}"] += 1
        if decision.outcome == "defaulted":
            defaulted.append(decision.plan_id)
        if (explain or dry_run) and (decision.remind or decision.outcome or decision.newly_paid):
            result.plans.append(instalments.describe(decision))
    if not defaulted:
        return set()
    return set(
        PaymentPlan.invoices.through.objects.filter(paymentplan_id__in=defaulted).values_list(
            "invoice_id", flat=True
        )
    )


def _insolvency_tasks(org: Organisation, day: dt.date, result: RunResult) -> None:
    """A customer in collective proceedings: declare the claim within two months of the
    publication (Code de commerce L622-24, R622-24)."""
    holds = Hold.objects.filter(organisation=org, kind=HoldKind.INSOLVENCY, start_date__lte=day)
    tasks = []
    for hold in holds.select_related("customer"):
        published = hold.published_on or hold.start_date
        deadline = add_months(published, 2)
        tasks.append(
            Task(organisation=org, customer_id=hold.customer_id, kind="declare_claim",
                 key=f"insolvency:{hold.pk}", due_on=deadline,
                 title=f"Declare the claim on {hold.customer} to the court-appointed "
                       f"representative before {deadline.isoformat()}",
                 data={"hold": hold.pk, "published_on": published.isoformat()})
        )  # fmt: skip
    if tasks:
        # Keyed by hold: a task already opened by an earlier run is left as it is.
        Task.objects.bulk_create(tasks, ignore_conflicts=True)
        result.counts["customers_in_proceedings"] += len(tasks)


def _summary(comm: policy.PlannedCommunication) -> str:
    if comm.purpose == "thanks":
        return f"Thank-you message planned ({comm.channel})"
    numbers = ", ".join(i.number for i in comm.items[:5])
    more = f" and {len(comm.items) - 5} more" if len(comm.items) > 5 else ""
    return f"{comm.template} planned by {comm.channel} for {numbers}{more}"


def _matters(decision: policy.Decision) -> bool:
    return bool(decision.communications or decision.levels or decision.broken_promises
                or decision.notes)  # fmt: skip


def _describe(decision: policy.Decision) -> dict[str, Any]:
    return {
        "customer_id": decision.customer_id,
        "communications": [
            {"channel": c.channel, "purpose": c.purpose, "template": c.template,
             "approval": c.approval, "pre_due": c.pre_due, "explanation": c.explanation,
             "items": [{"invoice": i.number, "step": i.step_position,
                        "days_overdue": i.days_overdue, "balance": i.balance,
                        "currency": i.currency} for i in c.items]}
            for c in decision.communications
        ],
        "levels": {str(k): v for k, v in sorted(decision.levels.items())},
        "passed_over": [{"invoice": number, "to_level": level}
                        for number, level in decision.passed_over],
        "broken_promises": sorted(decision.broken_promises),
        "notes": decision.notes,
    }  # fmt: skip
