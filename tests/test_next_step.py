"""Which step is next and when: ``policy.next_step`` answers it with the run's own rules,
so that the day it names is the day a run plans that step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from factories import EXAMPLE_SPEC
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.dunning.policy import (
    Calendar,
    CustomerCase,
    Item,
    NextStep,
    decide,
    next_step,
)

D = dt.date(2026, 11, 24)
SCENARIO = EXAMPLE_SPEC
EVERY_DAY = Calendar(business_day=True, contact_gap=0)


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def item(due: dt.date, level: int = 0, level_date: dt.date | None = None, **kw) -> Item:
    return Item(1, "F1", due, Decimal("100.00"), "EUR", level, level_date, **kw)


def case(it: Item, **kw) -> CustomerCase:
    return CustomerCase(7, SCENARIO, "default", [it], **kw)


def ask(it: Item, on: dt.date = D, **kw) -> NextStep:
    return next_step(case(it, **kw), it, on)


def test_it_names_the_courtesy_reminder_five_days_before_the_due_date():
    nxt = ask(item(D + days(20)))
    assert (nxt.step.template, nxt.on, nxt.waiting_for) == ("courtesy", D + days(15), "offset")


def test_it_skips_a_courtesy_reminder_that_expires_before_it_can_happen():
    # Due tomorrow, a run already done today: the courtesy reminder could only come on the
    # due date, when it has expired; the first reminder comes at J+5.
    nxt = ask(item(D + days(1), level=0, level_date=D))
    assert (nxt.step.template, nxt.on, nxt.waiting_for) == ("first_reminder", D + days(6), "offset")


def test_it_waits_for_the_gap_after_the_previous_step():
    # At J+10 with the first reminder sent yesterday: the call (J+8) waits its gap of 3.
    nxt = ask(item(D - days(10), level=2, level_date=D - days(1)))
    assert (nxt.step.template, nxt.on, nxt.waiting_for) == ("call", D + days(2), "min_gap")


def test_it_resumes_the_day_after_a_promise_and_its_grace_without_the_gap():
    promised = item(D - days(10), level=2, level_date=D - days(1), promises=((D + days(3), 2, 9),))
    nxt = ask(promised)
    assert (nxt.step.template, nxt.on, nxt.waiting_for) == ("call", D + days(6), "promise")


def test_it_gives_no_date_while_a_person_must_end_the_pause():
    assert ask(item(D - days(10)), hold="manual").waiting_for == "hold:manual"
    disputed = ask(item(D - days(10), disputed=True))
    assert (disputed.on, disputed.waiting_for, disputed.step.template) == (
        None, "dispute", "first_reminder",
    )  # fmt: skip


def test_it_has_nothing_next_after_the_last_step():
    assert ask(item(D - days(90), level=5, level_date=D - days(20))) == (
        None, None, "",
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    due=st.integers(-60, 30),
    level=st.integers(0, 5),
    stepped=st.one_of(st.none(), st.integers(0, 40)),
    promises=st.lists(st.tuples(st.integers(-10, 10), st.integers(0, 3)), max_size=2),
)
def test_it_names_the_day_a_run_plans_the_step(due, level, stepped, promises):
    """Run every day from D: the first communication is the step next_step named, on the
    day it named (an item without pause, every day a business day, no contact gap)."""
    # Overlapping promises (the invoice's own and its customer's) as the run reads them.
    kw = {"promises": tuple((D + days(on), grace, pk) for pk, (on, grace) in enumerate(promises))}
    current = item(D + days(due), level, None if stepped is None else D - days(stepped), **kw)
    predicted = ask(current)
    for n in range(120):
        day = D + days(n)
        decision = decide(case(current), day, EVERY_DAY)
        if decision.communications:
            (comm,) = decision.communications
            assert predicted.step is not None and (comm.step_position, day) == (
                predicted.step.position, predicted.on,
            )  # fmt: skip
            return
        if decision.levels:  # steps passed over: the item moves on, still nothing sent
            current = current._replace(level=decision.levels[1])
        if decision.broken_promises:
            left = tuple(p for p in current.promises if p[2] not in decision.broken_promises)
            current = current._replace(promises=left, promise_broken_on=day)
    assert predicted.step is None
