"""The aged balance: hand-worked figures, the bucket edges, past dates, currencies, tenants,
and the `relance report aged-balance` command."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import commands
import factories as make
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from relance.insights.aging import aged_balance
from relance.ledger.models import Allocation, Customer, Invoice, Payment

D = date(2024, 6, 30)
CENT = Decimal("0.01")
BUCKETS = ["not_due", "1-30", "31-60", "61-90", "over_90"]


# --- building a ledger through the ORM -------------------------------------------------


def customer(org, reference, name, currency="EUR"):
    return make.customer(org, reference, legal_name=name, currency=currency)


def invoice(cust, number, amount, *, due, issued=None, currency="EUR"):
    amount = Decimal(amount)
    excl = (amount / Decimal("1.2")).quantize(CENT)
    return make.invoice(cust, number, due=due, amount=amount, issued=issued, currency=currency,
                        amount_excl_tax=excl, tax_amount=amount - excl)  # fmt: skip


def payment(cust, reference, amount, on, allocations=(), currency="EUR"):
    """A payment and its allocations [(invoice, amount, date matched)]."""
    return make.received(cust, amount, on=on, allocations=allocations, reference=reference,
                         currency=currency)  # fmt: skip


@pytest.fixture
def ledger(org, other_org):
    alpha = customer(org, "C001", "Alpha SA")
    # One item on each side of every bucket edge: days overdue -5, 0, 1, 30, 31, ...
    amounts = {-5: "10", 0: "20", 1: "40", 30: "80", 31: "160", 60: "320", 61: "640"}
    amounts |= {90: "1280", 91: "2560"}
    for days, amount in amounts.items():
        invoice(alpha, f"A{days:+d}", amount, due=D - timedelta(days=days))
    # Issued the day after D: not there yet.
    invoice(alpha, "A-LATER", "5000", issued=D + timedelta(days=1), due=D + timedelta(31))
    # 45 days late, 400 of 1000 paid before D: 600 open in 31-60.
    partial = invoice(alpha, "A-PART", "1000", due=D - timedelta(days=45))
    payment(alpha, "P-PART", "400", date(2024, 6, 10), [(partial, "400", date(2024, 6, 10))])
    # 10 days late, paid after D: wholly open at D in 1-30.
    late = invoice(alpha, "A-PAIDLATE", "300", due=D - timedelta(days=10))
    payment(alpha, "P-LATE", "300", date(2024, 7, 5), [(late, "300", date(2024, 7, 5))])
    # Paid before D: gone.
    paid = invoice(alpha, "A-PAID", "700", due=D - timedelta(days=100))
    payment(alpha, "P-PAID", "700", date(2024, 5, 1), [(paid, "700", date(2024, 5, 1))])
    # 70 days late; received before D but matched after D: the item is open at D (61-90)
    # and the payment is an unallocated credit at D.
    matched = invoice(alpha, "A-MATCHED", "250", due=D - timedelta(days=70))
    payment(alpha, "P-MATCHED", "250", date(2024, 6, 20), [(matched, "250", date(2024, 7, 2))])
    payment(alpha, "CN-1", "90", date(2024, 6, 15))  # credit note, not allocated
    payment(alpha, "P-AFTER", "55", date(2024, 7, 3))  # after D: not a credit at D

    beta = customer(org, "C002", "Beta GmbH")
    invoice(beta, "B-EUR", "1500", due=D - timedelta(days=15))
    invoice(beta, "B-USD1", "2000", due=D - timedelta(days=40), currency="USD")
    invoice(beta, "B-USD2", "700", due=D + timedelta(days=10), currency="USD")

    gamma = customer(org, "C003", "Gamma Inc", currency="USD")
    old = invoice(gamma, "G-1", "300", due=D - timedelta(days=95), currency="USD")
    payment(gamma, "P-G", "100", date(2024, 6, 1), [(old, "100", date(2024, 6, 1))], "USD")

    # Another organisation, with the same account code: never visible.
    intruder = customer(other_org, "C001", "Alpha SA (Globex)")
    invoice(intruder, "A+1", "99999", due=D - timedelta(days=1))
    payment(intruder, "P-PART", "77777", date(2024, 6, 1))
    return org


def run(*args):
    out = StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def run_json(*args):
    return json.loads(run(*args, "--json"))


# --- the independent computation: a plain loop over what was created -------------------


def expected_by_loop(org, as_of):
    """The aged balance written out naively: every item, every allocation, in Python."""
    customers, totals = {}, {}
    for item in Invoice.objects.filter(organisation=org).select_related("customer"):
        if item.issue_date > as_of:
            continue
        paid = sum(
            (a.amount for a in Allocation.objects.filter(invoice=item) if a.date <= as_of),
            Decimal(0),
        )
        balance = item.amount - paid
        if balance <= 0:
            continue
        days = (as_of - item.due_date).days
        if days <= 0:
            bucket = "not_due"
        elif days <= 30:
            bucket = "1-30"
        elif days <= 60:
            bucket = "31-60"
        elif days <= 90:
            bucket = "61-90"
        else:
            bucket = "over_90"
        key = (item.customer.reference, item.currency)
        line = customers.setdefault(key, {b: Decimal(0) for b in [*BUCKETS, "credits"]})
        line[bucket] += balance
    for pay in Payment.objects.filter(organisation=org).select_related("customer"):
        if pay.date > as_of:
            continue
        used = sum((a.amount for a in pay.allocations.all() if a.date <= as_of), Decimal(0))
        if pay.amount - used:
            key = (pay.customer.reference, pay.currency)
            line = customers.setdefault(key, {b: Decimal(0) for b in [*BUCKETS, "credits"]})
            line["credits"] += pay.amount - used
    for (_, currency), line in customers.items():
        total = totals.setdefault(currency, {b: Decimal(0) for b in [*BUCKETS, "credits"]})
        for name, value in line.items():
            total[name] += value
    return customers, totals


def figures_from_json(document):
    customers = {
        (c["reference"], c["currency"]): {
            **{b: Decimal(v) for b, v in c["buckets"].items()},
            "credits": Decimal(c["unallocated_credits"]),
        }
        for c in document["customers"]
    }
    totals = {
        currency: {
            **{b: Decimal(v) for b, v in t["buckets"].items()},
            "credits": Decimal(t["unallocated_credits"]),
        }
        for currency, t in document["totals"].items()
    }
    return customers, totals


# --- the report ------------------------------------------------------------------------


def test_it_sorts_each_item_into_its_bucket_at_the_edges(ledger):
    report = aged_balance(ledger, D)
    alpha = next(c for c in report.customers if c.reference == "C001")
    assert alpha.currency == "EUR"
    assert alpha.buckets == {
        "not_due": Decimal("30.00"),  # -5 and 0 days: 10 + 20
        "1-30": Decimal("420.00"),  # 1 and 30 days: 40 + 80, and 300 paid after D
        "31-60": Decimal("1080.00"),  # 31 and 60 days: 160 + 320, and 600 of 1000
        "61-90": Decimal("2170.00"),  # 61 and 90 days: 640 + 1280, and 250 matched after D
        "over_90": Decimal("2560.00"),  # 91 days
    }
    assert alpha.total == Decimal("6260.00")
    assert alpha.items == 12  # 9 edge items + partial + paid late + matched late
    assert alpha.unallocated_credits == Decimal("340.00")  # 250 matched after D + 90


def test_it_never_adds_two_currencies(ledger):
    report = aged_balance(ledger, D)
    beta = {c.currency: c for c in report.customers if c.reference == "C002"}
    assert set(beta) == {"EUR", "USD"}
    assert beta["EUR"].total == Decimal("1500.00")
    assert beta["USD"].buckets["31-60"] == Decimal("2000.00")
    assert beta["USD"].buckets["not_due"] == Decimal("700.00")
    eur, usd = report.totals["EUR"], report.totals["USD"]
    assert set(report.totals) == {"EUR", "USD"}
    assert eur.total == Decimal("7760.00")  # 6260 + 1500
    assert eur.buckets["1-30"] == Decimal("1920.00")  # 420 + 1500
    assert (eur.customers, eur.items, eur.unallocated_credits) == (2, 13, Decimal("340.00"))
    assert usd.total == Decimal("2900.00")  # 700 + 2000 + (300 - 100)
    assert usd.buckets == {
        "not_due": Decimal("700.00"),
        "1-30": Decimal("0.00"),
        "31-60": Decimal("2000.00"),
        "61-90": Decimal("0.00"),
        "over_90": Decimal("200.00"),
    }
    assert (usd.customers, usd.items) == (2, 3)


def test_it_shows_nothing_of_another_organisation(ledger, other_org):
    report = aged_balance(ledger, D)
    assert [c.legal_name for c in report.customers] == [
        "Alpha SA",
        "Beta GmbH",
        "Beta GmbH",
        "Gamma Inc",
    ]
    theirs = aged_balance(other_org, D)
    assert [(c.legal_name, c.total, c.unallocated_credits) for c in theirs.customers] == [
        ("Alpha SA (Globex)", Decimal("99999.00"), Decimal("77777.00"))
    ]


def test_it_reads_the_balance_at_a_past_date(org):
    acme = customer(org, "C9", "Delta SARL")
    item = invoice(acme, "F-1", "1000", issued=date(2024, 4, 1), due=date(2024, 5, 1))
    payment(acme, "P-1", "600", date(2024, 5, 20), [(item, "600", date(2024, 5, 20))])
    payment(acme, "P-2", "400", date(2024, 6, 20), [(item, "400", date(2024, 6, 20))])

    def line(as_of):
        lines = aged_balance(org, as_of).customers
        return {k: v for k, v in lines[0].buckets.items() if v} if lines else {}

    assert line(date(2024, 3, 31)) == {}  # not issued yet
    assert line(date(2024, 4, 1)) == {"not_due": Decimal("1000.00")}
    assert line(date(2024, 5, 10)) == {"1-30": Decimal("1000.00")}
    assert line(date(2024, 5, 31)) == {"1-30": Decimal("400.00")}  # 30 days, 600 paid
    assert line(date(2024, 6, 19)) == {"31-60": Decimal("400.00")}
    assert line(date(2024, 6, 20)) == {}  # paid in full that day


def test_it_lists_a_customer_who_has_only_credits(org):
    delta = customer(org, "C8", "Delta SARL")
    payment(delta, "CN-8", "75.50", date(2024, 6, 1))
    settled = customer(org, "C7", "Epsilon SAS")
    item = invoice(settled, "E-1", "200", due=date(2024, 6, 1))
    payment(settled, "P-7", "200", date(2024, 6, 2), [(item, "200", date(2024, 6, 2))])
    [line] = aged_balance(org, D).customers
    assert (line.reference, line.total, line.items) == ("C8", Decimal("0.00"), 0)
    assert line.unallocated_credits == Decimal("75.50")
    assert aged_balance(org, date(2024, 5, 1)).customers == []  # before both


@pytest.mark.parametrize("as_of", [D, date(2024, 5, 31), date(2024, 6, 15), date(2024, 7, 31)])
def test_it_agrees_with_a_plain_loop_over_the_ledger(ledger, as_of):
    document = run_json("aged-balance", "--org", "acme", "--date", as_of.isoformat())
    assert document["as_of"] == as_of.isoformat()
    assert figures_from_json(document) == expected_by_loop(ledger, as_of)
    for line in document["customers"]:
        assert Decimal(line["total"]) == sum(Decimal(v) for v in line["buckets"].values())


def test_it_uses_a_fixed_number_of_queries(ledger, django_assert_num_queries):
    alpha = Customer.objects.get(organisation=ledger, reference="C001")
    for n in range(50):
        invoice(alpha, f"MORE-{n}", "1", due=D - timedelta(days=n))
    with django_assert_num_queries(3):  # items, payments, their allocations
        report = aged_balance(ledger, D)
    assert report.totals["EUR"].items == 63


# --- the command -------------------------------------------------------------------------


def test_it_prints_one_json_document_with_exact_amounts(ledger):
    text = run("aged-balance", "--org", "acme", "--date", "2024-06-30", "--json")
    document = json.loads(text)  # fails on anything else on stdout
    assert document["report"] == "aged-balance"
    assert document["organisation"] == "acme"
    assert document["buckets"] == BUCKETS
    alpha = document["customers"][0]
    assert alpha == {
        "reference": "C001",
        "legal_name": "Alpha SA",
        "currency": "EUR",
        "buckets": {
            "not_due": "30.00",
            "1-30": "420.00",
            "31-60": "1080.00",
            "61-90": "2170.00",
            "over_90": "2560.00",
        },
        "total": "6260.00",
        "items": 12,
        "overdue_items": 10,  # all but A-5 and A+0
        "unallocated_credits": "340.00",
    }
    assert document["totals"]["EUR"]["total"] == "7760.00"
    assert document["totals"]["USD"]["total"] == "2900.00"


def test_it_leaves_the_customers_out_of_a_summary(ledger):
    document = run_json("aged-balance", "--org", "acme", "--date", "2024-06-30", "--summary")
    assert "customers" not in document
    assert document["totals"]["EUR"]["buckets"]["61-90"] == "2170.00"


def test_it_prints_a_table_for_people(ledger):
    text = run("aged-balance", "--org", "acme", "--date", "2024-06-30")
    assert "Aged balance of Acme Industrie SAS at 2024-06-30" in text
    assert "Alpha SA" in text
    assert "6,260.00 EUR" in text
    assert "2,900.00 USD" in text
    assert "99,999.00" not in text
    summary = run("aged-balance", "--org", "acme", "--date", "2024-06-30", "--summary")
    assert "Alpha SA" not in summary
    assert "7,760.00 EUR" in summary


def test_it_says_when_nothing_is_owed(org):
    assert "nothing is owed" in run("aged-balance", "--date", "2024-06-30")
    assert run_json("aged-balance", "--date", "2024-06-30")["totals"] == {}


def test_it_defaults_to_today_and_to_the_only_organisation(org):
    document = run_json("aged-balance")
    assert document["organisation"] == "acme"
    assert document["as_of"] == timezone.localdate().isoformat()


def test_it_asks_which_organisation_when_there_are_several(org, other_org):
    with pytest.raises(CommandError, match="several organisations"):
        run("aged-balance", "--date", "2024-06-30")
    with pytest.raises(CommandError, match="no organisation 'initech'"):
        run("aged-balance", "--org", "initech")


@pytest.mark.parametrize("bad", ["30/06/2024", "2024-02-30", "tomorrow"])
def test_it_rejects_a_bad_date(org, bad):
    with pytest.raises(CommandError, match="is not a date: use YYYY-MM-DD"):
        run("aged-balance", "--date", bad)


@pytest.mark.django_db
def test_it_reports_errors_cleanly_on_the_command_line():
    command = ["report", "aged-balance", "--json"]
    done = commands.in_process(*command)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "there is no organisation yet" in done.stderr
    assert "Traceback" not in done.stderr
    done = commands.in_process(*command, "--date", "June")
    assert done.returncode == 2
    assert "'June' is not a date" in done.stderr
