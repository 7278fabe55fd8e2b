"""Hypothesis against the readers of user files: CSV, XLSX, ODS and FEC imports, mappings
and scenario files. Every input written to disk ends in a clean import or a clean refusal
(ImportFailed or ScenarioFileError, each problem naming its file): never another exception,
and a refusal leaves the ledger as it was."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from decimal import Decimal
from pathlib import Path

import factories
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from relance.dunning.engine import run
from relance.dunning.scenarios_io import ScenarioFile, ScenarioFileError, parse_yaml
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.mapping import Mapping, load_mapping
from relance.ledger.models import Address, Allocation, Contact, Customer, Invoice, Payment

TODAY = dt.date(2026, 11, 23)
# A bounded number of examples keeps the file well under a minute; set RELANCE_FUZZ_EXAMPLES
# (e.g. 2000) for a longer hunt.
EXAMPLES = int(os.environ.get("RELANCE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEDGER = (Customer, Invoice, Payment, Allocation, Contact, Address)


@pytest.fixture
def org(db):
    return factories.organisation()


def ledger(org) -> tuple[int, ...]:
    return tuple(model.objects.filter(**_scope(model, org)).count() for model in LEDGER)


def _scope(model, org) -> dict[str, object]:
    if model is Address or model is Contact:
        return {"customer__organisation": org}
    return {"organisation": org}


def attempt(org, path: Path, **options) -> None:
    """Import ``path``: it is taken, or refused whole with problems naming the file; then a
    dry run of the engine on what was taken."""
    before = ledger(org)
    try:
        import_file(org, path, as_of=TODAY, **options)
    except ImportFailed as failure:
        assert failure.problems
        for problem in failure.problems:
            assert problem.file and problem.message, problem
        assert ledger(org) == before
        return
    run(org, TODAY, dry_run=True)


# -- values as files hold them ---------------------------------------------------------

amounts = st.one_of(
    st.decimals(min_value=-10**6, max_value=10**6, places=2).map(str),
    st.decimals(min_value=0, max_value=10**6, places=2).map(lambda d: str(d).replace(".", ",")),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["1 234,56", "(12,50)", "12,50 €", "$5.00", "12-", "1e400", "NaN", "-0",
                     "0,001", "9" * 30 + ",99", "1.234.567,89", ",5", "1,2,3"]),
)  # fmt: skip
dates = st.one_of(
    st.dates(min_value=dt.date(1, 1, 1)).map(lambda d: d.strftime("%d/%m/%Y")),
    st.dates(min_value=dt.date(1800, 1, 1)).map(dt.date.isoformat),
    st.dates(min_value=dt.date(1, 1, 1)).map(lambda d: f"{d.year:04}{d.month:02}{d.day:02}"),
    st.sampled_from(["31/02/2026", "00/00/0000", "15/12/99", "2026-13-01", "99999999",
                     "9999-12-31", "0001-01-01", "1/1/1", "2026-01-01T25:00"]),
)  # fmt: skip
words = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec="latin-1"), max_size=300),
    st.sampled_from(["", " ", "oui", "non", "x", "EUR", "usd", "XXX", "EURO", "credit_note",
                     "invoice", "settlement", "high", "=1+1", '"', "\x00", "\u2028", "𝔘"]),
)  # fmt: skip
terms = st.one_of(st.integers(-(10**6), 10**6).map(str), st.sampled_from(["30", "1e3", "3" * 50]))

INVOICE_COLUMNS = {
    "customer.reference": words, "customer.legal_name": words, "invoice.number": words,
    "invoice.issue_date": dates, "invoice.due_date": dates, "invoice.amount": amounts,
    "invoice.currency": words, "invoice.kind": words, "invoice.disputed": words,
    "invoice.paid_amount": amounts, "customer.payment_terms_days": terms,
    "customer.email": words, "customer.risk_class": words, "customer.customer_since": dates,
}  # fmt: skip
PAYMENT_COLUMNS = {
    "customer.reference": words, "payment.reference": words, "payment.date": dates,
    "payment.amount": amounts, "payment.kind": words, "payment.currency": words,
    "allocation.invoice": words, "allocation.amount": amounts,
}  # fmt: skip


@st.composite
def tables(draw) -> tuple[list[str], list[list[str]]]:
    """A header of template columns (some left out) and rows drawn for each column; the
    first customer and invoice are real-looking so that some rows get far."""
    spec = draw(st.sampled_from([INVOICE_COLUMNS, PAYMENT_COLUMNS]))
    header = draw(
        st.lists(st.sampled_from(list(spec)), min_size=1, max_size=len(spec), unique=True)
    )
    rows = draw(st.lists(st.tuples(*(spec[column] for column in header)).map(list), max_size=6))
    return header, rows


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


GOOD = (
    ["customer.reference", "customer.legal_name", "invoice.number", "invoice.issue_date",
     "invoice.amount"],
    [["C1", "Client", "F1", "01/10/2026", "100,00"]],
)  # fmt: skip


# -- CSV --------------------------------------------------------------------------------


@FUZZ
@given(table=tables(), delimiter=st.sampled_from([";", ",", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))  # fmt: skip
@example(table=GOOD, delimiter=";", encoding="utf-8")
@example(
    table=(["customer.reference", "customer.payment_terms_days"], [["C1", "99999999999999"]]),
    delimiter=";", encoding="utf-8",
)  # fmt: skip
@example(
    table=(GOOD[0], [["C1", "Client", "F1", "31/12/9999", "100,00"]]),
    delimiter=";", encoding="utf-8",
)  # fmt: skip
def test_it_takes_or_refuses_any_csv(org, tmp_path_factory, table, delimiter, encoding):
    path = tmp_path_factory.mktemp("csv") / "export.csv"
    text = _csv_text(*table, delimiter)
    path.write_bytes(text.encode(encoding, errors="replace"))
    attempt(org, path)


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"\xff\xfe\x00")
@example(data=b"customer.reference\n\x00\x00")
@example(data=b"JournalCode\tJournalLib\n\xff")
def test_it_takes_or_refuses_any_bytes_as_a_text_file(org, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "export.csv"
    path.write_bytes(data)
    attempt(org, path)


# -- XLSX and ODS --------------------------------------------------------------------------

cell_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9999, 12, 31)),
    st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30),
    amounts,
    dates,
)


@st.composite
def sheets(draw) -> tuple[list[str], list[list[object]]]:
    header, rows = draw(tables())
    typed = [[draw(st.one_of(st.just(v), cell_values)) for v in row] for row in rows]
    return header, typed


def _xlsx(path: Path, header: list[str], rows: list[list[object]]) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    workbook.save(path)


def _ods(path: Path, header: list[str], rows: list[list[object]]) -> None:
    pytest.importorskip("odf")
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    def cell(value: object) -> TableCell:
        if value is None:
            return TableCell()
        if isinstance(value, bool):
            element = TableCell(valuetype="boolean", booleanvalue=str(value).lower())
        elif isinstance(value, int | float):
            element = TableCell(valuetype="float", value=repr(value))
        elif isinstance(value, dt.datetime):
            element = TableCell(valuetype="date", datevalue=value.isoformat())
        else:
            element = TableCell(valuetype="string")
        element.addElement(P(text=ILLEGAL.sub("", str(value))))
        return element

    document = OpenDocumentSpreadsheet()
    sheet = Table(name="Feuille1")
    for values in [header, *rows]:
        row = TableRow()
        for value in values:
            row.addElement(cell(value))
        sheet.addElement(row)
    document.spreadsheet.addElement(sheet)
    document.save(str(path))


try:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as ILLEGAL
except ImportError:  # pragma: no cover
    import re

    ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@FUZZ
@given(sheet=sheets(), kind=st.sampled_from(["xlsx", "ods"]))
@example(sheet=(GOOD[0], [["C1", "Client", "F1", dt.datetime(9999, 12, 31), 100.0]]), kind="xlsx")
@example(sheet=(GOOD[0], [["C1", "Client", "F1", "01/10/2026", float("inf")]]), kind="ods")
@example(sheet=(GOOD[0], [["C1", "Client", "F1", "01/10/2026", 1e300]]), kind="xlsx")
def test_it_takes_or_refuses_any_spreadsheet(org, tmp_path_factory, sheet, kind):
    path = tmp_path_factory.mktemp(kind) / f"export.{kind}"
    (_xlsx if kind == "xlsx" else _ods)(path, *sheet)
    attempt(org, path)


@FUZZ
@given(data=st.binary(max_size=400), kind=st.sampled_from(["xlsx", "ods"]))
@example(data=b"PK\x03\x04garbage", kind="ods")
@example(data=b"PK\x03\x04garbage", kind="xlsx")
def test_it_takes_or_refuses_any_bytes_as_a_spreadsheet(org, tmp_path_factory, data, kind):
    path = tmp_path_factory.mktemp(kind) / f"export.{kind}"
    path.write_bytes(data)
    attempt(org, path)


# -- FEC ---------------------------------------------------------------------------------

FEC_COLUMNS = (
    "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
    "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
    "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise",
)  # fmt: skip
accounts = st.one_of(st.sampled_from(["411000", "401000", "512000", "445710", "706000"]), words)
fec_values = {
    "JournalCode": st.sampled_from(["VE", "BQ", "OD", ""]), "EcritureNum": words,
    "EcritureDate": dates, "CompteNum": accounts, "CompAuxNum": words, "CompAuxLib": words,
    "PieceRef": words, "PieceDate": dates, "Debit": amounts, "Credit": amounts,
    "EcritureLet": words, "DateLet": dates, "ValidDate": dates, "Montantdevise": amounts,
    "Idevise": words,
}  # fmt: skip


@st.composite
def fec_lines(draw) -> list[list[str]]:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        lines.append(
            [draw(fec_values.get(column, words)) for column in FEC_COLUMNS]  # type: ignore[arg-type]
        )
    return lines


GOOD_FEC = [
    ["VE", "Ventes", "1", "20261001", "411000", "Clients", "C1", "Client", "F1", "20261001",
     "Facture F1", "120,00", "0,00", "", "", "20261001", "", ""],
    ["VE", "Ventes", "1", "20261001", "706000", "Ventes", "", "", "F1", "20261001",
     "Facture F1", "0,00", "120,00", "", "", "20261001", "", ""],
]  # fmt: skip


@FUZZ
@given(lines=fec_lines(), separator=st.sampled_from(["\t", "|"]))
@example(lines=GOOD_FEC, separator="\t")
@example(lines=[[*GOOD_FEC[0][:3], "99991231", *GOOD_FEC[0][4:]], GOOD_FEC[1]], separator="\t")
@example(  # a 27-digit credit: quantize raised InvalidOperation
    lines=[[*GOOD_FEC[0][:11], "0,00", "1" + "0" * 26, *GOOD_FEC[0][13:]]], separator="\t"
)
def test_it_takes_or_refuses_any_fec(org, tmp_path_factory, lines, separator):
    path = tmp_path_factory.mktemp("fec") / "123456789FEC20261231.txt"
    text = "\n".join(separator.join(cells) for cells in [list(FEC_COLUMNS), *lines]) + "\n"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    attempt(org, path, format="fec")


# -- mappings and scenario files -----------------------------------------------------------

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=15),
    st.sampled_from(["invoice", "payment", "customer", "auto", ";", "csv", "EUR", "FR"]),
)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(sorted(
        {"columns", "record", "header_row", "sheet", "delimiter", "currency", "values",
         "column", "value", "format", "customer.reference", "invoice.number", "slug", "steps",
         "offset", "min_gap", "name", "channel", "template", "scenarios", "version"}))),
        inner, max_size=5),
    max_leaves=25,
)  # fmt: skip
MAPPING = {
    "columns": {
        "customer.reference": "customer.reference",
        "invoice.number": {"column": "invoice.number", "values": {"x": "y"}},
        "invoice.issue_date": "invoice.issue_date",
        "invoice.amount": "invoice.amount",
    }
}


@st.composite
def mutated(draw, base: dict) -> object:
    """``base`` with one value somewhere replaced by any document."""
    document = yaml.safe_load(yaml.safe_dump(base))
    node = document
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], dict | list) or draw(st.booleans()):
            node[key] = draw(documents)
            return document
        node = node[key]
    return draw(documents)


def _yaml_text(draw_document: object, raw: str | None) -> str:
    if raw is not None:
        return raw
    return yaml.safe_dump(draw_document, allow_unicode=True)


@FUZZ
@given(document=mutated(MAPPING), raw=st.none() | st.text(max_size=200))
@example(document={**MAPPING, "header_row": "many"}, raw=None)
@example(document={**MAPPING, "delimiter": ";;"}, raw=None)
@example(
    document={
        **MAPPING,
        "columns": {**MAPPING["columns"], "invoice.number": {"column": "n", "values": [1]}},
    },
    raw=None,
)
@example(document=MAPPING, raw="columns: &a {customer.reference: *a}")
def test_it_takes_or_refuses_any_mapping(org, tmp_path_factory, document, raw):
    folder = tmp_path_factory.mktemp("mapping")
    path = folder / "mapping.yaml"
    path.write_text(_yaml_text(document, raw), encoding="utf-8")
    try:
        mapping = load_mapping(path)
    except ImportFailed as failure:
        assert all(p.file == "mapping.yaml" and p.message for p in failure.problems)
        return
    assert isinstance(mapping, Mapping)
    data = folder / "export.csv"
    data.write_text(_csv_text(*GOOD, ";"), encoding="utf-8")
    attempt(org, data, mapping=mapping)


SCENARIOS = {
    "version": 1,
    "scenarios": [
        {
            "slug": "standard", "name": "Standard", "default": True,
            "steps": [
                {"name": "Rappel", "offset": 5, "channel": "email", "template": "first"},
                {"name": "Appel", "offset": 8, "min_gap": 3, "channel": "call",
                 "template": "call", "min_amount": "500.00"},
            ],
        }
    ],
    "rules": [{"name": "Grosse", "scenario": "standard", "min_invoice_amount": "20000.00"}],
}  # fmt: skip


@settings(max_examples=EXAMPLES * 2, deadline=None)
@given(document=mutated(SCENARIOS), raw=st.none() | st.text(max_size=200))
@example(document=SCENARIOS, raw="version: 1\nscenarios: [{slug: a, steps: [{offset: 1e999}]}]")
@example(document=SCENARIOS, raw="version: 1\nscenarios:\n- {slug: a, name: !!binary x}")
@example(document=SCENARIOS, raw="version: 1\nscenarios: [{min_amount: 1e-999999999}]")
def test_it_takes_or_refuses_any_scenario_file(document, raw):
    try:
        parsed = parse_yaml(_yaml_text(document, raw), "scenarios.yaml")
    except ScenarioFileError as failure:
        assert failure.problems
        assert all(p.file == "scenarios.yaml" and p.message for p in failure.problems)
        return
    assert isinstance(parsed, ScenarioFile)


def test_the_fuzzers_reach_a_clean_import(org, tmp_path):
    # The strategies are not all refusals: the plain cases import.
    path = tmp_path / "export.csv"
    path.write_text(_csv_text(*GOOD, ";"), encoding="utf-8")
    before = ledger(org)
    attempt(org, path)
    assert ledger(org) != before
    assert Invoice.objects.get(organisation=org).amount == Decimal("100.00")
