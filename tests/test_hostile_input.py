"""Hostile input at the command line and in files: out-of-range dates, codes that are not
ISO codes, a scenario with a step twice, and YAML built to exhaust the reader. Each is
refused with a message naming what is wrong, where, and nothing is written."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
from io import StringIO

import commands
import factories
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.accounts.models import Organisation
from relance.dunning.models import Scenario, Step
from relance.ledger.models import Customer, ImportRun, Invoice
from relance.lib.dates import FIRST_DAY, LAST_DAY

RANGE = f"{FIRST_DAY} to {LAST_DAY}"


def relance(data_dir, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = commands.environment(commands.ready(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "relance", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _rows(data_dir, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "relance.sqlite3") as db:
        return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    made = relance(folder, "createorg", "acme", "--name", "Acme SAS")
    assert made.returncode == 0, made.stderr
    return folder


# -- dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "value"),
    [
        (("run", "--date", "9999-12-31"), "9999-12-31"),
        (("run", "--date", "0001-01-01", "--dry-run"), "0001-01-01"),
        (("report", "dso", "--date", "0001-01-01"), "0001-01-01"),
        (("customer", "show", "C1", "--date", "9999-12-31"), "9999-12-31"),
        (("promise", "add", "C1", "--on", "9999-12-31"), "9999-12-31"),
        (("hold", "add", "C1", "--kind", "manual", "--from", "0001-01-01"), "0001-01-01"),
        (
            ("plan", "create", "C1", "--invoice", "F1", "--instalment", "9999-12-31:10"),
            "9999-12-31",
        ),
        (("import", "x.csv", "--as-of", "9999-12-31"), "9999-12-31"),
    ],
)
@pytest.mark.django_db
def test_it_refuses_a_date_it_cannot_compute_with_as_a_usage_error(args, value):
    factories.organisation("acme")
    out = commands.in_process(*args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert value in last and RANGE in last


def test_it_runs_at_the_edges_of_the_range(db, tmp_path):
    org = factories.organisation()
    factories.scenario(org)
    customer = factories.customer(org)
    factories.invoice(customer, due=LAST_DAY, issued=LAST_DAY)
    factories.invoice(customer, due=FIRST_DAY, issued=FIRST_DAY)
    for day in (FIRST_DAY, LAST_DAY):
        call_command("run", "--org", "acme", "--date", day.isoformat(), stdout=StringIO())


@pytest.mark.usefixtures("in_english")  # reads the problem in English
@pytest.mark.django_db
def test_it_refuses_an_imported_date_it_cannot_compute_with(tmp_path):
    org = factories.organisation()
    csv = tmp_path / "ledger.csv"
    csv.write_text(
        "Client;Nom;Email;Facture;Date;Echeance;Montant;Litige\n"
        "C1;Client 1;a@c1.test;F1;01/01/2026;31/01/2026;100,00;non\n"
        "C2;Client 2;a@c2.test;F2;01/01/2026;31/12/9999;100,00;non\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(factories.LEDGER_MAPPING, encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import", str(csv), "--mapping", str(mapping), "--org", "acme")
    assert "ledger.csv, row 3, field 'Echeance': 9999-12-31 is outside" in str(error.value)
    assert RANGE in str(error.value)
    assert not Invoice.objects.filter(organisation=org).exists()


# -- ISO codes ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--currency", "EURO", "ISO 4217"),
        ("--currency", "XYZ", "ISO 4217"),
        ("--currency", "€", "ISO 4217"),
        ("--country", "ZZ", "ISO 3166"),
        ("--country", "FRA", "ISO 3166"),
        ("--country", "12", "ISO 3166"),
    ],
)
def test_it_refuses_a_currency_or_country_that_is_no_iso_code(option, value, said):
    with pytest.raises(CommandError) as error:
        call_command("createorg", "acme", "--name", "Acme", option, value, stdout=StringIO())
    assert repr(value) in str(error.value) and said in str(error.value)
    assert not Organisation.objects.exists()


@pytest.mark.django_db
def test_it_writes_iso_codes_in_capitals():
    call_command(
        "createorg", "acme", "--name", "Acme", "--currency", "chf", "--country", "ch",
        stdout=StringIO(),
    )  # fmt: skip
    org = Organisation.objects.get()
    assert (org.currency, org.country) == ("CHF", "CH")


@pytest.mark.usefixtures("in_english")  # reads the problem in English
@pytest.mark.django_db
def test_it_refuses_iso_codes_on_every_way_an_organisation_is_made(tmp_path):
    csv = tmp_path / "ledger.csv"
    csv.write_text("customer.reference;customer.legal_name\nC1;Client 1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="'ZZ' is not an ISO 3166"):
        call_command(
            "import", str(csv), "--org", "new", "--create-org", "--country", "zz",
            stdout=StringIO(),
        )  # fmt: skip
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("currency: EURO\ncolumns:\n  customer.reference: C\n", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command(
            "import", str(csv), "--mapping", str(mapping), "--org", "new", "--create-org",
            stdout=StringIO(),
        )  # fmt: skip
    assert "mapping.yaml, field 'currency': currency 'EURO' is not an ISO 4217" in str(error.value)
    assert not Organisation.objects.exists()


# -- the same step twice --------------------------------------------------------------

SCENARIO = """\
version: 1
scenarios:
  - slug: standard
    name: Standard
    default: true
    steps:
      - name: Rappel
        offset: 5
        channel: email
        template: first_reminder
      - name: Appel
        offset: 8
        channel: call
        template: call
{extra}"""

REPEATED_NAME = """\
      - name: Rappel
        offset: 15
        channel: email
        template: firm_reminder
"""
REPEATED_STEP = """\
      - name: Rappel bis
        offset: 8
        channel: call
        template: call
"""


def _steps(org):
    return sorted(Step.objects.filter(organisation=org).values_list("scenario__slug", "name"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            REPEATED_NAME,
            "scenarios.yaml, scenario 'standard', step 3, field 'name': line 15: 'Rappel' is "
            "already the name of step 1 (line 7)",
        ),
        (
            REPEATED_STEP,
            "scenarios.yaml, scenario 'standard', step 3: line 15: the same step as step 2 "
            "(line 11)",
        ),
    ],
    ids=["same-name", "alike"],
)
def test_it_refuses_a_scenario_with_the_same_step_twice(tmp_path, extra, expected):
    org = factories.organisation()
    before = _steps(org)
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIO.format(extra=extra), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("scenario", "import", str(path), "--org", "acme", stdout=StringIO())
    assert expected in str(error.value)
    assert _steps(org) == before


@pytest.mark.django_db
def test_it_still_takes_steps_alike_but_for_their_timing(tmp_path):
    org = factories.organisation()
    path = tmp_path / "scenarios.yaml"
    path.write_text(SCENARIO.format(extra=REPEATED_STEP.replace("8", "20")), encoding="utf-8")
    call_command("scenario", "import", str(path), "--org", "acme", stdout=StringIO())
    assert [s.name for s in Scenario.objects.get(organisation=org, slug="standard").steps.all()]\
        == ["Rappel", "Appel", "Rappel bis"]  # fmt: skip


# -- YAML built to exhaust the reader ---------------------------------------------------

LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
)
BOMB_SCENARIO = LAUGHS + "\n" + SCENARIO.format(extra="").replace("name: Standard", "name: *a8")
DEEP = "[" * 50_000 + "]" * 50_000


def _hostile_scenarios():
    base = SCENARIO.format(extra="")
    return [
        ("bomb", BOMB_SCENARIO, "line 1, column 5: anchors and aliases (& and *) are not allowed"),
        ("deep", base.replace("name: Standard", "name: " + DEEP),
         "line 4, column 40: nested more than 32 levels deep"),
        ("big", base + "#" * 1_000_001 + "\n", "larger than 1,000,000 bytes"),
        ("digits", base.replace("offset: 8", "offset: 8\n        min_gap: " + "9" * 5000),
         "line 13, column 18: a number of 5000 characters: at most 40 are read"),
        ("tag", base.replace("name: Standard", "name: !!python/name:os.system"),
         "line 4, column 11: the tag 'tag:yaml.org,2002:python/name:os.system' is not allowed"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "expected"), _hostile_scenarios(), ids=[c[0] for c in _hostile_scenarios()]
)
@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_it_refuses_hostile_yaml_in_a_scenario_file_at_once(
    data_dir, tmp_path, case, text, expected
):
    # A process of its own: before, the deep file crashed the interpreter (segmentation
    # fault) and the bomb took 40 s and all the memory.
    path = tmp_path / f"{case}.yaml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    out = relance(data_dir, "scenario", "import", str(path), "--org", "acme", timeout=60)
    assert time.monotonic() - started < 30
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert f"{case}.yaml: {expected}" in out.stderr
    assert _rows(data_dir, "SELECT name FROM dunning_step WHERE name = 'Rappel'") == []


@pytest.mark.parametrize(
    ("case", "text", "expected"),
    [
        ("bomb", LAUGHS + "\ncolumns:\n  customer.reference: *a8\n",
         "line 1, column 5: anchors and aliases (& and *) are not allowed"),
        ("deep", "columns:\n  customer.reference: " + DEEP + "\n",
         "line 2, column 53: nested more than 32 levels deep"),
        ("big", "columns:\n  customer.reference: C\n" + "#" * 1_000_001 + "\n",
         "larger than 1,000,000 bytes"),
        ("digits", "header_row: " + "1" * 5000 + "\ncolumns:\n  customer.reference: C\n",
         "line 1, column 13: a number of 5000 characters"),
        ("twice", "columns:\n  customer.reference: C\ncolumns:\n  customer.reference: D\n",
         "not valid YAML: line 3, column 1: the key 'columns' appears twice"),
    ],
    ids=["bomb", "deep", "big", "digits", "twice"],
)  # fmt: skip
@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_it_refuses_hostile_yaml_in_a_mapping_at_once(data_dir, tmp_path, case, text, expected):
    csv = tmp_path / "customers.csv"
    csv.write_text("C;Nom\nC9;Client 9\n", encoding="utf-8")
    mapping = tmp_path / f"{case}.yaml"
    mapping.write_text(text, encoding="utf-8")
    started = time.monotonic()
    out = relance(data_dir, "import", str(csv), "--mapping", str(mapping), "--org", "acme",
                  timeout=60)  # fmt: skip
    assert time.monotonic() - started < 30
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert f"{case}.yaml: {expected}" in out.stderr
    assert _rows(data_dir, "SELECT id FROM ledger_customer WHERE reference = 'C9'") == []


@pytest.mark.usefixtures("in_english")  # reads the problem in English
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("header_row: many", "field 'header_row': 'many' is not a whole number from 1"),
        ("header_row: 0", "field 'header_row': 0 is not a whole number from 1"),
        ("delimiter: ';;'", "field 'delimiter': ';;' is not one character"),
        ("decimal: x", "field 'decimal': 'x' is not one of auto, ., ,"),
        ("snapshot: maybe", "field 'snapshot': 'maybe' is not true or false"),
        ("sheet: [1]", "field 'sheet': [1] is not a sheet name"),
        ("format: pdf", "field 'format': 'pdf' is not one of csv"),
    ],
)
def test_it_refuses_a_mapping_option_of_the_wrong_kind(tmp_path, option, said):
    org = factories.organisation()
    csv = tmp_path / "customers.csv"
    csv.write_text("C;Nom\nC9;Client 9\n", encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"{option}\ncolumns:\n  customer.reference: C\n", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import", str(csv), "--mapping", str(mapping), "--org", "acme")
    assert f"mapping.yaml, {said}" in str(error.value)
    assert not Customer.objects.filter(organisation=org).exists()
    assert not ImportRun.objects.filter(organisation=org).exists()


@pytest.mark.django_db
def test_it_saves_a_mapping_whose_constant_is_a_yaml_date(tmp_path):
    # YAML reads `2026-10-01` as a date, which JSON (the saved mapping) cannot hold.
    org = factories.organisation()
    csv = tmp_path / "ledger.csv"
    csv.write_text("C;Nom;F;M\nC1;Client 1;F1;100,00\n", encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "columns:\n  customer.reference: C\n  customer.legal_name: Nom\n  invoice.number: F\n"
        "  invoice.amount: M\n  invoice.issue_date: {value: 2026-10-01}\n",
        encoding="utf-8",
    )
    call_command("import", str(csv), "--mapping", str(mapping), "--save-mapping", "erp",
                 "--org", "acme", stdout=StringIO())  # fmt: skip
    call_command("import", str(csv), "--mapping", "erp", "--org", "acme", stdout=StringIO())
    assert Invoice.objects.get(organisation=org).issue_date == dt.date(2026, 10, 1)
