"""The decisions of a run, as pure functions: the worked examples of the contract
(docs/dunning.md) and the invariants, with hypothesis."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from factories import EXAMPLE_SPEC
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.dunning.policy import (
    Calendar,
    CustomerCase,
    Item,
    ScenarioSpec,
    Settled,
    StepSpec,
    decide,
)

D = dt.date(2026, 11, 24)  # a Tuesday
WORKDAY = Calendar(business_day=True)
# The scenario of the contract's worked examples: J-5 e-mail, J+5 e-mail, J+8 call,
# J+15 e-mail, J+30 letter (tests/factories.py).
SCENARIO = EXAMPLE_SPEC


def item(n: int, due: dt.date, level: int = 0, level_date: dt.date | None = None, **kw) -> Item:
    return Item(n, f"F{n}", due, Decimal("100.00"), "EUR", level, level_date, **kw)


def case(*items: Item, **kw) -> CustomerCase:
    return CustomerCase(7, SCENARIO, "default", items, **kw)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def test_it_sends_the_courtesy_reminder_five_days_before_the_due_date():
    decision = decide(case(item(1, D + days(5))), D, WORKDAY)
    [comm] = decision.communications
    assert (comm.channel, comm.template, comm.pre_due) == ("email", "courtesy", True)
    assert decision.levels == {1: 1}


def test_it_lets_the_courtesy_reminder_expire_for_an_item_first_seen_when_due():
    decision = decide(case(item(1, D - days(2))), D, WORKDAY)
    assert decision.communications == []
    # J-5 expired and is passed over; J+5 is not reached yet.
    assert decision.levels == {1: 1}


def test_it_catches_up_from_the_first_reminder_not_the_letter():
    decision = decide(case(item(1, D - days(40))), D, WORKDAY)
    [comm] = decision.communications
    assert comm.template == "first_reminder"
    assert decision.levels == {1: 2}
    # The next step waits for its min_gap even though J+8 is long past.
    later = case(item(1, D - days(40), level=2, level_date=D))
    assert decide(later, D + days(2), WORKDAY).communications == []
    [call] = decide(later, D + days(3), WORKDAY).communications
    assert call.channel == "call"


def test_it_groups_a_customers_items_under_the_template_of_the_highest_step():
    decision = decide(
        case(
            item(1, D - days(5), level=1, level_date=D - days(10)),
            item(2, D - days(15), level=3, level_date=D - days(7)),
        ),
        D,
        WORKDAY,
    )
    [comm] = decision.communications
    assert comm.template == "firm_reminder"
    assert sorted(i.number for i in comm.items) == ["F1", "F2"]
    assert decision.levels == {1: 2, 2: 4}  # each to its own step


def test_it_creates_nothing_when_the_same_date_runs_twice():
    first = decide(case(item(1, D - days(5), level=1, level_date=D - days(10))), D, WORKDAY)
    assert first.levels == {1: 2}
    again = case(item(1, D - days(5), level=2, level_date=D))
    assert decide(again, D, WORKDAY).communications == []
    assert decide(again, D, WORKDAY).levels == {}


def test_it_leaves_a_disputed_item_alone_and_goes_on_with_the_others():
    decision = decide(
        case(
            item(1, D - days(15), level=3, level_date=D - days(7), disputed=True),
            item(2, D - days(5), level=1, level_date=D - days(10)),
        ),
        D,
        WORKDAY,
    )
    [comm] = decision.communications
    assert [i.number for i in comm.items] == ["F2"]
    assert 1 not in decision.levels


def test_it_breaks_an_unpaid_promise_and_takes_the_next_step_at_once():
    promised = item(
        1,
        D - days(9),
        level=2,
        level_date=D - days(1),
        promises=((D - days(3), 2, 55),),
    )
    decision = decide(case(promised), D, WORKDAY)
    assert decision.broken_promises == {55}
    [comm] = decision.communications
    assert comm.channel == "call"  # despite the 3-day min_gap since yesterday's step
    # Within the grace period, the promise suspends the item.
    kept = item(1, D - days(9), level=2, level_date=D - days(5), promises=((D - days(1), 2, 55),))
    assert decide(case(kept), D, WORKDAY).communications == []


def test_it_waits_for_the_next_business_day():
    christmas = Calendar(business_day=False, holiday_name="Christmas Day")
    due = item(1, D - days(5), level=1, level_date=D - days(10))
    decision = decide(case(due), D, christmas)
    assert decision.communications == [] and decision.levels == {}
    assert decision.notes[-1]["holiday"] == "Christmas Day"
    assert decide(case(due), D + days(1), WORKDAY).communications


def test_it_keeps_the_contact_gap_on_a_channel_but_not_for_courtesy_reminders():
    recent = {"email": D - days(2)}
    overdue = item(1, D - days(5), level=1, level_date=D - days(10))
    assert decide(case(overdue, last_contact=recent), D, WORKDAY).communications == []
    assert decide(case(overdue, last_contact={"email": D - days(3)}), D, WORKDAY).communications
    soon = item(2, D + days(5))
    assert decide(case(soon, last_contact=recent), D, WORKDAY).communications


def test_it_stops_for_a_hold_on_the_customer():
    decision = decide(case(item(1, D - days(40)), hold="insolvency"), D, WORKDAY)
    assert decision.communications == [] and decision.levels == {}


def test_it_passes_over_a_step_whose_minimum_amount_the_item_does_not_reach():
    scenario = ScenarioSpec(
        2,
        "big",
        (
            StepSpec(1, "first", 5, 0, "email", "first_reminder"),
            StepSpec(2, "call for large items", 8, 3, "call", "call", min_amount=Decimal("500")),
            StepSpec(3, "firm", 15, 5, "email", "firm_reminder"),
        ),
    )
    small = item(1, D - days(15), level=1, level_date=D - days(10))
    decision = decide(CustomerCase(7, scenario, "rule", [small]), D, WORKDAY)
    [comm] = decision.communications
    assert comm.template == "firm_reminder" and decision.levels == {1: 3}


def test_it_asks_for_approval_when_a_step_says_so():
    scenario = ScenarioSpec(
        3, "key", (StepSpec(1, "notice", 5, 0, "letter", "formal_notice", mode="approval"),)
    )
    decision = decide(CustomerCase(7, scenario, "rule", [item(1, D - days(6))]), D, WORKDAY)
    [comm] = decision.communications
    assert comm.approval
    assert [(i.number, i.days_overdue, i.step_position) for i in comm.items] == [("F1", 6, 1)]
    assert comm.explanation["template_from_step"] == {"position": 1, "name": "notice"}


def test_it_thanks_once_for_items_paid_when_the_scenario_asks():
    decision = decide(case(settled=[Settled(9, "F9", 2)]), D, WORKDAY)
    [thanks] = decision.communications
    assert (thanks.purpose, thanks.template) == ("thanks", "thanks")
    assert decision.thanked == [9]
    quiet = ScenarioSpec(1, "quiet", SCENARIO.steps, thank_on_payment=False)
    assert not decide(
        CustomerCase(7, quiet, "", [], settled=[Settled(9, "F9", 2)]), D, WORKDAY
    ).communications


# -- invariants ---------------------------------------------------------------------------

items_strategy = st.lists(
    st.builds(
        lambda n, due, level, ago, disputed: item(
            n, D + days(due), level, D - days(ago) if level else None, disputed=disputed
        ),
        st.integers(1, 10_000),
        st.integers(-120, 10),
        st.integers(0, 5),
        st.integers(1, 30),
        st.booleans(),
    ),
    max_size=12,
    unique_by=lambda i: i.invoice_id,
)


def apply(items: list[Item], decision, run_date: dt.date) -> list[Item]:
    """The items as the engine writes them back: a step taken today sets the level and its
    date; a step passed over sets the level only."""
    stepped = {p.invoice_id for c in decision.communications for p in c.items}
    return [
        Item(
            i.invoice_id,
            i.number,
            i.due_date,
            i.balance,
            i.currency,
            decision.levels[i.invoice_id],
            run_date if i.invoice_id in stepped else i.level_date,
            i.disputed,
        )
        if i.invoice_id in decision.levels
        else i
        for i in items
    ]


@settings(max_examples=300)
@given(items_strategy, st.integers(0, 6), st.randoms(use_true_random=False))
def test_invariants_of_a_run(items, gap_ago, rnd: random.Random):
    last = {"email": D - days(gap_ago)} if gap_ago else {}
    decision = decide(case(*items, last_contact=last), D, WORKDAY)

    # No step skipped: each item moves to the next applicable step, at most one per run.
    by_id = {i.invoice_id: i for i in items}
    planned = {p.invoice_id: p.step_position for c in decision.communications for p in c.items}
    for invoice_id, position in planned.items():
        before = by_id[invoice_id]
        for skipped in range(before.level + 1, position):
            step = SCENARIO.step(skipped)
            assert step is not None and step.offset < 0 <= (D - before.due_date).days
        assert decision.levels[invoice_id] == position
    # Levels never go down, and suspended items keep theirs.
    for invoice_id, level in decision.levels.items():
        assert level >= by_id[invoice_id].level
        assert not by_id[invoice_id].disputed
    # One communication per channel.
    channels = [c.channel for c in decision.communications]
    assert len(channels) == len(set(channels))

    # The order of the rows does not matter.
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert decide(case(*shuffled, last_contact=last), D, WORKDAY) == decision

    # A second run of the same date, on the written levels, creates nothing.
    again = decide(case(*apply(items, decision, D), last_contact=last), D, WORKDAY)
    assert again.communications == [] and again.levels == {}


def test_it_sees_every_promise_covering_an_item_and_breaks_each_once():
    """Its own promise is late, its customer's still runs: the item waits, the late one
    is broken today; once the other breaks too, the step waives its gap."""
    both = ((D - days(5), 2, 1), (D + days(1), 2, 2))
    waiting = item(1, D - days(20), level=2, level_date=D - days(2), promises=both)
    decision = decide(case(waiting), D, WORKDAY)
    assert decision.broken_promises == {1} and decision.communications == []
    later = D + days(4)
    after = item(1, D - days(20), level=2, level_date=D - days(2), promises=both[1:],
                 promise_broken_on=D)  # fmt: skip
    decision = decide(case(after), later, WORKDAY)
    assert decision.broken_promises == {2}
    assert [i.step_position for c in decision.communications for i in c.items] == [3]


def test_a_pause_ends_on_its_end_date_and_a_promise_after_its_grace():
    from relance.dunning.policy import hold_active, promise_active

    assert [hold_active(D, D + days(2), D + days(n)) for n in range(-1, 4)] == [
        False, True, True, False, False,
    ]  # fmt: skip
    assert hold_active(D, None, D + days(400))
    assert [promise_active(D, 2, D + days(n)) for n in range(1, 4)] == [True, True, False]


def test_it_passes_over_a_step_above_its_maximum_amount():
    from relance.dunning.policy import ScenarioSpec, StepSpec, candidate

    steps = (
        StepSpec(1, "first", 5, 0, "email", "first"),
        StepSpec(2, "write-off", 30, 0, "task", "write_off", max_amount=Decimal("50.00")),
        StepSpec(3, "handover", 31, 0, "handover", "handover"),
    )
    scenario = ScenarioSpec(None, "s", steps)
    small = item(1, D - days(40), level=1)._replace(balance=Decimal("50.00"))
    large = item(2, D - days(40), level=1)._replace(balance=Decimal("50.01"))
    assert candidate(scenario, small, 40)[0].position == 2
    assert candidate(scenario, large, 40) == (steps[2], 2)
