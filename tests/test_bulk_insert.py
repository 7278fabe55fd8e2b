"""``relance.lib.bulk.insert`` with ``conflict``: upserts, as the run writes the item states."""

from __future__ import annotations

import datetime as dt

import factories
import pytest
from django.db import connection, transaction

from relance.dunning.models import ItemState, ItemToThank
from relance.ledger.models import Invoice
from relance.lib import bulk

pytestmark = pytest.mark.django_db
DUE = dt.date(2026, 11, 2)
TABLE = ItemState._meta.db_table
COLUMNS = ["invoice_id", "level", "level_date", "thanked", "organisation_id"]


def paid(org, n: int) -> list[Invoice]:
    """Invoices whose balance is nil: an item state at a level, not thanked, is to thank."""
    customer = factories.customer(org)
    many = [factories.invoice(customer, f"F-{i:03d}", due=DUE, amount=100) for i in range(n)]
    Invoice.objects.filter(customer=customer).update(balance=0)
    return many


def states() -> dict[int, tuple[int, dt.date | None]]:
    return {s.invoice_id: (s.level, s.level_date) for s in ItemState.objects.all()}


def test_it_inserts_new_rows_and_updates_the_given_columns_of_existing_ones(org):
    a, b, c = paid(org, 3)
    ItemState.objects.create(invoice=a, organisation=org, level=1, level_date=DUE)
    ItemState.objects.create(invoice=b, organisation=org, level=2, level_date=DUE)
    later = DUE + dt.timedelta(days=7)
    bulk.insert(TABLE, COLUMNS,
                [(a.pk, 3, str(later), 0, org.pk), (b.pk, 0, None, 0, org.pk),
                 (c.pk, 1, str(later), 0, org.pk)],
                conflict=["invoice_id"], update=["level"])  # fmt: skip
    # The level updated, the level's date (not in ``update``) kept; the new row inserted whole.
    assert states() == {a.pk: (3, DUE), b.pk: (0, DUE), c.pk: (1, later)}


def test_update_may_set_a_column_from_the_new_and_the_stored_row(org):
    """As the run writes the levels: a date given replaces the stored one, none keeps it."""
    a, b, c = paid(org, 3)
    ItemState.objects.create(invoice=a, organisation=org, level=1, level_date=DUE)
    ItemState.objects.create(invoice=b, organisation=org, level=2, level_date=DUE)
    later = DUE + dt.timedelta(days=7)
    kept = f"COALESCE(excluded.level_date, {TABLE}.level_date)"
    bulk.insert(TABLE, COLUMNS,
                [(a.pk, 3, str(later), 0, org.pk), (b.pk, 4, None, 0, org.pk),
                 (c.pk, 1, None, 0, org.pk)],
                conflict=["invoice_id"],
                update={"level": "excluded.level", "level_date": kept})  # fmt: skip
    assert states() == {a.pk: (3, later), b.pk: (4, DUE), c.pk: (1, None)}


def test_without_update_existing_rows_are_left_alone(org):
    a, b = paid(org, 2)
    ItemState.objects.create(invoice=a, organisation=org, level=1, level_date=DUE)
    bulk.insert(TABLE, COLUMNS, [(a.pk, 4, None, 0, org.pk), (b.pk, 2, None, 0, org.pk)],
                conflict=["invoice_id"])  # fmt: skip
    assert states() == {a.pk: (1, DUE), b.pk: (2, None)}


def test_the_triggers_fire_for_inserted_and_updated_rows(org):
    """The states' triggers keep the items to thank: each row inserted or updated fires."""
    a, b, c = paid(org, 3)
    ItemState.objects.create(invoice=a, organisation=org, level=0)
    ItemState.objects.create(invoice=b, organisation=org, level=2, level_date=DUE)
    assert set(ItemToThank.objects.values_list("invoice_id", flat=True)) == {b.pk}
    bulk.insert(TABLE, COLUMNS,
                [(a.pk, 1, None, 0, org.pk), (b.pk, 0, None, 0, org.pk),
                 (c.pk, 1, None, 0, org.pk)],
                conflict=["invoice_id"], update=["level"])  # fmt: skip
    assert set(ItemToThank.objects.values_list("invoice_id", flat=True)) == {a.pk, c.pk}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses a key twice")
def test_sqlite_the_last_row_of_a_key_wins(org):
    (a,) = paid(org, 1)
    bulk.insert(TABLE, COLUMNS, [(a.pk, 1, None, 0, org.pk), (a.pk, 3, None, 0, org.pk)],
                conflict=["invoice_id"], update=["level"])  # fmt: skip
    assert states() == {a.pk: (3, None)}


def test_an_error_leaves_nothing_for_the_next_call(org):
    a, b = paid(org, 2)
    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 (either driver's)
        bulk.insert(TABLE, COLUMNS, [(a.pk, 1, None, 0, org.pk), (b.pk, None, None, 0, org.pk)],
                    conflict=["invoice_id"], update=["level"])  # fmt: skip
    bulk.insert(TABLE, COLUMNS, [(b.pk, 2, None, 0, org.pk)], conflict=["invoice_id"],
                update=["level"])  # fmt: skip
    assert states() == {b.pk: (2, None)}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's statements")
def test_sqlite_runs_one_upsert_for_all_rows(org):
    """A statement per row fires the states' triggers each with its statement journal,
    which inside a savepoint costs in proportion to what the transaction wrote before."""
    many = paid(org, 40)
    for i in many[:20]:
        ItemState.objects.create(invoice=i, organisation=org, level=1, level_date=DUE)
    statements: list[str] = []
    connection.ensure_connection()
    connection.connection.set_trace_callback(statements.append)
    try:
        with transaction.atomic():  # a savepoint, as in the run's chunk
            bulk.insert(TABLE, COLUMNS, [(i.pk, 2, None, 0, org.pk) for i in many],
                        conflict=["invoice_id"], update=["level"])  # fmt: skip
    finally:
        connection.connection.set_trace_callback(None)
    upsert = f"INSERT INTO {TABLE.upper()} "
    upserts = [s for s in statements if s.lstrip().upper().startswith(upsert)]
    # One statement (the trace repeats it as each row's triggers run), not one per row.
    assert len(set(upserts)) == 1
    assert {level for level, _ in states().values()} == {2}
    assert len(states()) == 40
