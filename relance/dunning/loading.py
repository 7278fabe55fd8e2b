"""What a run reads: the context the policy needs (scenarios, rules, pauses, contacts, items
to thank), loaded once per run, and the open items that may move today, streamed by
customer so that memory stays bounded by a chunk.

Only the items that may move today are read. Per level, the policy's bounds
(``policy.latest_due_date`` and ``policy.latest_step_date``) say how long after its due
date and after its last step an item may first move under its customer's scenario;
``Bounds`` turns them into a date per item, which the run stores with each item it reads
(``Invoice.moves_on``, indexed). The next run reads the items whose date has come, the
items without a date (new invoices, due dates changed, levels given back, the customer's
scenario choice changed: triggers in the database, see
relance/dunning/migrations/0016_scenario_dates.py) and every item of the customers with a
promise; the policy still decides for every item read. When the scenarios, the segment
rules or the default scenario change, every date is forgotten and the next run reads every
open item once (``settle_bounds``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.dunning import owed, policy
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    HeldBack,
    ItemState,
    ItemToThank,
    MoveBounds,
    PaymentPlan,
    Promise,
    Scenario,
)
from relance.dunning.segments import (
    CustomerFacts,
    NoDefaultScenario,
    choose_scenario,
    load_rules,
    seniority,
)
from relance.ledger.models import Customer, Dispute, Hold, HoldKind, Invoice
from relance.lib import bulk

HOLD_PRIORITY: dict[str, int] = {
    HoldKind.INSOLVENCY: 0, HoldKind.NEGOTIATION: 1, HoldKind.MANUAL: 2, HoldKind.REPLY: 3,
    HoldKind.UNAPPLIED: 4,
}  # fmt: skip
PromiseRow = tuple[dt.date, int, int]  # promised_on, grace days, id


class NothingToRun(Exception):
    """The organisation cannot be run (no scenario, no default scenario)."""


NO_SCENARIO = gettext_noop(
    "organisation %(organisation)s has no dunning scenario: install the defaults or import"
    " some with `relance scenario import`"
)


NEVER = dt.date.max  # no step ahead under any scenario: only a level given back moves it
_ANY_DAY = dt.date(2000, 1, 3)


@dataclass(frozen=True)
class Bounds:
    """Per level, how many days after its due date and after its last step an item may first
    move under a scenario: the policy's reading bounds (``cutoffs``), which are the run date
    minus so many days, read the other way round. An item is read on D when D is on or
    after ``moves_on``, exactly when the bounds of D let it through. The run keeps one per
    scenario and dates each item by its customer's (``Context.bounds``)."""

    after_due: dict[int, int]
    after_step: dict[int, int]
    # Per level, the channels of the steps an item may take next, which the contact gap
    # holds back (``after_contacts``); absent when a courtesy reminder may be next: one
    # before the due date does not wait for the gap.
    channels_ahead: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, scenarios: dict[int, policy.ScenarioSpec]) -> Bounds:
        due, last = cutoffs(scenarios, _ANY_DAY)
        channels: dict[int, tuple[str, ...]] = {}
        for level in due:
            nexts = [step for s in scenarios.values() for step in _may_be_next(s, level)]
            if all(step.offset >= 0 for step in nexts):
                channels[level] = tuple(sorted({step.channel for step in nexts}))
        return cls(
            {level: (_ANY_DAY - day).days for level, day in due.items()},
            {level: (_ANY_DAY - day).days for level, day in last.items()},
            channels,
        )

    def moves_on(self, level: int, due_date: dt.date, level_date: dt.date | None) -> dt.date:
        """The first run date on which an item at ``level`` may move."""
        after = self.after_due.get(level)
        if after is None:
            return NEVER
        day = due_date + dt.timedelta(days=after)
        if level_date is not None:
            day = max(day, level_date + dt.timedelta(days=self.after_step[level]))
        return day

    def after_contacts(self, level: int, last: dict[str, dt.date], gap: int) -> dt.date | None:
        """The first run date on which the contact gap (``gap`` days after the customer's
        last reminder on a channel, ``last``) no longer holds back an item at ``level``:
        each step it may take next goes by a channel reminded less than ``gap`` days ago.
        None when nothing holds it back (such a channel not reminded lately, a courtesy
        reminder that may be next)."""
        channels = self.channels_ahead.get(level)
        if not channels or any(channel not in last for channel in channels):
            return None
        return min(last[channel] for channel in channels) + dt.timedelta(days=gap)

    def signature(self) -> list[Any]:
        return [sorted(self.after_due.items()), sorted(self.after_step.items()),
                sorted(self.channels_ahead.items())]  # fmt: skip


def _may_be_next(scenario: policy.ScenarioSpec, level: int) -> list[policy.StepSpec]:
    """The steps an item at ``level`` may take next, whatever its balance (``candidate``):
    those ahead up to the first that cannot be passed over (no amount condition, past the
    due date), which the item takes before any further one."""
    nexts = []
    for step in scenario.steps[level:]:
        nexts.append(step)
        if step.offset >= 0 and step.min_amount is None and step.max_amount is None:
            break
    return nexts


def signature(
    bounds: dict[int, Bounds], rules: list[Any], default_scenario: int, contact_gap: int
) -> str:
    """What the stored dates were computed from, besides each item, its customer and its
    customer's reminders: each scenario's bounds, the segment rules, the default scenario
    and the organisation's contact gap. When it changes, every date of the organisation is
    forgotten (``settle_bounds``)."""
    return json.dumps(
        [[[pk, b.signature()] for pk, b in sorted(bounds.items())],
         [[r.position, r.scenario_id, r.risk_class, str(r.min_invoice_amount), r.min_years,
           r.max_years] for r in sorted(rules, key=lambda r: r.position)],
         default_scenario, contact_gap]
    )  # fmt: skip


def years_of_rules(rules: list[Any]) -> list[int]:
    """The seniorities at which a rule on years starts or stops matching (its ``min_years``
    and ``max_years``): only there may the customer's scenario change with the date."""
    return sorted({y for r in rules for y in (r.min_years, r.max_years) if y})


def next_anniversary(since: dt.date, day: dt.date, years: list[int]) -> dt.date | None:
    """The first date after ``day`` on which the customer's seniority in whole years
    (``segments.seniority``) reaches one of ``years`` (``years_of_rules``): a rule on years
    may then choose another scenario. None once it has reached them all."""
    now = seniority(since, day)
    ahead = [y for y in years if y > now]
    if not ahead:
        return None
    reached = min(ahead)
    try:
        return since.replace(year=since.year + reached)
    except ValueError:  # 29 February: a year is complete on 1 March
        return dt.date(since.year + reached, 3, 1)


@dataclass
class Context:
    """What the policy needs besides the items, loaded once per run."""

    organisation: Organisation
    scenarios: dict[int, policy.ScenarioSpec]
    rules: Any
    default_scenario: int
    explicit: dict[int, int]
    customers: dict[int, tuple[str, dt.date | None, str]]  # risk class, since, language
    disputed: set[int]
    # The part not approved of the invoices the buyer approved in part (owed.open_disputes).
    unapproved: dict[int, Decimal]
    in_plan: set[int]
    # Every open promise, on an invoice or on a whole customer.
    promises_by_invoice: dict[int, list[PromiseRow]]
    promises_by_customer: dict[int, list[PromiseRow]]
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
    # Per scenario: each item is dated by its customer's (see ``moves``).
    bounds: dict[int, Bounds]
    # Read every open item, whatever its date: a dry run after the bounds changed (a real
    # run forgets the dates instead, ``settle_bounds``).
    read_all: bool = False
    # Customers, last contacts and largest items read for the customers read only
    # (``fill``, a chunk at a time), not the whole organisation: a run's context.
    lazy: bool = False
    day: dt.date | None = None
    filled: set[int] = field(default_factory=set)
    # Customers whose items the contact gap holds back past the run's day (``HeldBack``), read
    # with the customers (``fill``).
    held: dict[int, Mark] = field(default_factory=dict)
    # Customers read whose mark's day has passed: no run reads it again, the run deletes it.
    held_passed: set[int] = field(default_factory=set)

    @classmethod
    def load(
        cls, org: Organisation, day: dt.date, lazy: bool = False, thanks: bool = True
    ) -> Context:
        """The context of the run of ``day``; ``lazy``: without the customers, their last
        contacts and largest items, which ``fill`` reads for the customers the run reads;
        without ``thanks`` (a day that is not a business day, when the policy plans none),
        without the items to thank, the next business day's run finds them still."""
        scenarios = _scenarios(org)
        if not scenarios:
            raise NothingToRun(NO_SCENARIO % {"organisation": repr(org.slug)})
        try:
            rules, default, explicit = load_rules(org)
        except NoDefaultScenario as exc:
            raise NothingToRun(str(exc)) from None
        promises, promises_c, broken, broken_c = _promises(org)
        disputed, unapproved = owed.open_disputes(Dispute.objects.filter(organisation=org))
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
            customers={} if lazy else _customers(org),
            disputed=disputed,
            unapproved=unapproved,
            in_plan=in_plan,
            promises_by_invoice=promises,
            promises_by_customer=promises_c,
            broken_by_invoice=broken,
            broken_by_customer=broken_c,
            holds=_holds(org, day),
            last_contact={} if lazy else _last_contacts(org, day),
            settled=_settled(org) if thanks else {},
            largest={} if lazy else _largest(org, rules),
            special_invoices=disputed | set(unapproved) | in_plan | set(promises) | set(broken),
            special_customers=set(promises_c) | set(broken_c),
            bounds={pk: Bounds.of({pk: spec}) for pk, spec in scenarios.items()},
            held={} if lazy else _held(org, day)[0],
            lazy=lazy,
            day=day,
        )

    def fill(self, customer_ids: list[int], reader: Any) -> None:
        """Read the customers, last contacts and largest items of these customers (a
        chunk's), when the context was loaded ``lazy``."""
        ids = sorted(set(customer_ids) - self.filled) if self.lazy else []
        if not ids:
            return
        assert self.day is not None
        org = self.organisation
        self.customers.update(_customers(org, ids, reader))
        self.last_contact.update(_last_contacts(org, self.day, ids, reader))
        self.largest.update(_largest(org, self.rules, ids, reader))
        held, passed = _held(org, self.day, ids, reader)
        self.held.update(held)
        self.held_passed.update(passed)
        self.filled.update(ids)


class Mark(NamedTuple):
    """A customer's ``HeldBack``: until when the contact gap holds some of its items back,
    and the first day one of them may move but for the gap (None: unknown)."""

    until: dt.date
    earliest: dt.date | None


def settle_bounds(context: Context, dry_run: bool) -> None:
    """Before reading: when the scenarios' bounds, the rules or the default scenario changed
    since the dates were computed (``signature``), forget every date of the organisation
    (the run then reads every open item and dates it again); a dry run, which writes
    nothing, reads every open item instead. Once per run, before any share reads."""
    org = context.organisation
    signed = signature(context.bounds, context.rules, context.default_scenario, org.contact_gap)
    stored = MoveBounds.objects.filter(organisation=org).values_list("bounds", flat=True).first()
    if stored == signed:
        return
    if dry_run:
        context.read_all = True
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Invoice._meta.db_table} SET moves_on = NULL"
            " WHERE organisation_id = %s AND moves_on IS NOT NULL",
            [org.pk],
        )
        MoveBounds.objects.update_or_create(organisation=org, defaults={"bounds": signed})


def _scenarios(org: Organisation) -> dict[int, policy.ScenarioSpec]:
    scenarios: dict[int, policy.ScenarioSpec] = {}
    for scenario in Scenario.objects.filter(organisation=org).prefetch_related("steps"):
        steps = tuple(
            policy.StepSpec(
                position=s.position, name=s.name, offset=s.offset, min_gap=s.min_gap,
                channel=s.channel, template=s.template, mode=s.mode, min_amount=s.min_amount,
                step_id=s.pk, max_amount=s.max_amount,
            )
            for s in sorted(scenario.steps.all(), key=lambda s: s.position)
        )  # fmt: skip
        scenarios[scenario.pk] = policy.ScenarioSpec(
            scenario.pk, scenario.slug, steps, scenario.thank_on_payment, scenario.thank_template
        )
    return scenarios


def _promises(
    org: Organisation,
) -> tuple[
    dict[int, list[PromiseRow]], dict[int, list[PromiseRow]], dict[int, dt.date], dict[int, dt.date]
]:
    """Every open promise per invoice and per customer, and when promises last broke."""
    by_invoice: dict[int, list[PromiseRow]] = defaultdict(list)
    by_customer: dict[int, list[PromiseRow]] = defaultdict(list)
    broken_i: dict[int, dt.date] = {}
    broken_c: dict[int, dt.date] = {}
    rows = Promise.objects.filter(
        organisation=org, status__in=[Promise.Status.OPEN, Promise.Status.BROKEN]
    ).values_list("pk", "customer_id", "invoice_id", "promised_on", "grace_days", "status",
                  "broken_on")  # fmt: skip
    for pk, customer, invoice, promised, grace, status, broken_on in sorted(rows):
        key = invoice or customer
        if status == Promise.Status.BROKEN:
            target = broken_i if invoice else broken_c
            if broken_on and (key not in target or target[key] < broken_on):
                target[key] = broken_on
            continue
        (by_invoice if invoice else by_customer)[key].append((promised, grace, pk))
    return dict(by_invoice), dict(by_customer), broken_i, broken_c


def _holds(org: Organisation, day: dt.date) -> dict[int, str]:
    rows = Hold.objects.filter(organisation=org, start_date__lte=day).values_list(
        "customer_id", "kind", "start_date", "end_date"
    )
    holds: dict[int, str] = {}
    # In any order: the kind kept is the first by priority (two holds of a customer may
    # start the same day, one ended and one open: their rows do not sort).
    for customer, kind, start, end in rows:
        if not policy.hold_active(start, end, day):
            continue
        if customer not in holds or HOLD_PRIORITY[kind] < HOLD_PRIORITY[holds[customer]]:
            holds[customer] = kind
    return holds


def _last_contacts(
    org: Organisation, day: dt.date, ids: list[int] | None = None, reader: Any = connection
) -> dict[int, dict[str, dt.date]]:
    """Latest reminder per customer and channel in the contact-gap window before D (of the
    customers ``ids``, or all)."""
    # The statuses spelt out, so that the index on (organisation, status, send_on) serves.
    statuses = [s.value for s in CommStatus if s != CommStatus.CANCELLED]
    marks = ", ".join(["%s"] * len(statuses))
    last: dict[int, dict[str, dt.date]] = defaultdict(dict)
    dates: dict[Any, dt.date] = {}
    some, some_params = _some(ids)
    # For a chunk of customers, through the index by customer: the window of the contact gap
    # holds the reminders of every customer reminded in it (a hundred thousand after the
    # first run of a million items), which SQLite's choice, the index by status and date,
    # read again for each chunk.
    by_customer = f" INDEXED BY {COMMUNICATION_BY_CUSTOMER}" if ids and _sqlite() else ""
    with reader.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, channel, {_text('send_on')}"
            f" FROM {Communication._meta.db_table}{by_customer} WHERE organisation_id = %s{some}"
            f" AND status IN ({marks}) AND send_on > %s AND send_on < %s"
            " AND purpose = %s AND pre_due = %s",
            [org.pk, *some_params, *statuses, day - dt.timedelta(days=org.contact_gap + 1),
             day, CommPurpose.REMINDER.value, False],
        )  # fmt: skip
        for customer, channel, send_on in cursor.fetchall():
            if send_on not in dates:
                dates[send_on] = _date(send_on)
            send_on = dates[send_on]
            if send_on > last[customer].get(channel, dt.date.min):
                last[customer][channel] = send_on
    return last


# The index Django made for the foreign key Communication.customer (dunning 0001).
COMMUNICATION_BY_CUSTOMER = "dunning_communication_customer_id_25f6a35f"


def _sqlite() -> bool:
    return connection.vendor == "sqlite"


def _text(column: str) -> str:
    """A date or amount column read as text on SQLite, converted by the caller (Django's
    converters cost more than the query on a hundred thousand rows)."""
    return f"CAST({column} AS TEXT)" if connection.vendor == "sqlite" else column


def _date(value: Any) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _some(ids: list[int] | None, column: str = "customer_id") -> tuple[str, list[Any]]:
    """The condition on ``column`` for these customers (none: all of them)."""
    if ids is None:
        return "", []
    condition, params = bulk.among(column, ids)
    return f" AND {condition}", params


def _customers(
    org: Organisation, ids: list[int] | None = None, reader: Any = connection
) -> dict[int, tuple[str, dt.date | None, str]]:
    dates: dict[Any, dt.date | None] = {None: None}
    if ids is None:
        which, params = "organisation_id = %s", [org.pk]
    else:
        # By key, the organisation checked on each row ("+": not by its index, which SQLite,
        # without statistics, would take, reading every customer of the organisation).
        among, params = bulk.among("id", ids)
        which = f"{among} AND +organisation_id = %s"
        params.append(org.pk)
    with reader.cursor() as cursor:
        cursor.execute(
            f"SELECT id, risk_class, {_text('customer_since')}, language"
            f" FROM {Customer._meta.db_table} WHERE {which}",
            params,
        )
        customers = {}
        for pk, risk, since, language in cursor.fetchall():
            if since not in dates:
                dates[since] = _date(since)
            customers[pk] = (risk, dates[since], language)
    return customers


def _held(
    org: Organisation, day: dt.date, ids: list[int] | None = None, reader: Any = connection
) -> tuple[dict[int, Mark], list[int]]:
    """The customers (of ``ids``, or all) whose items the contact gap holds back past
    ``day``, with their marks; and those whose mark's day has passed."""
    some, some_params = _some(ids)
    held, passed = {}, []
    with reader.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, {_text('until')}, {_text('earliest')}"
            f" FROM {HeldBack._meta.db_table} WHERE organisation_id = %s{some}",
            [org.pk, *some_params],
        )
        for customer, until, earliest in cursor:
            if (on := _date(until)) > day:
                held[customer] = Mark(on, None if earliest is None else _date(earliest))
            else:
                passed.append(customer)
    return held, passed


def _settled(org: Organisation) -> dict[int, list[policy.Settled]]:
    """Items reminded at least once (a reminder about them sent or handed to a person,
    the item not dropped from it), paid since, not yet thanked. A level reached by passing
    over steps alone is not a reminder."""
    # From the items the triggers keep (``ItemToThank``: those paid since they were last
    # thanked, a few a day), not every state not thanked; each checked here all the same.
    # CROSS JOIN: SQLite then reads them first (it would start from the invoices); other
    # databases take it as an inner join. An item's reminders are found through its
    # customer's communications: they have no index of their own.
    sql = (
        "SELECT i.customer_id, s.invoice_id, i.number, s.level"
        f" FROM {ItemToThank._meta.db_table} t CROSS JOIN {ItemState._meta.db_table} s"
        f" CROSS JOIN {Invoice._meta.db_table} i"
        " WHERE t.organisation_id = %s AND s.invoice_id = t.invoice_id AND i.id = t.invoice_id"
        " AND s.organisation_id = %s AND i.organisation_id = %s AND s.thanked = %s"
        " AND s.level >= 1 AND i.balance <= %s AND EXISTS (SELECT 1"
        f" FROM {CommunicationItem._meta.db_table} ci JOIN {Communication._meta.db_table} c"
        " ON c.id = ci.communication_id WHERE ci.organisation_id = %s"
        " AND ci.invoice_id = s.invoice_id AND c.customer_id = i.customer_id"
        " AND c.purpose = %s AND c.status = %s AND ci.dropped = '')"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [org.pk, org.pk, org.pk, False, org.min_balance, org.pk, CommPurpose.REMINDER.value,
             CommStatus.SENT.value],
        )  # fmt: skip
        rows = cursor.fetchall()
    settled: dict[int, list[policy.Settled]] = defaultdict(list)
    for customer, invoice, number, level in sorted(rows):
        settled[customer].append(policy.Settled(invoice, number, level))
    return settled


def _largest(
    org: Organisation, rules: list[Any], ids: list[int] | None = None, reader: Any = connection
) -> dict[int, Decimal]:
    thresholds = [r.min_invoice_amount for r in rules if r.min_invoice_amount is not None]
    if not thresholds:
        return {}
    # From the index of open items by customer alone (it holds the balance), said as its
    # condition says it so that SQLite uses it.
    some, some_params = _some(ids)
    with reader.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, {_text('MAX(balance)')} FROM {Invoice._meta.db_table}"
            f" WHERE organisation_id = %s{some} AND balance > '0' AND balance > %s"
            " AND balance >= %s GROUP BY customer_id",
            [org.pk, *some_params, org.min_balance, min(thresholds)],
        )
        return {customer: Decimal(largest).quantize(_CENT) for customer, largest in cursor}


def cutoffs(
    scenarios: dict[int, policy.ScenarioSpec], day: dt.date
) -> tuple[dict[int, dt.date], dict[int, dt.date]]:
    """Per level, the latest due date and the latest date of the last step that let an item
    of that level move today under some scenario (a customer may change scenario), as the
    policy says. Levels with no step ahead in any scenario are absent: their items cannot
    move."""
    top = max((len(s.steps) for s in scenarios.values()), default=0)
    due: dict[int, dt.date] = {}
    last: dict[int, dt.date] = {}
    for level in range(top):
        dues = [policy.latest_due_date(s, level, day) for s in scenarios.values()]
        lasts = [policy.latest_step_date(s, level, day) for s in scenarios.values()]
        due[level] = max(d for d in dues if d is not None)
        last[level] = max(d for d in lasts if d is not None)
    return due, last


def _open_items_query(
    org: Organisation, day: dt.date, context: Context, share: tuple[int, int]
) -> tuple[str, list[Any]]:
    """The open items that may move today, ordered by customer: those whose date has come or
    is unknown, through the index of open items by date, every item of the customers with
    a promise (open or broken: a promise breaking, or broken, changes what is due), and
    every item of the customers with a new item at or above an amount rule's threshold."""
    sqlite = connection.vendor == "sqlite"
    # SQLite: read dates and amounts as text and convert them below; Django's converters
    # for declared types cost more than the query on a million rows.
    as_text = "CAST({} AS TEXT)" if sqlite else "{}"
    invoices, states = Invoice._meta.db_table, ItemState._meta.db_table
    promises = Promise._meta.db_table
    # Said as the partial index of open items says it, so that SQLite uses it.
    mine = f"SELECT id FROM {invoices} WHERE organisation_id = %s AND balance > '0'"
    if context.read_all:
        which = f"{mine}"
        params: list[Any] = [org.pk]
    else:
        which = (
            f"{mine} AND moves_on IS NULL UNION {mine} AND moves_on <= %s"
            f" UNION {mine} AND customer_id IN (SELECT customer_id FROM {promises}"
            "  WHERE organisation_id = %s AND status IN (%s, %s))"
        )
        params = [org.pk, org.pk, day, org.pk, org.pk]
        params += [Promise.Status.OPEN.value, Promise.Status.BROKEN.value]
        thresholds = [r.min_invoice_amount for r in context.rules
                      if r.min_invoice_amount is not None]  # fmt: skip
        if thresholds:
            # A new item at or above an amount rule's threshold (no date yet) may give its
            # customer another scenario: every item of the customer is read.
            which += (
                f" UNION {mine} AND customer_id IN (SELECT customer_id FROM {invoices}"
                "  WHERE organisation_id = %s AND balance > '0' AND moves_on IS NULL"
                "  AND balance >= %s)"
            )
            params += [org.pk, org.pk, min(thresholds)]
    sql = (
        f"SELECT i.customer_id, i.id, i.number, {as_text.format('i.due_date')},"
        f" {as_text.format('i.balance')}, i.currency, COALESCE(s.level, 0),"
        f" {as_text.format('s.level_date')}, {as_text.format('i.moves_on')}"
        f" FROM ({which}) m JOIN {invoices} i ON i.id = m.id"
        # The organisation repeated: a distributed database routes the join by it.
        f" LEFT JOIN {states} s ON s.invoice_id = i.id AND s.organisation_id = i.organisation_id"
        " WHERE i.balance > %s"
        + (" AND i.customer_id %% %s = %s" if share[1] > 1 else "")
        + " ORDER BY i.customer_id, i.id"
    )
    params.append(org.min_balance)
    if share[1] > 1:
        params += [share[1], share[0]]
    return sql, params


def how_many_may_move(org: Organisation, day: dt.date) -> int:
    """About how many open items have no date or a date that has come: from the index
    alone (the organisation's smallest balance would read every row)."""
    mine = (
        f"SELECT COUNT(*) FROM {Invoice._meta.db_table}"
        " WHERE organisation_id = %s AND balance > '0' AND moves_on"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ({mine} IS NULL) + ({mine} <= %s)", [org.pk, org.pk, day])
        return int(cursor.fetchone()[0])


_new_item = functools.partial(tuple.__new__, policy.Item)
_CENT = Decimal("0.01")


class Chunk(list[policy.CustomerCase]):
    """A chunk of customer cases, with the date each of their items had (``moves_on``),
    so that the run writes only the dates that change, and the customers read in full."""

    def __init__(self) -> None:
        super().__init__()
        self.moves_on: dict[int, dt.date | None] = {}
        self.whole: set[int] = set()


def _open_items(
    org: Organisation, day: dt.date, context: Context, share: tuple[int, int], reader: Any
) -> Iterator[tuple[int, list[policy.Item], dict[int, dt.date | None]]]:
    """(customer id, items, their dates) for the items that may move today, streamed by
    customer. Items are built without their pauses, which ``case`` adds for the few
    concerned."""
    sql, params = _open_items_query(org, day, context, share)
    return _items_of(sql, params, reader)


def _every_item(
    org: Organisation, ids: list[int], reader: Any
) -> Iterator[tuple[int, list[policy.Item], dict[int, dt.date | None]]]:
    """As ``_open_items``, every open item of the customers ``ids``, whatever its date."""
    as_text = "CAST({} AS TEXT)" if connection.vendor == "sqlite" else "{}"
    invoices, states = Invoice._meta.db_table, ItemState._meta.db_table
    some, some_params = _some(ids, "i.customer_id")
    sql = (
        f"SELECT i.customer_id, i.id, i.number, {as_text.format('i.due_date')},"
        f" {as_text.format('i.balance')}, i.currency, COALESCE(s.level, 0),"
        f" {as_text.format('s.level_date')}, {as_text.format('i.moves_on')}"
        f" FROM {invoices} i LEFT JOIN {states} s ON s.invoice_id = i.id"
        " AND s.organisation_id = i.organisation_id"
        f" WHERE i.organisation_id = %s{some} AND i.balance > '0' AND i.balance > %s"
        " ORDER BY i.customer_id, i.id"
    )
    return _items_of(sql, [org.pk, *some_params, org.min_balance], reader)


def _items_of(
    sql: str, params: list[Any], reader: Any
) -> Iterator[tuple[int, list[policy.Item], dict[int, dt.date | None]]]:
    sqlite = connection.vendor == "sqlite"
    dates: dict[Any, dt.date | None] = {None: None}
    current: Any = None
    items: list[policy.Item] = []
    moves: dict[int, dt.date | None] = {}
    with reader.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(20000):
            for row in rows:
                customer, invoice, number, due, balance, currency, level, level_date, on = row
                if customer != current:
                    if items:
                        yield current, items, moves
                    current, items, moves = customer, [], {}
                if sqlite:
                    due = dates.get(due) or dates.setdefault(due, dt.date.fromisoformat(due))
                    if level_date not in dates:
                        dates[level_date] = dt.date.fromisoformat(level_date)
                    level_date = dates[level_date]
                    if on not in dates:
                        dates[on] = dt.date.fromisoformat(on)
                    on = dates[on]
                    balance = Decimal(balance).quantize(_CENT)
                items.append(
                    _new_item((invoice, number, due, balance, currency, level, level_date, False,
                               False, (), None, None))
                )  # fmt: skip
                moves[invoice] = on
    if items:
        yield current, items, moves


def chunks(
    context: Context, day: dt.date, size: int, share: tuple[int, int], reader: Any
) -> Iterator[Chunk]:
    """Customer cases, a chunk of customers at a time, built from the streamed items of the
    customers of ``share`` (k, n): those whose id is k modulo n."""
    pending: list[tuple[int, list[policy.Item], dict[int, dt.date | None]]] = []
    seen: set[int] = set()
    for customer_id, items, moves in _open_items(context.organisation, day, context, share, reader):
        pending.append((customer_id, items, moves))
        seen.add(customer_id)
        if len(pending) >= size:
            yield _chunk(context, day, pending, reader)
            pending = []
    # Customers with nothing that may move but something to thank for.
    for customer_id in sorted(c for c in set(context.settled) - seen if c % share[1] == share[0]):
        pending.append((customer_id, [], {}))
        if len(pending) >= size:
            yield _chunk(context, day, pending, reader)
            pending = []
    if pending:
        yield _chunk(context, day, pending, reader)


def _chunk(
    context: Context,
    day: dt.date,
    pending: list[tuple[int, list[policy.Item], dict[int, dt.date | None]]],
    reader: Any,
) -> Chunk:
    context.fill([customer_id for customer_id, _, _ in pending], reader)
    cases = [case(context, customer_id, items, day) for customer_id, items, _ in pending]
    whole = [one.customer_id for one in cases if _held_together(context, one, day)]
    every = {c: (items, moves) for c, items, moves in
             _every_item(context.organisation, whole, reader)} if whole else {}  # fmt: skip
    chunk = Chunk()
    chunk.whole = set(every)
    for n, (customer_id, _, moves) in enumerate(pending):
        if customer_id in every:
            items, moves = every[customer_id]
            cases[n] = case(context, customer_id, items, day)
        chunk.append(cases[n])
        chunk.moves_on.update(moves)
    return chunk


def _held_together(context: Context, one: policy.CustomerCase, day: dt.date) -> bool:
    """Whether the customer's every open item must be read: a courtesy reminder goes out
    within the contact gap only alone on its channel (``policy._plan_channel``, a pre-due
    group), and the items the gap holds back are not read (``Bounds.after_contacts``) but
    would hold it back too. So when the customer has items held back (``HeldBack``) that may
    move today but for the gap, and an item read may take a courtesy step today on a
    channel within the gap, the customer is read in full."""
    mark = context.held.get(one.customer_id)
    if mark is None or (mark.earliest is not None and mark.earliest > day):
        return False
    gap = context.organisation.contact_gap
    held = {channel for channel, last in one.last_contact.items() if (day - last).days < gap}
    if not held:
        return False
    for item in one.items:
        d = (day - item.due_date).days
        step, _ = policy.candidate(one.scenario, item, d)
        if step is not None and step.offset < 0 and d >= step.offset and step.channel in held:
            return True
    return False


class Moves(NamedTuple):
    """What a chunk's decisions change in the dates the next runs read by."""

    # (date, invoice id, due date) of the items whose date changes.
    dates: list[tuple[dt.date, int, dt.date]]
    # The marks of the customers whose items the contact gap holds back.
    held: list[tuple[int, Mark]]


def moves(context: Context, day: dt.date, chunk: Chunk, decisions: list[policy.Decision]) -> Moves:
    """The items of a chunk whose date changes: the first date each may move under its
    customer's scenario (``Bounds``), from its level after the decisions and the date of its
    last step; not before the contact gap lets a step ahead go (``Bounds.after_contacts``:
    a reminder cancelled or moved earlier forgets the customer's dates, dunning
    0019_reminder_withdrawn), the customer then marked as held back until the last such
    day, from the first date one of those items would have had (a live mark of a customer
    read in part widens it: its items not read since are still held back); no later than the
    customer's next anniversary at which a rule on years starts or stops matching (its
    scenario may change that day)."""
    bounds, before = context.bounds, chunk.moves_on
    by_years = years_of_rules(context.rules)
    gap = context.organisation.contact_gap
    rows, held = [], []
    for one, decision in zip(chunk, decisions, strict=True):
        levels = decision.levels
        stepped = {i.invoice_id for c in decision.communications
                   if c.purpose != CommPurpose.THANKS for i in c.items}  # fmt: skip
        of_scenario = bounds[one.scenario.scenario_id]  # type: ignore[index]
        last = _contacts_after(one, decision, day)
        cap = None
        if by_years and one.customer_id not in context.explicit:
            since = context.customers[one.customer_id][1]
            cap = next_anniversary(since, day, by_years) if since is not None else None
        until = earliest = None
        for item in one.items:
            invoice = item.invoice_id
            level = levels.get(invoice, item.level)
            on = of_scenario.moves_on(level, item.due_date,
                                      day if invoice in stepped else item.level_date)  # fmt: skip
            free = of_scenario.after_contacts(level, last, gap) if on != NEVER else None
            if free is not None and free > on and free > day:
                if earliest is None or on < earliest:
                    earliest = on
                on = free
            else:
                free = None
            if cap is not None and cap < on:
                on = cap
            if free is not None and (until is None or on > until):
                until = on  # held back, if only to its anniversary
            if on != before.get(invoice):
                rows.append((on, invoice, item.due_date))
        if until is not None and earliest is not None:
            live = None if one.customer_id in chunk.whole else context.held.get(one.customer_id)
            held.append((one.customer_id, _widened(Mark(until, earliest), live)))
    return Moves(rows, held)


def _widened(mark: Mark, live: Mark | None) -> Mark:
    """A customer's new mark, widened by its live one (``live``), whose items not read
    today are still held back."""
    if live is None:
        return mark
    if mark.earliest is None or live.earliest is None:
        return Mark(max(mark.until, live.until), None)
    return Mark(max(mark.until, live.until), min(mark.earliest, live.earliest))


def _contacts_after(
    one: policy.CustomerCase, decision: policy.Decision, day: dt.date
) -> dict[str, dt.date]:
    """The customer's last reminder per channel once the day's decisions are written, as
    the next runs read it (``_last_contacts``): those of the contact gap's window before
    ``day``, and the reminders planned today (sent on ``day``, ``writing.Rows``)."""
    last = dict(one.last_contact)
    for comm in decision.communications:
        if comm.purpose == CommPurpose.REMINDER and not comm.pre_due:
            last[comm.channel] = day
    return last


def case(
    context: Context, customer_id: int, items: list[policy.Item], day: dt.date
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


def _with_pauses(context: Context, customer_id: int, item: policy.Item) -> policy.Item:
    invoice = item.invoice_id
    return policy.with_pauses(
        item,
        disputed=invoice in context.disputed,
        in_plan=invoice in context.in_plan,
        promises=context.promises_by_invoice.get(invoice, [])
        + context.promises_by_customer.get(customer_id, []),
        broken=(
            context.broken_by_invoice.get(invoice),
            context.broken_by_customer.get(customer_id),
        ),
        unapproved=context.unapproved.get(invoice),
        min_balance=context.organisation.min_balance,
    )
