"""Amounts add up exactly on SQLite as on PostgreSQL: the stored balances, the aged balance
(command and console alike) and the DSO. SQLite keeps decimals as binary floats, in which
1000.30 + 234.60 is a little more than 1234.90."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import factories
import pytest

from relance.insights.aging import aged_balance
from relance.insights.dashboard import receivables
from relance.insights.dso import dso
from relance.ledger.models import Invoice
from relance.ledger.summaries import balances

DUE = date(2024, 3, 1)
PAID = date(2024, 3, 15)
D = date(2024, 3, 31)
# Invoices paid in full by two parts whose float sum exceeds the invoice.
PAID_IN_PARTS = [
    ("1234.90", "1000.30", "234.60"),
    ("0.90", "0.30", "0.60"),
    ("0.07", "0.01", "0.06"),
]


@pytest.fixture
def ledger(org):
    customer = factories.customer(org, "C001")
    for total, *parts in PAID_IN_PARTS:
        item = factories.invoice(customer, f"PAID-{total}", due=DUE, amount=total)
        for part in parts:
            factories.pay(item, part, on=PAID)
    # 0.10 of 0.30 paid: 0.20 open, overdue.
    factories.pay(factories.invoice(customer, "OPEN", due=DUE, amount="0.30"), "0.10", on=PAID)
    # Paid in full, but the money counts from after D: open at D, not due.
    later = factories.invoice(customer, "LATER", due=D + timedelta(days=5), amount="0.70")
    factories.pay(later, "0.40", on=D + timedelta(days=1))
    factories.pay(later, "0.30", on=D + timedelta(days=2))
    return org


def test_it_settles_an_invoice_paid_in_full_in_parts_that_floats_do_not_add_up(ledger):
    items = {
        i.number: (i.balance, i.settled_on) for i in Invoice.objects.filter(organisation=ledger)
    }
    for total, *_ in PAID_IN_PARTS:
        assert items[f"PAID-{total}"] == (Decimal("0.00"), PAID)
    assert items["OPEN"] == (Decimal("0.20"), None)
    still_open = Invoice.objects.filter(organisation=ledger, balance__gt=0)
    assert sorted(still_open.values_list("number", flat=True)) == ["OPEN"]


def test_it_leaves_invoices_paid_in_full_out_of_the_aged_balance(ledger):
    report = aged_balance(ledger, D)
    [line] = report.customers
    assert (line.items, line.overdue_items, line.total) == (2, 1, Decimal("0.90"))
    totals = report.totals["EUR"]
    assert (totals.items, totals.overdue_items, totals.total) == (2, 1, Decimal("0.90"))
    assert totals.buckets["not_due"] == Decimal("0.70")


def test_it_shows_in_the_console_what_the_aged_balance_shows(ledger):
    """The dashboard adds up the customer balances: exactly, as the report adds up items."""
    after = D + timedelta(days=5)  # the console shows balances as they are: after every payment
    for reference, amount in (("C002", "0.10"), ("C003", "0.20")):
        factories.invoice(factories.customer(ledger, reference), due=DUE, amount=amount)
    [currency] = receivables(balances(ledger, after)).values()
    totals = aged_balance(ledger, after).totals["EUR"]
    assert (currency.open_items, currency.overdue_items) == (totals.items, totals.overdue_items)
    assert (currency.currency, currency.open_amount, currency.overdue_amount) == (
        "EUR", totals.total, totals.total - totals.buckets["not_due"],
    )  # fmt: skip
    assert currency.buckets == totals.buckets
    assert (currency.open_items, currency.open_amount) == (3, Decimal("0.50"))


def test_it_adds_up_amounts_whose_sum_has_more_digits_than_a_float_keeps(org):
    customer = factories.customer(org, "C001")
    issued = D - timedelta(days=10)
    for n, amount in enumerate(["4000000000000.01", "8000000000000.02"]):
        factories.invoice(customer, f"BIG-{n}", due=D + timedelta(days=20), amount=amount,
                          issued=issued)  # fmt: skip
    exact = Decimal("12000000000000.03")
    assert aged_balance(org, D).totals["EUR"].total == exact
    result = dso(org, D).currencies["EUR"]
    assert (result.receivables, result.sales, result.standard) == (exact, exact, Decimal("90.0"))


def test_it_settles_the_invoices_that_float_sums_left_open_when_migrating(org):
    """Balances stored before sums were exact keep a trace on SQLite: the migration
    recomputes them."""
    import importlib

    from django.db import connection
    from django.db.models import DecimalField, ExpressionWrapper, F, Value

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's sums were exact")
    customer = factories.customer(org, "C001")
    item = factories.invoice(customer, "PAID", due=DUE, amount="1234.90")
    factories.pay(item, "1000.30", on=DUE)
    factories.pay(item, "234.60", on=PAID)
    # What the float sum stored: 1234.90 - (1000.30 + 234.60) in binary floats.
    drift = F("amount") - (Value(1000.30) + Value(234.60))
    Invoice.objects.filter(pk=item.pk).update(
        balance=ExpressionWrapper(drift, output_field=DecimalField()), settled_on=None
    )
    assert Invoice.objects.filter(pk=item.pk, balance__gt=0).exists()

    migration = importlib.import_module("relance.ledger.migrations.0004_exact_balances")
    from django.apps import apps

    migration.exact_balances(apps, connection.schema_editor())
    item.refresh_from_db()
    assert (item.balance, item.settled_on) == (Decimal("0.00"), PAID)
    assert not Invoice.objects.filter(pk=item.pk, balance__gt=0).exists()
