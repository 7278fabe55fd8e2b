"""Files as users have them: mixed and legacy encodings, two-digit years, look-alike
numbers, currency signs, dropped leading zeros, values beyond the ledger, monster lines and
far cells, template headers, every problem in one pass, and the organisation of --org.

Each file is written by the test as the user's software would write it; each is read right
or refused whole, naming the file, the row and the field."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.accounts.models import Organisation
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.tabular import MAX_LINE
from relance.ledger.models import Customer, ImportRun, Invoice

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
TODAY = dt.date(2026, 11, 22)
# The template's headers, as docs/imports.md gives them (``invoice_number`` works too).
TEMPLATE = "customer_reference;customer_legal_name;invoice_number;invoice_issue_date;invoice_amount"


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    return f.text_file(path, lines, encoding=encoding, newline="\r\n")


def problems_of(org, path: Path, **kw) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(ImportFailed) as failure:
        import_file(org, path, as_of=TODAY, **kw)
    assert {p.file for p in failure.value.problems} == {path.name}
    return [(p.row, p.field, p.message) for p in failure.value.problems]


# -- encodings ----------------------------------------------------------------------------


def test_it_refuses_a_file_mixing_utf8_and_windows_1252_naming_the_rows(org, tmp_path):
    f.customer(org, "C001", legal_name="Société Générale")
    utf8 = "C001;Société Générale;FA-1;15/10/2026;100,00".encode()
    legacy = "C002;Bâtiments Lyonnais;FA-2;16/10/2026;200,00".encode("cp1252")
    path = tmp_path / "merged.csv"
    path.write_bytes(TEMPLATE.encode() + b"\r\n" + utf8 + b"\r\n" + legacy + b"\r\n")

    [(row, field, message)] = problems_of(org, path)

    assert row == 3 and field is None
    assert "line 3 is not UTF-8" in message and "line 2 is UTF-8" in message
    assert Customer.objects.get(organisation=org, reference="C001").legal_name == (
        "Société Générale"
    )
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_reads_a_utf16_export_with_its_byte_order_mark(org, tmp_path):
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated.
    lines = [TEMPLATE.replace(";", "\t"), "C001\tSœurs Martin\tFA-1\t15/10/2026\t100,00"]
    path = write(tmp_path / "unicode.txt", lines, encoding="utf-16")
    assert path.read_bytes()[:2] == b"\xff\xfe"

    import_file(org, path, as_of=TODAY)

    assert Customer.objects.get(organisation=org, reference="C001").legal_name == "Sœurs Martin"
    assert Invoice.objects.get(organisation=org, number="FA-1").amount == Decimal("100.00")


def test_it_reads_an_iso_8859_15_fec_with_oe(org, tmp_path):
    columns = (
        "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
        "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
        "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise",
    )  # fmt: skip
    name = "Sœurs Martin Cœur d'Œuvre"
    entry = [
        ("411000", "C001", name, "120,00", "0,00"),
        ("706000", "", "", "0,00", "100,00"),
        ("445710", "", "", "0,00", "20,00"),
    ]
    rows = [
        "\t".join(
            [
                "VE",
                "Ventes",
                "1",
                "20260105",
                account,
                account,
                aux,
                aux_name,
                "F1",
                "20260105",
                "Facture F1 manœuvre",
                debit,
                credit,
                "",
                "",
                "20260105",
                "",
                "",
            ]
        )
        for account, aux, aux_name, debit, credit in entry
    ]
    path = write(tmp_path / "FEC.txt", ["\t".join(columns), *rows], encoding="iso-8859-15")
    assert b"S\xbdurs" in path.read_bytes()  # œ is 0xBD in Latin-9, ½ in Windows-1252

    import_file(org, path, as_of=TODAY)

    assert Customer.objects.get(organisation=org, reference="C001").legal_name == name


# -- values -------------------------------------------------------------------------------


def test_it_refuses_two_digit_years_naming_row_and_field(org, tmp_path):
    path = write(
        tmp_path / "years.csv",
        [TEMPLATE, "C001;Acme;FA-1;15/12/2026;100,00", "C001;Acme;FA-2;15/12/99;100,00"],
    )

    [(row, field, message)] = problems_of(org, path)

    assert (row, field) == (3, "invoice_issue_date")
    assert "two-digit year" in message
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_refuses_invoice_numbers_that_differ_only_by_case_or_spaces(org, tmp_path):
    path = write(
        tmp_path / "lookalikes.csv",
        [TEMPLATE, "C001;Acme;FA001;15/10/2026;100,00", "C001;Acme;fa001;15/10/2026;100,00",
         "C001;Acme;FA 001;15/10/2026;100,00"],
    )  # fmt: skip
    got = problems_of(org, path)
    assert [(row, field) for row, field, _ in got] == [(3, "invoice_number"), (4, "invoice_number")]
    assert "'fa001' differs only by case or spaces from 'FA001' (row 2)" in got[0][2]
    assert "'FA 001' differs" in got[1][2]

    f.invoice(f.customer(org, "C001"), "FA001", due=TODAY, amount="100.00")
    again = write(tmp_path / "again.csv", [TEMPLATE, "C001;Acme;Fa 001;15/10/2026;100,00"])
    [(row, field, message)] = problems_of(org, again)
    assert (row, field) == (2, "invoice_number")
    assert "'FA001' already in the ledger" in message
    assert Invoice.objects.filter(organisation=org).count() == 1


def test_it_refuses_a_currency_sign_that_contradicts_the_currency(org, tmp_path):
    path = write(
        tmp_path / "dollars.csv",
        [TEMPLATE.replace(";", ","), 'C001,Acme,FA-1,15/10/2026,"$1,234.56"',
         'C001,Acme,FA-2,15/10/2026,"1 234,56 €"'],
    )  # fmt: skip

    [(row, field, message)] = problems_of(org, path)

    assert (row, field) == (2, "invoice_amount")
    assert "'$1,234.56' is not an amount in EUR" in message
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_matches_a_reference_whose_leading_zeros_a_spreadsheet_dropped(org, tmp_path):
    kept = f.customer(org, "00101", legal_name="Zéro Un SARL")
    path = write(tmp_path / "zeros.csv", [TEMPLATE, "101;Zéro Un SARL;FA-1;15/10/2026;100,00"])

    result = import_file(org, path, as_of=TODAY)

    assert Customer.objects.filter(organisation=org).count() == 1
    assert Invoice.objects.get(organisation=org, number="FA-1").customer_id == kept.pk
    assert result.counts["customers_matched"] == 1


def test_it_refuses_a_reference_that_matches_several_once_zeros_are_dropped(org, tmp_path):
    f.customer(org, "0101")
    f.customer(org, "00101")
    path = write(tmp_path / "zeros.csv", [TEMPLATE, "101;Zéro Un SARL;FA-1;15/10/2026;100,00"])

    [(row, field, message)] = problems_of(org, path)

    assert (row, field) == (2, "customer_reference")
    assert "00101, 0101" in message
    assert Customer.objects.filter(organisation=org).count() == 2


# -- limits (run on PostgreSQL too) -------------------------------------------------------


def test_it_refuses_values_beyond_what_the_ledger_holds_with_row_and_field(org, tmp_path):
    huge = "1" * 103
    path = write(
        tmp_path / "limits.csv",
        [TEMPLATE, f"C001;{'N' * 300};FA-1;15/10/2026;100,00", f"C002;Acme;FA-2;15/10/2026;{huge}",
         f"C003;Acme;{'F' * 65};15/10/2026;1,00"],
    )  # fmt: skip

    got = {(row, field): message for row, field, message in problems_of(org, path)}

    assert "300 characters; Relance holds at most 200" in got[(2, "customer_legal_name")]
    assert "too large an amount: at most 16 digits" in got[(3, "invoice_amount")]
    assert "65 characters; Relance holds at most 64" in got[(4, "invoice_number")]
    assert not Customer.objects.filter(organisation=org).exists()


def test_it_refuses_a_spreadsheet_number_beyond_the_ledger(org, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(TEMPLATE.split(";"))
    sheet.append(["C001", "Acme", "FA-1", dt.date(2026, 10, 15), 1e20])
    sheet.append(["C001", "Acme", "FA-2", dt.date(2026, 10, 15), 1e300])
    workbook.save(path := tmp_path / "big.xlsx")

    got = {(row, field): message for row, field, message in problems_of(org, path)}

    assert set(got) == {(2, "invoice_amount"), (3, "invoice_amount")}
    assert "too large an amount" in got[(2, "invoice_amount")]
    assert not Invoice.objects.filter(organisation=org).exists()


# -- bounded memory -----------------------------------------------------------------------


def test_it_refuses_a_monster_line_in_bounded_memory(org, tmp_path):
    path = tmp_path / "monster.csv"
    path.write_text(
        f"{TEMPLATE}\nC001;Acme;FA-1;15/10/2026;100,00\n"
        f"C001;Acme;{'9' * (2 * MAX_LINE)};15/10/2026;1,00\n",
        encoding="utf-8",
    )

    [(row, _, message)] = problems_of(org, path)

    assert row == 3 and "longer than 1,000,000 characters" in message
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_refuses_an_xlsx_whose_one_cell_is_far_away_before_loading_it(org, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Factures"
    sheet.append(TEMPLATE.split(";"))
    sheet.append(["C001", "Acme", "FA-1", dt.date(2026, 10, 15), 100])
    sheet["XFD1048576"] = "oops"  # calamine would build a grid of 17 billion cells
    workbook.save(path := tmp_path / "far.xlsx")

    [(row, field, message)] = problems_of(org, path)

    assert (row, field) == (None, None)
    assert "sheet 'Factures' reaches row 1,048,576, column 16,384" in message
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_refuses_an_ods_whose_one_cell_is_far_away_before_loading_it(org, tmp_path):
    pytest.importorskip("odf")
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    def cell(text: str | None = None, repeat: int | None = None) -> TableCell:
        element = TableCell(valuetype="string") if text else TableCell(numbercolumnsrepeated=repeat)
        if text:
            element.addElement(P(text=text))
        return element

    def row(*cells: TableCell, repeat: int | None = None) -> TableRow:
        element = TableRow(numberrowsrepeated=repeat) if repeat else TableRow()
        for c in cells:
            element.addElement(c)
        return element

    document = OpenDocumentSpreadsheet()
    sheet = Table(name="Factures")
    sheet.addElement(row(*(cell(h) for h in TEMPLATE.split(";"))))
    sheet.addElement(row(*(cell(v) for v in ("C001", "Acme", "FA-1", "15/10/2026", "100,00"))))
    # A stray value a million rows down, 30 columns across: 30 million cells to load.
    sheet.addElement(row(cell(repeat=5), repeat=999_990))
    sheet.addElement(row(cell(repeat=29), cell("x")))
    # LibreOffice ends every sheet with empty repeats: they do not count.
    sheet.addElement(row(cell(repeat=1024), repeat=48_000))
    document.spreadsheet.addElement(sheet)
    document.save(path := tmp_path / "far.ods")

    [(row_, field, message)] = problems_of(org, path)

    assert (row_, field) == (None, None)
    assert "sheet 'Factures' reaches row 999,993, column 30" in message
    assert not Invoice.objects.filter(organisation=org).exists()


# -- headers, one pass, the import log ----------------------------------------------------


def test_it_imports_the_documented_dotted_template_headers(org, tmp_path):
    path = write(
        tmp_path / "template.csv",
        [
            "customer.reference;customer.legal_name;invoice.number;invoice.issue_date;"
            "invoice.due_date;invoice.amount;customer.address.city",
            "C001;Acme;FA-1;15/10/2026;14/11/2026;100,00;Lyon",
        ],
    )

    result = import_file(org, path, as_of=TODAY)

    assert result.counts["invoices_created"] == 1
    invoice = Invoice.objects.get(organisation=org, number="FA-1")
    assert (invoice.issue_date, invoice.due_date) == (dt.date(2026, 10, 15), dt.date(2026, 11, 14))
    assert invoice.customer.addresses.get().city == "Lyon"


def test_it_reports_every_bad_value_in_one_pass(org, tmp_path):
    path = write(
        tmp_path / "all.csv",
        [TEMPLATE, "C001;Acme;FA-1;31/02/2026;100,00", "C002;Acme;FA-2;15/10/2026;100,00",
         "C003;Acme;FA-2;15/10/2026;100,00", f"C004;{'N' * 201};FA-4;15/10/2026;100,00"],
    )  # fmt: skip

    got = {(row, field) for row, field, _ in problems_of(org, path)}

    # A parse error, a duplicate and a value beyond the ledger: all at once.
    assert got == {(2, "invoice_issue_date"), (4, "invoice_number"), (5, "customer_legal_name")}


def test_it_records_a_refused_import_in_the_import_log(org, tmp_path):
    path = write(tmp_path / "bad.csv", [TEMPLATE, "C001;Acme;FA-1;15/12/99;100,00"])

    with pytest.raises(CommandError, match=r"bad.csv, row 2, field 'invoice_issue_date'"):
        call_command("import", str(path), "--org", "acme", stdout=StringIO())

    run = ImportRun.objects.get(organisation=org)
    assert (run.file_name, run.status) == ("bad.csv", ImportRun.Status.FAILED)
    assert "row 2" in run.error and "two-digit year" in run.error
    assert not Invoice.objects.filter(organisation=org).exists()

    # A file refused before its rows are read is logged too, and --json says so on stdout.
    (ragged := tmp_path / "ragged.csv").write_text(f"{TEMPLATE}\nC001;Acme\n", encoding="utf-8")
    out = StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("import", str(ragged), "--org", "acme", "--json", stdout=out)
    assert exit_.value.code == 1
    [problem] = json.loads(out.getvalue())["problems"]
    assert (problem["file"], problem["row"]) == ("ragged.csv", 2)
    run = ImportRun.objects.get(organisation=org, file_name="ragged.csv")
    assert run.status == ImportRun.Status.FAILED and "has 2 fields" in run.error


# -- the organisation ---------------------------------------------------------------------


def test_it_refuses_an_organisation_that_does_not_exist(org, tmp_path):
    path = write(tmp_path / "ok.csv", [TEMPLATE, "C001;Acme;FA-1;15/10/2026;100,00"])

    with pytest.raises(CommandError, match="no organisation 'amce'"):
        call_command("import", str(path), "--org", "amce", stdout=StringIO())

    assert not Organisation.objects.filter(slug="amce").exists()
    assert not Invoice.objects.exists()


def test_it_creates_the_organisation_with_the_options_or_the_mapping(db, tmp_path):
    path = write(tmp_path / "ok.csv", [TEMPLATE, "C001;Acme;FA-1;15/10/2026;100,00"])
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "currency: USD\ncountry: us\nlanguage: en\ncolumns:\n"
        + "".join(f"  {t.replace('_', '.', 1)}: {t}\n" for t in TEMPLATE.split(";")),
        encoding="utf-8",
    )

    out = StringIO()
    call_command("import", str(path), "--org", "newco", "--create-org", "--json",
                 "--mapping", str(mapping), stdout=out)  # fmt: skip
    call_command("import", str(path), "--org", "other", "--create-org", "--country", "BE",
                 "--currency", "EUR", "--language", "fr", stdout=StringIO())  # fmt: skip

    assert json.loads(out.getvalue())["organisation"] == "newco"
    newco = Organisation.objects.get(slug="newco")
    assert (newco.country, newco.currency, newco.language) == ("US", "USD", "en")
    assert Invoice.objects.get(organisation=newco).currency == "USD"
    other = Organisation.objects.get(slug="other")
    assert (other.country, other.currency, other.language) == ("BE", "EUR", "fr")


def test_it_creates_no_organisation_for_a_refused_import(db, tmp_path):
    path = write(tmp_path / "bad.csv", [TEMPLATE, "C001;Acme;FA-1;15/12/99;100,00"])
    with pytest.raises(CommandError, match="two-digit year"):
        call_command("import", str(path), "--org", "newco", "--create-org", stdout=StringIO())
    with pytest.raises(CommandError, match="language 'de'"):
        call_command("import", str(path), "--org", "newco", "--create-org", "--language", "de",
                     stdout=StringIO())  # fmt: skip
    assert not Organisation.objects.exists()
