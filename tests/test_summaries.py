"""Customer balances: what each customer owes, aged as of a day."""

import datetime as dt
from decimal import Decimal

import factories as f

from relance.ledger.summaries import balances


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
