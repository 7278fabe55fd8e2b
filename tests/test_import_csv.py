"""CSV, XLSX and ODS imports with a mapping: French formats, re-imports, broken files."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import factories
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.mapping import load_mapping
from relance.ledger.models import (
    Address,
    Allocation,
    Contact,
    Customer,
    Dispute,
    ImportRun,
    Invoice,
    Payment,
    TimelineEvent,
)

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
TODAY = dt.date(2026, 11, 22)

FRENCH_MAPPING = """
name: erp-export
record: invoice
columns:
  customer.reference: Code client
  customer.legal_name: Raison sociale
  customer.siren: SIREN
  customer.email: Email
  customer.address.line1: Adresse
  customer.address.postcode: CP
  customer.address.city: Ville
  contact.name: Contact
  invoice.number: N° facture
  invoice.issue_date: Date
  invoice.due_date: Échéance
  invoice.amount_excl_tax: Montant HT
  invoice.amount: Montant TTC
  invoice.open_amount: Reste dû
  invoice.disputed: Litige
"""
HEADER = (
    "Code client;Raison sociale;SIREN;Email;Adresse;CP;Ville;Contact;N° facture;Date;"
    "Échéance;Montant HT;Montant TTC;Reste dû;Litige"
)
ROWS = [
    "C001;Société Générale d'Équipement;552100554;compta@sge.test;3 rue de la Paix;75002;Paris;"
    "Élodie Martin;FA-001;15/09/2026;15/10/2026;1 028,80;1 234,56;1 234,56;non",
    "C001;Société Générale d'Équipement;552100554;compta@sge.test;3 rue de la Paix;75002;Paris;"
    "Élodie Martin;FA-002;01/10/2026;31/10/2026;500,00;600,00;100,00;oui",
    "C002;Bâtiments Lyonnais SARL;;;;;;;FA-003;20/10/2026;;1 000,00;1 200,00;1 200,00;non",
]


def write(path: Path, lines: list[str], encoding: str = "cp1252") -> Path:
    return factories.text_file(path, lines, encoding=encoding, newline="\r\n")


def mapping_file(tmp_path: Path, text: str = FRENCH_MAPPING) -> Path:
    return factories.mapping_file(tmp_path / "mapping.yaml", text)


def ledger_state(org) -> dict:
    """Everything an import may write, to prove that a failed one wrote nothing."""
    return {
        model.__name__: sorted(
            tuple(str(v) for v in row)
            for row in model.objects.filter(organisation=org).values_list()
        )
        for model in (
            Customer,
            Address,
            Contact,
            Invoice,
            Payment,
            Allocation,
            Dispute,
            TimelineEvent,
        )
    }


def do_import(org, path, tmp_path, mapping_text=FRENCH_MAPPING, **kw):
    mapping = load_mapping(mapping_file(tmp_path, mapping_text))
    return import_file(org, path, mapping=mapping, as_of=TODAY, **kw)


def test_it_reads_a_french_windows_export(org, tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, *ROWS])
    result = do_import(org, path, tmp_path)

    assert result.counts["invoices_created"] == 3
    assert result.counts["customers_created"] == 2
    sge = Customer.objects.get(organisation=org, reference="C001")
    assert sge.legal_name == "Société Générale d'Équipement"
    assert sge.siren == "552100554"
    assert sge.addresses.get().city == "Paris"
    assert sge.contacts.get().name == "Élodie Martin"
    fa1 = Invoice.objects.get(organisation=org, number="FA-001")
    assert (fa1.amount, fa1.amount_excl_tax, fa1.tax_amount) == (
        Decimal("1234.56"),
        Decimal("1028.80"),
        Decimal("205.76"),
    )
    assert fa1.balance == Decimal("1234.56")
    assert fa1.due_date == dt.date(2026, 10, 15)
    fa2 = Invoice.objects.get(organisation=org, number="FA-002")
    assert fa2.balance == Decimal("100.00")  # 500.00 already paid in the source system
    assert fa2.disputes.get().is_open
    # No due date in the file: 30 days, the customer's (default) terms.
    fa3 = Invoice.objects.get(organisation=org, number="FA-003")
    assert fa3.due_date == dt.date(2026, 11, 19) and fa3.due_date_derived
    assert TimelineEvent.objects.filter(organisation=org, kind="import").count() == 2


def test_it_reads_utf8_with_commas_and_a_bom(org, tmp_path):
    lines = [HEADER.replace(";", ","), *(r.replace(",", ".").replace(";", ",") for r in ROWS)]
    lines = [line.replace("1 028.80", '"1 028,80"') for line in lines]
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8"))
    result = do_import(org, path, tmp_path)
    assert result.counts["invoices_created"] == 3
    assert Invoice.objects.get(organisation=org, number="FA-001").amount == Decimal("1234.56")
    assert Customer.objects.get(reference="C001").legal_name.startswith("Société Générale")


def test_it_changes_nothing_when_the_same_file_comes_again(org, tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, *ROWS])
    do_import(org, path, tmp_path)
    before = ledger_state(org)
    again = do_import(org, path, tmp_path)
    assert dict(again.counts) == {"invoices_unchanged": 3}
    after = ledger_state(org)
    assert after == before


def test_it_upserts_an_updated_file_without_duplicating_payments(org, tmp_path):
    do_import(org, write(tmp_path / "v1.csv", [HEADER, *ROWS]), tmp_path)
    # A week later: FA-001 half paid, FA-003 amount corrected, FA-004 new.
    v2 = [
        HEADER,
        ROWS[0].replace("1 234,56;non", "600,00;non"),
        ROWS[1],
        ROWS[2].replace("1 000,00;1 200,00;1 200,00", "900,00;1 080,00;1 080,00"),
        "C002;Bâtiments Lyonnais SARL;;;;;;;FA-004;02/11/2026;02/12/2026;10,00;12,00;12,00;non",
    ]
    result = do_import(org, write(tmp_path / "v2.csv", v2), tmp_path)

    assert result.counts["invoices_created"] == 1
    assert result.counts["invoices_updated"] == 1  # FA-003; FA-001's amount is unchanged
    assert result.counts["payments_updated"] == 0
    assert result.counts["payments_created"] == 1
    fa1 = Invoice.objects.get(organisation=org, number="FA-001")
    assert fa1.balance == Decimal("600.00")
    assert Payment.objects.filter(organisation=org, reference="FA-002/paid").count() == 1
    assert Invoice.objects.get(organisation=org, number="FA-003").balance == Decimal("1080.00")
    # Fully paid in the source: balance 0, settled that day.
    v3 = [HEADER, ROWS[0].replace("1 234,56;non", "0,00;non"), ROWS[1], ROWS[2]]
    do_import(org, write(tmp_path / "v3.csv", v3), tmp_path)
    fa1.refresh_from_db()
    assert fa1.balance == 0 and fa1.settled_on == TODAY


def test_it_settles_items_that_vanished_from_a_snapshot(org, tmp_path):
    snapshot_mapping = FRENCH_MAPPING + "snapshot: true\n"
    do_import(org, write(tmp_path / "v1.csv", [HEADER, *ROWS]), tmp_path, snapshot_mapping)
    result = do_import(
        org, write(tmp_path / "v2.csv", [HEADER, ROWS[0], ROWS[2]]), tmp_path, snapshot_mapping
    )
    assert result.counts["invoices_settled"] == 1
    fa2 = Invoice.objects.get(organisation=org, number="FA-002")
    assert fa2.balance == 0 and fa2.settled_on == TODAY
    assert Payment.objects.get(reference="SETTLED:FA-002").kind == "settlement"
    # Without `snapshot`, a missing item is only missing from the file.
    do_import(org, write(tmp_path / "v3.csv", [HEADER, ROWS[2]]), tmp_path)
    assert Invoice.objects.get(organisation=org, number="FA-001").balance == Decimal("1234.56")


def test_it_shows_a_dry_run_and_writes_nothing(org, tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, *ROWS])
    result = do_import(org, path, tmp_path, dry_run=True)
    assert result.counts["invoices_created"] == 3
    assert {c["key"] for c in result.changes if c["what"] == "invoices"} == {
        "FA-001",
        "FA-002",
        "FA-003",
    }
    assert not Invoice.objects.exists() and not Customer.objects.exists()
    assert not ImportRun.objects.exists()


def test_it_keeps_organisations_apart(org, other_org, tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, *ROWS])
    do_import(org, path, tmp_path)
    do_import(other_org, path, tmp_path)
    assert Invoice.objects.filter(organisation=other_org).count() == 3
    assert Invoice.objects.filter(organisation=org).count() == 3


def test_it_reads_xlsx_with_typed_cells(org, tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Code client", "N° facture", "Date", "Échéance", "Montant TTC"])
    sheet.append(["C001", "FA-001", dt.date(2026, 9, 15), dt.date(2026, 10, 15), 1234.56])
    sheet.append(["C001", 123, "15/09/2026", "15/10/2026", "1 000,10"])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    mapping = (
        "columns:\n  customer.reference: Code client\n  invoice.number: N° facture\n"
        "  invoice.issue_date: Date\n  invoice.due_date: Échéance\n"
        "  invoice.amount: Montant TTC\n"
    )
    do_import(org, path, tmp_path, mapping)
    assert Invoice.objects.get(number="FA-001").amount == Decimal("1234.56")
    assert Invoice.objects.get(number="123").amount == Decimal("1000.10")
    assert Invoice.objects.get(number="123").issue_date == dt.date(2026, 9, 15)


def test_it_reads_ods(org, tmp_path):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="Factures")
    for cells in (
        ["Code client", "N° facture", "Date", "Montant TTC"],
        ["C009", "FA-900", "01/09/2026", "99,90"],
    ):
        row = TableRow()
        for value in cells:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    doc.spreadsheet.addElement(table)
    path = tmp_path / "export.ods"
    doc.save(str(path))
    mapping = (
        "columns:\n  customer.reference: Code client\n  invoice.number: N° facture\n"
        "  invoice.issue_date: Date\n  invoice.amount: Montant TTC\n"
    )
    do_import(org, path, tmp_path, mapping)
    invoice = Invoice.objects.get(organisation=org, number="FA-900")
    assert invoice.amount == Decimal("99.90") and invoice.customer.reference == "C009"


def test_it_imports_a_payment_file_with_allocations(org, tmp_path):
    do_import(org, write(tmp_path / "inv.csv", [HEADER, *ROWS]), tmp_path)
    payments = tmp_path / "payments.csv"
    payments.write_text(
        "client,ref,date,montant,facture\n"
        "C002,VIR-77,12/11/2026,200.00,FA-003\n"
        "C001,VIR-78,13/11/2026,1000.00,FA-001\n"
        "C001,VIR-78,13/11/2026,50.00,FA-002\n",
        encoding="utf-8",
    )
    mapping = (
        "record: payment\ncolumns:\n  customer.reference: client\n  payment.reference: ref\n"
        "  payment.date: date\n  allocation.amount: montant\n  allocation.invoice: facture\n"
    )
    result = do_import(org, payments, tmp_path, mapping)
    assert result.counts["payments_created"] == 2
    assert Payment.objects.get(reference="VIR-78").amount == Decimal("1050.00")
    assert Invoice.objects.get(number="FA-001").balance == Decimal("234.56")
    assert Invoice.objects.get(number="FA-002").balance == Decimal("50.00")
    assert Invoice.objects.get(number="FA-003").balance == Decimal("1000.00")
    again = do_import(org, payments, tmp_path, mapping)
    assert not again.counts["payments_created"] and not again.counts["allocations_created"]


# -- broken files: a clear error naming file, row and field; the database as it was ----------


def broken_cases(tmp_path: Path) -> dict[str, tuple[Path, str, int | None, str | None]]:
    """name -> (file, expected text in the message, row, field)."""
    utf8 = tmp_path / "utf8.csv"
    utf8.write_bytes(("\n".join([HEADER, *ROWS])).encode("cp1252"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    return {
        "missing column": (
            write(tmp_path / "m.csv", [HEADER.replace(";Échéance", ";Echeance"), *ROWS]),
            "missing column",
            1,
            "Échéance",
        ),
        "bad date": (
            write(
                tmp_path / "d.csv", [HEADER, ROWS[0], ROWS[1].replace("01/10/2026", "31/02/2026")]
            ),
            "is not a date",
            3,
            "Date",
        ),
        "bad amount": (
            write(
                tmp_path / "a.csv",
                [HEADER, ROWS[0], ROWS[1], ROWS[2].replace("1 200,00;1 200", "12O0,00;1 200")],
            ),
            "is not an amount",
            4,
            "Montant TTC",
        ),
        "wrong encoding": (utf8, "not valid utf-8", 1, None),  # "N°" in the header
        "duplicate numbers": (
            write(tmp_path / "n.csv", [HEADER, *ROWS, ROWS[0]]),
            "appears twice",
            5,
            "N° facture",
        ),
        "empty file": (write(tmp_path / "e.csv", []), "empty", None, None),
        "binary file": (binary, "binary", None, None),
        "bad siren": (
            write(tmp_path / "s.csv", [HEADER, ROWS[0].replace("552100554", "552100555")]),
            "not a valid SIREN",
            2,
            "SIREN",
        ),
        "ragged row": (
            write(tmp_path / "r.csv", [HEADER, ROWS[0] + ";extra"]),
            "fields",
            2,
            None,
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing column",
        "bad date",
        "bad amount",
        "wrong encoding",
        "duplicate numbers",
        "empty file",
        "binary file",
        "bad siren",
        "ragged row",
    ],
)
def test_it_refuses_a_broken_file_and_writes_nothing(org, tmp_path, case):
    do_import(org, write(tmp_path / "good.csv", [HEADER, *ROWS]), tmp_path)
    before = ledger_state(org)
    path, text, row, field = broken_cases(tmp_path)[case]
    mapping = FRENCH_MAPPING + ("encoding: utf-8\n" if case == "wrong encoding" else "")

    with pytest.raises(ImportFailed) as failure:
        do_import(org, path, tmp_path, mapping)

    problem = failure.value.problems[0]
    assert problem.file == path.name
    assert text in problem.message
    assert problem.row == row
    if field:
        assert problem.field == field
    assert path.name in str(failure.value)
    assert ledger_state(org) == before
    # The failure is on record, for the console's import history.
    if case not in (
        "missing column",
        "bad date",
        "bad amount",
        "wrong encoding",
        "empty file",
        "binary file",
        "ragged row",
    ):
        assert ImportRun.objects.filter(organisation=org, status="failed").exists()


def test_it_reports_every_bad_value_at_once(org, tmp_path):
    rows = [ROWS[0].replace("15/09/2026", "hier"), ROWS[1].replace("600,00", "six cents")]
    with pytest.raises(ImportFailed) as failure:
        do_import(org, write(tmp_path / "x.csv", [HEADER, *rows]), tmp_path)
    assert [(p.row, p.field) for p in failure.value.problems] == [
        (2, "Date"),
        (3, "Montant TTC"),
    ]


def test_it_refuses_currencies_and_countries_that_are_no_iso_codes(org, tmp_path):
    mapping = FRENCH_MAPPING + "  invoice.currency: Devise\n  customer.address.country: Pays\n"
    rows = [f"{ROWS[0]};eur;fr", f"{ROWS[1]};EURO;FR", f"{ROWS[2]};EUR;ZZ"]
    path = write(tmp_path / "x.csv", [f"{HEADER};Devise;Pays", *rows])
    with pytest.raises(ImportFailed) as failure:
        do_import(org, path, tmp_path, mapping_text=mapping)
    assert [(p.row, p.field) for p in failure.value.problems] == [(3, "Devise"), (4, "Pays")]
    assert not Invoice.objects.filter(organisation=org).exists()
    # Codes in small letters are codes all the same.
    do_import(org, write(tmp_path / "y.csv", [f"{HEADER};Devise;Pays", rows[0]]), tmp_path,
              mapping_text=mapping)  # fmt: skip
    assert Invoice.objects.get(organisation=org, number="FA-001").currency == "EUR"


def test_it_names_the_mapping_key_that_is_wrong(org, tmp_path):
    path = write(tmp_path / "x.csv", [HEADER, *ROWS])
    with pytest.raises(ImportFailed) as failure:
        do_import(org, path, tmp_path, FRENCH_MAPPING.replace("invoice.due_date", "invoice.due"))
    problem = failure.value.problems[0]
    assert problem.file == "mapping.yaml" and problem.field == "columns.invoice.due"


# -- the command line --------------------------------------------------------------------


def test_it_imports_from_the_command_line_and_saves_the_mapping(org, tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, *ROWS])
    out = StringIO()
    call_command(
        "import",
        str(path),
        "--mapping",
        str(mapping_file(tmp_path)),
        "--save-mapping",
        "erp",
        "--json",
        "--as-of",
        "2026-11-22",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert data["ok"] and data["counts"]["invoices_created"] == 3
    out = StringIO()
    call_command("import", str(path), "--mapping", "erp", "--json", stdout=out)
    assert json.loads(out.getvalue())["counts"] == {"invoices_unchanged": 3}


def test_it_fails_cleanly_on_the_command_line(org, tmp_path):
    path = write(tmp_path / "export.csv", [HEADER, ROWS[0].replace("15/09/2026", "demain")])
    with pytest.raises(CommandError, match=r"export.csv, row 2, field 'Date'"):
        call_command("import", str(path), "--mapping", str(mapping_file(tmp_path)))


def test_it_creates_the_organisation_named_but_not_in_a_dry_run(db, tmp_path):
    from relance.accounts.models import Organisation

    path = write(tmp_path / "export.csv", [HEADER, *ROWS])
    args = [str(path), "--mapping", str(mapping_file(tmp_path)), "--org", "newco", "--create-org"]
    call_command("import", *args, "--dry-run", stdout=StringIO())
    assert not Organisation.objects.filter(slug="newco").exists()
    call_command("import", *args, stdout=StringIO())
    assert Invoice.objects.filter(organisation__slug="newco").count() == 3
    call_command("import", *args, stdout=StringIO())  # it exists now: used as it is
    assert Organisation.objects.filter(slug="newco").count() == 1


def test_it_refuses_allocations_beyond_an_invoice_or_a_payment(org, tmp_path):
    do_import(org, write(tmp_path / "inv.csv", [HEADER, *ROWS]), tmp_path)
    before = ledger_state(org)
    mapping = (
        "record: payment\ncolumns:\n  customer.reference: client\n  payment.reference: ref\n"
        "  payment.date: date\n  payment.amount: total\n  allocation.amount: montant\n"
        "  allocation.invoice: facture\n"
    )
    too_much = tmp_path / "too-much.csv"
    too_much.write_text(
        "client,ref,date,total,montant,facture\n"
        "C002,VIR-1,12/11/2026,5000.00,1300.00,FA-003\n"  # FA-003 owes 1,200.00
        "C001,VIR-2,12/11/2026,100.00,60.00,FA-001\n"  # VIR-2 holds 100.00: 120.00 allocated
        "C001,VIR-2,12/11/2026,100.00,60.00,FA-002\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as failure:
        do_import(org, too_much, tmp_path, mapping)
    messages = [(p.row, p.message) for p in failure.value.problems]
    assert (3, "payment VIR-2 of 100.00 is allocated 120.00") in messages
    assert any("invoice FA-003 of 1200.00 would receive 1300.00" in m for _, m in messages)
    assert ledger_state(org) == before
