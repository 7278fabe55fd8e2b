"""The console's import page takes every format `relance import` detects: e-invoices (a PDF,
an XML, a ZIP, several files at once), life-cycle statuses and bank statements (CAMT.053,
a bank CSV with its columns), each previewed and reported as fits it."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import factories
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from test_bank import BANK_CSV, D, camt
from test_import_einvoices import OUR_SIREN, ubl

from relance.bank.models import BankLine, BankStatement, LineStatus
from relance.ledger.imports import staging
from relance.ledger.models import Dispute, ImportRun, Invoice, Payment


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def acme(org):
    org.siren = OUR_SIREN
    org.save(update_fields=["siren"])
    return org


@pytest.fixture
def manager(acme):
    return factories.member(acme, "manon@acme.test", "manager")


@pytest.fixture
def signed(client, manager):
    client.force_login(manager)
    return client


def upload(client, *files: tuple[str, bytes], kind: str = "auto"):
    return client.post(
        reverse("console:import_upload"),
        {"file": [SimpleUploadedFile(name, data) for name, data in files], "kind": kind},
    )


def token_of(response) -> str:
    assert response.status_code == 302, response.content[:3000]
    return response["Location"].rstrip("/").split("/")[-1]


def url(token: str, step: str = "") -> str:
    return reverse("console:import", args=[token]) + (f"{step}/" if step else "")


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def open_items(org):
    customer = factories.customer(org, "DUP")
    return [
        factories.invoice(customer, f"FA-{n}", due=D - factories.days(10),
                          amount=Decimal("1000.25") + n)
        for n in range(3)
    ]  # fmt: skip


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_previews_then_imports_a_zip_of_einvoices_reporting_each_file(signed, acme):
    foreign = ubl("UBL-3", seller_siren="552100554")  # another seller's invoice
    data = zipped(**{"a.xml": ubl("UBL-1"), "b.xml": ubl("UBL-2", total="480.00"),
                     "c.xml": foreign, "d.xml": b"<broken"})  # fmt: skip
    token = token_of(upload(signed, ("factures.zip", data)))
    staged = staging.load(acme, token)
    assert (staged.format, staged.file["rows"], staged.needs_mapping) == ("einvoice", 4, False)

    signed.post(url(token, "preview"))
    page = signed.get(url(token)).content.decode()
    assert 'id="einvoice-report"' in page and 'id="confirm-import"' in page
    assert page.count('data-status="would import"') == 2
    assert page.count('data-status="refused"') == 2
    assert "not well-formed XML" in page and "UBL-2" in page
    assert not Invoice.objects.filter(organisation=acme).exists()

    signed.post(url(token, "confirm"))
    page = signed.get(url(token)).content.decode()
    assert page.count('data-status="imported"') == 2 and page.count('data-status="refused"') == 2
    numbers = Invoice.objects.filter(organisation=acme).values_list("number", flat=True)
    assert sorted(numbers) == ["UBL-1", "UBL-2"]
    run = ImportRun.objects.get(organisation=acme)
    assert (run.format, run.status) == ("einvoice", "done")


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_gathers_several_files_uploaded_at_once_as_a_folder(signed, acme):
    token = token_of(upload(signed, ("a.xml", ubl("UBL-1")), ("b.xml", ubl("UBL-2"))))
    staged = staging.load(acme, token)
    assert (staged.format, staged.file["name"], staged.file["files"]) == (
        "einvoice", "2 files", ["a.xml", "b.xml"],
    )  # fmt: skip
    signed.post(url(token, "preview"))
    signed.post(url(token, "confirm"))
    assert Invoice.objects.filter(organisation=acme).count() == 2
    assert not staging.load(acme, token).path.exists()  # the files go once imported


def test_it_takes_a_hundred_and_fifty_files_at_once(signed, acme):
    files = [(f"{n:03}.xml", ubl(f"UBL-{n}")) for n in range(150)]  # Django's default: 100
    staged = staging.load(acme, token_of(upload(signed, *files)))
    assert (staged.format, staged.file["rows"]) == ("einvoice", 150)


@pytest.mark.usefixtures("in_english")  # reads the page in English
def test_it_refuses_more_files_than_it_takes_saying_so(manager, settings, media):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    client = Client(enforce_csrf_checks=True)  # the check reads the form before the view
    client.force_login(manager)
    page = client.get(reverse("console:imports")).content.decode()
    [csrf] = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[:1]
    files = [SimpleUploadedFile(f"{n}.xml", ubl(f"UBL-{n}")) for n in range(4)]
    response = client.post(reverse("console:import_upload"),
                           {"file": files, "csrfmiddlewaretoken": csrf})  # fmt: skip
    assert response.status_code == 400
    assert "Send at most 3 files at once, or a ZIP of them." in response.content.decode()
    assert not (media / "imports").exists() or not list((media / "imports").rglob("*.xml"))


def test_it_refuses_several_files_that_are_not_einvoices(signed, acme, media):
    response = upload(signed, ("a.xml", ubl("UBL-1")), ("ledger.csv", b"a;b\n1;2\n"))
    assert response.status_code == 400
    assert "ledger.csv" in response.content.decode()
    assert not list((media / "imports" / str(acme.pk)).iterdir())


def test_it_applies_a_status_file_reporting_each_status(signed, acme):
    open_items(acme)
    data = b"facture;statut;date;montant\nFA-0;207;2026-11-02;\nFA-1;212;2026-11-03;100,00\n"
    token = token_of(upload(signed, ("statuts.csv", data)))
    assert staging.load(acme, token).format == "statuses"

    signed.post(url(token, "preview"))
    assert not Dispute.objects.filter(organisation=acme).exists()
    signed.post(url(token, "confirm"))

    page = signed.get(url(token)).content.decode()
    assert 'id="status-report"' in page and page.count('data-result="applied"') == 2
    assert Dispute.objects.filter(organisation=acme, invoice__number="FA-0").exists()
    assert Invoice.objects.get(organisation=acme, number="FA-1").balance == Decimal("901.25")


def test_it_imports_a_camt053_with_matched_and_proposed_credits(signed, acme):
    first, second, _ = open_items(acme)
    statement = camt([
        {"ref": "B1", "amount": first.amount, "ustrd": f"FACTURE {first.number}"},
        {"ref": "B2", "amount": second.amount - 100, "ustrd": f"ACOMPTE {second.number}"},
        {"ref": "B3", "amount": "12.34", "ustrd": "DIVERS"},
    ]).encode()  # fmt: skip
    token = token_of(upload(signed, ("releve.xml", statement)))
    assert staging.load(acme, token).format == "camt053"

    signed.post(url(token, "preview"))
    last = staging.load(acme, token).last
    assert last["status"] == "ok", last
    bank = last["result"]["bank"]
    assert (bank["matched"], bank["proposed"], bank["unmatched"]) == (1, 1, 1)
    assert not BankStatement.objects.exists() and not Payment.objects.exists()

    signed.post(url(token, "confirm"))
    page = signed.get(url(token)).content.decode()
    assert 'id="bank-report"' in page and reverse("console:bank") in page
    assert "Examiner 2 crédits dans la file bancaire" in page  # a French organisation
    first.refresh_from_db()
    assert first.balance == 0
    assert BankLine.objects.filter(organisation=acme, status=LineStatus.PROPOSED).count() == 1

    # The same statement again: every credit already imported, nothing allocated twice.
    token = token_of(upload(signed, ("releve.xml", statement)))
    signed.post(url(token, "preview"))
    assert staging.load(acme, token).last["result"]["bank"]["duplicates"] == 3


def test_it_gathers_statements_uploaded_at_once_as_a_zip_of_them(signed, acme):
    first, second, _ = open_items(acme)
    monday = camt([{"ref": "B1", "amount": first.amount, "ustrd": f"FACT {first.number}"}])
    tuesday = camt([{"ref": "B2", "amount": second.amount, "ustrd": f"FACT {second.number}"}])
    token = token_of(upload(signed, ("lundi.xml", monday.encode()),
                            ("mardi.xml", tuesday.encode())))  # fmt: skip
    assert staging.load(acme, token).format == "camt053"
    signed.post(url(token, "preview"))
    signed.post(url(token, "confirm"))
    last = staging.load(acme, token).last
    assert last["result"]["bank"]["files"] == ["lundi.xml", "mardi.xml"], last
    assert last["result"]["bank"]["matched"] == 2
    assert BankStatement.objects.filter(organisation=acme).count() == 1


def test_it_reads_a_bank_csv_with_the_columns_chosen(signed, acme):
    customer = factories.customer(acme, "DUP")
    invoice = factories.invoice(customer, "FB-12", due=D - factories.days(5), amount="1234.56")
    token = token_of(upload(signed, ("export.csv", BANK_CSV.encode("cp1252")), kind="bank-csv"))
    staged = staging.load(acme, token)
    assert (staged.format, staged.ready) == ("bank-csv", True)
    assert 'id="bank-columns"' in signed.get(url(token)).content.decode()

    # The headers are on line 2: read there, the columns named by the person.
    response = signed.post(url(token, "bank-columns"), {
        "header_row": "2", "dates": "auto", "decimal": "auto", "bank:date": "Date",
        "bank:label": "Libellé", "bank:debit": "Débit", "bank:credit": "Crédit",
    })  # fmt: skip
    assert response.status_code == 302, response.content[:3000]
    staged = staging.load(acme, token)
    assert "Crédit" in staged.file["header"]
    assert staged.last["result"]["bank"]["matched"] == 1, staged.last
    signed.post(url(token, "confirm"))
    invoice.refresh_from_db()
    assert invoice.balance == 0


def test_it_names_a_wrong_bank_column_option(signed, acme):
    token = token_of(upload(signed, ("export.csv", BANK_CSV.encode("cp1252")), kind="bank-csv"))
    response = signed.post(url(token, "bank-columns"), {"header_row": "0", "decimal": "x"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "header_row" in text and "decimal" in text
    assert staging.load(acme, token).last is None


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_refuses_an_xml_of_another_kind_naming_the_file(signed, acme, media):
    response = upload(signed, ("catalogue.xml", b'<?xml version="1.0"?><catalog/>'))
    assert response.status_code == 400
    text = response.content.decode()
    assert "catalogue.xml" in text and "is not an e-invoice" in text
    assert not list((media / "imports" / str(acme.pk)).iterdir())


@pytest.mark.parametrize("role", ["viewer", "collector"])
def test_only_managers_and_admins_import_statements(client, acme, manager, role):
    client.force_login(manager)
    token = token_of(upload(client, ("releve.xml", camt([{"ref": "B1", "amount": "10.00"}])
                                     .encode())))  # fmt: skip
    client.force_login(factories.member(acme, f"{role}@acme.test", role))
    assert upload(client, ("releve.xml", b"<x/>")).status_code == 403
    for step in ("preview", "confirm", "bank-columns"):
        assert client.post(url(token, step)).status_code == 403, step
    assert client.get(url(token)).status_code == 403
    assert not BankStatement.objects.exists()


def test_another_organisations_statement_import_answers_404(client, acme, manager, outsider):
    client.force_login(manager)
    token = token_of(upload(client, ("releve.xml", camt([{"ref": "B1", "amount": "10.00"}])
                                     .encode())))  # fmt: skip
    client.force_login(outsider)
    for step in ("", "progress", "preview", "confirm", "bank-columns", "discard"):
        method = client.get if step in ("", "progress") else client.post
        assert method(url(token, step)).status_code == 404, step
    assert staging.load(acme, token).last is None
    assert not BankStatement.objects.exists()


def test_the_reports_write_their_dates_as_the_console_does(signed, acme):
    """Dates in the reader's language (French by default), not as the file's ISO."""
    token = token_of(upload(signed, ("factures.zip", zipped(**{"a.xml": ubl("UBL-1")}))))
    signed.post(url(token, "preview"))
    report = signed.get(url(token)).content.decode().split('id="einvoice-report"')[1]
    assert "15/11/2026" in report and "2026-11-15" not in report

    open_items(acme)
    data = b"facture;statut;date;montant\nFA-0;207;2026-11-02;\n"
    token = token_of(upload(signed, ("statuts.csv", data)))
    signed.post(url(token, "preview"))
    report = signed.get(url(token)).content.decode().split('id="status-report"')[1]
    assert "02/11/2026" in report and "2026-11-02" not in report
