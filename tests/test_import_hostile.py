"""Hostile files at the ledger's imports (CSV, e-invoices as XML, PDF and ZIP), the holes
found and closed, and what held: each refused naming the file, the row and the field, with
nothing written; never a server error."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import factories
import openpyxl
import pypdf
import pytest
from test_api import Api, is_problem, token
from test_import_einvoices import (
    OUR_SIREN,
    TODAY,
    cii,
    facturx_pdf,
    pdf_attaching,
    seller_org,
    ubl,
    write,
)

from relance.ledger import einvoice
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.models import Attachment, Customer, Invoice, Payment

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


@pytest.fixture
def acme():
    return seller_org(OUR_SIREN)


def refused(org, path: Path) -> list[tuple[str, int | None, str | None, str]]:
    """The problems of a refused import, having checked that it wrote nothing."""
    with pytest.raises(ImportFailed) as failure:
        import_file(org, path, as_of=TODAY)
    assert not Customer.objects.exists() and not Invoice.objects.exists()
    assert not Payment.objects.exists()
    return [(p.file, p.row, p.field, p.message) for p in failure.value.problems]


def zipped(tmp_path: Path, name: str, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members:
            archive.writestr(member, data)
    return path


# -- control characters: one rule for the API and every import ------------------------------

HEADER = (
    "invoice.number,customer.reference,customer.legal_name,invoice.issue_date,"
    "invoice.due_date,invoice.amount,invoice.currency"
)


@pytest.mark.parametrize(
    ("row", "field", "code"),
    [
        # A line break in an invoice number split the subject of its reminders.
        ('"FA-1\n=cmd",C1,Dupont', "invoice.number", "U+000A"),
        ("FA-1,C\t1,Dupont", "customer.reference", "U+0009"),
        ("FA-1,C1,Dupont\u2028SA", "customer.legal_name", "U+2028"),
        ("FA\x851,C1,Dupont", "invoice.number", "U+0085"),
    ],
    ids=["line break", "tab", "line separator", "C1 control"],
)
def test_a_csv_value_of_one_line_with_a_control_character_is_refused(
    org, tmp_path, row, field, code
):
    path = tmp_path / "ledger.csv"
    path.write_text(f"{HEADER}\n{row},2026-10-01,2026-10-31,100.00,EUR\n", encoding="utf-8")
    [(file, _row, named, message)] = refused(org, path)
    assert (file, named) == ("ledger.csv", field)
    assert f"holds a control character ({code}), which Relance does not keep" in message


def test_a_note_keeps_its_line_breaks(org, tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(
        f"{HEADER},customer.notes\n"
        'FA-1,C1,Dupont,2026-10-01,2026-10-31,100.00,EUR,"Call before noon\nAsk for Anne"\n',
        encoding="utf-8",
    )
    import_file(org, path, as_of=TODAY)
    assert Customer.objects.get().notes == "Call before noon\nAsk for Anne"


def test_an_einvoice_number_with_a_line_break_is_refused_naming_the_field(acme, tmp_path):
    [(file, _row, field, message)] = refused(acme, write(tmp_path, "FA.xml", cii("FA-1&#10;X")))
    assert (file, field) == ("FA.xml", None)  # an e-invoice's problems name their field
    assert message.startswith("invoice.number: 'FA-1\\nX' holds a control character (U+000A)")


def test_the_api_refuses_a_line_separator_as_the_imports_do(org):
    api = Api(token(org))
    body = {"reference": "C1", "legal_name": "Dupont\u2028SA"}
    problem = is_problem(api.post("/customers", body), 422)
    assert [e["field"] for e in problem["errors"]] == ["legal_name"]
    assert not Customer.objects.exists()


def test_the_api_refuses_a_currency_the_imports_refuse(org):
    # 'ZZZ' matched the API's [A-Z]{3} and was written; a CSV refused it.
    api = Api(token(org))
    assert api.post("/customers", {"reference": "C1", "legal_name": "Dupont"}).status_code == 201
    body = {"number": "FA-1", "customer_reference": "C1", "issue_date": "2026-10-01",
            "due_date": "2026-10-31", "amount": "10.00", "currency": "ZZZ"}  # fmt: skip
    problem = is_problem(api.post("/invoices", body), 422)
    [error] = problem["errors"]
    assert (error["field"], error["message"]) == (
        "currency", "currency 'ZZZ' is not an ISO 4217 currency code such as EUR"
    )  # fmt: skip
    assert not Invoice.objects.exists()


# -- e-invoices -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "said"),
    [
        # Read as CII and imported: any document whose root bears the name.
        (lambda: cii("FA-1").replace(
            b"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100", b"urn:example:erp"),
         "<CrossIndustryInvoice> of the namespace 'urn:example:erp' is not an e-invoice: CII's "
         "is urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"),
        (lambda: ubl("FA-1").replace(
            b' xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"', b""),
         "<Invoice> of the namespace '' is not an e-invoice: UBL 2.1's is "
         "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"),
    ],
    ids=["CII of another namespace", "UBL without its namespace"],
)  # fmt: skip
def test_an_einvoice_root_of_another_namespace_is_refused(acme, tmp_path, data, said):
    assert refused(acme, write(tmp_path, "FA.xml", data())) == [("FA.xml", None, None, said)]


def test_an_einvoice_currency_is_an_iso_code_as_in_any_file(acme, tmp_path):
    [(_file, _row, field, message)] = refused(acme, write(tmp_path, "FA.xml", cii(currency="ZZZ")))
    assert field is None
    assert message == "currency (BT-5): currency 'ZZZ' is not an ISO 4217 currency code such as EUR"


def test_a_buyers_country_that_is_no_iso_code_is_left_out(acme, tmp_path):
    xml = cii("FA-1").replace(b"<ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>\n"
                              b"</ram:BuyerTradeParty>", b"<ram:CountryID>QQ</ram:CountryID>"
                              b"</ram:PostalTradeAddress>\n</ram:BuyerTradeParty>")  # fmt: skip
    import_file(acme, write(tmp_path, "FA.xml", xml), as_of=TODAY)
    customer = Customer.objects.get()
    assert customer.country != "QQ" and customer.addresses.get().country != "QQ"


def test_an_amount_due_above_the_total_is_refused(acme, tmp_path):
    # Prepaid -50.00 of 100.00: the report said 150.00 due, the ledger held 100.00.
    xml = write(tmp_path, "FA.xml", cii("FA-1", total="100.00", prepaid="-50.00"))
    [(file, _row, field, message)] = refused(acme, xml)
    assert (file, field) == ("FA.xml", None)
    assert message.startswith("amount due (BT-115): 150.00 is more than the total (BT-112) 100.00")


def pdf_with(attachments: list[tuple[str, bytes]]) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    for name, data in attachments:
        writer.add_attachment(name, data)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_of_many_xml_attachments_is_read_no_further_than_a_few(acme, tmp_path):
    # Each attachment costs what it inflates to (up to 75 MB): a PDF of twenty read them all.
    junk = [(f"a{n}.xml", b"<junk/>") for n in range(einvoice.PDF_XML_TRIES)]
    late = pdf_with([*junk, ("invoice.xml", cii("FA-1"))])
    assert refused(acme, write(tmp_path, "FA-1.pdf", late)) == [
        ("FA-1.pdf", None, None, "a PDF without an embedded Factur-X or ZUGFeRD invoice")
    ]
    named = pdf_with([*junk, *junk, ("factur-x.xml", cii("FA-2"))])  # its name: looked at first
    import_file(acme, write(tmp_path, "FA-2.pdf", named), as_of=TODAY)
    assert Invoice.objects.get().number == "FA-2"


def test_a_zip_member_named_with_backslashes_is_imported_under_its_own_name(acme, tmp_path):
    # Stored at "a\..\..\..\evil.pdf" the attachment raised SuspiciousFileOperation (a server
    # error); "..\FA-3.xml" began with a dot and was left out as hidden, unreported.
    path = zipped(tmp_path, "in.zip", [("a\\..\\..\\..\\evil.pdf", facturx_pdf(cii("FA-1"))),
                                       ("C:\\factures\\FA-2.pdf", facturx_pdf(cii("FA-2"))),
                                       ("..\\FA-3.xml", cii("FA-3"))])  # fmt: skip
    result = import_file(acme, path, as_of=TODAY)
    assert [(f["file"], f["status"]) for f in result.files] == [
        ("..\\FA-3.xml", "imported"),
        ("C:\\factures\\FA-2.pdf", "imported"),
        ("a\\..\\..\\..\\evil.pdf", "imported"),
    ]
    stored = {a.invoice.number: (a.name, a.file.name) for a in Attachment.objects.all()}
    assert stored == {
        "FA-1": ("evil.pdf", f"org-{acme.pk}/invoices/{Invoice.objects.get(number='FA-1').pk}"
                             "/evil.pdf"),
        "FA-2": ("FA-2.pdf", f"org-{acme.pk}/invoices/{Invoice.objects.get(number='FA-2').pk}"
                             "/FA-2.pdf"),
    }  # fmt: skip


# -- what held --------------------------------------------------------------------------------


def test_an_encrypted_pdf_is_refused_naming_the_file(acme, tmp_path):
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(facturx_pdf(cii("FA-1")))))
    writer.encrypt("secret", "owner")
    out = io.BytesIO()
    writer.write(out)
    [(file, _row, _field, message)] = refused(acme, write(tmp_path, "FA-1.pdf", out.getvalue()))
    assert file == "FA-1.pdf" and message.startswith("not a readable PDF: ")


def test_a_pdf_embedding_a_ubl_invoice_or_a_status_is_no_facturx(acme, tmp_path):
    said = "a PDF without an embedded Factur-X or ZUGFeRD invoice"
    for n, attached in enumerate([ubl("U-1"), b"<CrossDomainAcknowledgementAndResponse/>"]):
        path = write(tmp_path, f"F{n}.pdf", pdf_attaching(attached))
        assert refused(acme, path) == [(f"F{n}.pdf", None, None, said)]


def test_a_pdf_that_is_not_pdfa_is_read_for_its_invoice(acme, tmp_path):
    import_file(acme, write(tmp_path, "FA-1.pdf", pdf_attaching(cii("FA-1"))), as_of=TODAY)
    assert Attachment.objects.get().invoice.number == "FA-1"


def test_a_zip_symlink_is_read_as_the_bytes_it_holds_never_followed(acme, tmp_path):
    link = zipfile.ZipInfo("link.xml")
    link.create_system, link.external_attr = 3, 0o120777 << 16  # a symbolic link, on Unix
    path = zipped(tmp_path, "in.zip", [(link, b"/etc/passwd"), ("ok.xml", cii("FA-1"))])
    result = import_file(acme, path, as_of=TODAY)
    assert [(f["file"], f["status"]) for f in result.files] == [
        ("link.xml", "refused"), ("ok.xml", "imported")
    ]  # fmt: skip
    assert "root:" not in json.dumps(result.files)


def test_two_members_of_one_name_are_each_read_and_reported(acme, tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        path = zipped(tmp_path, "in.zip", [("a.xml", cii("FA-1")), ("a.xml", cii("FA-2"))])
    result = import_file(acme, path, as_of=TODAY)
    assert [(f["file"], f["number"]) for f in result.files] == [
        ("a.xml", "FA-1"),
        ("a.xml", "FA-2"),
    ]


def test_html_in_a_member_name_is_kept_as_text(acme, tmp_path, client):
    path = zipped(tmp_path, "in.zip", [("<img src=x onerror=alert(1)>.xml", b"garbage"),
                                       ("ok.xml", cii("FA-1"))])  # fmt: skip
    result = import_file(acme, path, as_of=TODAY)
    assert result.files[0]["file"] == "<img src=x onerror=alert(1)>.xml"
    assert Invoice.objects.get().amount == Decimal("120.00")


# -- life-cycle statuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "field", "said"),
    [
        # A 212 ("paid") of 1E+20 or of 20 digits became a payment no column could hold.
        ("1e20", "amount", "'1e20' is not an amount"),
        ("12345678901234567890", "amount", "is too large an amount: at most 16 digits"),
        # Rounded to 10.00 without a word; every other file refuses a third decimal.
        ("10.005", "amount", "'10.005' has more than two decimals"),
        # A payment of 5,000.00 for an invoice of 120.00: 4,880.00 of credit from nowhere.
        ("5000,00", "status", "FA-1: a payment of 5000.00 is more than the invoice's 120.00"),
    ],
    ids=["1e20", "20 digits", "three decimals", "more than the invoice"],
)
def test_a_status_amount_no_platform_writes_is_refused(org, tmp_path, amount, field, said):
    invoice = factories.invoice(factories.customer(org, "C1"), "FA-1", due=dt.date(2026, 10, 31),
                                amount="120.00")  # fmt: skip
    path = tmp_path / "statuts.csv"
    path.write_text(f"facture;statut;date;montant\nFA-1;212;2026-11-20;{amount}\n")
    with pytest.raises(ImportFailed) as failure:
        import_file(org, path, as_of=TODAY)
    [problem] = failure.value.problems
    assert (problem.file, problem.row, problem.field) == ("statuts.csv", 2, field)
    assert said in problem.message
    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("120.00")


def test_a_nul_an_xlsx_escapes_into_a_name_is_refused(org, tmp_path):
    # '_x0000_' is how a workbook's XML writes NUL: read back as one, it went to the ledger
    # (SQLite kept it; PostgreSQL refuses NUL in text, a server error).
    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    book.active.append(["FA-1", "C1", "Dupont", dt.datetime(2026, 10, 1),
                        dt.datetime(2026, 10, 31), 100, "EUR"])  # fmt: skip
    saved = io.BytesIO()
    book.save(saved)
    path = tmp_path / "ledger.xlsx"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"Dupont", b"Dup_x0000_ont")
            target.writestr(member, data)
    [(file, row, field, message)] = refused(org, path)
    assert (file, row, field) == ("ledger.xlsx", 2, "customer.legal_name")
    assert (
        message == "'Dup\\x00ont' holds a control character (U+0000), which Relance does not keep"
    )


def test_a_cdar_of_another_namespace_is_refused(org, tmp_path):
    # Read and applied (a 212 recording a payment) whatever its namespace, as e-invoices were.
    factories.invoice(factories.customer(org, "C1"), "FA-1", due=dt.date(2026, 10, 31),
                      amount="120.00")  # fmt: skip
    path = tmp_path / "cdar.xml"
    path.write_text(
        '<?xml version="1.0"?><rsm:CrossDomainAcknowledgementAndResponse xmlns:rsm="urn:x"'
        ' xmlns:ram="urn:y" xmlns:udt="urn:z"><rsm:AcknowledgementDocument><ram:IssueDateTime>'
        '<udt:DateTimeString format="102">20261104</udt:DateTimeString></ram:IssueDateTime>'
        "<ram:ReferenceReferencedDocument><ram:IssuerAssignedID>FA-1</ram:IssuerAssignedID>"
        "<ram:ProcessConditionCode>212</ram:ProcessConditionCode>"
        "</ram:ReferenceReferencedDocument></rsm:AcknowledgementDocument>"
        "</rsm:CrossDomainAcknowledgementAndResponse>"
    )
    with pytest.raises(ImportFailed) as failure:
        import_file(org, path, as_of=TODAY)
    assert [(p.file, p.message) for p in failure.value.problems] == [(
        "cdar.xml", "<CrossDomainAcknowledgementAndResponse> of the namespace 'urn:x' is not a "
        "CDAR status message: its namespace is "
        "urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100",
    )]  # fmt: skip
    assert not Payment.objects.exists()
