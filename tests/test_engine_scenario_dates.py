"""Each open item is dated by its customer's own scenario (``Invoice.moves_on``, see
docs/dunning.md "What a run reads"): whatever may give the customer another scenario
forgets the dates of its items, whoever writes (triggers in the database,
relance/dunning/migrations/0016_scenario_dates.py), or, for the rules, the default scenario and
the seniority that moves with the date, in the run itself. One test per cause: each fails
when its clearing is left out, the item staying dated by the scenario it left.

In each, customer C1 has an invoice due D-2: under "slow" (first step 5 days overdue) it
is dated D+3 and not read at D+1; under "fast" (1 day overdue) it is due a reminder at D+1.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factories as make
from factories import days
from hypothesis import given
from hypothesis import strategies as st

from relance.dunning.engine import run
from relance.dunning.loading import next_anniversary
from relance.dunning.models import Communication, CustomerScenario, Scenario, SegmentRule
from relance.dunning.segments import seniority
from relance.ledger import balances
from relance.ledger.models import Customer, Invoice

D = dt.date(2026, 11, 24)  # a Tuesday
NEXT = D + days(1)


def _scenarios(org, default: str = "slow") -> tuple[Scenario, Scenario]:
    slow = make.scenario(org, [(5, 0, "email", "slow1")], slug="slow", default=default == "slow")
    fast = make.scenario(org, [(1, 0, "email", "fast1")], slug="fast", replace=False,
                         default=default == "fast")  # fmt: skip
    return slow, fast


def _rule(org, scenario: Scenario, **conditions) -> SegmentRule:
    return SegmentRule.objects.create(organisation=org, position=1, name="rule",
                                      scenario=scenario, **conditions)  # fmt: skip


def _dated_slow(org, customer: Customer) -> Invoice:
    """F1 of ``customer``, run at D under "slow": dated D+3."""
    inv = make.invoice(customer, "F1", due=D - days(2))
    run(org, D)
    inv.refresh_from_db()
    assert inv.moves_on == D + days(3)
    assert not Communication.objects.filter(organisation=org).exists()
    return inv


def _next_day(org) -> list[tuple[str, str]]:
    run(org, NEXT)
    return sorted(
        (c.customer.reference, c.template)
        for c in Communication.objects.filter(organisation=org, run_date=NEXT)
    )


def test_it_dates_an_item_by_its_customers_scenario_not_the_soonest_of_all(org):
    _scenarios(org)
    customer = make.customer(org, "C1")
    _dated_slow(org, customer)
    assert run(org, NEXT).items_considered == 0  # "fast" would move it: not its scenario


def test_it_reads_a_customer_again_when_a_scenario_is_chosen_for_it(org):
    _, fast = _scenarios(org)
    customer = make.customer(org, "C1")
    _dated_slow(org, customer)
    CustomerScenario.objects.create(organisation=org, customer=customer, scenario=fast)
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_a_customer_again_when_its_chosen_scenario_changes(org):
    slow, fast = _scenarios(org)
    customer = make.customer(org, "C1")
    choice = CustomerScenario.objects.create(organisation=org, customer=customer, scenario=slow)
    _dated_slow(org, customer)
    choice.scenario = fast
    choice.save()
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_a_customer_again_when_its_chosen_scenario_is_removed(org):
    slow, _ = _scenarios(org, default="fast")
    customer = make.customer(org, "C1")
    CustomerScenario.objects.create(organisation=org, customer=customer, scenario=slow)
    _dated_slow(org, customer)
    CustomerScenario.objects.filter(customer=customer).delete()
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_a_customer_again_when_its_risk_class_changes(org):
    _, fast = _scenarios(org)
    _rule(org, fast, risk_class="high")
    customer = make.customer(org, "C1", risk_class="low")
    _dated_slow(org, customer)
    customer.risk_class = "high"
    customer.save()  # every column written, as a form does
    assert _next_day(org) == [("C1", "fast1")]


def test_it_keeps_the_dates_when_a_customer_is_saved_unchanged(org):
    _, fast = _scenarios(org)
    _rule(org, fast, risk_class="high")
    customer = make.customer(org, "C1", risk_class="low")
    inv = _dated_slow(org, customer)
    customer.legal_name = "Renamed SAS"
    customer.save()
    inv.refresh_from_db()
    assert inv.moves_on == D + days(3)


def test_it_reads_a_customer_again_when_its_customer_since_changes(org):
    _, fast = _scenarios(org)
    _rule(org, fast, min_years=5)
    customer = make.customer(org, "C1", customer_since=D - days(400))
    _dated_slow(org, customer)
    Customer.objects.filter(pk=customer.pk).update(customer_since=dt.date(2015, 1, 1))
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_a_customer_on_the_anniversary_that_gives_it_another_scenario(org):
    _, fast = _scenarios(org)
    _rule(org, fast, min_years=5)
    # Five years a customer at D+1: "slow" at D, "fast" from D+1.
    customer = make.customer(org, "C1", customer_since=dt.date(2021, 11, 25))
    inv = make.invoice(customer, "F1", due=D - days(2))
    run(org, D)
    inv.refresh_from_db()
    assert inv.moves_on == NEXT  # not D+3: its scenario may change on its anniversary
    assert _next_day(org) == [("C1", "fast1")]


def test_it_dates_an_item_past_an_anniversary_that_changes_no_rule(org):
    _, fast = _scenarios(org)
    _rule(org, fast, min_years=5)
    # Two years a customer at D+1: the rule on five years neither starts nor stops matching.
    customer = make.customer(org, "C1", customer_since=dt.date(2024, 11, 25))
    _dated_slow(org, customer)  # D+3, not D+1
    assert _next_day(org) == []


@given(
    since=st.dates(dt.date(2016, 1, 1), dt.date(2028, 12, 31)),
    day=st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)),
    years=st.lists(st.integers(1, 9), max_size=3, unique=True).map(sorted),
)
def test_no_rule_on_years_changes_its_answer_before_the_anniversary_given(since, day, years):
    """Whether the customer's seniority reaches each of the rules' years (all a rule on years
    asks) is the same from ``day`` to the day before the anniversary given, and changes on
    it; with no anniversary given, it never changes."""

    def reached(on: dt.date) -> list[bool]:
        return [seniority(since, on) >= y for y in years]

    anniversary = next_anniversary(since, day, years)
    until = anniversary or day + dt.timedelta(days=366 * 10)
    assert all(reached(day + days(n)) == reached(day) for n in range((until - day).days))
    if anniversary is not None:
        assert reached(anniversary) != reached(day)


def test_it_reads_a_customer_again_when_its_large_item_is_paid(org):
    slow, _ = _scenarios(org, default="fast")
    _rule(org, slow, min_invoice_amount=Decimal("1000.00"))
    customer = make.customer(org, "C1")
    large = make.invoice(customer, "B1", due=D + days(60), amount="2000.00")
    _dated_slow(org, customer)
    make.pay(large, on=D)
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_a_customer_again_when_a_large_item_is_added(org):
    _, fast = _scenarios(org)
    _rule(org, fast, min_invoice_amount=Decimal("1000.00"))
    customer = make.customer(org, "C1")
    _dated_slow(org, customer)
    make.invoice(customer, "B1", due=D + days(60), amount="2000.00")
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_a_customer_again_when_its_large_item_is_deleted(org):
    slow, _ = _scenarios(org, default="fast")
    _rule(org, slow, min_invoice_amount=Decimal("1000.00"))
    customer = make.customer(org, "C1")
    make.invoice(customer, "B1", due=D + days(60), amount="2000.00")
    _dated_slow(org, customer)
    Invoice.objects.filter(number="B1").delete()
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_an_invoice_moved_to_another_customer(org):
    _, fast = _scenarios(org)
    other = make.customer(org, "C2")
    CustomerScenario.objects.create(organisation=org, customer=other, scenario=fast)
    inv = _dated_slow(org, make.customer(org, "C1"))
    Invoice.objects.filter(pk=inv.pk).update(customer=other)
    balances.refresh(org.pk, [inv.pk])
    assert _next_day(org) == [("C2", "fast1")]


def test_it_reads_an_invoice_reopened_after_its_customer_changed_scenario(org):
    _, fast = _scenarios(org)
    _rule(org, fast, risk_class="high")
    customer = make.customer(org, "C1", risk_class="low")
    inv = _dated_slow(org, customer)
    Invoice.objects.filter(pk=inv.pk).update(balance=Decimal("0.00"))  # settled
    Customer.objects.filter(pk=customer.pk).update(risk_class="high")  # its dates forgotten
    Invoice.objects.filter(pk=inv.pk).update(balance=inv.amount)  # reopened
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_every_item_again_when_the_rules_change(org):
    _, fast = _scenarios(org)
    customer = make.customer(org, "C1", risk_class="high")
    _dated_slow(org, customer)
    _rule(org, fast, risk_class="high")
    assert _next_day(org) == [("C1", "fast1")]


def test_it_reads_every_item_again_when_the_default_scenario_changes(org):
    slow, fast = _scenarios(org)
    _dated_slow(org, make.customer(org, "C1"))
    Scenario.objects.filter(pk=slow.pk).update(is_default=False)
    Scenario.objects.filter(pk=fast.pk).update(is_default=True)
    assert _next_day(org) == [("C1", "fast1")]
