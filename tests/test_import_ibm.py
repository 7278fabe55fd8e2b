"""The public IBM accounts-receivable sample, imported with the example mapping, against an
independent computation made straight from the CSV file."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Sum

from relance.accounts.models import Organisation
from relance.ledger.models import Customer, Dispute, Invoice, Payment

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "ibm-accounts-receivable.csv"
MAPPING = Path(__file__).resolve().parents[1] / "examples/mappings/ibm-accounts-receivable.yaml"
DATES = [
    dt.date(2012, 3, 31),
    dt.date(2012, 12, 31),
    dt.date(2013, 6, 30),
    dt.date(2013, 12, 31),
    dt.date(2014, 6, 30),
]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not SAMPLE.exists(), reason="the shared data set is beside the repo"),
]


def us_date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%m/%d/%Y").date()


def sample_rows() -> list[dict]:
    with SAMPLE.open(newline="", encoding="utf-8") as fh:
        return [
            {
                "customer": r["customerID"],
                "issued": us_date(r["InvoiceDate"]),
                "due": us_date(r["DueDate"]),
                "settled": us_date(r["SettledDate"]),
                "amount": Decimal(r["InvoiceAmount"]),
            }
            for r in csv.DictReader(fh)
        ]


def expected_at(rows: list[dict], day: dt.date) -> dict:
    """Open at D: issued on or before D and settled after D. Buckets by days overdue."""
    buckets: dict[str, Decimal] = defaultdict(Decimal)
    by_customer: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        if r["issued"] <= day < r["settled"]:
            late = (day - r["due"]).days
            name = (
                "not_due"
                if late <= 0
                else "1-30"
                if late <= 30
                else "31-60"
                if late <= 60
                else "61-90"
                if late <= 90
                else "over_90"
            )
            buckets[name] += r["amount"]
            by_customer[r["customer"]] += r["amount"]
    return {
        "total": sum(buckets.values(), Decimal(0)),
        "buckets": buckets,
        "customers": by_customer,
    }


def run(*args: str) -> dict:
    out = StringIO()
    call_command(*args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_imports_the_sample_as_an_independent_reading_sees_it(db):
    rows = sample_rows()
    result = run("import", str(SAMPLE), "--mapping", str(MAPPING), "--org", "ibm", "--create-org")
    assert result["counts"]["invoices_created"] == len(rows) == 2466
    # --create-org made the organisation with the mapping's currency, country and language.
    ibm = Organisation.objects.get(slug="ibm")
    assert (ibm.currency, ibm.country, ibm.language) == ("USD", "US", "en")

    invoices = Invoice.objects.filter(organisation__slug="ibm")
    assert invoices.count() == len(rows)
    assert invoices.aggregate(t=Sum("amount"))["t"] == sum(r["amount"] for r in rows)
    assert Customer.objects.filter(organisation__slug="ibm").count() == len(
        {r["customer"] for r in rows}
    )
    assert Dispute.objects.filter(organisation__slug="ibm").count() == 561
    # Everything in the sample was settled: nothing is open today.
    assert not invoices.filter(balance__gt=0).exists()

    for day in DATES:
        expected = expected_at(rows, day)
        report = run("report", "aged-balance", "--date", day.isoformat(), "--org", "ibm")
        totals = report["totals"].get("USD")
        if expected["total"] == 0:
            assert totals is None or Decimal(totals["total"]) == 0
            continue
        assert Decimal(totals["total"]) == expected["total"], day
        for name, amount in expected["buckets"].items():
            assert Decimal(totals["buckets"][name]) == amount, (day, name)
        got = {c["reference"]: Decimal(c["total"]) for c in report["customers"]}
        assert got == dict(expected["customers"]), day


def test_it_changes_nothing_when_the_sample_is_imported_again(db):
    run("import", str(SAMPLE), "--mapping", str(MAPPING), "--org", "ibm", "--create-org")
    snapshot = list(Invoice.objects.order_by("pk").values_list("pk", "balance", "updated_at"))
    payments = Payment.objects.count()
    again = run("import", str(SAMPLE), "--mapping", str(MAPPING), "--org", "ibm", "--create-org")
    assert again["counts"] == {"invoices_unchanged": 2466}
    assert list(Invoice.objects.order_by("pk").values_list("pk", "balance", "updated_at")) == (
        snapshot
    )
    assert Payment.objects.count() == payments
