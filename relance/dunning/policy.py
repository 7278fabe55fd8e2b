"""What a dunning run decides for one customer on date D: a pure function of plain values.

No ORM, no clock: ``decide`` takes the customer's open items, their levels, the pauses, the
scenario, the calendar and the date, and returns the communications to plan, the levels to
write and the events to record. The engine (relance.dunning.engine) loads the values in bulk
and writes the decisions in bulk. The rules are those of docs/dunning.md:

- the candidate step of an item is ``level + 1``; steps are never skipped, except that a
  step with a negative offset (a courtesy reminder before the due date) expires once the
  item is due, and a step whose condition (minimum amount) does not hold for the item is
  passed over;
- the candidate is eligible when ``d >= offset`` and ``min_gap`` days have passed since the
  item's previous step (ignored once, after a broken promise); at most one step per item
  per run;
- disputes, open promises (until promised date + grace), payment plans and holds on the
  customer suspend items, which keep their level;
- eligible items are grouped per channel: one communication per customer and channel, with
  the template of the highest step; each item advances to its own step;
- none on a channel within ``contact_gap`` days of the previous reminder on it (courtesy
  reminders before the due date and thank-you messages do not count); postponed items stay
  eligible;
- on a weekend or public holiday nothing is planned: the next business day's run does it.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

PRE_DUE = "pre_due"


class StepSpec(NamedTuple):
    position: int
    name: str
    offset: int
    min_gap: int
    channel: str
    template: str
    mode: str = "auto"
    min_amount: Decimal | None = None
    step_id: int | None = None


@dataclass(frozen=True)
class ScenarioSpec:
    scenario_id: int | None
    slug: str
    steps: tuple[StepSpec, ...]
    thank_on_payment: bool = True
    thank_template: str = "thanks"

    def step(self, position: int) -> StepSpec | None:
        index = position - 1
        return self.steps[index] if 0 <= index < len(self.steps) else None


class Item(NamedTuple):
    invoice_id: int
    number: str
    due_date: dt.date
    balance: Decimal
    currency: str
    level: int = 0
    level_date: dt.date | None = None
    disputed: bool = False
    in_plan: bool = False
    # Latest promise covering the item (its own or its customer's), if any.
    promised_on: dt.date | None = None
    promise_grace: int = 2
    promise_id: int | None = None
    # When a promise on it broke and no step happened since: the next one waits no gap.
    promise_broken_on: dt.date | None = None


class Settled(NamedTuple):
    """An item paid since it was last reminded, not yet thanked."""

    invoice_id: int
    number: str
    level: int


@dataclass(frozen=True)
class CustomerCase:
    customer_id: int
    scenario: ScenarioSpec
    scenario_reason: str
    items: Sequence[Item]
    hold: str | None = None  # manual, negotiation, insolvency
    # Date of the last counted communication per channel (for the contact gap).
    last_contact: dict[str, dt.date] = field(default_factory=dict)
    settled: Sequence[Settled] = ()


@dataclass(frozen=True)
class Calendar:
    business_day: bool
    holiday_name: str | None = None
    contact_gap: int = 3


class PlannedItem(NamedTuple):
    invoice_id: int
    number: str
    step_position: int
    days_overdue: int
    balance: Decimal
    currency: str


@dataclass
class PlannedCommunication:
    customer_id: int
    channel: str
    purpose: str  # "reminder" or "thanks"
    template: str
    step_position: int | None
    step_id: int | None
    approval: bool
    pre_due: bool
    items: list[PlannedItem]
    explanation: dict
    scenario_id: int | None = None


@dataclass
class Decision:
    """Everything a run does for one customer."""

    customer_id: int
    communications: list[PlannedCommunication] = field(default_factory=list)
    # invoice_id -> new level (steps executed or passed over).
    levels: dict[int, int] = field(default_factory=dict)
    broken_promises: set[int] = field(default_factory=set)
    thanked: list[int] = field(default_factory=list)
    # Why items did nothing today, for the dry run and the explanations.
    notes: list[dict] = field(default_factory=list)
    # (invoice number, level reached) of the items that passed over steps today: kept apart
    # from the notes because on a first run nearly every overdue item passes over the
    # courtesy reminder, and the explanations need not repeat it.
    passed_over: list[tuple[str, int]] = field(default_factory=list)


def candidate(scenario: ScenarioSpec, item: Item, d: int) -> tuple[StepSpec | None, int]:
    """The step the item may take next, and the level it reaches by passing over steps that
    do not apply: expired courtesy reminders and steps whose condition fails."""
    steps = scenario.steps
    level = item.level
    while level < len(steps):
        step = steps[level]  # position level + 1
        expired = step.offset < 0 and d >= 0
        if not (expired or (step.min_amount is not None and item.balance < step.min_amount)):
            return step, level
        level += 1
    return None, level


def suspension(case: CustomerCase, item: Item, run_date: dt.date) -> str | None:
    if case.hold:
        return f"hold:{case.hold}"
    if item.disputed:
        return "dispute"
    if item.in_plan:
        return "payment_plan"
    if item.promised_on and run_date <= item.promised_on + dt.timedelta(days=item.promise_grace):
        return "promise"
    return None


def broken_promise(item: Item, run_date: dt.date) -> int | None:
    """The promise covering the item, if its date plus grace has passed unpaid."""
    if item.promised_on is None or item.promise_id is None:
        return None
    late = run_date > item.promised_on + dt.timedelta(days=item.promise_grace)
    return item.promise_id if late else None


_ITEM_ORDER = operator.itemgetter(2, 1, 0)  # due date, number, id: whatever the row order


def decide(case: CustomerCase, run_date: dt.date, calendar: Calendar) -> Decision:
    decision = Decision(case.customer_id)
    eligible: dict[str, list[tuple[Item, StepSpec, int]]] = defaultdict(list)
    for item in sorted(case.items, key=_ITEM_ORDER):
        _decide_item(case, item, run_date, decision, eligible)
    if not calendar.business_day:
        if eligible:
            decision.notes.append(
                {"why": "not a business day", "holiday": calendar.holiday_name,
                 "items": sorted(i.number for group in eligible.values() for i, _, _ in group)}
            )  # fmt: skip
        return decision  # only the passed-over steps are recorded today
    for channel in sorted(eligible):
        _plan_channel(case, channel, eligible[channel], run_date, calendar, decision)
    _plan_thanks(case, calendar, decision)
    return decision


def _decide_item(
    case: CustomerCase,
    item: Item,
    run_date: dt.date,
    decision: Decision,
    eligible: dict[str, list[tuple[Item, StepSpec, int]]],
) -> None:
    level_date = item.level_date
    if level_date == run_date:
        return  # at most one step per item per run (and a second run of D does nothing)
    broken = False
    # Most items have no pause at all: the checks below are for the others.
    if case.hold or item.disputed or item.in_plan or item.promised_on is not None:
        reason = suspension(case, item, run_date)
        if reason:
            decision.notes.append({"invoice": item.number, "why": "suspended", "reason": reason})
            return
        promise = broken_promise(item, run_date)
        if promise is not None:
            decision.broken_promises.add(promise)
            broken = True
    d = (run_date - item.due_date).days
    step, level = candidate(case.scenario, item, d)
    if level != item.level:
        # Expired or inapplicable steps are passed over even if nothing is due today.
        decision.levels[item.invoice_id] = level
        decision.passed_over.append((item.number, level))
    if step is None or d < step.offset:
        return
    if level_date is not None and (run_date - level_date).days < step.min_gap:
        gap_waived = broken or (
            item.promise_broken_on is not None and level_date < item.promise_broken_on
        )
        if not gap_waived:
            decision.notes.append({"invoice": item.number, "why": "min_gap", "step": step.position})
            return
    eligible[step.channel].append((item, step, d))


def _plan_channel(
    case: CustomerCase,
    channel: str,
    group: list[tuple[Item, StepSpec, int]],
    run_date: dt.date,
    calendar: Calendar,
    decision: Decision,
) -> None:
    pre_due = all(step.offset < 0 for _, step, _ in group)
    last = case.last_contact.get(channel)
    if not pre_due and last is not None and (run_date - last).days < calendar.contact_gap:
        decision.notes.append(
            {"why": "contact_gap", "channel": channel, "last": last.isoformat(),
             "items": [i.number for i, _, _ in group]}
        )  # fmt: skip
        return
    top = max(group, key=lambda entry: entry[1].position)[1]
    items = []
    levels = decision.levels
    for i, step, d in group:
        items.append(_planned((i.invoice_id, i.number, step.position, d, i.balance, i.currency)))
        levels[i.invoice_id] = step.position
    decision.communications.append(
        PlannedCommunication(
            customer_id=case.customer_id,
            channel=channel,
            purpose="reminder",
            template=top.template,
            step_position=top.position,
            step_id=top.step_id,
            approval=any(step.mode == "approval" for _, step, _ in group),
            pre_due=pre_due,
            items=items,
            explanation=_explain(case, decision, top),
            scenario_id=case.scenario.scenario_id,
        )
    )


_planned = functools.partial(tuple.__new__, PlannedItem)  # without the keyword machinery


def _explain(case: CustomerCase, decision: Decision, top: StepSpec) -> dict:
    """Why the communication exists. Each invoice's days overdue and step are stored with the
    communication's items (one row each), not repeated here."""
    return {
        "scenario": case.scenario.slug,
        "scenario_rule": case.scenario_reason,
        "template_from_step": {"position": top.position, "name": top.name},
        "postponed_or_suspended": list(decision.notes),
    }


def _plan_thanks(case: CustomerCase, calendar: Calendar, decision: Decision) -> None:
    if not case.settled or not case.scenario.thank_on_payment:
        return
    numbers = sorted(s.number for s in case.settled)
    # The paid items are the message's items: the outbox re-checks them before sending
    # (a thank-you without items would be cancelled as having nothing left to say), and
    # sets their balance and delay on the day it leaves.
    items = [
        PlannedItem(s.invoice_id, s.number, s.level, 0, Decimal("0.00"), "")
        for s in sorted(case.settled, key=lambda s: s.number)
    ]
    decision.communications.append(
        PlannedCommunication(
            customer_id=case.customer_id, channel="email", purpose="thanks",
            template=case.scenario.thank_template, step_position=None, step_id=None,
            approval=False, pre_due=False, items=items,
            explanation={"scenario": case.scenario.slug, "thanks_for": numbers},
            scenario_id=case.scenario.scenario_id,
        )
    )  # fmt: skip
    decision.thanked = sorted(s.invoice_id for s in case.settled)


def decide_all(
    cases: Iterable[CustomerCase], run_date: dt.date, calendar: Calendar
) -> list[Decision]:
    return [decide(case, run_date, calendar) for case in sorted(cases, key=lambda c: c.customer_id)]
