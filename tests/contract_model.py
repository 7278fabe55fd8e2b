"""An independent model of the dunning engine's contract (/work/shared/design/dunning-engine.md
and the choices written in docs/dunning.md), written from their text and not from the
engine's code: given a ledger, a scenario, the calendar and what earlier runs did, it
predicts what the run of one day decides. ``tests/test_engine_model.py`` drives it beside
the real engine, day after day.

It is plain Python on purpose (no Django, no ``relance`` import): the only thing it shares
with the engine is the holidays library the contract names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import holidays


@dataclass(frozen=True)
class Step:
    offset: int
    min_gap: int
    channel: str
    template: str
    approval: bool = False
    min_amount: Decimal | None = None


@dataclass(frozen=True)
class Scenario:
    steps: tuple[Step, ...]
    thank_on_payment: bool = True
    thank_template: str = "thanks"


@dataclass
class Invoice:
    number: str
    customer: str
    due: dt.date
    balance: Decimal
    # What earlier runs left: the last step taken or passed over, the date of the last step
    # taken, a gap waived by a broken promise, reminded (a sent reminder listed it), thanked.
    level: int = 0
    level_date: dt.date | None = None
    gap_waived: bool = False
    reminded: bool = False
    thanked: bool = False


@dataclass
class Promise:
    key: int
    customer: str
    invoice: str | None  # None: on the customer
    promised_on: dt.date
    grace: int = 2
    status: str = "open"  # open, kept, broken


@dataclass
class Hold:
    customer: str
    start: dt.date
    end: dt.date | None = None  # the day dunning resumes


@dataclass
class Dispute:
    invoice: str
    opened: dt.date
    resolved: dt.date | None = None


@dataclass
class Sent:
    """A reminder an earlier run planned, as the contact gap and the thanks read it."""

    key: int
    customer: str
    channel: str
    day: dt.date
    pre_due: bool
    status: str  # awaiting_approval, queued, sent, cancelled
    # (invoice number, step, level, level date and gap waived before the step)
    items: tuple[tuple[str, int, int, dt.date | None, bool], ...]


@dataclass(frozen=True)
class Planned:
    customer: str
    channel: str
    purpose: str  # reminder or thanks
    template: str
    approval: bool
    items: tuple[tuple[str, int], ...]  # (number, step); step 0 for thanks


@dataclass
class Day:
    """What the run of one day decides."""

    communications: list[Planned] = field(default_factory=list)
    # invoice number -> why it did nothing although a step was due
    postponed: dict[str, str] = field(default_factory=dict)
    broken: set[int] = field(default_factory=set)
    kept: set[int] = field(default_factory=set)


@dataclass
class Ledger:
    scenario: Scenario
    country: str = "FR"
    contact_gap: int = 3
    min_balance: Decimal = Decimal("1.00")
    invoices: dict[str, Invoice] = field(default_factory=dict)
    promises: list[Promise] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    history: list[Sent] = field(default_factory=list)

    # -- words of the contract ---------------------------------------------------------

    def is_open(self, inv: Invoice) -> bool:
        return inv.balance > self.min_balance

    def business_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in holidays.country_holidays(self.country)

    def disputed(self, inv: Invoice, day: dt.date) -> bool:
        return any(
            d.invoice == inv.number and d.opened <= day and (d.resolved is None or d.resolved > day)
            for d in self.disputes
        )

    def on_hold(self, customer: str, day: dt.date) -> bool:
        return any(
            h.customer == customer and h.start <= day and (h.end is None or day < h.end)
            for h in self.holds
        )

    def covers(self, promise: Promise, inv: Invoice) -> bool:
        if promise.customer != inv.customer:
            return False
        return promise.invoice is None or promise.invoice == inv.number

    def promised(self, inv: Invoice, day: dt.date) -> bool:
        return any(
            p.status == "open"
            and self.covers(p, inv)
            and day <= p.promised_on + dt.timedelta(days=p.grace)
            for p in self.promises
        )

    def suspension(self, inv: Invoice, day: dt.date) -> str | None:
        """Why the item waits, the strongest first: a hold stops the whole customer."""
        if self.on_hold(inv.customer, day):
            return "hold"
        if self.disputed(inv, day):
            return "dispute"
        if self.promised(inv, day):
            return "promise"
        return None

    def last_contact(self, customer: str, channel: str) -> dt.date | None:
        days = [
            s.day
            for s in self.history
            if s.customer == customer and s.channel == channel
            and not s.pre_due and s.status != "cancelled"
        ]  # fmt: skip
        return max(days, default=None)

    # -- one run -------------------------------------------------------------------------

    def run(self, day: dt.date) -> Day:
        out = Day()
        business = self.business_day(day)
        self._promises(day, out)
        due: dict[str, list[tuple[Invoice, int, Step]]] = {}
        for inv in sorted(self.invoices.values(), key=lambda i: i.number):
            if not self.is_open(inv):
                continue
            d = (day - inv.due).days
            self._pass_over(inv, d)
            position = inv.level + 1
            if position > len(self.scenario.steps):
                continue
            step = self.scenario.steps[position - 1]
            if d < step.offset:
                continue
            gap_ok = inv.level_date is None or (day - inv.level_date).days >= step.min_gap
            if not (gap_ok or inv.gap_waived):
                continue
            why = self.suspension(inv, day)
            if why:
                out.postponed[inv.number] = why
                continue
            if business:
                due.setdefault(inv.customer, []).append((inv, position, step))
        if not business:
            return out
        for customer in sorted(due):
            self._plan(customer, due[customer], day, out)
        self._thanks(day, out)
        return out

    def _promises(self, day: dt.date, out: Day) -> None:
        """Kept first (its debt paid), then broken (date + grace passed, still owed)."""
        for p in self.promises:
            if p.status != "open":
                continue
            covered = [i for i in self.invoices.values() if self.covers(p, i)]
            owing = [i for i in covered if self.is_open(i)]
            if not owing:
                p.status = "kept"
                out.kept.add(p.key)
            elif day > p.promised_on + dt.timedelta(days=p.grace):
                p.status = "broken"
                out.broken.add(p.key)
                for inv in owing:
                    inv.gap_waived = True

    def _pass_over(self, inv: Invoice, d: int) -> None:
        inv.level = self.passed_over(inv, inv.level, d)

    def passed_over(self, inv: Invoice, level: int, d: int) -> int:
        """The level after passing over a courtesy step once due and a step whose amount
        condition fails: the level moves, the date of the last step does not."""
        while level < len(self.scenario.steps):
            step = self.scenario.steps[level]
            expired = step.offset < 0 and d >= 0
            too_small = step.min_amount is not None and inv.balance < step.min_amount
            if not (expired or too_small):
                return level
            level += 1
        return level

    def same_level(self, inv: Invoice, level: int, day: dt.date) -> bool:
        """Whether ``level`` is the item's, but for steps passed over not recorded yet
        (the engine records them when it next reads the item)."""
        if not self.is_open(inv):
            return level <= inv.level
        d = (day - inv.due).days
        return self.passed_over(inv, level, d) == self.passed_over(inv, inv.level, d)

    def _plan(
        self, customer: str, due: list[tuple[Invoice, int, Step]], day: dt.date, out: Day
    ) -> None:
        by_channel: dict[str, list[tuple[Invoice, int, Step]]] = {}
        for entry in due:
            by_channel.setdefault(entry[2].channel, []).append(entry)
        for channel, group in sorted(by_channel.items()):
            pre_due = all(step.offset < 0 for _, _, step in group)
            last = self.last_contact(customer, channel)
            if not pre_due and last is not None and (day - last).days < self.contact_gap:
                for inv, _, _ in group:
                    out.postponed[inv.number] = "contact_gap"
                continue
            top = max(position for _, position, _ in group)
            out.communications.append(
                Planned(
                    customer, channel, "reminder", self.scenario.steps[top - 1].template,
                    any(step.approval for _, _, step in group),
                    tuple(sorted((inv.number, position) for inv, position, _ in group)),
                )
            )  # fmt: skip
            self.history.append(
                Sent(len(self.history) + 1, customer, channel, day, pre_due,
                     "awaiting_approval" if out.communications[-1].approval else "queued",
                     tuple((inv.number, position, inv.level, inv.level_date, inv.gap_waived)
                           for inv, position, _ in group))
            )  # fmt: skip
            for inv, position, _ in group:
                inv.level, inv.level_date, inv.gap_waived = position, day, False

    def _thanks(self, day: dt.date, out: Day) -> None:
        if not self.scenario.thank_on_payment:
            return
        paid: dict[str, list[str]] = {}
        for inv in sorted(self.invoices.values(), key=lambda i: i.number):
            if not self.is_open(inv) and inv.reminded and not inv.thanked:
                paid.setdefault(inv.customer, []).append(inv.number)
        for customer, numbers in sorted(paid.items()):
            out.communications.append(
                Planned(customer, "email", "thanks", self.scenario.thank_template, False,
                        tuple((n, 0) for n in numbers))
            )  # fmt: skip
            for n in numbers:
                self.invoices[n].thanked = True

    # -- what happens to the messages after the run ---------------------------------------

    def planned(self, customer: str, channel: str, day: dt.date) -> Sent:
        (found,) = [
            s for s in self.history if (s.customer, s.channel, s.day) == (customer, channel, day)
        ]
        return found

    def send(self, sent: Sent) -> None:
        sent.status = "sent"
        for number, *_ in sent.items:
            self.invoices[number].reminded = True

    def skip(self, sent: Sent) -> None:
        """Skipped at approval: the step is not done, each item goes back to its level
        before, if no later step moved it, and a gap a broken promise waived for that step
        stays waived for the step proposed again."""
        sent.status = "cancelled"
        for number, position, level, level_date, waived in sent.items:
            inv = self.invoices[number]
            if inv.level == position and inv.level_date == sent.day:
                inv.level, inv.level_date, inv.gap_waived = level, level_date, waived
