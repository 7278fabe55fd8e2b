"""Rate tables in the database (`relance rates show|add|refresh`) and the penalties of
invoices in the ledger (relance.dunning.penalty_service)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path

import commands
import factories
import pytest
from django.core.management import CommandError, call_command

from relance.dunning.models import Rate
from relance.dunning.pauses import release_hold
from relance.dunning.penalties import Law
from relance.dunning.penalty_service import customer_penalties, invoice_penalty
from relance.dunning.rates import (
    DATABASE,
    SHIPPED,
    RateUnknown,
    load_table,
    load_tables,
    shipped_table,
)
from relance.ledger.models import Customer, HoldKind, Invoice

DATA = Path(__file__).resolve().parent.parent / "relance" / "dunning" / "data" / "rates"
HEADER = "date,rate_percent,source\n"


def rates(*args):
    out = StringIO()
    call_command("rates", *args, stdout=out)
    return out.getvalue()


# --- building a ledger through the ORM -------------------------------------------------


def customer(org, reference="C001"):
    return factories.customer(org, reference, legal_name="Alpha SA")


def invoice(org, cust, number, amount, due, currency="EUR"):
    return factories.invoice(cust, number, due=due, amount=amount, currency=currency)


def allocate(org, item, reference, amount, on, kind="payment"):
    factories.pay(item, amount, on=on, kind=kind, reference=reference)


# --- Tables -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_lets_a_database_rate_override_the_shipped_one():
    shipped = shipped_table("fr_late_penalty_default")
    Rate.objects.create(
        series="fr_late_penalty_default", date=date(2026, 1, 1), percent=Decimal("13.0000")
    )
    Rate.objects.create(series="ecb_mro", date=date(2026, 3, 18), percent=Decimal("2.40"))
    tables = load_tables(["fr_late_penalty_default", "ecb_mro"])
    table = tables["fr_late_penalty_default"]
    assert table.rate_on(date(2026, 2, 1)) == Decimal("13.00")
    assert table.row_for(date(2026, 2, 1)).origin == DATABASE
    assert table.rate_on(date(2025, 8, 1)) == Decimal("12.15")  # untouched, shipped
    assert table.row_for(date(2025, 8, 1)).origin == SHIPPED
    assert len(table.steps) == len(shipped.steps)  # replaced, not added
    # A new ECB change, after the shipped ones: it applies from its date.
    ecb = tables["ecb_mro"]
    assert ecb.rate_on(date(2026, 3, 17)) == Decimal("2.15")
    assert ecb.rate_on(date(2026, 3, 18)) == Decimal("2.40")
    assert [step[0] for step in ecb.steps] == sorted(step[0] for step in ecb.steps)
    # The shipped table in memory is left alone.
    assert shipped_table("fr_late_penalty_default").rate_on(date(2026, 2, 1)) == Decimal("12.15")


@pytest.mark.django_db
def test_it_shows_a_series_as_a_table_and_as_json():
    rates("add", "fr_legal_professionals", "2026-07-01", "2,55", "--source", "arrêté test")
    text = rates("show", "fr_legal_professionals")
    assert "France\u00a0: taux de l'intérêt légal, professionnels" in text  # French by default
    assert "2026-07-01" in text and "database" in text and "2015-01-01" in text
    document = json.loads(rates("show", "fr_legal_professionals", "--json"))
    assert document["series"] == "fr_legal_professionals"
    assert document["kind"] == "half-year"
    assert len(document["rows"]) == 24
    assert document["rows"][-1] == {
        "date": "2026-07-01",
        "percent": "2.55",
        "origin": "database",
        "source": "arrêté test",
    }
    assert document["rows"][0]["percent"] == "0.93"


@pytest.mark.django_db
def test_it_refuses_bad_input_to_rates_add():
    with pytest.raises(CommandError, match="unknown series 'fr_late'"):
        rates("add", "fr_late", "2026-07-01", "12.15")
    with pytest.raises(CommandError, match=r"DATE: '2026-13-01' is not a date"):
        rates("add", "ecb_mro", "2026-13-01", "2.15")
    with pytest.raises(CommandError, match="not the first day of a half-year"):
        rates("add", "fr_late_penalty_default", "2026-07-15", "12.15")
    with pytest.raises(CommandError, match="not a reference date"):
        rates("add", "uk_boe_reference", "2026-07-01", "3.75")
    with pytest.raises(CommandError, match=r"PERCENT: 'abc' is not a percent"):
        rates("add", "ecb_mro", "2026-03-18", "abc")
    with pytest.raises(CommandError, match="at most 4 decimals"):
        rates("add", "ecb_mro", "2026-03-18", "2.123456")
    with pytest.raises(CommandError, match="unknown series"):
        rates("show", "nope")
    assert not Rate.objects.exists()


@pytest.mark.django_db
def test_it_updates_a_rate_added_twice():
    assert rates("add", "ecb_mro", "2025-06-11", "2.20").startswith("Added ecb_mro 2025-06-11")
    out = rates("add", "ecb_mro", "2025-06-11", "2.15", "--source", "fixed")
    assert out.startswith("Updated ecb_mro 2025-06-11: 2.15 % (overrides the shipped 2.15 %)")
    assert "fr_late_penalty_default" in out  # the derived series is not derived by Relance
    assert list(Rate.objects.values_list("percent", "source")) == [(Decimal("2.15"), "fixed")]


# --- refresh ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_refreshes_the_tables_from_a_directory_of_csv_files(tmp_path):
    # The shared histories' file names are accepted as well as the series' names.
    (tmp_path / "ecb_mro_rates.csv").write_text(
        HEADER + '2025-06-11,2.15,same\n2026-03-18,2.40,"ECB, test"\n', encoding="utf-8"
    )
    (tmp_path / "fr_late_penalty_default.csv").write_text(
        HEADER + "2026-07-01,12.40,test\n", encoding="utf-8"
    )
    (tmp_path / "README.md").write_text("not a rate file", encoding="utf-8")
    out = rates("refresh", str(tmp_path))
    assert "ecb_mro_rates.csv: ecb_mro, 2 added, 0 updated, 0 unchanged" in out
    assert "fr_late_penalty_default.csv: fr_late_penalty_default, 1 added" in out
    assert load_table("ecb_mro").rate_on(date(2026, 7, 1)) == Decimal("2.40")
    assert load_table("fr_late_penalty_default").rate_on(date(2026, 7, 1)) == Decimal("12.40")
    # Again, with one rate corrected: an upsert by series and date.
    (tmp_path / "ecb_mro_rates.csv").write_text(
        HEADER + '2025-06-11,2.15,same\n2026-03-18,2.65,"ECB, test"\n', encoding="utf-8"
    )
    out = rates("refresh", str(tmp_path / "ecb_mro_rates.csv"))
    assert out.strip() == "ecb_mro_rates.csv: ecb_mro, 0 added, 1 updated, 1 unchanged"
    assert Rate.objects.get(series="ecb_mro", date=date(2026, 3, 18)).percent == Decimal("2.65")
    assert Rate.objects.count() == 3


@pytest.mark.django_db
def test_it_refreshes_from_the_shipped_files_without_changing_a_rate():
    out = rates("refresh", str(DATA))
    assert out.count(" added") == 6
    assert Rate.objects.count() == 37 + 27 + 23 + 23 + 23 + 9  # the rows of the six files
    for series in ("ecb_mro", "uk_boe_reference", "fr_legal_individuals"):
        table = load_table(series)
        assert table.steps == shipped_table(series).steps
        assert {row.origin for row in table.rows} == {DATABASE}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("ecb_mro.csv", "day,rate\n", r"ecb_mro.csv, row 1: the header must be"),
        (
            "ecb_mro.csv",
            HEADER + "2026-03-18,2.40,ok\n2026-02-30,2.40,x\n",
            r"ecb_mro.csv, row 3, field date: '2026-02-30' is not a date",
        ),
        (
            "ecb_mro.csv",
            HEADER + "2026-03-18,2.4O,x\n",
            r"ecb_mro.csv, row 2, field rate_percent: '2.4O' is not a percent",
        ),
        (
            "ecb_mro.csv",
            HEADER + "2026-03-18,2.40,ECB, unquoted\n",
            r"ecb_mro.csv, row 2: 4 fields, expected 3",
        ),
        (
            "ecb_mro.csv",
            HEADER + "2026-03-18,2.40,a\n2026-03-18,2.50,b\n",
            r"ecb_mro.csv, row 3, field date: 2026-03-18 appears twice",
        ),
        (
            "fr_late_penalty_floor.csv",
            HEADER + "2026-08-01,7.80,x\n",
            r"fr_late_penalty_floor.csv, row 2, field date: .*not the first day of a half-year",
        ),
        ("rates.csv", HEADER, r"rates.csv: the file name does not name a series"),
    ],
)
def test_it_refuses_a_malformed_csv_naming_the_file_row_and_field(tmp_path, name, content, error):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CommandError, match=error):
        rates("refresh", str(path))
    assert not Rate.objects.exists()


@pytest.mark.django_db
def test_it_loads_nothing_when_one_file_of_a_directory_is_bad(tmp_path):
    shutil.copy(DATA / "ecb_mro.csv", tmp_path / "ecb_mro.csv")
    (tmp_path / "uk_boe_reference.csv").write_bytes(b"date,rate_percent,source\n\xff\xfe\n")
    with pytest.raises(CommandError, match=r"uk_boe_reference.csv: not UTF-8"):
        rates("refresh", str(tmp_path))
    with pytest.raises(CommandError, match="no such file or directory"):
        rates("refresh", str(tmp_path / "missing"))
    (tmp_path / "uk_boe_reference.csv").unlink()
    shutil.copy(DATA / "ecb_mro.csv", tmp_path / "ecb_mro_rates.csv")
    with pytest.raises(CommandError, match=r"ecb_mro_rates.csv: series ecb_mro already given"):
        rates("refresh", str(tmp_path))
    with pytest.raises(CommandError, match="--series goes with a single file"):
        rates("refresh", str(tmp_path), "--series", "ecb_mro")
    assert not Rate.objects.exists()


@pytest.mark.django_db
def test_it_takes_the_series_of_an_oddly_named_file_from_the_option(tmp_path):
    path = tmp_path / "arrete-2026-07.csv"
    path.write_text(HEADER + "2026-07-01,2.55,arrêté\n", encoding="utf-8")
    with pytest.raises(CommandError, match="does not name a series"):
        rates("refresh", str(path))
    assert "1 added" in rates("refresh", str(path), "--series", "fr_legal_professionals")
    assert load_table("fr_legal_professionals").rate_on(date(2026, 9, 1)) == Decimal("2.55")


@pytest.mark.django_db
def test_it_explains_a_bad_rate_on_the_command_line():
    bad = commands.in_process("rates", "add", "ecb_mro", "2026-03-18", "two")
    assert bad.returncode == 1
    assert "PERCENT: 'two' is not a percent" in bad.stderr and bad.stdout == ""
    helped = commands.in_process("rates", "refresh", "--help")
    assert "no network" in helped.stdout


# --- Penalties of the ledger ------------------------------------------------------------


@pytest.mark.django_db
def test_it_computes_after_rates_add_for_a_half_year_it_did_not_know(org):
    item = invoice(org, customer(org), "F-1", "1000.00", date(2026, 6, 30))
    with pytest.raises(RateUnknown, match="relance rates add fr_late_penalty_default 2026-07"):
        invoice_penalty(item, date(2026, 7, 10))
    rates("add", "fr_late_penalty_default", "2026-07-01", "12.15", "--source", "ECB + 10")
    # 1-10 July 2026: 1,000 x 12.15 % x 10 / 365 = 1,215 / 365 = 3.3287... = 3.33; + 40.
    penalty = invoice_penalty(item, date(2026, 7, 10))
    assert [(line.rate, line.days, line.amount) for line in penalty.lines] == [
        (Decimal("12.15"), 10, Decimal("3.33"))
    ]
    assert penalty.total == Decimal("43.33")


@pytest.mark.django_db
def test_it_reads_payments_and_credit_notes_of_an_invoice(org, django_assert_max_num_queries):
    item = invoice(org, customer(org), "F-1", "1000.00", date(2026, 1, 31))
    allocate(org, item, "P-1", "400.00", date(2026, 2, 10))
    allocate(org, item, "AV-1", "100.00", date(2026, 2, 20), kind="credit_note")
    # After the computation date: not known on 2 March.
    allocate(org, item, "AV-2", "100.00", date(2026, 3, 4), kind="credit_note")
    allocate(org, item, "P-2", "400.00", date(2026, 3, 5))
    item = Invoice.objects.select_related("organisation").get(pk=item.pk)
    # The credit note corrects the amount from the start: base 900, then 500 after the
    # payment of 10 February.
    # 1-10 February: 900 x 12.15 % x 10 / 365 = 1,093.5 / 365 = 2.9958... = 3.00
    # 11 February-2 March: 500 x 12.15 % x 20 / 365 = 1,215 / 365 = 3.3287... = 3.33
    # Rates, allocations, and the part a buyer did not approve (relance.dunning.owed).
    with django_assert_max_num_queries(4):
        penalty = invoice_penalty(item, date(2026, 3, 2))
    assert [(line.base, line.days, line.amount) for line in penalty.lines] == [
        (Decimal("900.00"), 10, Decimal("3.00")),
        (Decimal("500.00"), 20, Decimal("3.33")),
    ]
    assert (penalty.law, penalty.total) == (Law.FR, Decimal("46.33"))
    # On 10 March, paid in full on 5 March: interest stops on the 5th, the indemnity stays.
    # Both credit notes now count from the start: base 800, then 400 after 10 February.
    later = invoice_penalty(item, date(2026, 3, 10))
    assert [(line.base, line.end) for line in later.lines] == [
        (Decimal("800.00"), date(2026, 2, 10)),
        (Decimal("400.00"), date(2026, 3, 5)),
    ]
    assert later.indemnity == Decimal("40.00")


@pytest.mark.django_db
def test_it_sums_a_customers_penalties_per_currency(org, django_assert_max_num_queries):
    alpha = customer(org)
    late = invoice(org, alpha, "F-1", "1000.00", date(2026, 1, 31))
    invoice(org, alpha, "F-2", "1000.00", date(2026, 1, 31))
    paid_late = invoice(org, alpha, "F-3", "10000.00", date(2025, 5, 31))
    allocate(org, paid_late, "P-3", "10000.00", date(2025, 8, 15))
    on_time = invoice(org, alpha, "F-4", "800.00", date(2026, 1, 15))
    allocate(org, on_time, "P-4", "800.00", date(2026, 1, 15))
    invoice(org, alpha, "F-5", "500.00", date(2026, 4, 30))  # not due yet
    invoice(org, alpha, "US-1", "1000.00", date(2026, 1, 31), currency="USD")
    invoice(org, customer(org, "C002"), "B-1", "1000.00", date(2026, 1, 31))  # another one
    alpha = Customer.objects.select_related("organisation").get(pk=alpha.pk)
    # One more than the rates and the ledger: the parts buyers did not approve.
    with django_assert_max_num_queries(5):
        result = customer_penalties(alpha, date(2026, 3, 2))
    # F-1, F-2: 1,000 x 12.15 % x 30 / 365 = 3,645 / 365 = 9.9863... = 9.99 each.
    # F-3 (paid 15 August 2025): 108.08 + 153.12 = 261.20 (see test_penalties).
    assert [item.number for item in result.invoices] == ["F-3", "F-1", "F-2", "US-1"]
    assert late.pk in [item.invoice_id for item in result.invoices]
    eur = result.totals["EUR"]
    assert (eur.invoices, eur.interest, eur.indemnity, eur.total) == (
        3,
        Decimal("281.18"),  # 261.20 + 2 x 9.99
        Decimal("120.00"),  # 3 x 40
        Decimal("401.18"),
    )
    assert result.totals["USD"].total == Decimal("9.99")  # no EUR indemnity in USD
    # Collective proceedings: the indemnities go, the interest stays.
    hold = factories.hold(alpha, kind=HoldKind.INSOLVENCY, start=date(2026, 2, 1),
                          published_on=date(2026, 2, 1))  # fmt: skip
    insolvent = customer_penalties(alpha, date(2026, 3, 2))
    assert (insolvent.totals["EUR"].indemnity, insolvent.totals["EUR"].total) == (
        Decimal("0.00"),
        Decimal("281.18"),
    )
    # Before the hold started, or after it ended, it does not apply.
    assert customer_penalties(alpha, date(2026, 1, 31)).totals["EUR"].indemnity == Decimal("40.00")
    release_hold(hold, on=date(2026, 3, 1))
    assert customer_penalties(alpha, date(2026, 3, 2)).totals["EUR"].indemnity == Decimal("120.00")


@pytest.mark.django_db
def test_it_applies_the_law_of_the_organisations_country(org):
    org.country = "GB"
    org.save()
    item = invoice(org, customer(org), "UK-1", "10000.00", date(2025, 6, 20), currency="GBP")
    # 10 days at 12.75 % and 10 at 12.25 % (Bank Rate 4.75 on 31 December 2024, 4.25 on
    # 30 June 2025): 10,000 x (12.75 + 12.25) % x 10 / 365 = 34.93 + 33.56 = 68.49;
    # fixed sum for 10,000 GBP: 100.
    penalty = invoice_penalty(item, date(2025, 7, 10))
    assert penalty.law is Law.UK
    assert [line.amount for line in penalty.lines] == [Decimal("34.93"), Decimal("33.56")]
    assert (penalty.indemnity, penalty.total) == (Decimal("100.00"), Decimal("168.49"))
