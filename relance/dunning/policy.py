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
- what an item is dunned for is ``amount_asked``: its balance, or, while the buyer has
  approved only part of it on the platform (status 206: a dispute "not approved" on the
  rest, which suspends nothing), the approved part still unpaid; nothing to ask suspends it;
- disputes, open promises (until promised date + grace: every open promise covering the
  item, its own and its customer's), payment plans and holds on the customer suspend items,
  which keep their level; a pause's end is decided once, by ``hold_active`` and
  ``promise_active``, for the run, the send-time re-check and the penalties;
- eligible items are grouped per channel: one communication per customer and channel, with
  the template of the highest step; each item advances to its own step;
- none on a channel within ``contact_gap`` days of the previous reminder on it (courtesy
  reminders before the due date and thank-you messages do not count); postponed items stay
  eligible;
- on a weekend or public holiday nothing is planned: the next business day's run does it;
  a call is proposed for the organisation's business hours of the day it is planned.
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
from zoneinfo import ZoneInfo

from relance.dunning.models import CommPurpose

PRE_DUE = "pre_due"
# Calls are proposed for these hours of a business day, in the organisation's time zone.
BUSINESS_HOURS = (dt.time(9, 0), dt.time(18, 0))


def hold_active(start: dt.date, end: dt.date | None, day: dt.date) -> bool:
    """Whether a hold (or any pause with a start and an end date) stops dunning on ``day``.

    The end date is the day dunning resumes: a hold released on D is not active on D (and
    a reminder planned on D is sent on D). The run, the send-time re-check and the penalty
    service all ask here."""
    return start <= day and (end is None or day < end)


def promise_active(promised_on: dt.date, grace_days: int, day: dt.date) -> bool:
    """Whether a promise to pay still covers its items on ``day``: until the promised date
    plus its grace, inclusive; the day after, unpaid, it is broken."""
    return day <= promised_on + dt.timedelta(days=grace_days)


def amount_asked(balance: Decimal, unapproved: Decimal | None, min_balance: Decimal) -> Decimal:
    """What an item is dunned for: the one rule behind the run, the send-time re-check, the
    messages, the penalties, the console and the portal.

    Its balance; while the buyer has approved only part of it on the platform (status 206,
    ``unapproved`` being the part not approved), the balance less that part: the approved
    part still unpaid (the approved amount itself while nothing was paid), never the part
    not approved. Zero when that is not above the organisation's minimum balance: there is
    nothing to ask."""
    if unapproved is None:
        return balance
    asked = balance - unapproved
    return asked if asked > min_balance else Decimal("0.00")


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
    # Only for items owing at most this much (a write-off review below a threshold).
    max_amount: Decimal | None = None

    def applies_to(self, balance: Decimal) -> bool:
        """The step's amount conditions: an item they exclude passes over the step."""
        if self.min_amount is not None and balance < self.min_amount:
            return False
        return self.max_amount is None or balance <= self.max_amount


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
    # Every open promise covering the item (its own and its customer's), as
    # (promised_on, grace_days, promise id).
    promises: tuple[tuple[dt.date, int, int], ...] = ()
    # When a promise on it broke and no step happened since: the next one waits no gap.
    promise_broken_on: dt.date | None = None
    # What it is dunned for when that is not its balance (``amount_asked`` of a partly
    # approved item); zero: nothing to ask, the item waits.
    asked: Decimal | None = None


def owed(item: Item) -> Decimal:
    """What the item is dunned for (``amount_asked``, set by ``with_pauses``)."""
    return item.balance if item.asked is None else item.asked


def with_pauses(
    item: Item,
    *,
    disputed: bool,
    in_plan: bool,
    promises: Iterable[tuple[dt.date, int, int]],
    broken: Iterable[dt.date | None],
    unapproved: Decimal | None = None,
    min_balance: Decimal = Decimal("1.00"),
) -> Item:
    """The item with its pauses, as the run and a customer's page both read them: every
    open promise covering it (its own and its customer's), the latest day a promise
    covering it broke, and what it is dunned for when the buyer approved only part of it
    (``unapproved``: the part not approved)."""
    dates = [day for day in broken if day is not None]
    return item._replace(
        disputed=disputed, in_plan=in_plan, promises=tuple(sorted(promises)),
        promise_broken_on=max(dates) if dates else None,
        asked=None if unapproved is None
        else amount_asked(item.balance, unapproved, min_balance),
    )  # fmt: skip


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
    # The organisation's time zone, for the hours of the calls it is proposed.
    timezone: str = "Europe/Paris"


def call_window(day: dt.date, timezone: str) -> dict[str, str]:
    """When a call planned on ``day`` is to be made: the business hours of that day in the
    organisation's time zone (ISO 8601 with the offset)."""
    zone = ZoneInfo(timezone)
    start, end = BUSINESS_HOURS
    return {
        "from": dt.datetime.combine(day, start, zone).isoformat(),
        "until": dt.datetime.combine(day, end, zone).isoformat(),
    }


class PlannedItem(NamedTuple):
    invoice_id: int
    number: str
    step_position: int
    days_overdue: int
    balance: Decimal
    currency: str
    # The item's level and its date before this run: given back if the step is not done.
    previous_level: int = 0
    previous_level_date: dt.date | None = None


@dataclass
class PlannedCommunication:
    customer_id: int
    channel: str
    purpose: CommPurpose  # REMINDER or THANKS
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
        if not expired and step.applies_to(owed(item)):
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
    if item.asked is not None and item.asked <= 0:
        return "not_approved"  # the buyer approved nothing still unpaid
    if any(promise_active(on, grace, run_date) for on, grace, _ in item.promises):
        return "promise"
    return None


def broken_promises(item: Item, run_date: dt.date) -> list[int]:
    """The open promises covering the item whose date plus grace has passed unpaid: each
    is broken once (the run records it, and the next run no longer sees it open)."""
    return [pk for on, grace, pk in item.promises if not promise_active(on, grace, run_date)]


def latest_due_date(scenario: ScenarioSpec, level: int, day: dt.date) -> dt.date | None:
    """The latest due date of an item at ``level`` that may take a step on ``day`` under
    ``scenario`` (any step ahead may become its candidate, the others being passed over),
    or None when no step is ahead. The run's reading leaves the other items out."""
    ahead = scenario.steps[level:]
    return day - dt.timedelta(days=min(s.offset for s in ahead)) if ahead else None


def latest_step_date(scenario: ScenarioSpec, level: int, day: dt.date) -> dt.date | None:
    """The latest date of the previous step of an item at ``level`` that may take a step
    on ``day`` (the smallest gap of the steps ahead), or None when no step is ahead. An
    item whose gap is waived by a broken promise is read in full by the run."""
    ahead = scenario.steps[level:]
    return day - dt.timedelta(days=min(s.min_gap for s in ahead)) if ahead else None


def gap_waived(item: Item, broken_today: bool) -> bool:
    """A broken promise waives the next step's ``min_gap`` once: the promise broke today,
    or it broke after the item's last step."""
    return broken_today or (
        item.promise_broken_on is not None
        and item.level_date is not None
        and item.level_date < item.promise_broken_on
    )


class NextStep(NamedTuple):
    """The step an item takes next and the earliest run date it may (see ``next_step``)."""

    step: StepSpec | None  # None: no step ahead in the scenario
    on: dt.date | None  # None: no step ahead, or paused until a person acts
    # What decides the date: "" (today), "offset", "min_gap", "today_done" (stepped
    # today), "promise" (the promise's date + grace), or a suspension ("dispute",
    # "payment_plan", "hold:<kind>") that only a person ends.
    waiting_for: str


def next_step(case: CustomerCase, item: Item, on: dt.date) -> NextStep:
    """Which step the item takes next, and the earliest run date it may, if nothing changes
    meanwhile (no payment, no new pause): the rules of ``decide`` (``candidate``,
    ``suspension``, ``broken_promises``, ``gap_waived``) asked for a date instead of a yes
    or no. The calendar and the contact gap may postpone it further: a weekend or a holiday
    to the next business day, another reminder on its channel by ``contact_gap`` days."""
    start, waiting, broken = on, "", False
    if item.level_date is not None and item.level_date >= on:
        start, waiting = item.level_date + dt.timedelta(days=1), "today_done"
    reason = suspension(case, item, on)
    if reason == "promise":
        # Unpaid, the last promise covering it breaks the day after its grace; the gap is
        # then waived.
        ends = [p + dt.timedelta(days=grace + 1) for p, grace, _ in item.promises
                if promise_active(p, grace, on)]  # fmt: skip
        start = max(start, *ends)
        waiting, broken = "promise", True
    elif reason:
        step, _ = candidate(case.scenario, item, (on - item.due_date).days)
        return NextStep(step, None, reason)
    elif broken_promises(item, start):
        broken = True
    waived = gap_waived(item, broken)
    when = start
    while True:
        step, _ = candidate(case.scenario, item, (when - item.due_date).days)
        if step is None:
            return NextStep(None, None, "")
        earliest = item.due_date + dt.timedelta(days=step.offset)
        if earliest > when:
            when, waiting = earliest, "offset"
        if item.level_date is not None and not waived:
            after_gap = item.level_date + dt.timedelta(days=step.min_gap)
            if after_gap > when:
                when, waiting = after_gap, "min_gap"
        # A courtesy reminder that cannot happen before the due date expires: the next
        # step applies then.
        if step.offset < 0 and when >= item.due_date:
            continue
        return NextStep(step, when, waiting)


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
    # Each message tells what was held back on the channels planned after its own too.
    for comm in decision.communications:
        comm.explanation["postponed_or_suspended"] = list(decision.notes)
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
    if case.hold or item.disputed or item.in_plan or item.promises or item.asked is not None:
        # A late promise is broken on its day even while another pause holds the item (a
        # hold, a dispute, a plan, another promise): each breaks once, and the step after
        # the last pause waives its gap once.
        late = broken_promises(item, run_date)
        decision.broken_promises.update(late)
        reason = suspension(case, item, run_date)
        if reason:
            decision.notes.append({"invoice": item.number, "why": "suspended", "reason": reason})
            return
        broken = bool(late)
    d = (run_date - item.due_date).days
    step, level = candidate(case.scenario, item, d)
    if level != item.level:
        # Expired or inapplicable steps are passed over even if nothing is due today.
        decision.levels[item.invoice_id] = level
        decision.passed_over.append((item.number, level))
    if step is None or d < step.offset:
        return
    gap_left = level_date is not None and (run_date - level_date).days < step.min_gap
    if gap_left and not gap_waived(item, broken):
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
        items.append(_planned((i.invoice_id, i.number, step.position, d, owed(i), i.currency,
                               i.level, i.level_date)))  # fmt: skip
        levels[i.invoice_id] = step.position
    explanation = _explain(case, decision, top)
    if channel == "call":
        explanation["call_window"] = call_window(run_date, calendar.timezone)
    decision.communications.append(
        PlannedCommunication(
            customer_id=case.customer_id,
            channel=channel,
            purpose=CommPurpose.REMINDER,
            template=top.template,
            step_position=top.position,
            step_id=top.step_id,
            approval=any(step.mode == "approval" for _, step, _ in group),
            pre_due=pre_due,
            items=items,
            explanation=explanation,
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
            customer_id=case.customer_id, channel="email", purpose=CommPurpose.THANKS,
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
