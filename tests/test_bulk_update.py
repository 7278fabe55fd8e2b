"""``relance.lib.bulk.update``: many rows by key in one statement, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factories
import pytest
from django.db import connection, transaction

from relance.ledger.models import Invoice
from relance.lib import bulk

pytestmark = pytest.mark.django_db
DUE = dt.date(2026, 11, 2)


def invoices(org, n: int) -> list[Invoice]:
    customer = factories.customer(org)
    return [factories.invoice(customer, f"F-{i:03d}", due=DUE, amount=100 + i) for i in range(n)]


def test_it_writes_each_row_by_its_key_and_no_other(org):
    a, _, c = invoices(org, 3)
    bulk.update("ledger_invoice", ["balance", "settled_on"], ["id"],
                [(Decimal("0"), dt.date(2026, 11, 20), a.pk), ("12.50", None, c.pk)])  # fmt: skip
    rows = dict(Invoice.objects.values_list("number", "balance"))
    assert rows == {"F-000": Decimal("0"), "F-001": Decimal("101"), "F-002": Decimal("12.50")}
    assert Invoice.objects.get(pk=a.pk).settled_on == dt.date(2026, 11, 20)


def test_a_second_key_is_a_condition(org):
    a, b = invoices(org, 2)
    moved = DUE + dt.timedelta(days=1)
    Invoice.objects.filter(pk=b.pk).update(due_date=moved)
    bulk.update("ledger_invoice", ["moves_on"], ["id", "due_date"],
                [(dt.date(2026, 12, 1), a.pk, DUE), (dt.date(2026, 12, 1), b.pk, DUE)])  # fmt: skip
    assert dict(Invoice.objects.values_list("number", "moves_on")) == {
        "F-000": dt.date(2026, 12, 1), "F-001": None,
    }  # fmt: skip


def test_it_writes_while_a_read_is_pending(org):
    many = invoices(org, 30)
    reading = Invoice.objects.values_list("pk", flat=True).iterator(chunk_size=2)
    next(reading)
    bulk.update("ledger_invoice", ["balance"], ["id"], [("1.00", i.pk) for i in many])
    bulk.update("ledger_invoice", ["balance"], ["id"], [("2.00", i.pk) for i in many])
    assert set(Invoice.objects.values_list("balance", flat=True)) == {Decimal("2.00")}
    assert len([next(reading), *reading]) == 29


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's statements")
def test_sqlite_runs_one_update_for_all_rows(org):
    """A statement per row fires the invoice's triggers each with its statement journal,
    which inside a savepoint costs in proportion to what the transaction wrote before."""
    many = invoices(org, 40)
    statements: list[str] = []
    connection.ensure_connection()
    connection.connection.set_trace_callback(statements.append)
    try:
        with transaction.atomic():  # a savepoint, as in an import run by the command
            bulk.update("ledger_invoice", ["balance"], ["id"], [("0", i.pk) for i in many])
    finally:
        connection.connection.set_trace_callback(None)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE LEDGER_INVOICE")]
    # One statement (the trace repeats it as each row's triggers run), not one per row.
    assert len(set(updates)) == 1
    assert Invoice.objects.filter(balance=0).count() == 40
