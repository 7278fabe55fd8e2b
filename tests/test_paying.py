"""Paying made easy: the EPC QR code (its payload to the byte, decoded back from the image
with zxing-cpp), in every e-mail as an inline image of the HTML part, and payments that
come back quoting a customer's RF reference attached to that customer by the import."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from decimal import Decimal

import factories as f
import pytest
import segno
import zxingcpp
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iso11649

from relance.accounts.identity import (
    BankDetails,
    customer_for_reference,
    customers_by_reference,
    payment_reference,
    references_in,
    update_identity,
)
from relance.channels import overrides
from relance.channels.paying import MASK, PaymentCode, epc_payload, epc_qr, matrix_of
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.mapping import load_mapping
from relance.ledger.models import Attachment, Customer, Invoice, Payment

D = dt.date(2026, 11, 23)  # a Monday
IBAN = "FR7630006000011234567890189"
DETAILS = BankDetails(
    holder="Acme Industrie SAS",
    iban="FR76 3000 6000 0112 3456 7890 189",
    bic="BNPAFRPPXXX",
    reference="RF28 C004 2",
)
IDENTITY = {"legal_name": "Acme Industrie SAS", "iban": IBAN, "bic": "BNPAFRPPXXX"}


# -- the code ----------------------------------------------------------------------------


def test_it_writes_the_payload_as_epc069_12_lays_it_out():
    code = epc_qr(DETAILS, Decimal("1234.50"), "EUR")
    assert code is not None
    # Service tag, version 002, UTF-8 (1), SEPA credit transfer, BIC, name, IBAN (compact),
    # amount with two decimals, purpose (none), structured reference; nothing after it.
    assert code.data == (
        b"BCD\n002\n1\nSCT\nBNPAFRPPXXX\nAcme Industrie SAS\nFR7630006000011234567890189\n"
        b"EUR1234.50\n\nRF28C0042"
    )
    no_bic = BankDetails("Société Générale d'Équipement", DETAILS.iban, "", "RF28 C004 2")
    assert (
        epc_qr(no_bic, Decimal("0.01"), "EUR").data
        == (  # type: ignore[union-attr]
            "BCD\n002\n1\nSCT\n\nSociété Générale d'Équipement\nFR7630006000011234567890189\n"
            "EUR0.01\n\nRF28C0042"
        ).encode()
    )
    text = epc_payload(name="Acme", iban=IBAN, amount=Decimal("999999999.99"), text="F-1 F-2")
    assert (
        text
        == "BCD\n002\n1\nSCT\n\nAcme\nFR7630006000011234567890189\nEUR999999999.99\n\n\nF-1 F-2"
    )


def test_it_cuts_a_long_name_to_seventy_characters():
    holder = "Compagnie Générale des Établissements de Fabrication Industrielle du Rhône"
    code = epc_qr(BankDetails(holder, IBAN, "", "RF28C0042"), Decimal("10.00"), "EUR")
    assert code is not None
    name = code.payload.split("\n")[5]
    assert name == holder[:70].rstrip() and len(name) == 70


@pytest.mark.parametrize(
    ("details", "amount", "currency"),
    [
        (None, Decimal("10.00"), "EUR"),  # no IBAN: no bank details at all
        (DETAILS, Decimal("10.00"), "USD"),  # SEPA transfers are in euros
        (DETAILS, Decimal("0.00"), "EUR"),
        (DETAILS, Decimal("-5.00"), "EUR"),  # credit notes exceed the invoices
        (DETAILS, Decimal("1000000000.00"), "EUR"),
        (DETAILS, None, "EUR"),
    ],
)
def test_it_makes_no_code_it_cannot_make_right(details, amount, currency):
    assert epc_qr(details, amount, currency) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"reference": "RF28C0042", "text": "also a text"},  # one remittance, not both
        {"amount": Decimal("10.001")},
        {"reference": "RF29C0042"},  # check digits wrong
        {"name": "  "},
        {"reference": "", "text": "x" * 141},
        {"name": "é" * 70, "reference": "", "text": "é" * 140},  # over 331 bytes
    ],
)
def test_it_refuses_what_the_guidelines_refuse(changes):
    values = {"name": "Acme", "iban": IBAN, "amount": Decimal("10.00"), "reference": "RF28C0042"}
    with pytest.raises(ValueError):
        epc_payload(**{**values, **changes})


def grey_pixels(png: bytes) -> memoryview:
    """The PNG's pixels, one byte each (0 black, 255 white), as zxing-cpp reads them: the
    1-bit greyscale, unfiltered PNG the code is written as (Pillow and numpy are not here)."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    position, data = 8, b""
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        crc = png[position + 8 + length : position + 12 + length]
        assert struct.unpack(">I", crc)[0] == zlib.crc32(kind + chunk)
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert (depth, colour) == (1, 0)
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    raw, row_bytes = zlib.decompress(data), (width + 7) // 8
    pixels = bytearray()
    for y in range(height):
        line = raw[y * (row_bytes + 1) : (y + 1) * (row_bytes + 1)]
        assert line[0] == 0  # no filter
        bits = int.from_bytes(line[1:], "big")
        pixels += bytes(255 if bits >> (row_bytes * 8 - 1 - x) & 1 else 0 for x in range(width))
    return memoryview(bytes(pixels)).cast("B", (height, width))


def decoded(png: bytes) -> dict[str, str]:
    """What a banking app reads from the image: the transfer's fields."""
    found = zxingcpp.read_barcodes(grey_pixels(png))
    assert len(found) == 1 and found[0].format == zxingcpp.BarcodeFormat.QRCode
    lines = found[0].bytes.decode("utf-8").split("\n")
    names = ["service", "version", "charset", "identification", "bic", "name", "iban",
             "amount", "purpose", "reference"]  # fmt: skip
    return dict(zip(names, lines, strict=False))


@pytest.mark.parametrize("amount", ["0.01", "100.00", "1234.56", "999999999.99"])
def test_it_decodes_back_to_the_iban_amount_and_reference(amount):
    holder = BankDetails("Société Générale d'Équipement", DETAILS.iban, "", "RF28 C004 2")
    code = epc_qr(holder, Decimal(amount), "EUR")
    assert code is not None
    fields = decoded(code.png())
    assert fields["service"] == "BCD" and fields["identification"] == "SCT"
    assert fields["iban"] == IBAN
    assert fields["amount"] == f"EUR{amount}"
    assert fields["reference"] == "RF28C0042" and iso11649.is_valid(fields["reference"])
    assert fields["name"] == "Société Générale d'Équipement"


@given(st.binary(max_size=331))
@settings(max_examples=150, deadline=None)
def test_it_draws_the_matrix_segno_draws_module_for_module(data):
    theirs = segno.make_qr(data, error="m", mode="byte", boost_error=False, mask=MASK)
    assert [bytes(row) for row in matrix_of(data)] == [bytes(row) for row in theirs.matrix]


def test_it_decodes_codes_of_every_version_back():
    for length in (1, 60, 120, 200, 331):  # versions 2 to 13
        payload = "x" * length
        found = zxingcpp.read_barcodes(grey_pixels(PaymentCode(payload, Decimal(1), "").png()))
        assert [code.bytes for code in found] == [payload.encode()]


def test_it_draws_the_code_in_svg_for_letters():
    code = epc_qr(DETAILS, Decimal("10.00"), "EUR")
    assert code is not None
    svg = code.svg(size_mm=30)
    assert svg.startswith("<svg") and 'width="30' in svg and 'height="30' in svg
    assert "<path" in svg and "<?xml" not in svg


# -- the RF reference --------------------------------------------------------------------

REFERENCES = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_./é#"),
    max_size=40,
)


@given(reference=REFERENCES, pk=st.integers(min_value=1, max_value=10**12))
@settings(max_examples=300)
def test_it_gives_every_customer_a_valid_rf_reference_found_again_in_a_memo(reference, pk):
    rf = payment_reference(Customer(pk=pk, reference=reference))
    assert iso11649.validate(rf) == rf and rf.startswith("RF") and len(rf) <= 25
    printed = iso11649.format(rf)
    for memo in (f"VIR SEPA {printed} FACTURE 12", f"vir {rf.lower()}/F-1", rf):
        assert rf in references_in(memo)


def test_it_finds_references_written_in_any_way():
    assert references_in("Virement rf28 c004 2 facture 12") == ["RF28C0042"]
    assert references_in("/RFB/RF28C0042/INV 1") == ["RF28C0042"]
    assert references_in("RF28 C0042") == ["RF28C0042"]
    assert references_in("INTERF28C0042") == []  # inside a word
    assert references_in("RF29 C004 2") == []  # check digits wrong
    assert references_in("") == []


@pytest.mark.django_db
@pytest.mark.parametrize("many", [False, True])
def test_it_finds_the_customer_whose_reference_a_transfer_quotes(org, other_org, many, monkeypatch):
    if many:  # past a few hundred references the ledger's are read once instead
        monkeypatch.setattr("relance.accounts.identity.REFERENCES_A_QUERY", 0)
    dash = f.customer(org, "C-0042")
    spaced = f.customer(org, "ab 12/x")
    long = f.customer(org, "CUSTOMER-REFERENCE-MUCH-TOO-LONG-FOR-RF")
    f.customer(org, "C-0050")
    f.customer(org, "c0050")  # the same RF reference as C-0050
    f.customer(other_org, "C-0043")
    long_rf = payment_reference(long)
    assert long_rf[4:] == f"ID{long.pk}"
    assert customer_for_reference(org, "VIR rf28c0042 merci") == dash
    assert customer_for_reference(org, payment_reference(spaced)) == spaced
    assert customer_for_reference(org, f"paid {iso11649.format(long_rf)}") == long
    assert customer_for_reference(org, payment_reference(Customer(reference="C-0050"))) is None
    other = payment_reference(Customer(reference="C-0043"))
    assert customer_for_reference(org, other) is None  # another organisation's customer
    assert customer_for_reference(other_org, other) is not None
    found = customers_by_reference(org, [payment_reference(Customer(reference="C0050")), other])
    assert sorted(c.reference for c in next(iter(found.values()))) == ["C-0050", "c0050"]
    assert len(found) == 1


# -- in every e-mail ---------------------------------------------------------------------


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


def sent(org, mail, *, language="fr", amounts=("100.00", "250.50"), currency="EUR"):
    customer = f.customer(org, "C-0042", language=language, email="factures@durand.test")
    for number, amount in enumerate(amounts, start=1):
        f.invoice(customer, f"F-{number}", due=D - f.days(5), amount=amount, currency=currency)
    f.scenario(org)
    run(org, D)
    assert outbox.send_due(today=D).counts["sent"] == 1
    return mail.received[-1].message


def inline_images(message):
    return [part for part in message.walk() if part["Content-ID"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"), [("fr", "montant\u00a0: 350,50"), ("en", "€350.50")]
)
def test_it_shows_the_code_in_the_html_beside_the_bank_details(mail, clock, language, words):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    message = sent(org, mail, language=language)
    # text and HTML alternatives; the HTML with its image in a related part
    assert message.get_content_type() == "multipart/alternative"
    text_part, related = message.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "text/html"
    html_part, image = related.get_payload()
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline" and image.get_filename() is None
    content_id = image["Content-ID"].strip("<>")
    html = html_part.get_content()
    assert f'src="cid:{content_id}"' in html and 'alt="' in html
    assert "RF28 C004 2" in html and "FR76 3000 6000 0112 3456 7890 189" in html
    fields = decoded(image.get_content())
    assert (fields["iban"], fields["amount"], fields["reference"]) == (
        IBAN, "EUR350.50", "RF28C0042"
    )  # fmt: skip
    text = text_part.get_content()
    assert "RF28 C004 2" in text and words in text


@pytest.mark.django_db
def test_it_keeps_the_invoices_attached_and_the_code_with_the_html(mail, clock):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    customer = f.customer(org, "C-0042", email="factures@durand.test")
    invoice = f.invoice(customer, "F-1", due=D - f.days(5), amount="80.00")
    Attachment.objects.create(
        organisation=org, invoice=invoice, kind="invoice_pdf", name="F-1.pdf",
        file=ContentFile(b"%PDF-1.4\n%%EOF\n", name="F-1.pdf"), sha256="0" * 64,
    )  # fmt: skip
    f.scenario(org)
    run(org, D)
    assert outbox.send_due(today=D).counts["sent"] == 1
    message = mail.received[-1].message
    assert message.get_content_type() == "multipart/mixed"
    alternative, attached = message.get_payload()
    assert [p.get_content_type() for p in alternative.get_payload()] == [
        "text/plain", "multipart/related"
    ]  # fmt: skip
    assert attached.get_filename() == "F-1.pdf"
    assert [part.get_filename() for part in message.iter_attachments()] == ["F-1.pdf"]
    (image,) = inline_images(message)
    assert decoded(image.get_content())["amount"] == "EUR80.00"


@pytest.mark.django_db
def test_it_shows_no_code_for_other_currencies_nor_without_an_iban(mail, clock):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    message = sent(org, mail, currency="USD")
    assert inline_images(message) == []
    assert "RF28 C004 2" in message.get_body(("html",)).get_content()  # the details stay
    other = f.organisation("bare", bic="BNPAFRPPXXX")
    message = sent(other, mail)
    assert inline_images(message) == [] and "cid:" not in message.get_body(("html",)).get_content()


@pytest.mark.django_db
def test_it_keeps_an_organisations_own_wording_without_the_code(mail, clock):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    overrides.save(
        org, "email", "fr", "first_reminder",
        {"subject.txt": "Relance", "txt": "Merci de régler {{ payment.reference }}.",
         "html": "<p>Merci de régler {{ payment.reference }}.</p>"},
        today=D,
    )  # fmt: skip
    message = sent(org, mail)
    assert inline_images(message) == []
    assert (
        message.get_body(("html",)).get_content().strip() == "<p>Merci de régler RF28 C004 2.</p>"
    )


@pytest.mark.django_db
def test_it_previews_the_code_in_the_console_as_a_data_image(clock):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    customer = f.customer(org, "C-0042")
    f.invoice(customer, "F-1", due=D - f.days(5), amount="80.00")
    preview = overrides.preview(org, "email", "fr", "first_reminder", customer, D)
    assert 'src="data:image/png;base64,' in (preview.html or "")


# -- payments recognised by their reference ---------------------------------------------

PAYMENTS = (
    "record: payment\ncolumns:\n  customer.reference: Client\n  payment.reference: Ref\n"
    "  payment.date: Date\n  payment.amount: Montant\n  payment.memo: Libelle\n"
)


def bank_file(tmp_path, rows, name="releve.csv"):
    path = tmp_path / name
    path.write_text("Client;Ref;Date;Montant;Libelle\n" + "".join(r + "\n" for r in rows))
    mapping = tmp_path / "bank.yaml"
    mapping.write_text(PAYMENTS)
    return path, load_mapping(mapping)


@pytest.mark.django_db
def test_it_attaches_a_payment_to_the_customer_whose_reference_it_quotes(org, tmp_path):
    durand = f.customer(org, "C-0042")
    martin = f.customer(org, "M-7")
    f.invoice(durand, "F-1", due=D)
    rf_martin = iso11649.format(payment_reference(martin)).lower()
    path, mapping = bank_file(tmp_path, [
        ";VIR-1;20/11/2026;100,00;VIREMENT RF28 C004 2 FACTURE F-1",  # no customer
        f"BANQUE POSTALE;VIR-2;21/11/2026;50,00;{rf_martin}",  # a customer of nobody
        "C-0042;VIR-3;21/11/2026;10,00;sans référence",  # the file's customer, as ever
        ";rf28c0042;22/11/2026;5,00;",  # quoted in the transfer's reference
    ])  # fmt: skip
    result = import_file(org, path, mapping=mapping, as_of=D)
    payments = dict(Payment.objects.filter(organisation=org).values_list("reference", "customer"))
    assert payments == {"VIR-1": durand.pk, "VIR-2": martin.pk, "VIR-3": durand.pk,
                        "rf28c0042": durand.pk}  # fmt: skip
    assert result.counts["payments_recognised"] == 3
    assert not Customer.objects.filter(organisation=org, reference="BANQUE POSTALE").exists()


@pytest.mark.usefixtures("in_english")  # reads the problem in English
@pytest.mark.django_db
def test_it_refuses_a_reference_that_is_nobodys_naming_file_row_and_field(org, tmp_path):
    f.customer(org, "C-0042")
    nobody = iso11649.format(payment_reference(Customer(reference="X-999")))
    path, mapping = bank_file(tmp_path, [
        ";VIR-1;20/11/2026;100,00;RF28 C004 2",
        f";VIR-2;20/11/2026;100,00;virement {nobody} merci",
        "INCONNU;VIR-3;20/11/2026;100,00;" + nobody,
        ";VIR-4;20/11/2026;100,00;pas de référence",
    ])  # fmt: skip
    with pytest.raises(ImportFailed) as failure:
        import_file(org, path, mapping=mapping, as_of=D)
    problems = {(p.file, p.row, p.field): p.message for p in failure.value.problems}
    assert problems[("releve.csv", 3, "Libelle")].startswith(f"{nobody} is a valid payment")
    assert ("releve.csv", 4, "Libelle") in problems
    assert problems[("releve.csv", 5, "customer.reference")] == "is empty"
    assert len(problems) == 3
    assert not Payment.objects.filter(organisation=org).exists()  # nothing half-written
    assert not Customer.objects.filter(organisation=org, reference="INCONNU").exists()


@pytest.mark.django_db
def test_it_looks_references_up_once_for_a_whole_file(org, tmp_path):
    customers = [f.customer(org, f"C-{n:04d}") for n in range(60)]

    def queries(count, name):
        rows = [
            f";VIR-{name}-{n};20/11/2026;1,00;{iso11649.format(payment_reference(c))}"
            for n, c in enumerate(customers[:count])
        ]
        path, mapping = bank_file(tmp_path, rows, name=f"{name}.csv")
        with CaptureQueriesContext(connection) as captured:
            result = import_file(org, path, mapping=mapping, as_of=D)
        assert result.counts["payments_recognised"] == count
        return len(captured)

    queries(1, "first")  # what a first import of the organisation sets up once
    assert queries(3, "few") == queries(60, "many")
    assert Payment.objects.filter(organisation=org).count() == 64
    assert Invoice.objects.filter(organisation=org).count() == 0


@pytest.mark.django_db
def test_it_leaves_credit_notes_alone_whatever_their_number(org, tmp_path):
    number = payment_reference(Customer(reference="2024001"))  # RFnn2024001: a valid one
    path = tmp_path / "avoirs.csv"
    path.write_text(f"Client;Facture;Date;Montant\nNOUVEAU;{number};20/11/2026;-80,00\n")
    mapping = tmp_path / "avoirs.yaml"
    mapping.write_text(
        "record: invoice\ncolumns:\n  customer.reference: Client\n  invoice.number: Facture\n"
        "  invoice.issue_date: Date\n  invoice.amount: Montant\n"
    )
    import_file(org, path, mapping=load_mapping(mapping), as_of=D)
    credit = Payment.objects.get(organisation=org, reference=number)
    assert credit.kind == "credit_note" and credit.customer.reference == "NOUVEAU"
