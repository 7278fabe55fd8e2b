"""The simulation of the next days: the engine's own decisions, applied in memory. It must
say what the real runs then do, day after day, on the same ledger."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from factories import days

from relance.dunning.engine import run
from relance.dunning.models import Communication, CommunicationItem, ItemState, SegmentRule
from relance.dunning.simulation import SimulationError, simulate
from relance.ledger.models import Hold

D = dt.date(2026, 11, 24)  # a Tuesday; Christmas and New Year's Day fall within 40 days
DAYS = 40


@pytest.fixture
def ledger(org):
    """Customers in every situation the runs meet: items before and after their due date,
    several items grouped, a promise that breaks, a hold that ends, a dispute, a customer
    on another scenario by a rule, an item first seen long after its due date."""
    make.scenario(org)
    quick = make.scenario(
        org, [(0, 0, "email", "first_reminder"), (7, 7, "email", "firm_reminder")],
        slug="quick", default=False, replace=False,
    )  # fmt: skip
    SegmentRule.objects.create(organisation=org, position=1, name="High risk", scenario=quick,
                               risk_class="high")  # fmt: skip
    c1 = make.customer(org, "C1")
    make.invoice(c1, "F1", due=D + days(3))
    make.invoice(c1, "F2", due=D - days(2))
    make.invoice(c1, "F3", due=D - days(40))
    c2 = make.customer(org, "C2")
    f4 = make.invoice(c2, "F4", due=D - days(6))
    make.promise(c2, promised_on=D + days(4))
    make.invoice(c2, "F5", due=D - days(20), amount="900.00")
    c3 = make.customer(org, "C3")
    make.invoice(c3, "F6", due=D - days(10))
    hold = make.hold(c3, start=D - days(5))
    Hold.objects.filter(pk=hold.pk).update(end_date=D + days(9))
    c4 = make.customer(org, "C4", risk_class="high")
    make.invoice(c4, "F7", due=D - days(1))
    make.invoice(c4, "F8", due=D + days(12))
    c5 = make.customer(org, "C5")
    disputed = make.invoice(c5, "F9", due=D - days(9))
    make.dispute(disputed, on=D - days(1))
    make.invoice(c5, "F10", due=D - days(9))
    # An item part way through its scenario already.
    f11 = make.invoice(c5, "F11", due=D - days(16))
    ItemState.objects.create(invoice=f11, level=2, level_date=D - days(7))
    return f4


def planned_by_runs(org, start, count):
    """What the real runs plan, each day in turn, as comparable rows."""
    for n in range(count):
        run(org, start + days(n))
    return rows_of_database(org)


def rows_of_database(org):
    rows = set()
    for comm in Communication.objects.filter(organisation=org).select_related("customer"):
        items = tuple(sorted(
            (i.invoice.number, i.step_position)
            for i in CommunicationItem.objects.filter(communication=comm).select_related("invoice")
        ))  # fmt: skip
        rows.add((comm.run_date, comm.customer.reference, comm.channel, comm.purpose,
                  comm.template, items))  # fmt: skip
    return rows


def rows_of_simulation(simulation):
    return {
        (c.day, simulation.names[c.customer_id][0], c.channel, c.purpose, c.template,
         tuple(sorted((i.number, i.step) for i in c.items)))
        for c in simulation.planned
    }  # fmt: skip


def test_it_says_what_the_runs_of_the_next_days_plan(org, ledger):
    simulated = simulate(org, D, DAYS)
    assert ItemState.objects.count() == 1 and not Communication.objects.exists()  # read only
    assert rows_of_simulation(simulated) == planned_by_runs(org, D, DAYS)
    channels = {c.channel for c in simulated.planned}
    assert {"email", "call", "letter"} <= channels
    # Nothing the day the calendar closes: a weekend, Christmas.
    assert not [c for c in simulated.planned if c.day.weekday() >= 5]
    assert not [c for c in simulated.planned if c.day == dt.date(2026, 12, 25)]


def test_it_keeps_to_the_customers_of_one_scenario(org, ledger):
    quick = simulate(org, D, DAYS, scenario="quick")
    assert set(quick.names.values()) == {("C4", "Client C4 SAS")}
    assert {c.template for c in quick.planned} == {"first_reminder", "firm_reminder"}
    example = simulate(org, D, DAYS, scenario="example")
    assert "C4" not in {ref for ref, _ in example.names.values()}
    whole = rows_of_simulation(simulate(org, D, DAYS))
    assert rows_of_simulation(quick) | rows_of_simulation(example) == whole


def test_it_simulates_one_customer(org, ledger):
    one = simulate(org, D, DAYS, customer=ledger.customer)
    assert {c.customer_id for c in one.planned} == {ledger.customer_id}
    # The promise of D+4 with 2 days' grace breaks on D+7: the next step then, gap waived.
    firsts = sorted(c.day for c in one.planned)
    assert firsts[0] == D + days(7)
    assert rows_of_simulation(one) == {
        row for row in rows_of_simulation(simulate(org, D, DAYS)) if row[1] == "C2"
    }


def test_it_refuses_an_unknown_scenario_and_silly_horizons(org, ledger):
    with pytest.raises(SimulationError):
        simulate(org, D, 30, scenario="nope")
    with pytest.raises(SimulationError):
        simulate(org, D, 0)


def test_it_prints_one_json_document_from_the_command(org, ledger):
    out = StringIO()
    call_command("scenario", "simulate", "example", "--days", "20", "--json",
                 "--date", D.isoformat(), stdout=out)  # fmt: skip
    document = json.loads(out.getvalue())
    assert document["scenario"] == "example" and document["days"] == 20
    assert document["start"] == D.isoformat()
    expected = simulate(org, D, 20, scenario="example")
    assert document["per_channel"] == expected.per_channel()
    first = document["communications"][0]
    assert first["day"] == expected.planned[0].day.isoformat()
    assert isinstance(first["items"][0]["balance"], str)


def test_it_prints_a_table_per_day_and_refuses_an_unknown_customer(org, ledger):
    out = StringIO()
    call_command("scenario", "simulate", "example", "--customer", "C1",
                 "--date", D.isoformat(), stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "C1" in text and "first_reminder" in text and "C2" not in text
    with pytest.raises(CommandError, match="no customer 'NOPE'") as refused:
        call_command("scenario", "simulate", "example", "--customer", "NOPE")
    assert refused.value.returncode == 1
