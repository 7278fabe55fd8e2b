"""Customer balances: what each customer owes, aged as of a day, kept up to date as invoices
change and re-aged once when the day changes."""

from __future__ import annotations

import datetime as dt
import importlib
import itertools
import tempfile
import threading
from decimal import Decimal
from typing import Any

import factories as f
import pytest
from django.db import connection, connections
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from relance.accounts.models import Organisation
from relance.dunning.models import Communication
from relance.insights.aging import aged_balance
from relance.ledger.models import Allocation, BalanceDay, CustomerBalance, Invoice
from relance.ledger.summaries import LIMITS, balances

START = dt.date(2026, 11, 20)
_orgs = itertools.count(1)


def test_it_ages_customer_balances(org):
    today = dt.date(2026, 11, 20)
    c = f.customer(org)
    f.invoice(c, due=today + dt.timedelta(days=5), amount="100.00")
    old = f.invoice(c, due=today - dt.timedelta(days=40), amount="50.10")
    f.pay(old, "20.00", on=today)
    [row] = balances(org, today)
    assert (row.open_amount, row.overdue_amount, row.days_31_60, row.not_due) == (
        Decimal("130.10"),
        Decimal("30.10"),
        Decimal("30.10"),
        Decimal("100.00"),
    )


# -- a from-scratch recomputation, in Python, to compare with ----------------------------


def from_scratch(org: Organisation, as_of: dt.date) -> dict[tuple[int, str], dict[str, Any]]:
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for inv in Invoice.objects.filter(organisation=org):
        if round(inv.balance * 100) <= 0:
            continue
        row = rows.setdefault(
            (inv.customer_id, inv.currency),
            {"open_items": 0, "overdue_items": 0, "oldest_due": inv.due_date,
             **dict.fromkeys(["open_amount", "overdue_amount", "not_due", "days_1_30",
                              "days_31_60", "days_61_90", "over_90"], Decimal("0.00"))},
        )  # fmt: skip
        late = (as_of - inv.due_date).days
        bucket = (
            "not_due" if late <= 0 else "days_1_30" if late <= 30 else "days_31_60"
            if late <= 60 else "days_61_90" if late <= 90 else "over_90"
        )  # fmt: skip
        row[bucket] += inv.balance
        row["open_amount"] += inv.balance
        row["open_items"] += 1
        if late > 0:
            row["overdue_amount"] += inv.balance
            row["overdue_items"] += 1
        row["oldest_due"] = min(row["oldest_due"], inv.due_date)
    return rows


FIELDS = ("open_amount", "overdue_amount", "not_due", "days_1_30", "days_31_60",
          "days_61_90", "over_90", "open_items", "overdue_items", "oldest_due")  # fmt: skip


def stored(org: Organisation, as_of: dt.date) -> dict[tuple[int, str], dict[str, Any]]:
    return {
        (row["customer_id"], row["currency"]): {k: row[k] for k in FIELDS}
        for row in balances(org, as_of).values("customer_id", "currency", *FIELDS)
    }


def as_aged_balance(org: Organisation, as_of: dt.date) -> dict[tuple[str, str], tuple]:
    return {
        (line.reference, line.currency): (
            line.total,
            *line.buckets.values(),
            line.items,
            line.overdue_items,
        )
        for line in aged_balance(org, as_of).customers
    }


def stored_as_aged_balance(org: Organisation, as_of: dt.date) -> dict[tuple[str, str], tuple]:
    return {
        (row.customer.reference, row.currency): (row.open_amount, row.not_due, row.days_1_30,
            row.days_31_60, row.days_61_90, row.over_90, row.open_items, row.overdue_items)
        for row in balances(org, as_of).select_related("customer")
    }  # fmt: skip


def check(org: Organisation, day: dt.date) -> None:
    assert stored(org, day) == from_scratch(org, day)
    # The aged balance service says the same, once everything is dated on or before ``day``.
    if not (
        Invoice.objects.filter(organisation=org, issue_date__gt=day).exists()
        or Allocation.objects.filter(organisation=org, date__gt=day).exists()
    ):
        assert stored_as_aged_balance(org, day) == as_aged_balance(org, day)


# -- the property --------------------------------------------------------------------------

customer_index = st.integers(0, 3)
invoice_index = st.integers(0, 1000)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("invoice"), customer_index, st.integers(-150, 60),
                  st.integers(1, 500_00), st.sampled_from(["EUR", "EUR", "USD"])),
        st.tuples(st.just("pay"), invoice_index, st.sampled_from([None, "0.10", "0.5"])),
        st.tuples(st.just("credit"), invoice_index, st.sampled_from(["0.01", "0.3"])),
        st.tuples(st.just("import"), invoice_index, customer_index, st.integers(-40, 40),
                  st.integers(0, 100_00), st.integers(-100, 30)),
        st.tuples(st.just("day"), st.integers(-10, 120)),
        st.tuples(st.just("delete"), invoice_index),
    ),
    max_size=14,
)  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps, read_first=st.booleans())
# An import moves an invoice to another customer, then it is deleted through an instance
# loaded before the move (hypothesis found it on 2026-11-30).
@example(
    steps=[
        ("invoice", 0, -45, 519, "EUR"), ("invoice", 0, 0, 157, "EUR"),
        ("invoice", 0, 35, 322, "EUR"), ("delete", 365), ("import", 517, 0, 6, 68, -55),
        ("delete", 931), ("import", 1000, 2, -14, 161, -36), ("delete", 652),
    ],
    read_first=True,
)  # fmt: skip
def test_it_equals_a_recomputation_after_any_imports_payments_credits_and_days(
    db, steps, read_first
):
    org = f.organisation(f"prop-{next(_orgs)}")
    customers = [f.customer(org) for _ in range(4)]
    invoices: list[Invoice] = []
    numbers = itertools.count()
    day = START
    if read_first:  # rows built before anything happens, or only when first read
        check(org, day)
    with tempfile.TemporaryDirectory() as folder:
        for step in steps:
            kind = step[0]
            if kind == "invoice":
                _, who, due, cents, currency = step
                due_date = day + dt.timedelta(days=due)
                invoices.append(
                    f.invoice(customers[who], due=due_date, amount=Decimal(cents).scaleb(-2),
                              issued=min(day, due_date), currency=currency)
                )  # fmt: skip
            elif kind in ("pay", "credit") and invoices:
                inv = invoices[step[1] % len(invoices)]
                inv.refresh_from_db()
                if inv.balance <= 0:
                    continue
                part = None if step[2] is None else max(
                    Decimal("0.01"), (inv.balance * Decimal(step[2])).quantize(Decimal("0.01"))
                )  # fmt: skip
                f.pay(inv, part, on=day, kind="payment" if kind == "pay" else "credit_note")
            elif kind == "import":
                _, which, who, shift, more, new_due = step
                listed = []
                if invoices:  # one invoice changed: due date, amount, customer
                    inv = invoices[which % len(invoices)]
                    inv.refresh_from_db()
                    inv.due_date += dt.timedelta(days=shift)
                    inv.issue_date = min(inv.issue_date, inv.due_date)
                    inv.amount += Decimal(more).scaleb(-2)
                    inv.customer = customers[who]
                    listed.append(inv)
                due_date = day + dt.timedelta(days=new_due)
                # A number of its own: one the ledger holds already, paid beyond 42.00, would
                # rightly be refused (hypothesis found it on 2026-12-01, on PostgreSQL).
                new = Invoice(customer=customers[who], number=f"IMP-{next(numbers)}",
                              issue_date=min(day, due_date), due_date=due_date,
                              amount=Decimal("42.00"))  # fmt: skip
                rows = {i.number: i for i in [*listed, new]}
                f.import_ledger(org, folder, list(rows.values()), on=day)
                invoices.append(Invoice.objects.get(organisation=org, number=new.number))
            elif kind == "day":
                day += dt.timedelta(days=step[1])
            elif kind == "delete" and invoices:
                # The list may hold two loadings of one invoice (an import re-listed it):
                # deleting through the older one must still update the customer it has now.
                inv = invoices.pop(step[1] % len(invoices))
                if not inv.allocations.exists():
                    pk = inv.pk
                    inv.delete()
                    invoices = [i for i in invoices if i.pk != pk]
            check(org, day)
    check(org, day)


# -- reading, re-aging, concurrency --------------------------------------------------------


def test_it_reads_fresh_rows_with_one_query(org, django_assert_num_queries):
    c = f.customer(org)
    f.invoice(c, due=START, amount="10.00")
    balances(org, START)
    with django_assert_num_queries(1):
        balances(org, START)


def test_it_follows_an_invoice_without_reading_everything_again(org):
    c = f.customer(org)
    f.invoice(c, due=START, amount="10.00")
    assert [r.open_amount for r in balances(org, START)] == [Decimal("10.00")]
    other = f.customer(org)
    f.invoice(other, due=START, amount="5.00")  # saved after the rows were built
    assert sorted(r.open_amount for r in balances(org, START)) == [
        Decimal("5.00"),
        Decimal("10.00"),
    ]


def test_it_re_ages_only_the_customers_whose_items_cross_a_limit(org):
    crossing, staying = f.customer(org), f.customer(org)
    f.invoice(crossing, due=START - dt.timedelta(days=30), amount="10.00")  # 30 days -> 31
    f.invoice(staying, due=START - dt.timedelta(days=40), amount="20.00")  # 40 -> 41
    ids = {row.customer_id: row.pk for row in balances(org, START)}
    nextday = START + dt.timedelta(days=1)
    rows = {row.customer_id: row for row in balances(org, nextday)}
    # Updated in place: the crossing item's amount moved to its new bucket.
    assert {row.customer_id: row.pk for row in rows.values()} == ids
    assert BalanceDay.objects.get(pk=org.pk).as_of == nextday
    assert rows[crossing.pk].days_1_30 == Decimal("0.00")
    assert rows[crossing.pk].days_31_60 == Decimal("10.00")
    check(org, nextday)


def test_aging_by_a_day_writes_only_the_rows_whose_amounts_move(org):
    """The day is the organisation's (``BalanceDay``): the rows of the customers whose items
    cross no limit are not written (at a million items, 100,000 rows rewritten a day)."""
    crossing, staying = f.customer(org), f.customer(org)
    f.invoice(crossing, due=START - dt.timedelta(days=30), amount="10.00")  # 30 days -> 31
    f.invoice(staying, due=START - dt.timedelta(days=40), amount="20.00")  # 40 -> 41
    balances(org, START)
    table = CustomerBalance._meta.db_table
    # The rows written, as a trigger sees them (rolled back with the test).
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE written (customer_id bigint)")
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE TEMPORARY TRIGGER balance_written AFTER UPDATE ON {table}"
                " BEGIN INSERT INTO written VALUES (NEW.customer_id); END"
            )
        else:
            cursor.execute(
                "CREATE FUNCTION test_balance_written() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN INSERT INTO written VALUES (NEW.customer_id); RETURN NULL; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER balance_written AFTER UPDATE ON {table} FOR EACH ROW"
                " EXECUTE FUNCTION test_balance_written()"
            )
    balances(org, START + dt.timedelta(days=1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id FROM written")
        assert [row[0] for row in cursor.fetchall()] == [crossing.pk]
    check(org, START + dt.timedelta(days=1))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's index maintenance")
def test_aging_by_a_day_assigns_the_overdue_amount_only_where_it_moves(org):
    """SQLite rewrites the entries of an index whose column is assigned, even to the same
    value: only the rows of the items crossing 1 day get their overdue amount assigned (the
    console's index by overdue amount holds it), the others only their buckets."""
    becoming_overdue, older = f.customer(org), f.customer(org)
    f.invoice(becoming_overdue, due=START, amount="10.00")  # not due -> 1 day
    f.invoice(older, due=START - dt.timedelta(days=30), amount="20.00")  # 30 days -> 31
    balances(org, START)
    table = CustomerBalance._meta.db_table
    # "UPDATE OF" fires when the column is assigned, whatever the value (rolled back with the
    # test).
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE assigned (customer_id bigint)")
        cursor.execute(
            f"CREATE TEMPORARY TRIGGER overdue_assigned AFTER UPDATE OF overdue_amount ON {table}"
            " BEGIN INSERT INTO assigned VALUES (NEW.customer_id); END"
        )
    (moved,) = [r for r in balances(org, START + dt.timedelta(days=1)) if r.customer_id == older.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT customer_id FROM assigned")
        assert [row[0] for row in cursor.fetchall()] == [becoming_overdue.pk]
    assert (moved.days_1_30, moved.days_31_60) == (Decimal("0.00"), Decimal("20.00"))
    check(org, START + dt.timedelta(days=1))


def test_it_fills_the_rows_of_existing_ledgers_when_migrating(org, other_org):
    from django.apps import apps

    for o in (org, other_org):
        c = f.customer(o)
        f.invoice(c, due=START, amount="10.00")
    CustomerBalance.objects.all().delete()
    BalanceDay.objects.all().delete()
    migration = importlib.import_module("relance.ledger.migrations.0006_balance_days")
    migration.fill(apps, None)
    assert BalanceDay.objects.filter(as_of__isnull=False).count() == 2
    assert CustomerBalance.objects.filter(organisation=org).count() == 1
    day = BalanceDay.objects.get(pk=org.pk).as_of
    assert stored(org, day) == from_scratch(org, day)


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="threads share no in-memory SQLite database"
)
def test_it_ages_once_when_two_requests_age_at_once(transactional_db):
    org = f.organisation("race")
    for n in range(30):
        c = f.customer(org)
        f.invoice(c, due=START - dt.timedelta(days=n * 5), amount=f"{n + 1}.00")
    balances(org, START)
    nextday = START + dt.timedelta(days=7)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            barrier.wait()
            list(balances(org, nextday))
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stored(org, nextday) == from_scratch(org, nextday)


def test_it_follows_the_demo_replay_of_new_invoices(org):
    from relance.demo.past import arrive
    from relance.ledger.imports.records import InvoiceRecord, LedgerBatch

    c = f.customer(org, "K1")
    f.invoice(c, due=START, amount="10.00")
    balances(org, START)
    record = InvoiceRecord(customer="K1", number="D-1", kind="invoice", issue_date=START,
                           due_date=START - dt.timedelta(days=45), currency="EUR",
                           amount=Decimal("7.00"))  # fmt: skip
    arrive(org, LedgerBatch(file="demo", format="csv", source="demo", invoices=[record]))
    check(org, START)
    assert sum(r.open_amount for r in balances(org, START)) == Decimal("17.00")


def test_it_moves_the_amounts_of_items_crossing_several_limits_at_once(org):
    c = f.customer(org)
    f.invoice(c, due=START, amount="10.00")  # not due -> 31 days
    f.invoice(c, due=START - dt.timedelta(days=80), amount="20.50")  # 80 -> 111 days
    f.invoice(c, due=START - dt.timedelta(days=200), amount="1.25")  # stays over 90
    balances(org, START)
    later = START + dt.timedelta(days=31)
    (row,) = balances(org, later)
    assert (row.not_due, row.days_31_60, row.over_90) == (
        Decimal("0.00"), Decimal("10.00"), Decimal("21.75"),
    )  # fmt: skip
    assert (row.overdue_amount, row.overdue_items) == (Decimal("31.75"), 3)
    check(org, later)
    (row,) = balances(org, START)  # and back
    assert (row.not_due, row.days_61_90, row.overdue_items) == (
        Decimal("10.00"), Decimal("20.50"), 2,
    )  # fmt: skip
    check(org, START)


def test_items_crossing_two_limits_apart_are_moved_once(org):
    """Forty days on, the ranges of due dates crossing 1 and 31 days overlap: an item in
    both (not due, then 35 days overdue) moves once."""
    c = f.customer(org)
    f.invoice(c, due=START + dt.timedelta(days=5), amount="10.00")
    f.invoice(c, due=START - dt.timedelta(days=20), amount="2.00")  # 20 -> 60 days
    balances(org, START)
    later = START + dt.timedelta(days=40)
    (row,) = balances(org, later)
    assert (row.not_due, row.days_1_30, row.days_31_60) == (
        Decimal("0.00"), Decimal("0.00"), Decimal("12.00"),
    )  # fmt: skip
    assert (row.overdue_amount, row.overdue_items) == (Decimal("12.00"), 2)
    check(org, later)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_sqlite_reads_the_crossing_items_from_the_index_by_due_date_alone(org):
    """One range of the index of open items by due date per limit, each row read there:
    no list of their keys built first, then read again by key."""
    c = f.customer(org)
    f.invoice(c, due=START, amount="10.00")
    balances(org, START)
    statements: list[tuple[str, Any]] = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        balances(org, START + dt.timedelta(days=1))
    ((sql, params),) = [s for s in statements if s[0].startswith("INSERT INTO aging_moves")]
    sql = sql.split(" SELECT ", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN SELECT {sql}", params)
        plan = [row[-1] for row in cursor.fetchall()]
    reads = [s for s in plan if s.startswith(("SEARCH ledger_invoice", "SCAN ledger_invoice"))]
    assert len(reads) == len(LIMITS), plan
    assert all("USING INDEX invoice_open_by_due " in step for step in reads), plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plan")
def test_postgresql_finds_each_moved_balance_by_its_key_without_statistics(org):
    """The moves are summed in the UPDATE's own WITH: with the balances not analysed yet
    (just built), the planner must not take the moves for one row and read every balance
    of the organisation for each move through its index of currencies (seconds at 10,000
    customers, when the moves were a temporary table that autovacuum never analyses)."""
    customers = [f.customer(org) for _ in range(60)]
    for n, c in enumerate(customers):
        # A third become overdue (the first UPDATE), a third cross 31 days (the second).
        due = [START, START - dt.timedelta(days=30), START - dt.timedelta(days=40)][n % 3]
        f.invoice(c, due=due, amount="10.00")
    balances(org, START)
    table = CustomerBalance._meta.db_table
    with connection.cursor() as cursor:  # as just built: never analysed (rolled back after)
        cursor.execute("SELECT current_setting('is_superuser')")
        if cursor.fetchone()[0] != "on":
            pytest.skip("removing a table's statistics takes a superuser")
        cursor.execute(f"DELETE FROM pg_statistic WHERE starelid = '{table}'::regclass")
        cursor.execute(f"UPDATE pg_class SET reltuples = -1 WHERE oid = '{table}'::regclass")
    plans: list[str] = []

    def explain(execute, sql, params, many, context):
        if sql.startswith("WITH") and f" UPDATE {table} " in sql:
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN {sql}", params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        balances(org, START + dt.timedelta(days=1))
    assert len(plans) == 1
    for plan in plans:
        # A balance found by filtering the organisation's rows on the move's customer.
        assert "Filter: (d.customer_id = " not in plan, plan
        assert "Filter: (customer_id = d.customer_id)" not in plan, plan
    check(org, START + dt.timedelta(days=1))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's HOT updates")
def test_postgresql_ages_the_buckets_in_place_on_full_pages(org):
    """The balances' pages keep room (fillfactor): a row whose buckets alone move gets its
    new version on its own page, without new entries in the table's indexes (a HOT update);
    on pages filled when the rows were written, it would go to another page."""
    customers = [f.customer(org) for _ in range(300)]
    # One in six moves a day, as at a million items (16,055 of 100,000).
    crossing = customers[::6]
    for c in customers:
        days = 30 if c in crossing else 40  # 30 days -> 31: buckets alone move
        f.invoice(c, due=START - dt.timedelta(days=days), amount="10.00")
    balances(org, START)
    table = CustomerBalance._meta.db_table

    def updates() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
                " WHERE relid = %s::regclass",
                [table],
            )
            row = cursor.fetchone()
        return (row[0], row[1]) if row else (0, 0)

    before = updates()
    balances(org, START + dt.timedelta(days=1))
    after = updates()
    assert after[0] - before[0] == len(crossing)
    assert after[1] - before[1] == len(crossing)
    check(org, START + dt.timedelta(days=1))


# -- the run ages them beside its customers ------------------------------------------------


def _aging_recorded(monkeypatch, fail: bool = False) -> list[tuple[str, bool]]:
    """Where the run's aging ran: (the thread's name, whether the run's customers were all
    written then), each time; with ``fail``, the aging fails after recording."""
    from relance.dunning import engine, writing

    seen: list[tuple[str, bool]] = []
    written = threading.Event()
    original_age, original_write = engine.summaries.age, writing.write

    def age(organisation_id: int, as_of: dt.date) -> None:
        seen.append((threading.current_thread().name, written.is_set()))
        if fail:
            raise RuntimeError("aging failed")
        original_age(organisation_id, as_of)

    def write(*args: Any, **kwargs: Any) -> bool:
        done = original_write(*args, **kwargs)
        written.set()
        return done

    monkeypatch.setattr(engine.summaries, "age", age)
    monkeypatch.setattr(writing, "write", write)
    return seen


def _ledger_to_run(slug: str) -> Organisation:
    org = f.organisation(slug)
    f.scenario(org)
    for n in range(12):
        c = f.customer(org)
        f.invoice(c, due=START - dt.timedelta(days=n * 9), amount=f"{n + 1}0.00")
    return org


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a thread on PostgreSQL only")
def test_the_run_ages_the_balances_on_a_connection_of_its_own_beside_its_customers(
    transactional_db, monkeypatch
):
    from relance.dunning import engine

    org = _ledger_to_run("beside")
    balances(org, START)
    seen = _aging_recorded(monkeypatch)
    nextday = START + dt.timedelta(days=31)
    engine.run(org, nextday)
    assert [name for name, _ in seen] == ["alongside"]
    assert BalanceDay.objects.get(pk=org.pk).as_of == nextday
    assert stored(org, nextday) == from_scratch(org, nextday)
    assert Communication.objects.filter(organisation=org, run_date=nextday).exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a thread on PostgreSQL only")
def test_an_aging_failed_beside_the_run_is_raised_once_the_customers_are_written(
    transactional_db, monkeypatch
):
    from relance.dunning import engine

    org = _ledger_to_run("beside-failing")
    seen = _aging_recorded(monkeypatch, fail=True)
    with pytest.raises(RuntimeError, match="aging failed"):
        engine.run(org, START)
    assert [name for name, _ in seen] == ["alongside"]
    # The customers' decisions stand; the next reader ages the balances.
    assert Communication.objects.filter(organisation=org, run_date=START).exists()


def test_inside_a_transaction_the_run_ages_the_balances_after_its_customers(org, monkeypatch):
    from relance.dunning import engine

    f.scenario(org)
    c = f.customer(org)
    f.invoice(c, due=START - dt.timedelta(days=20), amount="40.00")
    seen = _aging_recorded(monkeypatch)
    engine.run(org, START)
    assert seen == [(threading.current_thread().name, True)]
    assert stored(org, START) == from_scratch(org, START)
