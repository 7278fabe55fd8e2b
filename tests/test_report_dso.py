"""Days sales outstanding: hand-worked figures for the standard and count-back methods, the
period edges, currencies, tenants, and `relance report dso`."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import factories
import pytest
from django.core.management import CommandError, call_command

from relance.insights.dso import dso, months_back
from relance.ledger.models import Allocation, Customer, Invoice

D = date(2024, 6, 30)
CENT = Decimal("0.01")


def customer(org, reference, name, currency="EUR"):
    return factories.customer(org, reference, legal_name=name, currency=currency)


def invoice(org, cust, number, amount, issued, currency="EUR"):
    amount = Decimal(amount)
    excl = (amount / Decimal("1.2")).quantize(CENT)
    return factories.invoice(
        cust, number, due=issued + timedelta(days=30), issued=issued, amount=amount,
        currency=currency, amount_excl_tax=excl, tax_amount=amount - excl,
    )  # fmt: skip


def pay(org, item, reference, amount, on):
    """A payment wholly set against one item on its own date."""
    factories.pay(item, amount, on=on, reference=reference)


@pytest.fixture
def ledger(org, other_org):
    """Sales of 100,000 EUR a month; receivables at D of 150,000 (June's sale and half of
    May's)."""
    alpha = customer(org, "C001", "Alpha SA")
    april = invoice(org, alpha, "F-04", "100000", date(2024, 4, 15))
    may = invoice(org, alpha, "F-05", "100000", date(2024, 5, 15))
    june = invoice(org, alpha, "F-06", "100000", date(2024, 6, 15))
    pay(org, april, "P-04", "100000", date(2024, 5, 20))
    pay(org, may, "P-05", "50000", date(2024, 6, 20))
    pay(org, june, "P-06", "100000", date(2024, 7, 5))  # after D: still owed at D
    invoice(org, alpha, "F-07", "80000", date(2024, 7, 1))  # after D: not a sale yet

    beta = customer(org, "C002", "Beta Inc", currency="USD")
    invoice(org, beta, "U-06", "10000", date(2024, 6, 1), currency="USD")

    intruder = customer(other_org, "C001", "Alpha SA (Globex)")
    invoice(other_org, intruder, "F-06", "1000000", date(2024, 6, 10))
    return org


def run(*args):
    out = StringIO()
    call_command("report", "dso", *args, stdout=out)
    return out.getvalue()


def test_it_computes_the_standard_dso_by_hand(ledger):
    eur = dso(ledger, D).currencies["EUR"]
    assert eur.receivables == Decimal("150000.00")
    assert eur.sales == Decimal("300000.00")  # 15 April, 15 May, 15 June
    assert eur.standard == Decimal("45.0")  # 150,000 / 300,000 x 90
    assert eur.standard_note == ""


def test_it_computes_the_count_back_dso_by_hand(ledger):
    eur = dso(ledger, D).currencies["EUR"]
    # June's 100,000 is covered: its 30 days; 50,000 left of May's 100,000: half of 31 days.
    assert eur.count_back == Decimal("45.5")
    assert [(m.start, m.end, m.days, m.sales, m.days_counted) for m in eur.count_back_months] == [
        (date(2024, 5, 31), date(2024, 6, 30), 30, Decimal("100000.00"), Decimal("30")),
        (date(2024, 4, 30), date(2024, 5, 31), 31, Decimal("100000.00"), Decimal("15.5")),
    ]


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (45, "67.5"),  # (16 May, 30 June]: June only, 150,000 / 100,000 x 45
        (46, "69.0"),  # (15 May, 30 June]: 15 May is the excluded start
        (47, "35.3"),  # (14 May, 30 June]: May and June, 150,000 / 200,000 x 47 = 35.25
    ],
)
def test_it_takes_the_sales_of_the_period_ending_at_the_date(ledger, days, expected):
    assert dso(ledger, D, days).currencies["EUR"].standard == Decimal(expected)


def test_it_keeps_currencies_and_organisations_apart(ledger, other_org):
    result = dso(ledger, D)
    assert list(result.currencies) == ["EUR", "USD"]
    usd = result.currencies["USD"]
    assert (usd.receivables, usd.sales) == (Decimal("10000.00"), Decimal("10000.00"))
    assert usd.standard == Decimal("90.0")  # all of the period's sales are owed
    assert usd.count_back == Decimal("30.0")  # June's sales, all owed: June's 30 days
    theirs = dso(other_org, D).currencies
    assert list(theirs) == ["EUR"]
    assert theirs["EUR"].receivables == Decimal("1000000.00")
    assert theirs["EUR"].standard == Decimal("90.0")


def test_it_explains_a_dso_without_sales(org):
    old = customer(org, "C9", "Old Ltd", currency="GBP")
    invoice(org, old, "G-1", "1000", date(2024, 1, 10), currency="GBP")
    gbp = dso(org, D).currencies["GBP"]
    assert gbp.sales == Decimal("0.00")
    assert gbp.standard is None
    assert gbp.standard_note == "no credit sales in the 90 days to 2024-06-30: no standard DSO"
    # Counted back through five months without sales (June 30, May 31, April 30, March 31,
    # February 29) to January, whose 1,000 is all owed: its 31 days.
    assert gbp.count_back == Decimal("182.0")
    assert len(gbp.count_back_months) == 6


def test_it_gives_zero_days_when_nothing_is_owed(org):
    alpha = customer(org, "C1", "Alpha SA")
    item = invoice(org, alpha, "F-1", "500", date(2024, 6, 1))
    pay(org, item, "P-1", "500", date(2024, 6, 10))
    eur = dso(org, D).currencies["EUR"]
    assert (eur.receivables, eur.standard, eur.count_back) == (
        Decimal("0.00"),
        Decimal("0.0"),
        Decimal("0.0"),
    )
    assert dso(org, date(2024, 5, 31)).currencies == {}


@pytest.mark.parametrize(
    ("as_of", "months", "expected"),
    [
        (date(2024, 6, 30), 1, date(2024, 5, 31)),  # month ends stay month ends
        (date(2024, 4, 30), 1, date(2024, 3, 31)),
        (date(2024, 3, 31), 1, date(2024, 2, 29)),
        (date(2023, 3, 31), 1, date(2023, 2, 28)),
        (date(2024, 3, 30), 1, date(2024, 2, 29)),  # clamped
        (date(2024, 5, 15), 3, date(2024, 2, 15)),
        (date(2024, 1, 15), 1, date(2023, 12, 15)),
        (date(2024, 1, 15), 13, date(2022, 12, 15)),
    ],
)
def test_it_walks_back_calendar_months(as_of, months, expected):
    assert months_back(as_of, months) == expected


def test_it_agrees_with_a_plain_loop_over_the_ledger(ledger):
    as_of = date(2024, 6, 20)  # the day May's invoice is half paid
    # (20 May, 20 June], (20 April, 20 May], (20 March, 20 April], ...
    months = [(date(2024, m - 1, 20), date(2024, m, 20)) for m in range(6, 1, -1)]
    invoices = list(Invoice.objects.filter(organisation=ledger, currency="EUR"))
    owed = Decimal(0)
    for item in invoices:
        if item.issue_date <= as_of:
            paid = sum(
                (a.amount for a in Allocation.objects.filter(invoice=item) if a.date <= as_of),
                Decimal(0),
            )
            owed += item.amount - paid
    sales = sum(
        (i.amount for i in invoices if as_of - timedelta(days=60) < i.issue_date <= as_of),
        Decimal(0),
    )
    remaining, days = owed, Decimal(0)
    for start, end in months:
        month_sales = sum((i.amount for i in invoices if start < i.issue_date <= end), Decimal(0))
        if remaining <= 0:
            break
        if remaining >= month_sales:
            days += (end - start).days
            remaining -= month_sales
        else:
            days += remaining / month_sales * (end - start).days
            remaining = 0
    tenth = Decimal("0.1")

    document = json.loads(run("--org", "acme", "--date", "2024-06-20", "--days", "60", "--json"))
    eur = document["currencies"]["EUR"]
    assert Decimal(eur["receivables"]) == owed
    assert Decimal(eur["sales"]) == sales
    assert Decimal(eur["standard"]) == (owed / sales * 60).quantize(tenth, ROUND_HALF_UP)
    assert Decimal(eur["count_back"]) == days.quantize(tenth, ROUND_HALF_UP)
    # The same by hand: owed 100,000 (June's) + 50,000 (May's, half paid that very day);
    # count-back 31 days of (20 May, 20 June] + half of the 30 days of (20 April, 20 May];
    # standard over (21 April, 20 June]: 150,000 / 200,000 x 60.
    assert (eur["receivables"], eur["count_back"], eur["standard"]) == (
        "150000.00",
        "46.0",
        "45.0",
    )


def test_it_prints_one_json_document(ledger):
    document = json.loads(run("--org", "acme", "--date", "2024-06-30", "--json"))
    assert document["report"] == "dso"
    assert (document["organisation"], document["as_of"], document["days"]) == (
        "acme",
        "2024-06-30",
        90,
    )
    eur = document["currencies"]["EUR"]
    assert (eur["standard"], eur["count_back"]) == ("45.0", "45.5")
    assert eur["count_back_months"][1] == {
        "start": "2024-04-30",
        "end": "2024-05-31",
        "days": 31,
        "sales": "100000.00",
        "days_counted": "15.5",
    }
    assert document["currencies"]["USD"]["receivables"] == "10000.00"


def test_it_prints_a_table_for_people(ledger):
    text = run("--org", "acme", "--date", "2024-06-30")
    assert "DSO of Acme Industrie SAS at 2024-06-30" in text
    assert "150,000.00 EUR" in text
    assert "45.0 days" in text
    assert "45.5 days" in text
    assert "1,000,000.00" not in text


def test_it_prints_the_reason_for_a_missing_dso(org):
    old = customer(org, "C9", "Old Ltd")
    invoice(org, old, "F-1", "1000", date(2024, 1, 10))
    text = run("--date", "2024-06-30")
    assert "n/a" in text
    assert "EUR: no credit sales in the 90 days to 2024-06-30: no standard DSO" in text
    assert (
        json.loads(run("--date", "2024-06-30", "--json"))["currencies"]["EUR"]["standard"] is None
    )


def test_it_uses_a_fixed_number_of_queries(ledger, django_assert_num_queries):
    alpha = Customer.objects.get(organisation=ledger, reference="C001")
    for n in range(40):
        invoice(ledger, alpha, f"MORE-{n}", "1", date(2023, 1, 1) + timedelta(days=11 * n))
    with django_assert_num_queries(2):
        result = dso(ledger, D)
    assert result.currencies["EUR"].receivables == Decimal("150040.00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "'0' is not a whole number of days above 0"),
        (["--days", "ninety"], "is not a whole number of days"),
        (["--date", "2024-13-01"], "is not a date: use YYYY-MM-DD"),
        (["--org", "initech"], "no organisation 'initech'"),
    ],
)
def test_it_rejects_bad_arguments(org, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
