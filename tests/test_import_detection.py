"""`relance import` detects every format: tables, FEC, e-invoices, life-cycle statuses and
bank statements (a CAMT.053, a ZIP of them), each handed to its own import through the one
entry point ``import_file``; an XML of none of these is refused naming the file."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal
from io import StringIO
from pathlib import Path

import factories as f
import pytest
from django.core.management import call_command
from test_bank import BANK_CSV, D, camt
from test_import_einvoices import OUR_SIREN, ubl

from relance.bank.models import BankLine, BankStatement, LineStatus
from relance.bank.services import BankImportResult
from relance.ledger.imports import ImportFailed, guess_format, import_file
from relance.ledger.models import ImportRun, Invoice, Payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    org = f.organisation("acme", siren=OUR_SIREN)
    dupont = f.customer(org, "DUP")
    invoices = [
        f.invoice(dupont, f"FA-2026-{n:04d}", due=D - f.days(10), amount=Decimal("1000.25") + n)
        for n in range(3)
    ]
    return org, invoices


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def statement(invoices: list[Invoice], refs: tuple[str, ...] = ("B1", "B2", "B3")) -> str:
    """The first invoice paid exactly (its number), the second in part, a credit unknown."""
    first, second, _ = invoices
    return camt([
        {"ref": refs[0], "amount": first.amount, "ustrd": f"FACTURE {first.number}"},
        {"ref": refs[1], "amount": second.amount - 100, "ustrd": f"ACOMPTE {second.number}"},
        {"ref": refs[2], "amount": "12.34", "ustrd": "DIVERS"},
        {"ref": "DEB1", "amount": "9.00", "debit": True},
    ])  # fmt: skip


def run_json(*args: str) -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command(*args, "--json", stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), json.loads(out.getvalue())
    return 0, json.loads(out.getvalue())


def test_it_tells_every_format_from_the_file(tmp_path):
    ledger_csv = write(tmp_path, "ledger.csv", "invoice.number;customer.reference\nF1;C1\n")
    fec = write(tmp_path, "fec.txt", "JournalCode\tJournalLib\tEcritureNum\n")
    statuses = write(tmp_path, "statuts.csv", "facture;statut;date\nFA-1;207;2026-11-02\n")
    cdar = write(tmp_path, "cdar.xml", '<?xml version="1.0"?><rsm:CrossDomainAcknowledgement'
                 'AndResponse xmlns:rsm="urn:x"/>')  # fmt: skip
    invoice = write(tmp_path, "f.xml", ubl())
    bank = write(tmp_path, "releve.xml", camt([{"ref": "B1", "amount": "10.00"}]))
    # A statement without the XML declaration, named .txt: its root says what it is.
    bare = write(tmp_path, "releve.txt", camt([{"ref": "B1", "amount": "10.00"}]).split("\n", 1)[1])
    einvoice_zip = tmp_path / "factures.zip"
    with zipfile.ZipFile(einvoice_zip, "w") as archive:
        archive.writestr("a.xml", ubl("A"))
    camt_zip = tmp_path / "releves.zip"
    with zipfile.ZipFile(camt_zip, "w") as archive:
        archive.writestr("nov.xml", camt([{"ref": "B1", "amount": "10.00"}]))

    found = {p.name: guess_format(p) for p in (ledger_csv, fec, statuses, cdar, invoice, bank,
                                               bare, einvoice_zip, camt_zip)}  # fmt: skip

    assert found == {
        "ledger.csv": "csv", "fec.txt": "fec", "statuts.csv": "statuses", "cdar.xml": "statuses",
        "f.xml": "einvoice", "releve.xml": "camt053", "releve.txt": "camt053",
        "factures.zip": "einvoice", "releves.zip": "camt053",
    }  # fmt: skip


def test_it_imports_a_camt053_as_the_bank_import_does(ledger, tmp_path):
    org, invoices = ledger
    path = write(tmp_path, "releve.xml", statement(invoices))

    code, report = run_json("import", str(path), "--org", "acme", "--as-of", D.isoformat())

    assert code == 0
    assert report["format"] == "camt053" and report["file"] == "releve.xml"
    assert (report["credits"], report["debits"], report["matched"], report["proposed"],
            report["unmatched"], report["duplicates"]) == (3, 1, 1, 1, 1, 0)  # fmt: skip
    assert report["allocated"] == str(invoices[0].amount)
    assert report["statement"] == BankStatement.objects.get(organisation=org).pk
    invoices[0].refresh_from_db()
    assert invoices[0].balance == 0
    # The same file through `relance bank import`: the same report, every credit known now.
    code, again = run_json("bank", "import", str(path), "--org", "acme", "--as-of", D.isoformat())
    assert code == 0 and set(again) == set(report)
    assert (again["credits"], again["duplicates"], again["matched"]) == (0, 3, 0)
    assert Payment.objects.filter(organisation=org).count() == 1


def test_it_previews_a_statement_and_writes_nothing(ledger, tmp_path):
    org, invoices = ledger
    path = write(tmp_path, "releve.xml", statement(invoices))

    result = import_file(org, path, dry_run=True, as_of=D)

    assert isinstance(result, BankImportResult)
    assert (result.dry_run, result.matched, result.proposed, result.statement_id) == (
        True, 1, 1, None,
    )  # fmt: skip
    assert not BankStatement.objects.exists() and not BankLine.objects.exists()
    assert not Payment.objects.exists()
    invoices[0].refresh_from_db()
    assert invoices[0].balance == invoices[0].amount


def test_it_imports_a_zip_of_statements_counting_a_credit_in_two_of_them_once(ledger, tmp_path):
    org, invoices = ledger
    path = tmp_path / "releves.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("2026-11-23.xml", statement(invoices))
        # The next day's statement repeats the unknown credit (B3) and brings one more.
        archive.writestr("2026-11-24.xml", camt([
            {"ref": "B3", "amount": "12.34", "ustrd": "DIVERS"},
            {"ref": "B4", "amount": invoices[2].amount, "ustrd": f"FACT {invoices[2].number}"},
        ]))  # fmt: skip

    result = import_file(org, path, as_of=D)

    assert isinstance(result, BankImportResult)
    assert result.files == ["2026-11-23.xml", "2026-11-24.xml"]
    assert (result.credits, result.duplicates, result.matched) == (4, 1, 2)
    assert BankLine.objects.filter(organisation=org, status=LineStatus.MATCHED).count() == 2


def test_it_refuses_a_zip_with_a_broken_statement_whole(ledger, tmp_path):
    org, invoices = ledger
    path = tmp_path / "releves.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bon.xml", statement(invoices))
        archive.writestr("casse.xml", statement(invoices)[:-40])

    with pytest.raises(ImportFailed) as refused:
        import_file(org, path, as_of=D)

    assert refused.value.problems[0].file == "releves.zip/casse.xml"
    assert not BankLine.objects.exists()


@pytest.mark.parametrize(
    ("document", "said"),
    [
        ('<?xml version="1.0"?><catalog><book/></catalog>', "<catalog>"),
        ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"><x/></Document>',
         "<Document>"),
        ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><x/></Document>',
         "camt.054.001.08"),
    ],
)  # fmt: skip
def test_it_refuses_an_xml_of_another_kind_naming_the_file(ledger, tmp_path, document, said):
    path = write(tmp_path, "autre.xml", document)

    code, report = run_json("import", str(path), "--org", "acme")

    assert code == 1 and report["ok"] is False
    [problem] = report["problems"]
    assert problem["file"] == "autre.xml" and said in problem["message"]
    assert not BankStatement.objects.exists()
    [run] = ImportRun.objects.all()  # kept in the import log, as every file refused
    assert (run.file_name, run.status, run.format) == ("autre.xml", "failed", "xml")


def test_it_imports_a_bank_csv_with_its_mapping(ledger, tmp_path):
    _org, invoices = ledger
    dupont = invoices[0].customer
    invoice = f.invoice(dupont, "FB-12", due=D - f.days(5), amount="1234.56")
    path = write(tmp_path, "export.csv", BANK_CSV.encode("cp1252"))
    mapping = write(tmp_path, "banque.yaml", "header_row: 2\ncolumns:\n  date: Date\n"
                    "  label: Libellé\n  debit: Débit\n  credit: Crédit\n")  # fmt: skip

    code, report = run_json("import", str(path), "--format", "bank-csv", "--mapping",
                            str(mapping), "--org", "acme", "--as-of", D.isoformat())  # fmt: skip

    assert code == 0 and report["format"] == "csv"
    assert (report["credits"], report["debits"], report["matched"]) == (3, 1, 1)
    invoice.refresh_from_db()
    assert invoice.balance == 0


def test_it_says_what_a_statement_did_in_words(ledger, tmp_path):
    _org, invoices = ledger
    path = write(tmp_path, "releve.xml", statement(invoices))
    out = StringIO()

    call_command("import", str(path), "--org", "acme", "--as-of", D.isoformat(), stdout=out)

    assert "releve.xml (camt053): 3 new credit(s), 1 matched" in out.getvalue()
