"""E-invoices in: Factur-X / ZUGFeRD PDFs, CII and UBL XML, one file, a folder or a ZIP,
through the import pipeline (``relance import`` detects them)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tracemalloc
import zipfile
import zlib
from decimal import Decimal
from io import BytesIO, StringIO
from pathlib import Path

import factories
import facturx
import pypdf
import pytest
from django.core.management import call_command
from pypdf.generic import NameObject

from relance.ledger.imports import ImportFailed, guess_format, import_file
from relance.ledger.models import Attachment, AttachmentKind, Customer, Invoice, Payment

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
SAMPLES = Path(__file__).parent / "data" / "einvoices"
TODAY = dt.date(2026, 11, 30)
SELLER_SIREN = "123456782"  # LE FOURNISSEUR in the Factur-X samples
OUR_SIREN = "732829320"  # a valid SIREN for the invoices the tests write
BUYER_SIREN = "552100554"


def seller_org(siren: str = "", vat: str = "", name: str = "Acme SAS"):
    return factories.organisation("acme", siren=siren, vat_number=vat, name=name)


# What each file of the shared samples says, read from the file by hand: the seller's
# identity the organisation has, then number, issue date, due date, total, amount due.
EXPECTED = {
    "factur-x-minimum.xml": (
        SELLER_SIREN, "", "", "F20260023", "2026-01-31", None, "104.90", "104.90"
    ),
    "factur-x-basicwl.xml": (
        SELLER_SIREN, "", "", "F20260023", "2026-01-31", "2026-03-02", "104.90", "104.90"
    ),
    "factur-x-basic.xml": (
        SELLER_SIREN, "", "", "F20260023", "2026-01-31", "2026-03-02", "104.90", "104.90"
    ),
    "factur-x-en16931.xml": (
        SELLER_SIREN, "", "", "F20260023", "2026-01-31", "2026-03-02", "104.90", "104.90"
    ),
    "factur-x-extended.xml": (
        SELLER_SIREN, "", "", "F20260023", "2026-01-31", "2026-03-02", "104.90", "104.90"
    ),
    "invoice_EN16931.pdf": (
        SELLER_SIREN, "", "", "F20260023", "2026-01-31", "2026-03-02", "104.90", "104.90"
    ),
    "ubl-21-en16931.xml": (
        "999999998", "", "", "F124212", "2026-06-17", "2026-07-16", "308.03", "208.03"
    ),
    "ubl-21-extended-ctc-fr.xml": (
        "", "FR11999999998", "", "F124212", "2026-06-17", "2026-07-16", "308.03", "208.03"
    ),
    "zugferd-basic.xml": (
        "", "DE123456789", "", "471102", "2013-03-05", None, "235.62", "235.62"
    ),
    "zugferd-comfort.xml": (
        "", "DE123456789", "", "471102", "2013-03-05", "2013-04-04", "529.87", "529.87"
    ),
    "zugferd-extended.xml": (
        "", "", "Musterlieferant GmbH", "KR87654321012", "2013-10-06", None, "1256.70", "1256.70"
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_imports_each_sample_file_with_its_number_dates_and_amounts(name, tmp_path):
    siren, vat, org_name, number, issue, due, total, amount_due = EXPECTED[name]
    org = seller_org(siren, vat, org_name or "Acme SAS")
    path = tmp_path / name
    shutil.copy(SAMPLES / name, path)
    assert guess_format(path) == "einvoice"
    result = import_file(org, path, as_of=TODAY)
    invoice = Invoice.objects.get(organisation=org)
    assert invoice.number == number
    assert invoice.issue_date == dt.date.fromisoformat(issue)
    assert invoice.amount == Decimal(total)
    assert invoice.balance == Decimal(amount_due)
    assert invoice.due_date_derived is (due is None)
    expected_due = dt.date.fromisoformat(due) if due else invoice.issue_date + dt.timedelta(30)
    assert invoice.due_date == expected_due
    assert result.files[0]["status"] == "imported"
    assert result.files[0]["amount_due"] == amount_due
    assert Attachment.objects.filter(invoice=invoice).exists() is name.endswith(".pdf")


# -- files the tests write --------------------------------------------------------------


def cii(
    number: str = "FA-1",
    *,
    issue: str = "20261001",
    due: str | None = "20261031",
    total: str = "120.00",
    prepaid: str = "0.00",
    currency: str = "EUR",
    type_code: str = "380",
    seller_siren: str = OUR_SIREN,
    buyer_siren: str = BUYER_SIREN,
    buyer: str = "Dupont Industrie SA",
) -> bytes:
    """A Factur-X BASIC invoice, as an ERP writes it."""
    excl = (Decimal(total) / Decimal("1.2")).quantize(Decimal("0.01"))
    tax = Decimal(total) - excl
    due_xml = (
        f"<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime>"
        f'<udt:DateTimeString format="102">{due}</udt:DateTimeString>'
        f"</ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>"
        if due
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>
<ram:ID>urn:factur-x.eu:1p0:basicwl</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
</rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>{type_code}</ram:TypeCode>
<ram:IssueDateTime><udt:DateTimeString format="102">{issue}</udt:DateTimeString></ram:IssueDateTime>
</rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction>
<ram:ApplicableHeaderTradeAgreement>
<ram:SellerTradeParty><ram:Name>Acme SAS</ram:Name>
<ram:SpecifiedLegalOrganization>
<ram:ID schemeID="0002">{seller_siren}</ram:ID></ram:SpecifiedLegalOrganization>
<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
</ram:SellerTradeParty>
<ram:BuyerTradeParty><ram:Name>{buyer}</ram:Name>
<ram:SpecifiedLegalOrganization>
<ram:ID schemeID="0002">{buyer_siren}</ram:ID></ram:SpecifiedLegalOrganization>
<ram:PostalTradeAddress><ram:PostcodeCode>69002</ram:PostcodeCode>
<ram:LineOne>3 quai Rambaud</ram:LineOne>
<ram:CityName>Lyon</ram:CityName><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
</ram:BuyerTradeParty>
</ram:ApplicableHeaderTradeAgreement>
<ram:ApplicableHeaderTradeDelivery/>
<ram:ApplicableHeaderTradeSettlement>
<ram:InvoiceCurrencyCode>{currency}</ram:InvoiceCurrencyCode>
<ram:ApplicableTradeTax><ram:CalculatedAmount>{tax}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode>
<ram:BasisAmount>{excl}</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode>
<ram:RateApplicablePercent>20.00</ram:RateApplicablePercent></ram:ApplicableTradeTax>
{due_xml}
<ram:SpecifiedTradeSettlementHeaderMonetarySummation>
<ram:LineTotalAmount>{excl}</ram:LineTotalAmount>
<ram:TaxBasisTotalAmount>{excl}</ram:TaxBasisTotalAmount>
<ram:TaxTotalAmount currencyID="{currency}">{tax}</ram:TaxTotalAmount>
<ram:GrandTotalAmount>{total}</ram:GrandTotalAmount>
<ram:TotalPrepaidAmount>{prepaid}</ram:TotalPrepaidAmount>
<ram:DuePayableAmount>{Decimal(total) - Decimal(prepaid)}</ram:DuePayableAmount>
</ram:SpecifiedTradeSettlementHeaderMonetarySummation>
</ram:ApplicableHeaderTradeSettlement>
</rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def facturx_pdf(xml: bytes) -> bytes:
    """A Factur-X PDF: a small PDF (pypdf) with the CII XML embedded by the factur-x library."""
    return bytes(facturx.generate_from_binary(factories.pdf("Facture"), xml, check_xsd=True))


def ubl(
    number: str = "UBL-1",
    *,
    credit: bool = False,
    issue: str = "2026-10-01",
    due: str | None = "2026-11-15",
    currency: str = "EUR",
    total: str = "240.00",
    prepaid: str = "0.00",
    seller_siren: str = OUR_SIREN,
    buyer_siren: str = BUYER_SIREN,
    buyer: str = "Dupont Industrie SA",
    corrects: str = "",
) -> bytes:
    """A UBL 2.1 invoice or credit note (CTC-FR style: SIREN as legal entity and endpoint)."""
    root = "CreditNote" if credit else "Invoice"
    ns = f"urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
    type_tag = "CreditNoteTypeCode" if credit else "InvoiceTypeCode"
    due_xml = f"<cbc:DueDate>{due}</cbc:DueDate>" if due and not credit else ""
    pay_due = (
        f"<cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>"
        f"<cbc:PaymentDueDate>{due}</cbc:PaymentDueDate></cac:PaymentMeans>"
        if due and credit
        else ""
    )
    payable = Decimal(total) - Decimal(prepaid)
    billing = (
        f"<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>{corrects}</cbc:ID>"
        f"</cac:InvoiceDocumentReference></cac:BillingReference>"
        if corrects
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns="{ns}"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:CustomizationID>urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr</cbc:CustomizationID>
<cbc:ID>{number}</cbc:ID><cbc:IssueDate>{issue}</cbc:IssueDate>{due_xml}
<cbc:{type_tag}>{"381" if credit else "380"}</cbc:{type_tag}>
<cbc:DocumentCurrencyCode>{currency}</cbc:DocumentCurrencyCode>
{billing}
<cac:AccountingSupplierParty><cac:Party>
<cbc:EndpointID schemeID="0225">{seller_siren}</cbc:EndpointID>
<cac:PartyLegalEntity><cbc:RegistrationName>Acme SAS</cbc:RegistrationName>
<cbc:CompanyID schemeID="0002">{seller_siren}</cbc:CompanyID></cac:PartyLegalEntity>
</cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party>
<cbc:EndpointID schemeID="0225">{buyer_siren}</cbc:EndpointID>
<cac:PostalAddress><cbc:CityName>Paris</cbc:CityName><cac:Country>
<cbc:IdentificationCode>FR</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
<cac:PartyLegalEntity><cbc:RegistrationName>{buyer}</cbc:RegistrationName>
<cbc:CompanyID schemeID="0002">{buyer_siren}</cbc:CompanyID></cac:PartyLegalEntity>
</cac:Party></cac:AccountingCustomerParty>
{pay_due}
<cac:TaxTotal><cbc:TaxAmount currencyID="{currency}">40.00</cbc:TaxAmount></cac:TaxTotal>
<cac:LegalMonetaryTotal>
<cbc:TaxExclusiveAmount currencyID="{currency}">{Decimal(total) - 40}</cbc:TaxExclusiveAmount>
<cbc:TaxInclusiveAmount currencyID="{currency}">{total}</cbc:TaxInclusiveAmount>
<cbc:PrepaidAmount currencyID="{currency}">{prepaid}</cbc:PrepaidAmount>
<cbc:PayableAmount currencyID="{currency}">{payable}</cbc:PayableAmount>
</cac:LegalMonetaryTotal>
</{root}>
""".encode()


@pytest.fixture
def acme():
    return seller_org(OUR_SIREN)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_it_imports_a_facturx_pdf_it_built_and_keeps_the_pdf_attached(acme, tmp_path):
    pdf = facturx_pdf(cii("FA-7", total="600.00", prepaid="150.00"))
    result = import_file(acme, write(tmp_path, "FA-7.pdf", pdf), as_of=TODAY)
    invoice = Invoice.objects.get(organisation=acme, number="FA-7")
    assert (invoice.amount, invoice.balance) == (Decimal("600.00"), Decimal("450.00"))
    assert invoice.amount_excl_tax == Decimal("500.00")
    assert invoice.due_date == dt.date(2026, 10, 31)
    attachment = Attachment.objects.get(invoice=invoice)
    assert attachment.kind == AttachmentKind.INVOICE_PDF
    assert attachment.file.read() == pdf
    customer = invoice.customer
    assert (customer.reference, customer.siren, customer.legal_name) == (
        BUYER_SIREN, BUYER_SIREN, "Dupont Industrie SA",
    )  # fmt: skip
    assert result.files[0]["customer_created"] is True
    # The same file again changes nothing and attaches nothing twice.
    again = import_file(acme, tmp_path / "FA-7.pdf", as_of=TODAY)
    assert not {k: v for k, v in again.counts.items() if not k.endswith("unchanged") and v}
    assert Attachment.objects.filter(invoice=invoice).count() == 1


def test_it_imports_a_ubl_credit_note_as_a_credit_of_the_customer(acme, tmp_path):
    import_file(acme, write(tmp_path, "inv.xml", ubl("UBL-1")), as_of=TODAY)
    import_file(acme, write(tmp_path, "cn.xml", ubl("AV-1", credit=True, total="60.00")),
                as_of=TODAY)  # fmt: skip
    credit = Payment.objects.get(organisation=acme, reference="AV-1")
    assert (credit.kind, credit.amount, credit.date) == (
        "credit_note", Decimal("60.00"), dt.date(2026, 10, 1),
    )  # fmt: skip
    assert credit.customer == Invoice.objects.get(number="UBL-1").customer


def test_it_keeps_the_currency_of_a_foreign_currency_invoice(acme, tmp_path):
    import_file(acme, write(tmp_path, "usd.xml", ubl("US-1", currency="USD", total="1000.00",
                                                     prepaid="250.00")), as_of=TODAY)  # fmt: skip
    invoice = Invoice.objects.get(number="US-1")
    assert (invoice.currency, invoice.amount, invoice.balance) == (
        "USD", Decimal("1000.00"), Decimal("750.00"),
    )  # fmt: skip


def test_it_gives_an_invoice_without_due_date_the_customers_terms_and_marks_it(acme, tmp_path):
    factories.customer(acme, "DUP", legal_name="Dupont", siren=BUYER_SIREN, payment_terms_days=45)
    result = import_file(acme, write(tmp_path, "nodue.xml", cii("FA-2", due=None)), as_of=TODAY)
    invoice = Invoice.objects.get(number="FA-2")
    assert invoice.customer.reference == "DUP"  # matched by SIREN, not created
    assert invoice.due_date == dt.date(2026, 10, 1) + dt.timedelta(days=45)
    assert invoice.due_date_derived is True
    assert result.files[0]["due_date_derived"] is True
    assert result.files[0]["due_date"] == "2026-11-15"


def test_it_refuses_a_due_date_before_the_issue_date_naming_the_file_and_field(acme, tmp_path):
    path = write(tmp_path, "late.xml", cii("FA-3", issue="20261010", due="20261001"))
    with pytest.raises(ImportFailed) as refused:
        import_file(acme, path, as_of=TODAY)
    [problem] = refused.value.problems
    assert problem.file == "late.xml"
    assert "due date (BT-9)" in problem.message and "before the issue date" in problem.message
    assert not Invoice.objects.filter(organisation=acme).exists()


def test_it_reports_a_broken_xml_and_imports_the_rest_of_the_folder(acme, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    write(folder, "a-good.xml", cii("FA-10"))
    write(folder, "b-broken.xml", cii("FA-11")[:300])
    write(folder, "c-notes.txt", b"not an invoice at all")
    write(folder, "d-other-seller.xml", ubl("UBL-9", seller_siren="542065479"))
    result = import_file(acme, folder, as_of=TODAY)
    status = {f["file"]: f["status"] for f in result.files}
    assert status == {"a-good.xml": "imported", "b-broken.xml": "refused",
                      "c-notes.txt": "refused", "d-other-seller.xml": "refused"}  # fmt: skip
    by_name = {f["file"]: f for f in result.files}
    assert "not well-formed XML" in by_name["b-broken.xml"]["problems"][0]
    assert "is not this organisation" in by_name["d-other-seller.xml"]["problems"][0]
    assert list(Invoice.objects.values_list("number", flat=True)) == ["FA-10"]


def test_it_refuses_a_file_whose_seller_is_not_the_organisation(acme, tmp_path):
    path = write(tmp_path, "theirs.xml", cii(seller_siren="542065479"))
    with pytest.raises(ImportFailed) as refused:
        import_file(acme, path, as_of=TODAY)
    assert "SIREN 542065479" in str(refused.value) and OUR_SIREN in str(refused.value)
    assert not Customer.objects.filter(organisation=acme).exists()


def test_it_leaves_out_a_file_the_ledger_refuses_and_imports_the_others(acme, tmp_path):
    factories.customer(acme, "DUP", siren=BUYER_SIREN, payment_terms_days=30)
    folder = tmp_path / "inbox"
    folder.mkdir()
    write(folder, "1.xml", cii("FA-20", total="100.00"))
    # Prepaid more than the invoice: the pipeline refuses the allocation beyond it.
    write(folder, "2.xml", ubl("UBL-20", total="100.00", prepaid="150.00"))
    result = import_file(acme, folder, as_of=TODAY)
    assert [f["status"] for f in result.files] == ["imported", "refused"]
    assert list(Invoice.objects.values_list("number", flat=True)) == ["FA-20"]


def test_it_imports_a_zip_of_many_files_from_the_command_line(acme, tmp_path):
    archive = tmp_path / "factures.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for n in range(120):
            buyer_siren = ("552100554", "542107651")[n % 2]
            zf.writestr(f"f{n:03}.xml", ubl(f"Z-{n}", buyer_siren=buyer_siren,
                                             buyer=f"Client {n % 2}"))  # fmt: skip
        zf.writestr("broken.xml", b"<Invoice><unclosed>")
    out = StringIO()
    call_command("import", str(archive), "--org", "acme", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is True and report["format"] == "einvoice"
    statuses = [f["status"] for f in report["files"]]
    assert statuses.count("imported") == 120 and statuses.count("refused") == 1
    assert Invoice.objects.filter(organisation=acme).count() == 120
    assert Customer.objects.filter(organisation=acme).count() == 2


def test_it_reads_no_file_a_hostile_xml_names(acme, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    xml = cii("FA-30", buyer="&xxe;").replace(
        b"<rsm:CrossIndustryInvoice",
        f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>\n<rsm:CrossIndustryInvoice'.encode(),
        1,
    )
    result = import_file(acme, write(tmp_path, "xxe.xml", xml), as_of=TODAY)
    names = [c.legal_name for c in Customer.objects.filter(organisation=acme)]
    assert all("TOP-SECRET" not in n for n in names)
    assert "TOP-SECRET" not in json.dumps(result.files)


def test_it_expands_no_entity_a_file_declares(acme, tmp_path):
    # What a "billion laughs" is made of: an entity the parser would expand in the name.
    xml = cii("FA-31", buyer="Dupont &lol;").replace(
        b"<rsm:CrossIndustryInvoice",
        b'<!DOCTYPE r [<!ENTITY lol "LOLLOLLOL">]>\n<rsm:CrossIndustryInvoice',
        1,
    )
    import_file(acme, write(tmp_path, "bomb.xml", xml), as_of=TODAY)
    [customer] = Customer.objects.filter(organisation=acme)
    assert "LOL" not in customer.legal_name


def test_it_refuses_a_lone_broken_file_with_exit_1_and_its_problem_in_json(acme, tmp_path):
    path = write(tmp_path, "broken.xml", b"<?xml version='1.0'?><Invoice><ID>")
    out = StringIO()
    with pytest.raises(SystemExit) as exit:
        call_command("import", str(path), "--org", "acme", "--json", stdout=out)
    assert exit.value.code == 1
    [problem] = json.loads(out.getvalue())["problems"]
    assert problem["file"] == "broken.xml" and "not well-formed XML" in problem["message"]


def pdf_attaching(data: bytes | None, *, inflated: int = 0) -> bytes:
    """A PDF with ``data`` attached as factur-x.xml (none when None); ``inflated``: an
    attachment of that many blanks instead, deflated, as a PDF bomb packs it."""
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    if data is not None or inflated:
        writer.add_attachment("factur-x.xml", data or b"<a/>")
    if inflated:
        [_, spec] = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"]
        stream = spec.get_object()["/EF"]["/F"].get_object()
        packer = zlib.compressobj(9)
        block = b" " * (1 << 20)
        stream._data = b"".join(packer.compress(block) for _ in range(inflated >> 20))
        stream._data += packer.flush()
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (lambda: b"hello, this is no PDF", "not a PDF (no %PDF header)"),
        (lambda: pdf_attaching(None), "a PDF without an embedded Factur-X or ZUGFeRD invoice"),
        (lambda: pdf_attaching(b"\x00\x01 binary"), "without an embedded Factur-X"),
        (lambda: pdf_attaching(b"<a/>")[:300], "not a readable PDF: "),
        (lambda: pdf_attaching(None, inflated=100 << 20), "Limit reached while decompressing"),
    ],
    ids=["not a PDF", "no attachment", "not XML", "cut short", "inflates to 100 MB"],
)
def test_it_refuses_a_pdf_it_cannot_read_naming_the_file(acme, tmp_path, data, said):
    with pytest.raises(ImportFailed) as refused:
        import_file(acme, write(tmp_path, "FA-9.pdf", data()), as_of=TODAY)
    [problem] = refused.value.problems
    assert problem.file == "FA-9.pdf" and said in problem.message
    assert not Invoice.objects.exists()


def test_it_lists_each_file_in_the_commands_report(acme, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    write(folder, "a.xml", cii("FA-40"))
    write(folder, "b.pdf", facturx_pdf(cii("FA-40")))  # the same invoice, as its PDF
    write(folder, "c.xml", b"garbage")
    out = StringIO()
    call_command("import", str(folder), "--org", "acme", stdout=out)
    text = out.getvalue()
    assert "duplicate    b.pdf" in text and "(same invoice as a.xml)" in text
    assert "refused      c.xml" in text and "not well-formed XML" in text
    # The PDF is kept, though the XML was read first.
    assert Attachment.objects.get(invoice__number="FA-40").name == "b.pdf"


def test_it_records_each_import_in_the_import_log(acme, tmp_path):
    from relance.ledger.models import ImportRun

    folder = tmp_path / "inbox"
    folder.mkdir()
    write(folder, "1.xml", cii("FA-50"))
    write(folder, "2.xml", cii("FA-51", issue="20261010", due="20261001"))
    import_file(acme, folder, as_of=TODAY)
    with pytest.raises(ImportFailed):
        import_file(acme, write(tmp_path, "x.xml", b"<x/>"), as_of=TODAY)
    runs = list(ImportRun.objects.filter(organisation=acme).order_by("pk"))
    assert [(r.file_name, r.format, r.status) for r in runs] == [
        ("inbox", "einvoice", "done"), ("x.xml", "xml", "failed"),
    ]  # fmt: skip
    assert "<x> is not an e-invoice" in runs[1].error


def test_it_writes_nothing_in_a_dry_run(acme, tmp_path):
    out = StringIO()
    path = write(tmp_path, "a.pdf", facturx_pdf(cii("FA-60")))
    call_command("import", str(path), "--org", "acme", "--dry-run", "--json", stdout=out)
    [report] = json.loads(out.getvalue())["files"]
    assert report["status"] == "would import" and report["number"] == "FA-60"
    assert not Invoice.objects.exists() and not Attachment.objects.exists()
    assert not Customer.objects.exists()


def test_it_allocates_a_credit_note_to_the_invoice_it_corrects(acme, tmp_path):
    import_file(acme, write(tmp_path, "inv.xml", ubl("UBL-70", total="240.00")), as_of=TODAY)
    note = write(tmp_path, "cn.xml", ubl("AV-70", credit=True, total="40.00", corrects="UBL-70"))
    result = import_file(acme, note, as_of=TODAY)
    assert result.files[0]["credits"] == {"invoice": "UBL-70", "amount": "40.00"}
    assert Invoice.objects.get(number="UBL-70").balance == Decimal("200.00")
    again = import_file(acme, note, as_of=TODAY)  # the same credit note again
    assert again.files[0]["credits"] == {"invoice": "UBL-70", "amount": "40.00"}
    assert Invoice.objects.get(number="UBL-70").balance == Decimal("200.00")


def test_it_leaves_what_a_credit_note_gives_beyond_the_invoice_as_a_credit(acme, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    write(folder, "a.xml", ubl("UBL-71", total="240.00", prepaid="200.00"))
    write(folder, "b.xml", ubl("AV-71", credit=True, total="100.00", corrects="UBL-71"))
    import_file(acme, folder, as_of=TODAY)
    assert Invoice.objects.get(number="UBL-71").balance == Decimal("0.00")
    credit = Payment.objects.get(reference="AV-71")
    assert credit.allocations.get().amount == Decimal("40.00")


def test_it_reads_a_zip_member_no_further_than_the_size_limit(acme, tmp_path, monkeypatch):
    from relance.ledger import einvoice

    monkeypatch.setattr(einvoice, "MAX_BYTES", 5_000)
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("small.xml", ubl("UBL-80"))
        zf.writestr("huge.xml", b"<a>" + b" " * 10_000_000 + b"</a>")  # deflates to little
    result = import_file(acme, archive, as_of=TODAY)
    assert {f["file"]: f["status"] for f in result.files} == {
        "huge.xml": "refused", "small.xml": "imported",
    }  # fmt: skip
    assert "too large" in result.files[0]["problems"][0]


def test_it_says_a_zip_that_is_none_is_not_a_zip(acme, tmp_path):
    with pytest.raises(ImportFailed) as refused:
        import_file(acme, write(tmp_path, "factures.zip", b"PK\x03\x04 cut short"), as_of=TODAY)
    [problem] = refused.value.problems
    assert (problem.file, problem.message) == (
        "factures.zip", "not a readable ZIP: File is not a zip file",
    )  # fmt: skip


def test_it_asks_for_the_organisations_siren_before_comparing_the_seller(tmp_path):
    org = factories.organisation("acme")
    with pytest.raises(ImportFailed) as refused:
        import_file(org, write(tmp_path, "a.xml", cii()), as_of=TODAY)
    assert "relance org set --siren" in str(refused.value)


def scanned_facturx_pdf(xml: bytes, size: int) -> bytes:
    """A Factur-X PDF of about ``size`` bytes: an incompressible scan attached, as real
    invoices carry their images."""
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("scan.bin", os.urandom(size))
    out = BytesIO()
    writer.write(out)
    return bytes(facturx.generate_from_binary(out.getvalue(), xml, check_xsd=False))


def test_it_holds_one_pdf_of_a_zip_in_memory_at_a_time(acme, tmp_path):
    pdfs = {f"FA-{n}.pdf": scanned_facturx_pdf(cii(f"FA-{n}"), 1 << 20) for n in range(12)}
    archive = tmp_path / "factures.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in pdfs.items():
            zf.writestr(name, data)
    tracemalloc.start()
    try:
        import_file(acme, archive, as_of=TODAY)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 12 MB of PDFs: one read, parsed and put aside at a time (a few copies of it: 2.6 MB).
    assert peak < 4 << 20, f"{peak:,} bytes"
    kept = {a.name: a.file.read() for a in Attachment.objects.all()}
    assert kept == pdfs
