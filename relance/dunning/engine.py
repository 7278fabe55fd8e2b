"""The daily run: load an organisation's open items in bulk, let the policy decide per
customer, write the decisions in bulk, one transaction per chunk of customers.

Loading streams the open items ordered by customer, so memory stays bounded by a chunk;
writing uses bulk inserts and a handful of set-based updates. Idempotence does not rest on
this code being careful: an item stepped today (``level_date == D``) is not stepped again,
and the database keeps communications unique per (organisation, customer, channel, D).
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import holidays
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.dunning import policy
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
from relance.lib.dates import add_months
from relance.lib.perf import collector_paused

Progress = Callable[[str, int, int], None]
CHUNK_CUSTOMERS = 2000
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
    open_items: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "run_date": self.run_date,
            "dry_run": self.dry_run,
            "business_day": self.business_day,
            "holiday": self.holiday,
            "customers": self.customers,
            "open_items": self.open_items,
            "counts": dict(sorted(self.counts.items())),
            "decisions": self.decisions,
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
) -> RunResult:
    calendar = calendar_for(organisation, run_date)
    result = RunResult(organisation.slug, run_date, dry_run, calendar.business_day,
                       calendar.holiday_name)  # fmt: skip
    with collector_paused():
        return _run(organisation, run_date, calendar, result, dry_run, explain, progress,
                    chunk_customers)  # fmt: skip


def _run(
    organisation: Organisation,
    run_date: dt.date,
    calendar: policy.Calendar,
    result: RunResult,
    dry_run: bool,
    explain: bool,
    progress: Progress | None,
    chunk_customers: int,
) -> RunResult:
    context = _Context.load(organisation, run_date)
    # Counted only for a progress bar: a distinct count over every open item is not free.
    total = _customers_with_open_items(organisation) if progress else 0
    if not dry_run:
        _insolvency_tasks(organisation, run_date, result)
    for chunk in _chunks(context, run_date, chunk_customers):
        decisions = [policy.decide(case, run_date, calendar) for case in chunk]
        result.customers += len(chunk)
        result.open_items += sum(len(case.items) for case in chunk)
        if explain or dry_run:
            result.decisions += [_describe(d) for d in decisions if _matters(d)]
        if dry_run:
            _count(decisions, result)
        else:
            _write(organisation, run_date, decisions, result)
        if progress:
            progress("customers", result.customers, total)
    return result


# -- loading ------------------------------------------------------------------------------


@dataclass
class _Context:
    """What the policy needs besides the items, loaded once per run."""

    organisation: Organisation
    scenarios: dict[int, policy.ScenarioSpec]
    rules: Any
    default_scenario: int
    explicit: dict[int, int]
    customers: dict[int, tuple[str, dt.date | None]]  # risk class, customer since
    disputed: set[int]
    in_plan: set[int]
    promises_by_invoice: dict[int, tuple[dt.date, int, int]]  # promised_on, grace, id
    promises_by_customer: dict[int, tuple[dt.date, int, int]]
    broken_by_invoice: dict[int, dt.date]
    broken_by_customer: dict[int, dt.date]
    holds: dict[int, str]
    last_contact: dict[int, dict[str, dt.date]]
    settled: dict[int, list[policy.Settled]]

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
        return cls(
            organisation=org,
            scenarios=scenarios,
            rules=rules,
            default_scenario=default,
            explicit=explicit,
            customers={
                pk: (risk, since)
                for pk, risk, since in Customer.objects.filter(organisation=org).values_list(
                    "pk", "risk_class", "customer_since"
                )
            },
            disputed=set(
                Dispute.objects.filter(organisation=org, resolved_on__isnull=True).values_list(
                    "invoice_id", flat=True
                )
            ),
            in_plan=set(
                PaymentPlan.invoices.through.objects.filter(
                    paymentplan__organisation=org,
                    paymentplan__status=PaymentPlan.Status.ACTIVE,
                ).values_list("invoice_id", flat=True)
            ),
            promises_by_invoice=promises,
            promises_by_customer=promises_c,
            broken_by_invoice=broken,
            broken_by_customer=broken_c,
            holds=_holds(org, day),
            last_contact=_last_contacts(org, day),
            settled=_settled(org),
        )


def _customers_with_open_items(org: Organisation) -> int:
    open_items = Invoice.objects.filter(organisation=org, balance__gt=org.min_balance)
    return int(open_items.aggregate(n=Count("customer_id", distinct=True))["n"])


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
        organisation=org, thanked=False, level__gte=1, invoice__balance__lte=org.min_balance
    ).values_list("customer_id", "invoice_id", "invoice__number", "level")
    settled: dict[int, list[policy.Settled]] = defaultdict(list)
    for customer, invoice, number, level in rows:
        settled[customer].append(policy.Settled(invoice, number, level))
    return settled


_OPEN_ITEMS = (
    "SELECT i.id, i.number, i.customer_id, i.due_date, i.balance, i.currency, s.level,"
    " s.level_date FROM ledger_invoice i LEFT JOIN dunning_itemstate s ON s.invoice_id = i.id"
    " WHERE i.organisation_id = %s AND i.balance > %s ORDER BY i.customer_id, i.id"
)
_CENT = Decimal("0.01")


def _open_rows(org: Organisation) -> Iterator[tuple[Any, ...]]:
    """The open items ordered by customer, streamed. Read with the driver: the ORM's generic
    converters cost more than the query on a million rows."""
    sqlite = connection.vendor == "sqlite"
    to_decimal = decimal.Context().create_decimal_from_float
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_ITEMS, [org.pk, org.min_balance])
        while rows := cursor.fetchmany(20000):
            if not sqlite:  # psycopg returns dates and decimals already
                yield from rows
                continue
            # SQLite returns floats for decimals (Django reads them so too); its date
            # converter (registered by Django) already gives dates.
            for invoice, number, customer, due, balance, currency, level, level_date in rows:
                amount = (to_decimal(balance) if isinstance(balance, float)
                          else Decimal(balance)).quantize(_CENT)  # fmt: skip
                yield invoice, number, customer, due, amount, currency, level, level_date


def _chunks(context: _Context, day: dt.date, size: int) -> Iterator[list[policy.CustomerCase]]:
    """Customer cases, a chunk of customers at a time, built from the streamed items."""
    chunk: list[policy.CustomerCase] = []
    seen: set[int] = set()
    for customer_id, rows in itertools.groupby(_open_rows(context.organisation), key=_by_customer):
        chunk.append(_case(context, customer_id, list(rows), day))
        seen.add(customer_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    # Customers with nothing open but something to thank for.
    for customer_id in sorted(set(context.settled) - seen):
        chunk.append(_case(context, customer_id, [], day))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _by_customer(row: tuple[Any, ...]) -> int:
    return int(row[2])


def _case(
    context: _Context, customer_id: int, rows: list[tuple[Any, ...]], day: dt.date
) -> policy.CustomerCase:
    risk, since = context.customers[customer_id]
    largest = max((row[4] for row in rows), default=Decimal(0))
    scenario_id, reason = choose_scenario(
        CustomerFacts(risk, since, largest, day),
        context.rules,
        context.default_scenario,
        context.explicit.get(customer_id),
    )
    customer_promise = context.promises_by_customer.get(customer_id)
    customer_broken = context.broken_by_customer.get(customer_id)
    items = []
    for invoice, number, _, due, balance, currency, level, level_date in rows:
        promise = context.promises_by_invoice.get(invoice)
        if customer_promise and (promise is None or customer_promise[0] > promise[0]):
            promise = customer_promise
        broken = context.broken_by_invoice.get(invoice) or customer_broken
        if broken and customer_broken and customer_broken > broken:
            broken = customer_broken
        items.append(
            policy.Item(
                invoice_id=invoice, number=number, due_date=due, balance=balance,
                currency=currency, level=level or 0, level_date=level_date,
                disputed=invoice in context.disputed, in_plan=invoice in context.in_plan,
                promised_on=promise[0] if promise else None,
                promise_grace=promise[1] if promise else 2,
                promise_id=promise[2] if promise else None,
                promise_broken_on=broken,
            )
        )  # fmt: skip
    return policy.CustomerCase(
        customer_id=customer_id,
        scenario=context.scenarios[scenario_id],
        scenario_reason=reason,
        items=items,
        hold=context.holds.get(customer_id),
        last_contact=context.last_contact.get(customer_id, {}),
        settled=context.settled.get(customer_id, ()),
    )


# -- writing ------------------------------------------------------------------------------


def _count(decisions: list[policy.Decision], result: RunResult) -> None:
    for decision in decisions:
        for comm in decision.communications:
            result.counts[f"communications_{comm.purpose}_{comm.channel}"] += 1
            result.counts["awaiting_approval" if comm.approval else "queued"] += 1
        result.counts["levels"] += len(decision.levels)
        result.counts["broken_promises"] += len(decision.broken_promises)


def _write(
    org: Organisation, day: dt.date, decisions: list[policy.Decision], result: RunResult
) -> None:
    try:
        with transaction.atomic():
            _write_chunk(org, day, decisions)
    except IntegrityError:
        # Another run of the same date got there first: its decisions stand.
        result.counts["chunks_already_done"] += 1
        return
    _count(decisions, result)


def _write_chunk(org: Organisation, day: dt.date, decisions: list[policy.Decision]) -> None:
    """Communications, their items, the levels and the timeline of a chunk of customers, with
    the driver's executemany: a million items are written in seconds, not minutes."""
    now = bulk.db_datetime(timezone.now())
    planned = [c for d in decisions for c in d.communications]
    if planned:
        bulk.insert(
            Communication._meta.db_table,
            ["organisation_id", "customer_id", "channel", "run_date", "purpose", "pre_due",
             "send_on", "scenario_id", "step_id", "template", "language", "status",
             "explanation", "recipient", "subject", "message_id", "attempts", "last_error",
             "created_at", "updated_at"],
            (
                (org.pk, c.customer_id, c.channel, day, c.purpose, c.pre_due, day,
                 c.scenario_id, c.step_id, c.template, org.language,
                 CommStatus.AWAITING_APPROVAL if c.approval else CommStatus.QUEUED,
                 json.dumps(c.explanation, default=str), "", "", "", 0, "", now, now)
                for c in planned
            ),
        )  # fmt: skip
        ids = _communication_ids(org, day, {c.customer_id for c in planned})
        bulk.insert(
            CommunicationItem._meta.db_table,
            ["communication_id", "invoice_id", "step_position", "days_overdue", "balance",
             "dropped"],
            (
                (ids[c.customer_id, c.channel, c.purpose], i.invoice_id, i.step_position,
                 i.days_overdue, i.balance, "")
                for c in planned
                for i in c.items
            ),
        )  # fmt: skip
        bulk.insert(
            TimelineEvent._meta.db_table,
            ["organisation_id", "customer_id", "at", "kind", "summary", "data"],
            (
                (org.pk, c.customer_id, now,
                 "communication_awaiting_approval" if c.approval else "communication_queued",
                 _summary(c),
                 json.dumps({"communication": ids[c.customer_id, c.channel, c.purpose],
                             "template": c.template}))
                for c in planned
            ),
        )  # fmt: skip
    _write_levels(org, day, decisions)
    _write_side_effects(org, day, decisions, timezone.now())


def _communication_ids(
    org: Organisation, day: dt.date, customers: set[int]
) -> dict[tuple[int, str, str], int]:
    rows = Communication.objects.filter(
        organisation=org, run_date=day, customer_id__in=sorted(customers)
    ).values_list("customer_id", "channel", "purpose", "pk")
    return {(customer, channel, purpose): pk for customer, channel, purpose, pk in rows}


def _write_levels(org: Organisation, day: dt.date, decisions: list[policy.Decision]) -> None:
    """A step taken today sets the level and its date; a step passed over sets the level."""
    stepped, passed = [], []
    for decision in decisions:
        planned_items = {i.invoice_id for c in decision.communications for i in c.items}
        for invoice_id, level in sorted(decision.levels.items()):
            if invoice_id in planned_items:
                stepped.append((invoice_id, org.pk, decision.customer_id, level, day, False))
            else:
                passed.append((invoice_id, org.pk, decision.customer_id, level, None, False))
    columns = ["invoice_id", "organisation_id", "customer_id", "level", "level_date", "thanked"]
    table = ItemState._meta.db_table
    bulk.insert(table, columns, stepped, conflict=["invoice_id"], update=["level", "level_date"])
    bulk.insert(table, columns, passed, conflict=["invoice_id"], update=["level"])


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
        "broken_promises": sorted(decision.broken_promises),
        "notes": decision.notes,
    }  # fmt: skip
