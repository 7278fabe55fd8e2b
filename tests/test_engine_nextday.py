"""The next day's run reads only what may move: each open item keeps the first date the run
may move it (``Invoice.moves_on``, docs/dunning.md "What a run reads"), the next run reads
the items whose date has come through an index, and whatever may move an item earlier
(a new invoice, a due date changed, a level given back, scenarios changed) makes it read
again. Day after day, with payments, pauses and changes between the days, the run plans
exactly what the policy plans over every open item."""

from __future__ import annotations

import datetime as dt

import factories as make
import pytest
from django.db import connection
from factories import days
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.dunning import engine, levels, loading, policy, sharing
from relance.dunning.engine import run
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    CustomerScenario,
    HeldBack,
    ItemState,
    MoveBounds,
    Promise,
    Scenario,
    SegmentRule,
    Step,
)
from relance.ledger.models import Allocation, Customer, Dispute, Hold, Invoice, Payment

D = dt.date(2026, 11, 24)  # a Tuesday


@pytest.fixture
def scenario(org):
    return make.scenario(org)


@pytest.fixture
def customer(org):
    return make.customer(org, "C1", legal_name="Dupont SAS")


def planned(org, day) -> list[tuple[str, tuple[str, ...]]]:
    return sorted(
        (c.template, tuple(sorted(c.items.values_list("invoice__number", flat=True))))
        for c in Communication.objects.filter(organisation=org, run_date=day)
    )


def test_it_dates_each_item_it_reads_with_the_first_day_it_may_move(org, scenario, customer):
    old = make.invoice(customer, "F1", due=D - days(20))
    later = make.invoice(customer, "F2", due=D + days(20))
    run(org, D)
    old.refresh_from_db()
    later.refresh_from_db()
    bounds = loading.Bounds.of(loading._scenarios(org))
    state = ItemState.objects.get(invoice=old)
    assert old.moves_on == bounds.moves_on(state.level, old.due_date, state.level_date) > D
    assert later.moves_on == bounds.moves_on(0, later.due_date, None) > D
    # Read again on the day its date comes, not before.
    result = run(org, D + days(1))
    assert result.items_considered == 0
    assert run(org, old.moves_on).items_considered >= 1


@pytest.mark.skipif(bool(__import__("os").environ.get("DATABASE_URL")), reason="SQLite's plan")
def test_it_reads_the_next_day_through_the_index_of_dates_not_a_scan(org, scenario, customer):
    for n in range(30):
        make.invoice(customer, f"F{n}", due=D - days(n))
    run(org, D)
    day = D + days(1)
    context = loading.Context.load(org, day)
    sql, params = loading._open_items_query(org, day, context, (0, 1))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[-1] for row in cursor.fetchall()]
    assert any("invoice_open_by_move" in step for step in plan), plan
    assert not any(step.startswith("SCAN") and "ledger_invoice" in step for step in plan), plan


def test_it_reads_an_item_whose_due_date_moved_earlier_by_any_writer(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D + days(30))
    run(org, D)
    inv.refresh_from_db()
    assert inv.moves_on > D + days(20)
    # A bulk UPDATE, as an import writes: the database forgets the date.
    Invoice.objects.filter(pk=inv.pk).update(due_date=D - days(10))
    inv.refresh_from_db()
    assert inv.moves_on is None
    run(org, D + days(1))
    assert planned(org, D + days(1)) == [("first_reminder", ("F1",))]


def test_it_reads_a_new_invoice_the_next_day(org, scenario, customer):
    make.invoice(customer, "F1", due=D - days(40))
    run(org, D)
    make.invoice(make.customer(org, "C2"), "F2", due=D - days(30))
    run(org, D + days(1))
    assert ("first_reminder", ("F2",)) in planned(org, D + days(1))


def test_it_reads_an_item_again_when_its_step_is_given_back(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D - days(10))
    run(org, D)
    inv.refresh_from_db()
    assert inv.moves_on > D + days(1)
    # The message cancelled (skipped at approval): its step is given back.
    Communication.objects.filter(organisation=org).update(status=CommStatus.CANCELLED)
    items = CommunicationItem.objects.filter(invoice=inv)
    assert levels.give_back(items, D) == 1
    inv.refresh_from_db()
    assert inv.moves_on is None
    run(org, D + days(1))
    assert planned(org, D + days(1)) == [("first_reminder", ("F1",))]


def test_it_reads_every_item_again_when_the_scenarios_change_their_bounds(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D - days(1))  # first reminder at 5 days overdue
    run(org, D)
    inv.refresh_from_db()
    assert inv.moves_on == D + days(4)
    before = MoveBounds.objects.get(organisation=org).bounds
    Step.objects.filter(scenario=scenario, position=2).update(offset=2)
    run(org, D + days(1))
    assert MoveBounds.objects.get(organisation=org).bounds != before
    assert planned(org, D + days(1)) == [("first_reminder", ("F1",))]


def test_a_dry_run_after_the_scenarios_changed_reads_every_item_and_writes_nothing(
    org, scenario, customer
):
    make.invoice(customer, "F1", due=D - days(1))
    run(org, D)
    Step.objects.filter(scenario=scenario, position=2).update(offset=2)
    result = run(org, D + days(1), dry_run=True)
    assert [d["communications"][0]["template"] for d in result.decisions] == ["first_reminder"]
    assert Invoice.objects.filter(moves_on__isnull=True).count() == 0


# -- the contact gap ------------------------------------------------------------------------

GAPLESS = [(5, 0, "email", "first"), (6, 0, "email", "second")]


def test_it_does_not_read_the_items_the_contact_gap_holds_back_until_it_passes(org, customer):
    make.scenario(org, GAPLESS)
    assert org.contact_gap == 3
    make.invoice(customer, "F1", due=D - days(5))  # reminded on D
    make.invoice(customer, "F2", due=D - days(4))  # due a reminder on D+1, held back to D+3
    run(org, D)
    assert planned(org, D) == [("first", ("F1",))]
    assert set(Invoice.objects.values_list("moves_on", flat=True)) == {D + days(3)}
    assert run(org, D + days(1)).items_considered == 0
    assert run(org, D + days(2)).items_considered == 0
    run(org, D + days(3))
    assert planned(org, D + days(3)) == [("second", ("F1", "F2"))]


def test_a_courtesy_reminder_waits_with_the_items_the_contact_gap_holds_back(org, customer):
    """A courtesy reminder alone on its channel goes out within the contact gap; with an
    item due a step on the same channel, both wait. The item held back is not read on its
    own: the run reads the customer in full."""
    make.scenario(org, [(-2, 0, "email", "courtesy"), *GAPLESS])
    make.invoice(customer, "F1", due=D - days(5))  # reminded on D, held back to D+3
    make.invoice(customer, "F2", due=D + days(3))  # its courtesy reminder on D+1
    run(org, D)
    assert Invoice.objects.get(number="F1").moves_on == D + days(3)
    assert run(org, D + days(1)).items_considered == 2
    assert planned(org, D + days(1)) == []
    run(org, D + days(3))
    assert planned(org, D + days(3)) == [("second", ("F1",))]


def test_a_courtesy_reminder_goes_alone_while_the_items_held_back_cannot_move_yet(org, customer):
    """The items the gap holds back are read with a courtesy reminder only from the first
    day one of them may move but for the gap (``HeldBack.earliest``): before it, none can
    join the reminder's channel, and the customer is read as any other."""
    make.scenario(org, [(-2, 0, "email", "courtesy"), (5, 0, "email", "first"),
                        (7, 0, "email", "second")])  # fmt: skip
    make.invoice(customer, "F1", due=D - days(5))  # reminded on D, its next step on D+2
    make.invoice(customer, "F2", due=D + days(3))  # its courtesy reminder on D+1
    run(org, D)
    held = HeldBack.objects.get()
    assert (held.until, held.earliest) == (D + days(3), D + days(2))
    assert run(org, D + days(1)).items_considered == 1
    assert planned(org, D + days(1)) == [("courtesy", ("F2",))]


def test_a_mark_written_again_keeps_what_the_old_one_held_back():
    """A customer read in part: the items of its live mark not read are still held back."""
    live = loading.Mark(D + days(5), D + days(1))
    assert loading._widened(loading.Mark(D + days(3), D + days(2)), live) == live
    assert loading._widened(loading.Mark(D + days(6), D), live) == loading.Mark(D + days(6), D)
    unknown = loading.Mark(D + days(2), None)
    assert loading._widened(loading.Mark(D + days(3), D), unknown).earliest is None


def test_a_courtesy_reminder_within_the_gap_reads_only_a_customer_with_items_held_back(
    org, customer
):
    """A customer reminded yesterday, with nothing held back, is read as usual on the day of
    a courtesy reminder (not in full): it goes out alone on its channel."""
    make.scenario(org, [(-2, 0, "email", "courtesy"), (5, 0, "email", "first"),
                        (30, 0, "email", "late")])  # fmt: skip
    make.invoice(customer, "F1", due=D - days(5))  # reminded on D, its next step weeks away
    make.invoice(customer, "F2", due=D + days(3))  # its courtesy reminder on D+1
    run(org, D)
    assert planned(org, D) == [("first", ("F1",))]
    assert not HeldBack.objects.exists(), list(HeldBack.objects.values_list("until", flat=True))
    assert run(org, D + days(1)).items_considered == 1
    assert planned(org, D + days(1)) == [("courtesy", ("F2",))]


def test_it_marks_the_customer_whose_items_the_gap_holds_back(org, customer):
    make.scenario(org, GAPLESS)
    make.invoice(customer, "F1", due=D - days(5))
    make.invoice(customer, "F2", due=D - days(4))
    run(org, D)
    held = HeldBack.objects.get()
    assert (held.customer_id, held.organisation_id, held.until) == (customer.pk, org.pk,
                                                                    D + days(3))  # fmt: skip


def test_a_mark_goes_when_the_run_reads_its_customer_after_its_day(org, customer):
    make.scenario(org, GAPLESS)
    f1 = make.invoice(customer, "F1", due=D - days(5))
    f2 = make.invoice(customer, "F2", due=D - days(4))
    run(org, D)
    Communication.objects.update(status=CommStatus.SENT)
    run(org, D + days(1))  # the customer is not read: its mark stays
    assert HeldBack.objects.get().until == D + days(3)
    make.pay(f1, on=D + days(2))
    make.pay(f2, on=D + days(2))
    run(org, D + days(3))  # read for the thanks, with nothing held back any more
    assert Communication.objects.filter(purpose=CommPurpose.THANKS, run_date=D + days(3))
    assert not HeldBack.objects.exists()


def _cancel(org):
    Communication.objects.filter(organisation=org).update(status=CommStatus.CANCELLED)


def _delete(org):
    Communication.objects.filter(organisation=org).delete()


def _sent_earlier(org):
    Communication.objects.filter(organisation=org).update(send_on=D - days(3))


@pytest.mark.parametrize("withdraw", [_cancel, _delete, _sent_earlier])
def test_it_reads_the_customer_again_when_the_reminder_that_held_it_back_goes(
    org, customer, withdraw
):
    make.scenario(org, GAPLESS)
    make.invoice(customer, "F1", due=D - days(5))
    make.invoice(customer, "F2", due=D - days(4))
    run(org, D)
    withdraw(org)
    assert set(Invoice.objects.values_list("moves_on", flat=True)) == {None}
    result = run(org, D + days(1))
    assert result.items_considered == 2
    assert [t for t, _ in planned(org, D + days(1))] == ["second"]


def test_it_reads_every_item_again_when_the_contact_gap_changes(org, customer):
    make.scenario(org, GAPLESS)
    make.invoice(customer, "F1", due=D - days(5))
    make.invoice(customer, "F2", due=D - days(4))
    run(org, D)
    org.contact_gap = 1
    org.save(update_fields=["contact_gap"])
    assert run(org, D + days(1)).items_considered == 2
    assert planned(org, D + days(1)) == [("second", ("F1", "F2"))]


# -- day after day, with what happens between the days -----------------------------------

EVENTS = ["pay", "part", "hold", "release", "dispute", "resolve", "promise", "risk", "due",
          "new", "offset", "choose", "large", "since", "cancel", "gap"]  # fmt: skip


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-10, 70), st.integers(0, 5), st.integers(0, 9)),
        min_size=1,
        max_size=16,
    ),
    st.lists(
        st.tuples(
            st.integers(1, 13), st.sampled_from(EVENTS), st.integers(0, 40), st.integers(0, 6)
        ),
        max_size=14,
    ),
)
def test_reading_only_what_may_move_plans_what_the_policy_plans_between_events(org, rows, events):
    """The run of each day, reading only the items whose date has come (and those without
    a date), plans exactly what the policy plans over every open item, with payments,
    holds, disputes, promises made and expiring, segment changes (risk class, explicit
    choices, large invoices, seniority), due dates moved, new invoices, scenario steps
    changed, reminders cancelled and the contact gap changed between the days."""
    for model in (Communication, ItemState, Promise, Dispute, Hold, Allocation, Payment,
                  Invoice, CustomerScenario, Customer, SegmentRule, MoveBounds):  # fmt: skip
        model.objects.all().delete()
    Scenario.objects.filter(organisation=org).delete()
    org.contact_gap = 3  # an example before may have changed it
    org.save(update_fields=["contact_gap"])
    # A call for items owing 80 or more (the others pass over it): which step an item takes
    # next, hence which channel's contact gap holds it back, depends on its balance.
    make.scenario(org, [(-3, 0, "email", "s1"), (3, 2, "email", "s2"),
                        (7, 3, "call", "s3", "auto", 80), (12, 4, "email", "s4")],
                  slug="plain")  # fmt: skip
    tight = make.scenario(org, [(-2, 0, "email", "t1"), (2, 1, "email", "t2"),
                                (4, 2, "email", "t3"), (9, 2, "email", "t4")], slug="tight",
                          default=False, replace=False)  # fmt: skip
    SegmentRule.objects.create(organisation=org, position=1, name="risky", scenario=tight,
                               risk_class="high")  # fmt: skip
    # The customer's scenario also changes with its largest item and its seniority (the
    # anniversaries of C0 and C2 fall on D and D+6).
    SegmentRule.objects.create(organisation=org, position=2, name="large", scenario=tight,
                               min_invoice_amount=1000)  # fmt: skip
    SegmentRule.objects.create(organisation=org, position=3, name="loyal", scenario=tight,
                               min_years=3)  # fmt: skip
    customers = [
        make.customer(org, f"C{c}", legal_name=f"C{c}", risk_class="high" if c % 2 else "low",
                      customer_since=D.replace(year=D.year - 3) + days(c * 3))
        for c in range(4)
    ]  # fmt: skip
    model: dict[int, tuple[int, dt.date | None]] = {}
    invoices = []
    for n, (c, overdue, lvl, ago) in enumerate(rows):
        inv = make.invoice(customers[c], f"F{n}", due=D - days(overdue))
        invoices.append(inv)
        if lvl:
            ItemState.objects.create(invoice=inv, level=lvl, level_date=D - days(ago + 1))
            model[inv.pk] = (lvl, D - days(ago + 1))
    for offset in range(14):
        day = D + days(offset)
        for when, kind, a, b in events:
            if when == offset:
                _happen(org, day, kind, a, b, customers, invoices)
        # The policy over every open item, from the levels the pure model carries.
        context = loading.Context.load(org, day)
        calendar = engine.calendar_for(org, day)
        expected = []
        for customer in customers:
            items = [
                policy.Item(i.pk, i.number, i.due_date, i.balance, i.currency,
                            *model.get(i.pk, (0, None)))
                for i in Invoice.objects.filter(customer=customer, balance__gt=org.min_balance)
            ]  # fmt: skip
            decision = policy.decide(loading.case(context, customer.pk, items, day), day, calendar)
            for comm in decision.communications:
                steps = sorted((i.number, i.step_position) for i in comm.items)
                expected.append((customer.reference, comm.template, steps))
            stepped = {i.invoice_id for c in decision.communications for i in c.items}
            for invoice_id, lvl in decision.levels.items():
                date = day if invoice_id in stepped else model.get(invoice_id, (0, None))[1]
                model[invoice_id] = (lvl, date)
        result = run(org, day)
        got = [
            (c.customer.reference, c.template,
             sorted(c.items.values_list("invoice__number", "step_position")))
            for c in Communication.objects.filter(run_date=day).select_related("customer")
        ]  # fmt: skip
        assert sorted(got) == sorted(expected), (day, result.items_considered)


def _happen(org, day, kind, a, b, customers, invoices) -> None:
    """One event before the run of ``day``, on the ``a``-th invoice or customer."""
    inv = Invoice.objects.get(pk=invoices[a % len(invoices)].pk)
    customer = customers[a % len(customers)]
    if kind == "pay" and inv.balance > 0:
        make.pay(inv, on=day)
    elif kind == "part" and inv.balance > 1:
        make.pay(inv, inv.balance / 2, on=day)
    elif kind == "hold" and not Hold.objects.filter(customer=customer, end_date=None).exists():
        make.hold(customer, start=day, end=day + days(b + 1) if b % 2 else None)
    elif kind == "release":
        for hold in Hold.objects.filter(customer=customer, end_date=None):
            hold.end_date = day
            hold.save(update_fields=["end_date"])
    elif kind == "dispute" and not Dispute.objects.filter(invoice=inv, resolved_on=None):
        make.dispute(inv, on=day)
    elif kind == "resolve":
        Dispute.objects.filter(invoice=inv, resolved_on=None).update(resolved_on=day)
    elif kind == "promise" and inv.balance > 0:
        make.promise(inv.customer, promised_on=day + days(b), invoice=inv if b % 2 else None,
                     grace_days=b % 3)  # fmt: skip
    elif kind == "risk":
        Customer.objects.filter(pk=customer.pk).update(risk_class="high" if b % 2 else "low")
    elif kind == "due":
        Invoice.objects.filter(pk=inv.pk).update(due_date=inv.due_date - days(b * 3 - 6))
    elif kind == "new":
        invoices.append(make.invoice(customer, f"N{len(invoices)}", due=day - days(b * 2)))
    elif kind == "choose":  # an explicit choice made, changed or removed
        chosen = CustomerScenario.objects.filter(customer=customer)
        if b % 3 == 0:
            chosen.delete()
        else:
            scenario = Scenario.objects.get(
                organisation=org, slug="tight" if b % 3 == 1 else "plain"
            )
            CustomerScenario.objects.update_or_create(
                customer=customer, defaults={"organisation": org, "scenario": scenario}
            )
    elif kind == "large":  # a large invoice, far from due: its customer may change scenario
        invoices.append(make.invoice(customer, f"L{len(invoices)}", due=day + days(40 + b),
                                     amount="1500.00"))  # fmt: skip
    elif kind == "since":
        Customer.objects.filter(pk=customer.pk).update(
            customer_since=day.replace(year=day.year - 3) + days(b - 3)
        )
    elif kind == "cancel":  # a reminder cancelled: it no longer holds the customer back
        reminders = Communication.objects.filter(customer=customer, purpose="reminder")
        last = reminders.exclude(status=CommStatus.CANCELLED).order_by("-send_on").first()
        if last is not None:
            Communication.objects.filter(pk=last.pk).update(status=CommStatus.CANCELLED)
    elif kind == "gap":  # the organisation's contact gap changed
        org.contact_gap = b
        org.save(update_fields=["contact_gap"])
    elif kind == "offset":
        # A step after the courtesy reminder comes sooner: the reading bounds change.
        Step.objects.filter(organisation=org, position=2 + a % 3).update(offset=b, min_gap=b % 2)


def test_it_counts_the_items_that_may_move_to_choose_how_many_processes(org, scenario, customer):
    for n in range(12):
        make.invoice(customer, f"F{n}", due=D - days(n * 3))
    assert loading.how_many_may_move(org, D) == 12  # no date yet: every one
    run(org, D)
    day = D + days(1)
    assert loading.how_many_may_move(org, day) == run(org, day, dry_run=True).items_considered
    assert loading.how_many_may_move(org, day) < 12


def test_it_holds_a_customer_with_an_ended_and_an_open_hold_begun_the_same_day(
    org, scenario, customer
):
    make.invoice(customer, "F1", due=D - days(20))
    make.hold(customer, kind="manual", start=D - days(5), end=D - days(2))
    make.hold(customer, kind="manual", start=D - days(5))
    run(org, D)
    assert planned(org, D) == []


def test_it_reads_the_context_of_the_customers_it_reads_only(org, scenario, customer):
    make.invoice(customer, "F1", due=D - days(2))  # moves at 5 days overdue: D+3, a Friday
    others = [make.customer(org, f"O{n}") for n in range(3)]
    for n, other in enumerate(others):
        make.invoice(other, f"G{n}", due=D + days(60))  # its courtesy reminder at D+55
    run(org, D)
    day = D + days(3)
    context = loading.Context.load(org, day, lazy=True)
    read = [case.customer_id for chunk in loading.chunks(context, day, 10, (0, 1), connection)
            for case in chunk]  # fmt: skip
    assert read == [customer.pk]
    assert set(context.customers) == {customer.pk}
    assert run(org, day).items_considered == 1
    assert planned(org, day) == [("first_reminder", ("F1",))]


def test_it_reads_a_chunks_customers_by_key_and_of_the_organisation_only(
    org, other_org, scenario, customer
):
    stranger = make.customer(other_org, "S1")
    statements: list[tuple[str, list]] = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        # As many as a chunk's: the planner weighs the list's length.
        found = loading._customers(org, [customer.pk, stranger.pk, *range(10**9, 10**9 + 4998)])
    assert set(found) == {customer.pk}
    if connection.vendor == "sqlite":  # without statistics, it took the organisation's index
        ((sql, params),) = statements
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = [row[-1] for row in cursor.fetchall()]
        assert plan == ["SEARCH ledger_customer USING INTEGER PRIMARY KEY (rowid=?)"], plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_it_finds_the_communications_it_wrote_by_a_range_of_keys(org, scenario, customer):
    """Not through an index by organisation: every communication it ever had, per chunk."""
    make.invoice(customer, "F1", due=D - days(20))
    statements: list[tuple[str, list]] = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        run(org, D)
    ((sql, params),) = [
        s for s in statements if s[0].startswith("SELECT customer_id, channel, purpose, id")
    ]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[-1] for row in cursor.fetchall()]
    assert plan == ["SEARCH dunning_communication USING INTEGER PRIMARY KEY (rowid>?)"], plan
    assert len(Communication.objects.filter(organisation=org, run_date=D)) == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's memory map")
def test_it_reads_through_a_memory_map_during_the_run_only(org, scenario, customer):
    """Without a map, each page the run reads costs SQLite a system call copying it. (The
    tests' database is in memory, which has no map to read back: the statements say it.)"""
    make.invoice(customer, "F1", due=D - days(20))
    statements: list[str] = []

    def keep(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        run(org, D)
    maps = [n for n, sql in enumerate(statements) if sql.startswith("PRAGMA mmap_size =")]
    assert [statements[n] for n in maps] == [
        f"PRAGMA mmap_size = {sharing.READ_MAP_BYTES}",
        "PRAGMA mmap_size = 0",
    ]
    reads = [n for n, sql in enumerate(statements) if "moves_on" in sql]
    assert reads and maps[0] < min(reads) and max(reads) < maps[1]
