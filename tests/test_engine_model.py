"""The real engine against an independent model of its contract (``contract_model``), day
after day: random small ledgers (invoices due around the start, some imported long
overdue), a random scenario, and months of simulated days with payments, disputes,
promises, holds, late imports and approvals decided between the runs. Each day the
communications, the levels and the promises broken or kept must be those the model
predicts from the contract's text.

``RELANCE_MODEL_EXAMPLES`` sets the number of examples (12 by default, for CI: each
example is 60 to 120 days on the real engine); a soak run:
``RELANCE_MODEL_EXAMPLES=400 nice -n 10 .venv/bin/pytest tests/test_engine_model.py``.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import contract_model as model
import factories as make
from factories import days
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from relance.dunning import approval, pauses
from relance.dunning.engine import run
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    ItemState,
    MoveBounds,
    Promise,
    Scenario,
)
from relance.ledger.models import Allocation, Customer, Dispute, Hold, Invoice, Payment

EXAMPLES = int(os.environ.get("RELANCE_MODEL_EXAMPLES", "12"))
# RELANCE_MODEL_SHRINK=0 reports a soak's first difference as found, without shrinking it.
PHASES = (
    tuple(Phase)
    if os.environ.get("RELANCE_MODEL_SHRINK", "1") != "0"
    else (Phase.explicit, Phase.reuse, Phase.generate)
)
STARTS = [dt.date(2026, 11, 24), dt.date(2026, 3, 30), dt.date(2026, 7, 1)]
CHANNELS = ["email", "email", "call", "letter"]

steps_st = st.lists(
    st.tuples(
        st.integers(-8, 12),  # offset increment
        st.integers(0, 6),  # min_gap
        st.sampled_from(CHANNELS),
        st.booleans(),  # approval
        st.sampled_from([None, None, None, 150]),  # min_amount
    ),
    min_size=1,
    max_size=5,
)
invoices_st = st.lists(
    st.tuples(st.integers(0, 2), st.integers(-15, 45), st.sampled_from(["60", "120", "400"])),
    min_size=1,
    max_size=8,
)
EVENTS = ["pay", "part", "dispute", "resolve", "promise", "hold", "release", "late"]
events_st = st.lists(
    st.tuples(st.integers(0, 119), st.sampled_from(EVENTS), st.integers(0, 30), st.integers(0, 9)),
    max_size=30,
)


def _steps(drawn) -> tuple[model.Step, ...]:
    """Offsets growing from a courtesy reminder (if the first is negative) on."""
    steps, offset = [], -10
    for increment, gap, channel, approve, minimum in drawn:
        offset += abs(increment) if steps else increment
        steps.append(model.Step(offset, gap, channel, f"t{len(steps) + 1}", approve,
                                None if minimum is None else Decimal(minimum)))  # fmt: skip
    return tuple(steps)


@settings(
    max_examples=EXAMPLES,
    phases=PHASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.sampled_from(STARTS),
    st.integers(60, 120),
    steps_st,
    st.integers(0, 4),
    invoices_st,
    events_st,
    st.lists(st.booleans(), min_size=1, max_size=5),
)
def test_the_engine_decides_what_the_contract_says_day_after_day(
    org, start, span, drawn_steps, gap, rows, events, skips
):
    for kind in (Communication, ItemState, Promise, Dispute, Hold, Allocation, Payment, Invoice,
                 Customer, MoveBounds):  # fmt: skip
        kind.objects.all().delete()
    Scenario.objects.filter(organisation=org).delete()
    org.contact_gap = gap
    org.save(update_fields=["contact_gap"])
    steps = _steps(drawn_steps)
    make.scenario(
        org,
        [(s.offset, s.min_gap, s.channel, s.template, "approval" if s.approval else "auto",
          s.min_amount) for s in steps],
    )  # fmt: skip
    ledger = model.Ledger(model.Scenario(steps), contact_gap=gap)
    world = World(org, ledger)
    for c in range(3):
        world.customers.append(make.customer(org, f"C{c}"))
    for c, overdue, amount in rows:
        world.invoice(c, start - days(overdue), amount)
    note(f"scenario {steps}, contact gap {gap}")
    skip_turn = 0
    for n in range(span):
        day = start + days(n)
        for when, kind, a, b in events:
            if when == n:
                world.happen(day, kind, a, b)
        expected = ledger.run(day)
        run(org, day)
        comms = world.communications(day)
        got = world.decided(day, comms)
        want = sorted(
            (c.customer, c.channel, c.purpose, c.template, c.approval,
             c.items if c.purpose == "reminder" else tuple(i for i, _ in c.items))
            for c in expected.communications
        )  # fmt: skip
        assert got == want, (day, steps, gap)
        # What the explanations say was held back agrees with the model (they leave out
        # the items the run did not read, docs/dunning.md "What a run reads").
        for customer, explained in world.explained(comms).items():
            for number, why in explained.items():
                if why == "contact_gap" or number in expected.postponed:
                    assert expected.postponed.get(number) == why, (day, customer, explained)
        levels = world.levels()
        assert all(
            ledger.same_level(inv, levels[inv.number], day) for inv in ledger.invoices.values()
        ), (day, levels, {i.number: i.level for i in ledger.invoices.values()})
        assert world.promises() == {p.key: p.status for p in ledger.promises}, day
        # A person decides on what awaits approval; the worker sends the rest.
        for comm in world.awaiting(comms):
            skip = skips[skip_turn % len(skips)]
            skip_turn += 1
            approval.decide(org, [comm.pk], approve=not skip)
            (ledger.skip if skip else ledger.send)(
                ledger.planned(comm.customer.reference, comm.channel, day)
            )
        queued = Communication.objects.filter(organisation=org, status=CommStatus.QUEUED)
        for comm in queued.select_related("customer"):
            if comm.purpose == CommPurpose.REMINDER:
                ledger.send(ledger.planned(comm.customer.reference, comm.channel, comm.run_date))
        Communication.objects.filter(organisation=org, status=CommStatus.QUEUED).update(
            status=CommStatus.SENT
        )


class World:
    """The organisation's database and the model's ledger, moved by the same events."""

    def __init__(self, org, ledger: model.Ledger) -> None:
        self.org = org
        self.ledger = ledger
        self.customers: list[Customer] = []
        self.invoices: list[Invoice] = []

    def invoice(self, c: int, due: dt.date, amount: str) -> None:
        customer = self.customers[c % len(self.customers)]
        inv = make.invoice(customer, f"F{len(self.invoices):02d}", due=due, amount=amount)
        self.invoices.append(inv)
        self.ledger.invoices[inv.number] = model.Invoice(
            inv.number, customer.reference, due, inv.balance
        )

    def happen(self, day: dt.date, kind: str, a: int, b: int) -> None:
        inv = Invoice.objects.get(pk=self.invoices[a % len(self.invoices)].pk)
        mine = self.ledger.invoices[inv.number]
        customer = self.customers[a % len(self.customers)]
        if kind == "pay" and inv.balance > 0:
            make.pay(inv, on=day)
        elif kind == "part" and inv.balance > 2:
            make.pay(inv, (inv.balance / 2).quantize(Decimal("0.01")), on=day)
        elif kind == "dispute" and not Dispute.objects.filter(invoice=inv, resolved_on=None):
            make.dispute(inv, on=day)
            self.ledger.disputes.append(model.Dispute(inv.number, day))
        elif kind == "resolve":
            for dispute in Dispute.objects.filter(invoice=inv, resolved_on=None):
                pauses.resolve_dispute(dispute, on=day, resolution="settled")
            for mine_dispute in self.ledger.disputes:
                if mine_dispute.invoice == inv.number and mine_dispute.resolved is None:
                    mine_dispute.resolved = day
        elif kind == "promise" and inv.balance > 0:
            on_invoice = b % 2 == 1
            promise = make.promise(
                inv.customer, promised_on=day + days(b), invoice=inv if on_invoice else None,
                grace_days=b % 3,
            )  # fmt: skip
            self.ledger.promises.append(
                model.Promise(promise.pk, inv.customer.reference,
                              inv.number if on_invoice else None, day + days(b), b % 3)
            )  # fmt: skip
        elif kind == "hold" and not Hold.objects.filter(customer=customer, end_date=None):
            end = day + days(b + 1) if b % 2 else None
            make.hold(customer, start=day, end=end)
            self.ledger.holds.append(model.Hold(customer.reference, day, end))
        elif kind == "release":
            for hold in Hold.objects.filter(customer=customer, end_date=None):
                pauses.release_hold(hold, on=day)
            for mine_hold in self.ledger.holds:
                if mine_hold.customer == customer.reference and mine_hold.end is None:
                    mine_hold.end = day
        elif kind == "late":  # imported today, long overdue
            self.invoice(a, day - days(20 + b * 3), "120")
        inv.refresh_from_db()
        mine.balance = inv.balance

    def communications(self, day: dt.date) -> list[Communication]:
        """The day's communications with their customers, in one query for the checks."""
        return list(
            Communication.objects.filter(organisation=self.org, run_date=day)
            .select_related("customer")
            .order_by("pk")
        )

    def decided(self, day: dt.date, comms: list[Communication]) -> list[tuple]:
        rows = []
        # The day's items in one query, not one per communication.
        items_of: dict[int, list[tuple[str, int]]] = {}
        for comm_id, number, position in CommunicationItem.objects.filter(
            communication__organisation=self.org, communication__run_date=day
        ).values_list("communication_id", "invoice__number", "step_position"):
            items_of.setdefault(comm_id, []).append((number, position))
        for comm in comms:
            items = tuple(sorted(items_of.get(comm.pk, [])))
            awaiting = comm.status == CommStatus.AWAITING_APPROVAL
            shown = items if comm.purpose == "reminder" else tuple(n for n, _ in items)
            rows.append((comm.customer.reference, comm.channel, comm.purpose, comm.template,
                         awaiting, shown))  # fmt: skip
        return sorted(rows)

    def explained(self, comms: list[Communication]) -> dict[str, dict[str, str]]:
        """What the explanations of the day's reminders say was held back or paused, and
        why, by customer."""
        found: dict[str, dict[str, str]] = {}
        for comm in comms:
            if comm.purpose != CommPurpose.REMINDER:
                continue
            mine = found.setdefault(comm.customer.reference, {})
            for line in comm.explanation["postponed_or_suspended"]:
                if line["why"] == "suspended":
                    mine[line["invoice"]] = line["reason"].split(":")[0]
                elif line["why"] == "contact_gap":
                    mine.update(dict.fromkeys(line["items"], "contact_gap"))
        return found

    def awaiting(self, comms: list[Communication]) -> list[Communication]:
        return [comm for comm in comms if comm.status == CommStatus.AWAITING_APPROVAL]

    def levels(self) -> dict[str, int]:
        states = dict(ItemState.objects.values_list("invoice__number", "level"))
        return {inv.number: states.get(inv.number, 0) for inv in self.invoices}

    def promises(self) -> dict[int, str]:
        return dict(Promise.objects.filter(organisation=self.org).values_list("pk", "status"))


# -- what the model found -------------------------------------------------------------------

D = dt.date(2026, 11, 24)  # a Tuesday


def test_a_promise_breaks_on_its_day_while_its_customer_is_on_hold(org):
    """A promise whose date and grace pass unpaid is broken then (the contract), even while
    a hold stops dunning its customer; the step after the hold then waives its gap."""
    make.scenario(org, [(0, 0, "email", "first"), (5, 20, "email", "second")])
    customer = make.customer(org, "C1")
    make.invoice(customer, "F1", due=D - days(10))
    run(org, D)  # first reminder, level 1
    promise = make.promise(customer, promised_on=D + days(1), grace_days=0)
    hold = make.hold(customer, start=D + days(1))
    run(org, D + days(2))
    promise.refresh_from_db()
    assert (promise.status, promise.broken_on) == (Promise.Status.BROKEN, D + days(2))
    pauses.release_hold(hold, on=D + days(6))
    run(org, D + days(6))  # a Monday: the gap of 20 days after D waived
    assert Communication.objects.filter(run_date=D + days(6), template="second").exists()


def test_every_message_of_a_run_says_what_the_contact_gap_held_back_on_another_channel(org):
    """The explanation of each communication lists what was held back for its customer that
    day, whichever channel was planned first."""
    make.scenario(org, [(0, 0, "email", "first"), (1, 0, "call", "call"), (2, 0, "email", "2nd")])
    customer = make.customer(org, "C1")
    make.invoice(customer, "F1", due=D - days(2))
    run(org, D)  # F1's first reminder by e-mail
    make.invoice(customer, "F2", due=D - days(1))
    run(org, D + days(1))  # F1's call; F2's first reminder held back by the e-mail of D
    call = Communication.objects.get(run_date=D + days(1), channel="call")
    held = [n for n in call.explanation["postponed_or_suspended"] if n["why"] == "contact_gap"]
    assert held == [{"why": "contact_gap", "channel": "email", "last": D.isoformat(),
                     "items": ["F2"]}]  # fmt: skip
