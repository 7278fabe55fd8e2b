"""What the runs of the next days would send if no payment arrived: the engine's own
decisions (``policy.decide``, the business calendar of ``engine.calendar_for``, the scenario
choice of ``segments.choose_scenario``) applied day after day to a copy of the ledger's
state held in memory. Nothing is written.

``project`` is pure: the customers' cases, the days and their calendars in, the planned
communications out; after each day it moves the levels, the contact dates and the broken
promises as the run's writing would, so that the next day decides on what the run would
have left. ``simulate`` loads the cases in bulk (``loading.Context``, the run's reading)
and calls it.

Assumed, and said on the page: no payment, no new dispute, promise, hold or plan; the
messages are sent (none skipped at approval); payment plans are followed (their items stay
suspended, their instalments are not shown).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.dunning import policy
from relance.dunning.engine import calendar_for
from relance.dunning.labels import step_label
from relance.dunning.loading import HOLD_PRIORITY, Context, NothingToRun, case
from relance.dunning.models import CommPurpose, ItemState
from relance.dunning.segments import CustomerFacts, choose_scenario
from relance.ledger.models import Customer, Hold, Invoice

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class SimulatedItem:
    invoice_id: int
    number: str
    step: int
    days_overdue: int
    balance: Decimal
    currency: str


@dataclass(frozen=True)
class Simulated:
    """One communication a run would plan."""

    day: dt.date
    customer_id: int
    scenario_id: int | None
    channel: str
    purpose: str
    template: str
    step: int | None
    step_name: str
    approval: bool
    pre_due: bool
    items: tuple[SimulatedItem, ...]


HoldRow = tuple[dt.date, dt.date | None, str]  # start, end, kind


@dataclass
class _State:
    """A customer as the simulated runs leave it."""

    customer_id: int
    items: list[policy.Item]
    last_contact: dict[str, dt.date]
    settled: Sequence[policy.Settled]
    holds: Sequence[HoldRow] = ()


def hold_on(holds: Sequence[HoldRow], day: dt.date) -> str | None:
    """The hold stopping the customer on ``day`` (the strongest kind), as the run reads it."""
    active = [kind for start, end, kind in holds if policy.hold_active(start, end, day)]
    return min(active, key=lambda kind: HOLD_PRIORITY[kind]) if active else None


Chooser = Callable[[int, dt.date], tuple[policy.ScenarioSpec, str]]


def project(
    states: Sequence[_State],
    start: dt.date,
    days: int,
    calendar: Callable[[dt.date], policy.Calendar],
    choose: Chooser,
) -> list[Simulated]:
    """The communications the runs of ``start`` .. ``start + days - 1`` would plan."""
    planned: list[Simulated] = []
    for offset in range(days):
        day = start + dt.timedelta(days=offset)
        today = calendar(day)
        for state in sorted(states, key=lambda s: s.customer_id):
            scenario, reason = choose(state.customer_id, day)
            one = policy.CustomerCase(
                customer_id=state.customer_id, scenario=scenario, scenario_reason=reason,
                items=state.items, hold=hold_on(state.holds, day),
                last_contact=dict(state.last_contact), settled=state.settled,
            )  # fmt: skip
            decision = policy.decide(one, day, today)
            planned += [_simulated(day, scenario, c) for c in decision.communications]
            _apply(state, decision, day)
    return planned


def _simulated(
    day: dt.date, scenario: policy.ScenarioSpec, comm: policy.PlannedCommunication
) -> Simulated:
    step = scenario.step(comm.step_position) if comm.step_position else None
    return Simulated(
        day=day, customer_id=comm.customer_id, scenario_id=comm.scenario_id,
        channel=comm.channel, purpose=str(comm.purpose), template=comm.template,
        step=comm.step_position, step_name=step_label(step.name, step.template) if step else "",
        approval=comm.approval, pre_due=comm.pre_due,
        items=tuple(SimulatedItem(i.invoice_id, i.number, i.step_position, i.days_overdue,
                                  i.balance, i.currency) for i in comm.items),
    )  # fmt: skip


def _apply(state: _State, decision: policy.Decision, day: dt.date) -> None:
    """What the run's writing leaves: levels (a step taken sets its date, a step passed
    over the level alone), contact dates, broken promises, items thanked."""
    stepped = {
        item.invoice_id
        for comm in decision.communications
        if comm.purpose != CommPurpose.THANKS
        for item in comm.items
    }
    for comm in decision.communications:
        if comm.purpose == CommPurpose.REMINDER and not comm.pre_due:
            state.last_contact[comm.channel] = day
    broken = decision.broken_promises
    items = []
    for item in state.items:
        level = decision.levels.get(item.invoice_id)
        if level is not None:
            date = day if item.invoice_id in stepped else item.level_date
            item = item._replace(level=level, level_date=date)
        if broken and any(pk in broken for _, _, pk in item.promises):
            item = item._replace(
                promises=tuple(p for p in item.promises if p[2] not in broken),
                promise_broken_on=day,
            )
        items.append(item)
    state.items = items
    if decision.thanked:
        state.settled = ()


# -- loading ------------------------------------------------------------------------------


@dataclass
class Simulation:
    organisation: str
    start: dt.date
    days: int
    scenario: str | None
    customers: int  # customers simulated
    planned: list[Simulated] = field(default_factory=list)
    names: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> reference, name

    def by_day(self) -> list[tuple[dt.date, list[Simulated]]]:
        days: dict[dt.date, list[Simulated]] = {}
        for comm in self.planned:
            days.setdefault(comm.day, []).append(comm)
        return sorted(days.items())

    def per_channel(self) -> dict[str, int]:
        return dict(sorted(Counter(c.channel for c in self.planned).items()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "start": self.start,
            "days": self.days,
            "scenario": self.scenario,
            "customers": self.customers,
            "per_channel": self.per_channel(),
            "communications": [
                {
                    "day": c.day, "customer": self.names.get(c.customer_id, ("", ""))[0],
                    "channel": c.channel, "purpose": c.purpose, "template": c.template,
                    "step": c.step, "step_name": c.step_name, "approval": c.approval,
                    "pre_due": c.pre_due,
                    "items": [{"invoice": i.number, "step": i.step,
                               "days_overdue": i.days_overdue, "balance": i.balance,
                               "currency": i.currency} for i in c.items],
                }
                for c in self.planned
            ],
        }  # fmt: skip


class SimulationError(Exception):
    pass


def simulate(
    organisation: Organisation,
    start: dt.date,
    days: int = DEFAULT_DAYS,
    *,
    scenario: str | None = None,
    customer: Customer | None = None,
    limit: int | None = None,
) -> Simulation:
    """What the runs of the next ``days`` days from ``start`` would plan for the customers
    that ``scenario`` (a slug) governs on ``start``, or for one ``customer``, or for every
    customer; at most ``limit`` customers (the first by reference)."""
    if not 1 <= days <= MAX_DAYS:
        raise SimulationError(_("days: from 1 to %(max)s") % {"max": MAX_DAYS})
    try:
        context = Context.load(organisation, start)
    except NothingToRun as error:
        raise SimulationError(str(error)) from None
    by_slug = {spec.slug: pk for pk, spec in context.scenarios.items()}
    if scenario is not None and scenario not in by_slug:
        raise SimulationError(
            _("no scenario %(slug)s in organisation %(organisation)s")
            % {"slug": repr(scenario), "organisation": repr(organisation.slug)}
        )

    def choose(customer_id: int, day: dt.date) -> tuple[policy.ScenarioSpec, str]:
        risk, since, _largest = context.customers[customer_id]
        chosen = choose_scenario(
            CustomerFacts(risk, since, context.largest.get(customer_id), day),
            context.rules, context.default_scenario, context.explicit.get(customer_id),
        )  # fmt: skip
        return context.scenarios[chosen.scenario_id], chosen.reason

    customers = Customer.objects.filter(organisation=organisation)
    if customer is not None:
        customers = customers.filter(pk=customer.pk)
    names = {
        pk: (reference, name)
        for pk, reference, name in customers.order_by("reference", "pk").values_list(
            "pk", "reference", "legal_name"
        )
    }
    wanted = [
        pk for pk in names
        if scenario is None or choose(pk, start)[0].scenario_id == by_slug[scenario]
    ]  # fmt: skip
    if limit is not None:
        wanted = wanted[:limit]
    states = _states(organisation, context, start, days, wanted)
    planned = project(states, start, days, lambda day: calendar_for(organisation, day), choose)
    if scenario is not None:
        planned = [c for c in planned if c.scenario_id == by_slug[scenario]]
    return Simulation(
        organisation.slug,
        start,
        days,
        scenario,
        len(wanted),
        planned,
        {pk: names[pk] for pk in wanted},
    )


def _states(
    organisation: Organisation, context: Context, start: dt.date, days: int, wanted: list[int]
) -> list[_State]:
    """The customers' open items with their levels and pauses, as the run reads them (the
    items no step of any scenario can reach within the days are left out)."""
    offsets = [s.offset for spec in context.scenarios.values() for s in spec.steps]
    last_day = start + dt.timedelta(days=days - 1)
    latest_due = last_day - dt.timedelta(days=min(offsets, default=0))
    chosen = set(wanted)
    items: dict[int, list[policy.Item]] = {pk: [] for pk in wanted}
    rows = Invoice.objects.filter(
        organisation=organisation, balance__gt=organisation.min_balance, due_date__lte=latest_due
    ).order_by("customer_id", "pk")
    if len(chosen) == 1:
        rows = rows.filter(customer_id__in=chosen)
    levels = {
        pk: (level, date)
        for pk, level, date in ItemState.objects.filter(
            invoice__organisation=organisation, invoice__balance__gt=organisation.min_balance
        ).values_list("invoice_id", "level", "level_date")
    }
    for customer_id, pk, number, due, balance, currency in rows.values_list(
        "customer_id", "pk", "number", "due_date", "balance", "currency"
    ):
        if customer_id in chosen:
            level, date = levels.get(pk, (0, None))
            item = policy.Item(pk, number, due, balance, currency, level, date)
            items[customer_id].append(item)
    holds: dict[int, list[HoldRow]] = {}
    for customer_id, begin, end, kind in Hold.objects.filter(
        organisation=organisation, start_date__lte=last_day
    ).values_list("customer_id", "start_date", "end_date", "kind"):
        holds.setdefault(customer_id, []).append((begin, end, kind))
    states = []
    for pk in wanted:
        # The run's own reading of the pauses (disputes, plans, promises) of these items.
        built = case(context, pk, items[pk], start)
        states.append(
            _State(pk, list(built.items), dict(context.last_contact.get(pk, {})),
                   context.settled.get(pk, ()), holds.get(pk, ()))
        )  # fmt: skip
    return states
