"""``relance.lib.bulk.select``: rows read by the driver hold what the ORM gives, on both
databases (the imports compare them with a file's values)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factories
import pytest

from relance.ledger.models import Invoice, Payment
from relance.lib import bulk

pytestmark = pytest.mark.django_db
DUE = dt.date(2026, 11, 2)
FIELDS = ("id", "number", "customer_id", "issue_date", "due_date", "due_date_derived", "amount",
          "amount_excl_tax", "tax_amount", "balance", "settled_on", "po_reference")  # fmt: skip


def test_it_gives_the_orm_values(org):
    customer = factories.customer(org)
    # Amounts a float does not hold exactly, a whole amount (SQLite stores it as an
    # integer), an amount of thirteen digits, and empty ones.
    factories.invoice(customer, "F-1", due=DUE, amount="0.10", amount_excl_tax="0.07",
                      tax_amount="0.03", due_date_derived=True, po_reference="PO 7")  # fmt: skip
    factories.invoice(customer, "F-2", due=DUE, amount="1200", settled_on=DUE)
    factories.invoice(customer, "F-3", due=DUE, amount="98765432109.99")
    expected = list(Invoice.objects.order_by("pk").values_list(*FIELDS))
    got = sorted(bulk.select(Invoice, FIELDS, "organisation_id = %s", [org.pk]))
    assert got == expected
    # Not only equal: the same types and places (a Decimal 1200.00 is what a file compares).
    assert [tuple(map(type, row)) for row in got] == [tuple(map(type, r)) for r in expected]
    assert [str(row[6]) for row in got] == ["0.10", "1200.00", "98765432109.99"]


def test_it_gives_the_rows_of_its_condition_only(org):
    customer = factories.customer(org)
    for n in range(3):
        factories.pay(factories.invoice(customer, f"F-{n}", due=DUE), on=DUE, reference=f"P-{n}")
    rows = bulk.select(Payment, ["reference", "amount", "date"], "reference IN (%s, %s)",
                       ["P-0", "P-2"])  # fmt: skip
    assert sorted(rows) == [("P-0", Decimal("100.00"), DUE), ("P-2", Decimal("100.00"), DUE)]


def test_it_refuses_fields_it_would_read_otherwise_than_the_orm(org):
    with pytest.raises(ValueError, match="created_at"):
        next(bulk.select(Payment, ["id", "created_at"], "1 = 1", []))
