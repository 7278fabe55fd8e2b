"""The reports on the demo organisation agree with a computation made from the generated
records alone, without the database."""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from relance.demo.generator import generate
from relance.demo.load import load_demo

TODAY = dt.date(2026, 11, 20)
CUSTOMERS = 60
DATES = [TODAY, TODAY - dt.timedelta(days=45), dt.date(2026, 3, 31), dt.date(2025, 9, 30)]


def open_items(data, day: dt.date) -> list[tuple[str, str, dt.date, Decimal]]:
    """(customer, currency, due date, balance at D) of every item open at D."""
    terms = {ref: c.fields.get("payment_terms_days", 30) for ref, c in data.batch.customers.items()}
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for allocation in data.batch.allocations:
        if allocation.date <= day:
            paid[allocation.invoice] += allocation.amount
    items = []
    for inv in data.batch.invoices:
        due = inv.due_date or inv.issue_date + dt.timedelta(days=terms[inv.customer])
        left = inv.amount - paid[inv.number]
        if inv.issue_date <= day and left > 0:
            items.append((inv.customer, inv.currency, due, left))
    return items


def bucket(late: int) -> str:
    if late <= 0:
        return "not_due"
    return "1-30" if late <= 30 else "31-60" if late <= 60 else "61-90" if late <= 90 else "over_90"


def months_back(day: dt.date, n: int) -> dt.date:
    month = day.month - n
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def report(*args: str) -> dict:
    out = StringIO()
    call_command("report", *args, "--org", "demo", "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    """The demo loaded once for the module (its past takes seconds to replay), then gone."""
    from django.contrib.auth import get_user_model

    from relance.demo.load import USER_EMAIL, clear

    with django_db_blocker.unblock():
        organisation = load_demo(TODAY, customers=CUSTOMERS)
        yield
        clear(organisation)
        organisation.delete()
        get_user_model().objects.filter(email=USER_EMAIL).delete()


@pytest.fixture
def demo(loaded, db):
    return generate(TODAY, customers=CUSTOMERS)


@pytest.mark.parametrize("day", DATES)
def test_it_ages_the_demo_balance_as_an_independent_computation_does(demo, day):
    expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    by_customer: dict[str, Decimal] = defaultdict(Decimal)
    for customer, currency, due, left in open_items(demo, day):
        expected[currency][bucket((day - due).days)] += left
        by_customer[customer] += left

    got = report("aged-balance", "--date", day.isoformat())

    assert set(got["totals"]) == set(expected)
    for currency, buckets in expected.items():
        total = got["totals"][currency]
        assert Decimal(total["total"]) == sum(buckets.values())
        assert {k: Decimal(v) for k, v in total["buckets"].items() if Decimal(v)} == dict(buckets)
    # Customers with only unallocated credits are listed too, with nothing in the buckets.
    listed = {c["reference"]: Decimal(c["total"]) for c in got["customers"]}
    assert {ref: total for ref, total in listed.items() if total} == dict(by_customer)


@pytest.mark.parametrize("day", DATES[:3])
def test_it_computes_the_demo_dso_as_an_independent_computation_does(demo, day):
    receivable = sum((left for _, _, _, left in open_items(demo, day)), Decimal(0))
    sales_in = lambda start, end: sum(  # noqa: E731 - (start, end]
        (i.amount for i in demo.batch.invoices if start < i.issue_date <= end), Decimal(0)
    )
    standard = (receivable / sales_in(day - dt.timedelta(days=90), day) * 90).quantize(
        Decimal("0.1"), ROUND_HALF_UP
    )
    remaining, days, n = receivable, Decimal(0), 0
    while remaining > 0:
        end, start = months_back(day, n), months_back(day, n + 1)
        sales, length = sales_in(start, end), (end - start).days
        if remaining >= sales:
            remaining, days = remaining - sales, days + length
        else:
            days, remaining = days + remaining / sales * length, Decimal(0)
        n += 1
    count_back = days.quantize(Decimal("0.1"), ROUND_HALF_UP)

    got = report("dso", "--date", day.isoformat())["currencies"]["EUR"]

    assert Decimal(got["receivables"]) == receivable
    assert Decimal(got["standard"]) == standard
    assert Decimal(got["count_back"]) == count_back
