"""The run against the database: the contract's worked examples end to end, idempotence,
the dry run, and decisions that do not depend on the database or the order of rows."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection
from factories import days, pay
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relance.dunning import loading, policy, writing
from relance.dunning.engine import calendar_for, run
from relance.dunning.models import (
    Communication,
    CommunicationItem,
    ItemState,
    Scenario,
    SegmentRule,
    Step,
    Task,
)
from relance.ledger.models import Customer, Invoice, TimelineEvent

D = dt.date(2026, 11, 24)  # a Tuesday


@pytest.fixture
def scenario(org):
    # The contract's example scenario alone, instead of the defaults every organisation gets.
    return make.scenario(org)


@pytest.fixture
def customer(org):
    return make.customer(org, "C1", legal_name="Dupont SAS")


def comms(org):
    return list(
        Communication.objects.filter(organisation=org)
        .order_by("id")
        .values_list("customer__reference", "channel", "template", "status", "run_date")
    )


def level(inv: Invoice) -> int:
    state = ItemState.objects.filter(invoice=inv).first()
    return state.level if state else 0


def test_it_plans_the_pre_due_reminder_and_records_the_level(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D + days(5))
    run(org, D)
    assert comms(org) == [("C1", "email", "courtesy", "queued", D)]
    assert level(inv) == 1
    comm = Communication.objects.get()
    assert comm.pre_due and comm.items.get().days_overdue == -5
    assert comm.explanation["scenario_rule"] == "no rule matched: default scenario"
    event = TimelineEvent.objects.get(customer=customer, kind="communication_queued")
    # With the summary's text kept for its readers (timeline.KEPT).
    assert {k: v for k, v in event.data.items() if k != "_text"} == {
        "communication": comm.pk, "template": "courtesy",
    }  # fmt: skip


def test_it_does_nothing_new_when_the_same_date_runs_again(org, scenario, customer):
    make.invoice(customer, "F1", due=D - days(5))
    make.invoice(customer, "F2", due=D - days(40))
    run(org, D)
    before = (comms(org), list(ItemState.objects.values_list("invoice_id", "level", "level_date")))
    second = run(org, D)
    assert not second.counts.get("queued")
    assert (
        comms(org),
        list(ItemState.objects.values_list("invoice_id", "level", "level_date")),
    ) == before


def test_it_groups_and_moves_each_item_to_its_own_step(org, scenario, customer):
    a = make.invoice(customer, "F1", due=D - days(5))
    b = make.invoice(customer, "F2", due=D - days(15))
    ItemState.objects.create(invoice=b, level=3, level_date=D - days(7))
    ItemState.objects.create(invoice=a, level=1, level_date=D - days(10))
    run(org, D)
    [comm] = Communication.objects.all()
    assert comm.template == "firm_reminder"
    assert sorted(comm.items.values_list("invoice__number", "step_position")) == [
        ("F1", 2),
        ("F2", 4),
    ]
    assert (level(a), level(b)) == (2, 4)


def test_it_catches_up_an_old_item_one_step_at_a_time(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D - days(40))
    run(org, D)
    assert comms(org) == [("C1", "email", "first_reminder", "queued", D)]
    run(org, D + days(1))  # the call waits for its 3-day gap
    assert len(comms(org)) == 1
    run(org, D + days(3))
    assert comms(org)[-1][1:3] == ("call", "call")
    assert level(inv) == 3


def test_it_suspends_a_disputed_item_only(org, scenario, customer):
    disputed = make.invoice(customer, "F1", due=D - days(15))
    make.invoice(customer, "F2", due=D - days(5))
    make.dispute(disputed, on=D - days(2))
    run(org, D)
    [comm] = Communication.objects.all()
    assert list(comm.items.values_list("invoice__number", flat=True)) == ["F2"]
    assert level(disputed) == 0


def test_it_breaks_a_promise_and_steps_at_once(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D - days(9))
    ItemState.objects.create(invoice=inv, level=2, level_date=D - days(1))
    promise = make.promise(customer, invoice=inv, promised_on=D - days(3), grace_days=2)
    run(org, D)
    promise.refresh_from_db()
    assert (promise.status, promise.broken_on) == ("broken", D)
    assert comms(org) == [("C1", "call", "call", "queued", D)]
    assert TimelineEvent.objects.filter(kind="promise_broken", customer=customer).exists()


def test_it_waits_on_christmas_day(org, scenario, customer):
    make.invoice(customer, "F1", due=dt.date(2026, 12, 20))
    christmas = dt.date(2026, 12, 25)
    result = run(org, christmas)
    assert (result.business_day, result.holiday) == (False, "Noël")
    assert comms(org) == []
    run(org, dt.date(2026, 12, 28))  # Monday
    assert comms(org) == [("C1", "email", "first_reminder", "queued", dt.date(2026, 12, 28))]


def test_it_stops_for_insolvency_and_asks_for_the_claim_declaration(org, scenario, customer):
    make.invoice(customer, "F1", due=D - days(20))
    make.hold(customer, kind="insolvency", start=D - days(3), published_on=dt.date(2026, 11, 20))
    run(org, D)
    run(org, D + days(1))
    assert comms(org) == []
    [task] = Task.objects.all()
    assert (task.kind, task.due_on) == ("declare_claim", dt.date(2027, 1, 20))


def test_it_chooses_the_scenario_by_segment_rule(org, scenario, customer):
    tight = make.scenario(org, [(1, 0, "call", "call")], slug="tight", default=False, replace=False)
    SegmentRule.objects.create(
        organisation=org, position=1, name="risky", scenario=tight, risk_class="high"
    )
    Customer.objects.filter(pk=customer.pk).update(risk_class="high")
    make.invoice(customer, "F1", due=D - days(2))
    run(org, D)
    [comm] = Communication.objects.all()
    assert (comm.channel, comm.scenario_id) == ("call", tight.pk)
    assert "risky" in comm.explanation["scenario_rule"]


def test_it_thanks_once_when_a_reminded_item_is_paid(org, scenario, customer):
    inv = make.invoice(customer, "F1", due=D - days(5))
    run(org, D)
    Communication.objects.update(status="sent")  # the worker sent the reminder
    pay(inv, on=D + days(1))
    run(org, D + days(1))
    run(org, D + days(2))
    thanks = Communication.objects.filter(purpose="thanks")
    assert list(thanks.values_list("template", "run_date")) == [("thanks", D + days(1))]


def test_a_dry_run_shows_the_decisions_and_writes_nothing(org, scenario, customer):
    make.invoice(customer, "F1", due=D - days(5))
    out = StringIO()
    call_command("run", "--date", D.isoformat(), "--dry-run", "--json", stdout=out)
    data = json.loads(out.getvalue())["runs"][0]
    [decision] = data["decisions"]
    [comm] = decision["communications"]
    assert comm["template"] == "first_reminder"
    assert comm["items"][0] == {
        "invoice": "F1",
        "step": 2,
        "days_overdue": 5,
        "balance": "100.00",
        "currency": "EUR",
    }
    assert not Communication.objects.exists() and not ItemState.objects.exists()


def test_it_refuses_an_organisation_without_scenarios(org):
    Scenario.objects.filter(organisation=org).delete()
    with pytest.raises(CommandError, match="no dunning scenario"):
        call_command("run", "--org", org.slug, stdout=StringIO())


def test_it_keeps_organisations_apart(org, other_org, scenario, customer):
    other = make.customer(other_org, "C1", legal_name="X")
    make.invoice(other, "F1", due=D - days(5))
    make.invoice(customer, "F1", due=D - days(5))
    run(org, D)
    assert set(Communication.objects.values_list("organisation_id", flat=True)) == {org.pk}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.integers(-10, 60)), min_size=1, max_size=25),
    st.randoms(use_true_random=False),
)
def test_decisions_do_not_depend_on_the_order_rows_were_written(org, scenario, rows, rnd):
    """Same data inserted in two orders → the same plan (and the same on each database, since
    the suite runs this on SQLite and PostgreSQL against the same pure expectations)."""

    def plan(order):
        Communication.objects.all().delete()
        ItemState.objects.all().delete()
        Invoice.objects.all().delete()
        Customer.objects.all().delete()
        customers = {}
        for n in order:
            c, overdue = rows[n]
            if c not in customers:
                customers[c] = make.customer(org, f"C{c}", legal_name=f"C{c}")
            make.invoice(customers[c], f"F{n}", due=D - days(overdue))
        run(org, D)
        return sorted(
            (ref, channel, template, tuple(sorted(numbers.split(","))))
            for ref, channel, template, numbers in (
                (
                    c.customer.reference,
                    c.channel,
                    c.template,
                    ",".join(c.items.values_list("invoice__number", flat=True)),
                )
                for c in Communication.objects.select_related("customer")
            )
        )

    order = list(range(len(rows)))
    first = plan(order)
    rnd.shuffle(order)
    assert plan(order) == first
    # Every open item past its courtesy window got exactly one planned step.
    planned = CommunicationItem.objects.count()
    assert planned == sum(1 for _, overdue in rows if overdue >= 5 or -5 <= overdue < 0)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(-10, 70), st.integers(0, 5), st.integers(0, 9)),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from(["low", "medium", "high"]),
)
def test_reading_only_the_items_that_may_move_changes_no_decision(org, scenario, rows, risk):
    """Day after day, the run (which reads only the items whose next step may be due, by
    level, under any scenario) plans exactly what the policy plans over every open item."""
    from relance.dunning import engine

    for model in (Communication, ItemState, Invoice, Customer, SegmentRule):
        model.objects.all().delete()
    Scenario.objects.filter(slug="tight").delete()
    steps = [(-2, 0), (2, 1), (4, 2), (9, 2)]
    tight = make.scenario(org, [(offset, gap, "email", f"t{n}") for n, (offset, gap) in
                                enumerate(steps, start=1)], slug="tight", default=False,
                          replace=False)  # fmt: skip
    SegmentRule.objects.create(organisation=org, position=1, name="risky", scenario=tight,
                               risk_class="high")  # fmt: skip
    customers = [
        make.customer(org, f"C{c}", legal_name=f"C{c}", risk_class=risk if c % 2 else "low")
        for c in range(4)
    ]  # fmt: skip
    levels: dict[int, tuple[int, dt.date | None]] = {}
    for n, (c, overdue, lvl, ago) in enumerate(rows):
        inv = make.invoice(customers[c], f"F{n}", due=D - days(overdue))
        if lvl:
            ItemState.objects.create(invoice=inv, level=lvl, level_date=D - days(ago + 1))
            levels[inv.pk] = (lvl, D - days(ago + 1))
    for day in [D + days(n) for n in range(12)]:
        # The policy over every open item, from the levels the pure model carries.
        context = loading.Context.load(org, day)
        calendar = engine.calendar_for(org, day)
        expected = []
        for customer in customers:
            items = [
                policy.Item(i.pk, i.number, i.due_date, i.balance, i.currency,
                            *levels.get(i.pk, (0, None)))
                for i in Invoice.objects.filter(customer=customer)
            ]  # fmt: skip
            decision = policy.decide(loading.case(context, customer.pk, items, day), day, calendar)
            for comm in decision.communications:
                steps = sorted((i.number, i.step_position) for i in comm.items)
                expected.append((customer.reference, comm.template, steps))
            for invoice_id, lvl in decision.levels.items():
                stepped = any(i.invoice_id == invoice_id for c in decision.communications
                              for i in c.items)  # fmt: skip
                levels[invoice_id] = (lvl, day if stepped else levels.get(invoice_id, (0, None))[1])
        run(org, day)
        planned = [
            (c.customer.reference, c.template,
             sorted(c.items.values_list("invoice__number", "step_position")))
            for c in Communication.objects.filter(run_date=day).select_related("customer")
        ]  # fmt: skip
        assert sorted(planned) == sorted(expected), day


def _planned(rows) -> list[tuple]:
    return sorted((c, ch, p, t, st, tuple(sorted(i))) for c, ch, p, t, st, i in rows)


def _relance_on_files(data_dir, *args) -> str:
    import subprocess
    import sys

    env = {"RELANCE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "DATABASE_URL": ""}
    out = subprocess.run([sys.executable, "-m", "relance", *args], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """A data directory with the demo of 2026-11-17 on a SQLite file, made once for the
    tests below: each runs on a copy of its own."""
    folder = tmp_path_factory.mktemp("demo-files")
    _relance_on_files(folder, "demo", "--no-serve", "--date", "2026-11-17")
    return folder


# The two tests below run `relance` on SQLite files of their own whatever DATABASE_URL says.
@pytest.mark.once("postgresql")
def test_processes_sharing_the_customers_plan_what_one_plans_on_a_sqlite_file(tmp_path, demo_files):
    """Two `relance run` processes on a real SQLite file, each on half of the customers and
    reading on a connection of its own, plan exactly what one process plans."""
    import shutil
    import sqlite3

    relance = _relance_on_files
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(demo_files, one)
    shutil.copytree(demo_files, two)
    relance(one, "run", "--date", "2026-11-24", "--jobs", "1")
    relance(two, "run", "--date", "2026-11-24", "--jobs", "2")

    def plan(data_dir):
        with sqlite3.connect(data_dir / "relance.sqlite3") as db:
            rows = db.execute(
                "SELECT c.customer_id, c.channel, c.purpose, c.template, c.status,"
                " group_concat(i.invoice_id) FROM dunning_communication c"
                " LEFT JOIN dunning_communicationitem i ON i.communication_id = c.id"
                " WHERE c.run_date = '2026-11-24' GROUP BY c.id"
            ).fetchall()
            levels = db.execute("SELECT * FROM dunning_itemstate ORDER BY invoice_id").fetchall()
        return _planned(
            (c, ch, p, t, st, (i or "").split(",")) for c, ch, p, t, st, i in rows
        ), levels

    planned, levels = plan(one)
    assert len(planned) > 10  # the demo's week gives work to both processes
    assert plan(two) == (planned, levels)


CHECKPOINTED = """
import datetime as dt, threading
import django
django.setup()
from django.db import connection
from relance.accounts.models import Organisation
from relance.dunning import engine
threads = set()
start = threading.Thread.start
def started(self):
    threads.add(self.name)
    start(self)
threading.Thread.start = started
engine.run(Organisation.objects.get(), dt.date(2026, 11, 24), jobs=1)
with connection.cursor() as cursor:
    cursor.execute("PRAGMA wal_autocheckpoint")
    [autocheckpoint] = cursor.fetchone()
    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    _, written, checkpointed = cursor.fetchone()
print(sorted(threads), autocheckpoint, written > 0 and written == checkpointed)
"""


@pytest.mark.once("postgresql")
def test_a_run_on_a_sqlite_file_checkpoints_what_it_wrote_in_a_thread(tmp_path, demo_files):
    """The run's commits are checkpointed by a thread of its own (sharing.Checkpoints), every
    page by the time the run returns, and the connection's automatic checkpoint is back."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(demo_files, tmp_path, dirs_exist_ok=True)
    env = {"RELANCE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "DATABASE_URL": "",
           "DJANGO_SETTINGS_MODULE": "relance.settings"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", CHECKPOINTED], env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['checkpoints']", "1000", "True"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL; see above")
def test_processes_sharing_the_customers_plan_what_one_plans_on_postgresql():
    org = make.organisation("shared", name="Shared SAS")
    customers = [make.customer(org, f"C{n}", legal_name=f"C{n}") for n in range(9)]
    for n in range(60):
        make.invoice(customers[n % 9], f"F{n}", due=D - days(n % 40 - 6), amount=f"{100 + n}.00")

    def plan():
        return _planned(
            (c.customer_id, c.channel, c.purpose, c.template, c.status,
             [str(i) for i in c.items.values_list("invoice_id", flat=True)])
            for c in Communication.objects.filter(organisation=org)
        )  # fmt: skip

    result = run(org, D, jobs=3)
    shared = plan(), sorted(ItemState.objects.values_list("invoice_id", "level", "level_date"))
    assert result.customers == 9 and shared[0]
    Communication.objects.all().delete()
    ItemState.objects.all().delete()
    Invoice.objects.update(moves_on=None)  # the levels wiped: the dates they gave too
    TimelineEvent.objects.all().delete()
    run(org, D, jobs=1)
    alone = plan(), sorted(ItemState.objects.values_list("invoice_id", "level", "level_date"))
    assert shared == alone


def test_the_collector_is_paused_from_the_calendar_on(org, scenario, customer, monkeypatch):
    """The holidays' first import, in the run's calendar, set off a full collection of the
    start-up's objects (relance.lib.perf.collector_paused)."""
    import gc

    from relance.dunning import engine

    collecting: list[bool] = []
    calendar = engine.calendar_for

    def seen(organisation, day):
        collecting.append(gc.isenabled())
        return calendar(organisation, day)

    monkeypatch.setattr(engine, "calendar_for", seen)
    make.invoice(customer, "F1", due=D - days(5))
    assert gc.isenabled()
    run(org, D)
    assert collecting == [False] and gc.isenabled()


def test_it_writes_to_each_customer_in_their_language(org, scenario, customer):
    english = make.customer(org, "C2", legal_name="Smith Ltd", language="en")
    make.invoice(customer, "F1", due=D - days(5))
    make.invoice(english, "F2", due=D - days(5))
    run(org, D)
    languages = dict(Communication.objects.values_list("customer__reference", "language"))
    assert languages == {"C1": "fr", "C2": "en"}


# -- thanks, the organisation's settings, a step's maximum, calls, the run's own key --------


def test_it_thanks_only_for_items_a_reminder_was_sent_about(org, scenario, customer):
    """An item imported after its due date passes over the courtesy reminder (level 1)
    without anything being sent: paid, it earns no thank-you; a reminded one does."""
    never = make.invoice(customer, "F1", due=D + days(1))  # J-1: its courtesy reminder expired
    reminded = make.invoice(customer, "F2", due=D - days(5))
    run(org, D + days(1))
    assert level(never) == 1 and level(reminded) == 2
    Communication.objects.update(status="sent")  # the worker sent the reminder about F2
    pay(never, on=D + days(2))
    pay(reminded, on=D + days(2))
    run(org, D + days(2))
    run(org, D + days(3))
    [thanks] = Communication.objects.filter(purpose="thanks")
    assert thanks.explanation["thanks_for"] == ["F2"]


def test_it_keeps_the_contact_gap_of_the_organisation(org, scenario, customer):
    org.contact_gap = 8
    org.save()
    make.invoice(customer, "F1", due=D - days(5))
    run(org, D)
    make.invoice(customer, "F2", due=D - days(1))
    for n in range(1, 9):
        run(org, D + days(n))
    # F2 reaches J+5 on Saturday D+4; not on Monday D+6 either, but eight days after the
    # e-mail of D (three would have let it go on Monday).
    assert comms(org) == [
        ("C1", "email", "first_reminder", "queued", D),
        ("C1", "call", "call", "queued", D + days(3)),
        ("C1", "email", "first_reminder", "queued", D + days(8)),
    ]


def test_it_passes_over_a_step_for_items_owing_more_than_its_maximum(org, customer):
    steps = [(5, 0, "task", "first_reminder"), (30, 0, "task", "write_off_review"),
             (31, 0, "task", "handover")]  # fmt: skip
    small = make.scenario(org, steps, slug="s")
    Step.objects.filter(scenario=small, position=2).update(max_amount=Decimal("50.00"))
    low = make.invoice(customer, "F1", due=D - days(40), amount="40.00")
    high = make.invoice(customer, "F2", due=D - days(40), amount="4000.00")
    ItemState.objects.create(invoice=low, level=1, level_date=D - days(20))
    ItemState.objects.create(invoice=high, level=1, level_date=D - days(20))
    run(org, D)
    steps = dict(CommunicationItem.objects.values_list("invoice__number", "step_position"))
    assert steps == {"F1": 2, "F2": 3}


def test_it_proposes_calls_for_the_business_hours_of_the_organisation(org, scenario, customer):
    org.timezone = "America/Guadeloupe"
    org.save()
    make.invoice(customer, "F1", due=D - days(8))
    ItemState.objects.create(invoice=Invoice.objects.get(), level=2, level_date=D - days(3))
    run(org, D)
    [call] = Communication.objects.filter(channel="call")
    assert call.explanation["call_window"] == {
        "from": "2026-11-24T09:00:00-04:00",
        "until": "2026-11-24T18:00:00-04:00",
    }


def _decided(org, day):
    """A chunk's decisions, as a run of ``day`` that read before another one wrote."""
    context = loading.Context.load(org, day)
    cases = next(loading.chunks(context, day, 100, (0, 1), connection))
    return context, [policy.decide(case, day, calendar_for(org, day)) for case in cases]


def test_it_leaves_a_chunk_another_run_of_the_date_wrote_first(org, scenario, customer):
    """On both databases: the run's own key violated means another run did this chunk."""
    make.invoice(customer, "F1", due=D - days(5))
    context, decisions = _decided(org, D)
    run(org, D)  # the other run writes first
    assert writing.write(context, D, decisions) is False
    assert comms(org) == [("C1", "email", "first_reminder", "queued", D)]


@pytest.mark.django_db(transaction=True)  # the foreign keys are checked at commit
def test_it_fails_loudly_on_any_other_integrity_error(org, scenario, customer):
    """An invoice deleted between reading and writing is not "another run's work"."""
    inv = make.invoice(customer, "F1", due=D - days(5))
    context, decisions = _decided(org, D)
    Invoice.objects.filter(pk=inv.pk).delete()
    with pytest.raises(IntegrityError):
        writing.write(context, D, decisions)
    assert Communication.objects.count() == 0


_TEXT = st.text(max_size=12)
_NOTE = st.dictionaries(_TEXT, st.one_of(_TEXT, st.integers(), st.dates(), st.lists(_TEXT)))


@given(
    explanations=st.lists(
        st.fixed_dictionaries(
            {
                "scenario": st.sampled_from(["standard", "high-risk", 'é"\\']),
                "scenario_rule": st.sampled_from(["", "default", "risk class\nA"]),
                "template_from_step": st.fixed_dictionaries(
                    {"position": st.integers(1, 3), "name": st.sampled_from(["First", "Appel"])}
                ),
                "postponed_or_suspended": st.lists(_NOTE, max_size=3),
            }
        )
        | st.dictionaries(_TEXT, _TEXT),
        max_size=6,
    ),
    templates=st.lists(st.sampled_from(["first_reminder", "thanks", 'é"']), max_size=4),
)
def test_the_runs_json_from_shared_parts_is_that_of_json_dumps(explanations, templates):
    as_json = writing._Json()
    for explanation in explanations:
        assert as_json.explanation(explanation) == json.dumps(explanation, default=str)
    for template in templates:
        assert as_json.text(template) == json.dumps(template)
