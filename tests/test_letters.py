"""Letters with Typst: the formal notice read back from its PDF (figures equal to the
penalty service's, to the cent), the letter channels through the outbox, the print batch in
postal order, the letter held when its rate is unknown, white label, an organisation's own
template, and the commands."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import factories as make
import pypdf
import pypdfium2
import pytest
import zxingcpp
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from stdnum import iso11649

from relance.accounts import agents
from relance.accounts.identity import bank_details, payment_reference
from relance.accounts.models import Agent
from relance.channels.formatting import long_date, money
from relance.channels.models import MessageTemplate, RegisteredLetter
from relance.documents import letters, printing
from relance.documents.models import Letter, PrintBatch
from relance.documents.typesetting import DocumentError
from relance.dunning import outbox
from relance.dunning.models import CommStatus, Rate, Task
from relance.dunning.penalty_service import penalties_of

DAY = date(2026, 3, 20)  # the shipped French tables know 2026-H1
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "letters"


@pytest.fixture
def acme(db):
    return make.organisation(
        "acme", legal_name="Acme Industrie SAS", siren="732829320",
        address="12 rue de la Paix\n75002 Paris", iban="FR7630006000011234567890189",
        bic="AGRIFRPP", signature="Marie Durand\nCredit manager",
    )  # fmt: skip


@pytest.fixture
def dupont(acme):
    customer = make.customer(acme, "C-0042", legal_name="Dupont Bâtiment SARL", siren="552100554")
    make.address(customer, "4 avenue des Tilleuls", postcode="69003", city="Lyon")
    return customer


def ten_invoices(customer):
    return [
        make.invoice(customer, f"FA-{i:04d}", due=date(2025, 11, 1) + timedelta(days=7 * i),
                     amount=Decimal("1000.50") + 37 * i)
        for i in range(10)
    ]  # fmt: skip


def text_of(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """Extracted text with its line breaks and non-breaking spaces as plain spaces."""
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


def read_qr_codes(pdf: bytes) -> list[str]:
    """The QR codes printed on the PDF's pages, decoded from the rendered pages."""
    found = []
    for page in pypdfium2.PdfDocument(pdf):
        image = page.render(scale=4).to_pil()
        found += [result.text for result in zxingcpp.read_barcodes(image)]
    return found


def snapshot(pdf: bytes, name: str) -> Path:
    """The first page as PNG, to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pypdfium2.PdfDocument(pdf)[0].render(scale=1.3).to_pil().save(path)
    return path


def test_it_states_a_formal_notice_with_the_penalty_services_figures(acme, dupont):
    invoices = ten_invoices(dupont)
    request = letters.Request(acme, dupont, "formal_notice", DAY, invoices, registered=True,
                              reference="R-1")  # fmt: skip
    letter, pdf = letters.write(request)
    text = flat(text_of(pdf))
    expected = penalties_of(acme, invoices, DAY)
    with translation.override("fr"):
        for invoice in invoices:
            penalty = expected[invoice.pk]
            assert penalty.interest > 0 and penalty.indemnity == Decimal("40.00")
            row = " ".join([invoice.number, invoice.issue_date.strftime("%d/%m/%Y"),
                            invoice.due_date.strftime("%d/%m/%Y"), money(invoice.amount, "EUR"),
                            money(invoice.balance, "EUR"), money(penalty.interest, "EUR"),
                            money(penalty.indemnity, "EUR")])  # fmt: skip
            assert flat(row) in text
        interest = sum(p.interest for p in expected.values())
        total = sum(i.balance for i in invoices) + interest + 400
        assert flat(money(interest, "EUR")) in text
        assert flat(f"mettons en demeure de payer la somme totale de {money(total, 'EUR')}") in text
        deadline = long_date(DAY + timedelta(days=8 + letters.POSTAL_DAYS))
        assert flat("dans un délai de 8 jours à compter de la réception") in text
        assert flat(deadline) in text
    assert "article 1344 du Code civil" in text and "L441-10" in text and "D441-5" in text
    assert "injonction de payer" in text
    # Creditor and debtor with their identifiers; how to pay with the structured reference.
    assert "SIREN 732 829 320" in text and "552100554" in text
    assert "DUPONT BÂTIMENT SARL" in text and "69003 LYON" in text
    reference = bank_details(acme, dupont).reference
    iso11649.validate(payment_reference(dupont))
    assert reference in text and "FR76 3000 6000 0112 3456 7890 189" in text
    pages = len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert f"1 / {pages}" in text and f"{pages} / {pages}" in text
    assert letter.data["claimed_exact"][0]["total"] == str(total)
    assert snapshot(pdf, "formal-notice-fr").stat().st_size > 10_000
    # The EPC QR code, read back from the printed page as a banking app reads it.
    [code] = read_qr_codes(pdf)
    lines = code.splitlines()
    assert lines[:3] == ["BCD", "002", "1"] and lines[3] == "SCT"
    assert lines[6] == "FR7630006000011234567890189" and lines[7] == f"EUR{total}"
    assert lines[9] == payment_reference(dupont)


@pytest.mark.parametrize(
    "template", ["first_reminder", "firm_reminder", "registered_letter", "statement", "generic"]
)
@pytest.mark.parametrize("language", ["fr", "en"])
def test_it_writes_each_letter_in_each_language(acme, dupont, template, language):
    invoices = ten_invoices(dupont)[:3]
    make.invoice(dupont, "FA-LATER", due=DAY + timedelta(days=20), amount="99.00")
    request = letters.for_customer(acme, dupont, template, DAY, language=language)
    letter, pdf = letters.write(request)
    text = flat(text_of(pdf))
    assert all(invoice.number in text for invoice in invoices)
    # Only a statement lists what is not due yet.
    assert ("FA-LATER" in text) == (template == "statement")
    assert letter.data["lang"] == language
    snapshot(pdf, f"{template}-{language}")


def test_it_confirms_a_payment_plan_and_thanks_in_writing(acme, dupont):
    first, second = ten_invoices(dupont)[:2]
    rest = first.balance + second.balance - 1000
    schedule = [(DAY + timedelta(days=30), "1000.00"), (DAY + timedelta(days=60), rest)]
    make.plan(dupont, [first, second], schedule, on=DAY)
    _, pdf = letters.write(letters.for_customer(acme, dupont, "plan_confirmation", DAY))
    text = flat(text_of(pdf))
    with translation.override("fr"):
        assert flat(money(first.balance + second.balance, "EUR")) in text
        assert flat(money(Decimal("1000.00"), "EUR")) in text
    make.pay(first, on=DAY)
    _, pdf = letters.write(letters.for_customer(acme, dupont, "thanks", DAY))
    assert first.number in text_of(pdf) and second.number not in text_of(pdf)


def test_it_places_the_address_in_the_envelope_window(acme, dupont):
    _, pdf = letters.write(letters.Request(acme, dupont, "first_reminder", DAY,
                                           ten_invoices(dupont)[:1]))  # fmt: skip
    page = pypdf.PdfReader(io.BytesIO(pdf)).pages[0]
    found = []

    def visit(text, cm, tm, font, size):
        if "DUPONT" in text:
            # Where the text lands on the page: its text matrix, then the drawing matrix.
            found.append((tm[4] * cm[0] + tm[5] * cm[2] + cm[4],
                          tm[4] * cm[1] + tm[5] * cm[3] + cm[5]))  # fmt: skip

    page.extract_text(visitor_text=visit)
    x, y = found[0]
    mm = 72 / 25.4
    height = float(page.mediabox.height)
    # A DL envelope's window: 100 to 200 mm from the left, 50 to 95 mm from the top.
    assert 100 * mm <= x <= 120 * mm
    assert 50 * mm <= height - y <= 95 * mm


def test_it_files_letters_from_the_outbox_and_prints_them_in_postal_order(
    acme, dupont, time_machine
):
    time_machine.move_to(datetime(2026, 3, 20, 9, tzinfo=ZoneInfo("Europe/Paris")))
    marseille = make.customer(acme, "C-0007", legal_name="Bouchard et Fils")
    make.address(marseille, "8 quai du Port", postcode="13002", city="Marseille")
    notice = make.communication(
        dupont,
        ten_invoices(dupont)[:2],
        on=DAY,
        channel="registered_letter",
        template="formal_notice",
    )
    late = make.invoice(marseille, due=DAY - timedelta(days=20))
    reminder = make.communication(marseille, [late], on=DAY, channel="letter",
                                  template="firm_reminder")  # fmt: skip
    report = outbox.send_due(acme.pk, today=DAY)
    assert report.counts["sent"] == 2
    notice.refresh_from_db()
    assert notice.status == CommStatus.SENT and "DUPONT" not in notice.sent_text.upper()[:0]
    filed = {letter.communication_id: letter for letter in Letter.objects.all()}
    assert filed[notice.pk].registered and not filed[reminder.pk].registered
    assert filed[notice.pk].pdf.size > 10_000
    # The registered one has its record, for its tracking number and receipt.
    record = RegisteredLetter.objects.get(communication=notice)
    assert record.status == "prepared" and record.recipient["postcode"] == "69003"
    assert not RegisteredLetter.objects.filter(communication=reminder).exists()
    made = printing.make_batch(acme, DAY)
    assert [row["customer"] for row in made.rows] == ["C-0007", "C-0042"]  # 13002 before 69003
    text = text_of(made.pdf)
    assert text.index("BOUCHARD") < text.index("DUPONT BÂTIMENT")
    rows = list(csv.DictReader(io.StringIO(made.list_csv())))
    assert [row["registered"] for row in rows] == ["no", "yes"]
    assert PrintBatch.objects.get().count == 2
    assert printing.make_batch(acme, DAY).rows == []  # printed once


def test_the_batch_is_the_filed_letters_end_to_end_in_postal_order(acme, time_machine):
    time_machine.move_to(datetime(2026, 3, 20, 9, tzinfo=ZoneInfo("Europe/Paris")))
    for n, postcode in enumerate(["75011", "13002", "69003", "33000", "59000"]):
        customer = make.customer(acme, f"C-{postcode}", legal_name=f"Client {n} SARL")
        make.address(customer, postcode=postcode, city="Ville")
        late = make.invoice(customer, due=DAY - timedelta(days=20))
        make.communication(customer, [late], on=DAY, channel="letter", template="first_reminder")
    assert outbox.send_due(acme.pk, today=DAY).counts["sent"] == 5
    made = printing.make_batch(acme, DAY)
    text = text_of(made.pdf)
    order = [text.index(f"C-{code}") for code in ["13002", "33000", "59000", "69003", "75011"]]
    assert order == sorted(order)
    # Page for page, what is printed is what was filed.
    filed = [letter.pdf.read() for letter in Letter.objects.order_by("postcode")]
    pages = [
        page.extract_text() for pdf in filed for page in pypdf.PdfReader(io.BytesIO(pdf)).pages
    ]
    assert [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(made.pdf)).pages] == pages
    assert [row["pages"] for row in made.rows] == [1] * 5


def test_a_duplex_batch_starts_every_letter_on_a_sheet_of_its_own(acme, dupont, time_machine):
    time_machine.move_to(datetime(2026, 3, 20, 9, tzinfo=ZoneInfo("Europe/Paris")))
    make.communication(dupont, ten_invoices(dupont), on=DAY, channel="registered_letter",
                       template="formal_notice")  # fmt: skip
    for postcode in ["13002", "69003"]:
        customer = make.customer(acme, f"C-{postcode}")
        make.address(customer, postcode=postcode, city="Ville")
        late = make.invoice(customer, due=DAY - timedelta(days=20))
        make.communication(customer, [late], on=DAY, channel="letter", template="first_reminder")
    outbox.send_due(acme.pk, today=DAY)
    lengths = [letter.data["pages"] for letter in printing.waiting(acme, DAY)]
    assert sorted(lengths) == [1, 1, 2]
    made = printing.make_batch(acme, DAY, dry_run=True, duplex=True)
    pages = [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(made.pdf)).pages]
    assert len(pages) == sum(n + n % 2 for n in lengths)
    starts = [sum(n + n % 2 for n in lengths[:k]) for k in range(len(lengths))]
    for start, letter in zip(starts, printing.waiting(acme, DAY), strict=True):
        assert letter.customer.reference in pages[start]
    blanks = [k for k, text in enumerate(pages) if not text.strip()]
    assert blanks == [start + 1 for start, n in zip(starts, lengths, strict=True) if n % 2]
    simplex = printing.make_batch(acme, DAY, dry_run=True)
    assert len(pypdf.PdfReader(io.BytesIO(simplex.pdf)).pages) == sum(lengths)


def test_a_batch_missing_a_filed_letter_is_refused_and_marks_nothing(acme, time_machine):
    time_machine.move_to(datetime(2026, 3, 20, 9, tzinfo=ZoneInfo("Europe/Paris")))
    for postcode in ["75011", "13002"]:
        customer = make.customer(acme, f"C-{postcode}")
        make.address(customer, postcode=postcode, city="Ville")
        late = make.invoice(customer, due=DAY - timedelta(days=20))
        make.communication(customer, [late], on=DAY, channel="letter", template="first_reminder")
    outbox.send_due(acme.pk, today=DAY)
    lost = Letter.objects.get(postcode="75011")
    lost.pdf.storage.delete(lost.pdf.name)
    with pytest.raises(printing.BatchConflict, match=f"letter {lost.pk} \\(C-75011\\)"):
        printing.make_batch(acme, DAY)
    assert not Letter.objects.filter(batch__isnull=False).exists()
    assert not PrintBatch.objects.exists()


def test_it_holds_a_formal_notice_whose_rate_is_unknown_then_sends_it(acme, dupont, time_machine):
    day = date(2026, 9, 15)  # 2026-H2: not in the shipped tables
    time_machine.move_to(datetime(2026, 9, 15, 9, tzinfo=ZoneInfo("Europe/Paris")))
    comm = make.communication(dupont, ten_invoices(dupont)[:2], on=day,
                              channel="registered_letter", template="formal_notice")  # fmt: skip
    assert outbox.send_due(acme.pk, today=day).counts["held"] == 1
    comm.refresh_from_db()
    assert comm.status == CommStatus.QUEUED and comm.next_attempt_at is not None
    task = Task.objects.get(kind="held")
    assert "fr_late_penalty_default" in task.data["reason"] and "2026" in task.data["reason"]
    assert not Letter.objects.exists()
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")
    time_machine.move_to(datetime(2026, 9, 15, 16, tzinfo=ZoneInfo("Europe/Paris")))
    assert outbox.send_due(acme.pk, today=day).counts["sent"] == 1
    task.refresh_from_db()
    assert task.status == Task.Status.CANCELLED
    assert Letter.objects.get().communication_id == comm.pk


def test_it_gives_a_person_the_letter_to_a_customer_without_an_address(acme, time_machine):
    time_machine.move_to(datetime(2026, 3, 20, 9, tzinfo=ZoneInfo("Europe/Paris")))
    nowhere = make.customer(acme, "C-9")
    make.communication(nowhere, [make.invoice(nowhere, due=DAY - timedelta(days=9))], on=DAY,
                       channel="letter", template="first_reminder")  # fmt: skip
    assert outbox.send_due(acme.pk, today=DAY).counts["no_address"] == 1
    task = Task.objects.get()
    assert task.kind == "no_letter_address" and "adresse postale" in task.title


def test_it_writes_in_the_name_of_a_collection_agency(acme, dupont):
    Agent.objects.create(
        organisation=acme, kind="agency", name="Recouvra", legal_name="Recouvra SAS",
        address="3 place Bellecour\n69002 Lyon", siren="443061841",
    )  # fmt: skip
    dupont.language = "en"
    dupont.save()
    ten_invoices(dupont)
    _, pdf = letters.write(letters.for_customer(acme, dupont, "formal_notice", DAY))
    text = flat(text_of(pdf))
    assert text.startswith("Recouvra")  # its letterhead
    assert "collecting debts amicably" in text and "Acme Industrie SAS" in text
    assert "12 rue de la Paix, 75002 Paris" in text  # the creditor's address
    assert flat(agents.L111_8[0]) in text and flat(agents.L111_8[1]) in text
    assert "Recouvra SAS · SIREN 443061841" in text


def test_it_uses_the_organisations_own_template_and_keeps_it_in_its_directory(acme, dupont):
    MessageTemplate.objects.create(
        organisation=acme, channel="letter", language="fr", slug="formal_notice", part="typ",
        body='#import "/relance.typ": *\n#let body(d) = [Notre texte à nous. #invoices(d)]\n',
    )  # fmt: skip
    invoices = ten_invoices(dupont)[:1]
    _, pdf = letters.write(letters.Request(acme, dupont, "formal_notice", DAY, invoices))
    assert "Notre texte à nous." in text_of(pdf) and invoices[0].number in text_of(pdf)
    MessageTemplate.objects.filter(organisation=acme).update(
        body='#let body(d) = [#read("/../../relance.sqlite3")]\n'
    )
    with pytest.raises(DocumentError):
        letters.write(letters.Request(acme, dupont, "formal_notice", DAY, invoices))


def test_the_commands_write_a_letter_and_the_print_batch(acme, dupont, tmp_path, time_machine):
    time_machine.move_to(datetime(2026, 3, 20, 9, tzinfo=ZoneInfo("Europe/Paris")))
    ten_invoices(dupont)
    out = io.StringIO()
    target = tmp_path / "notice.pdf"
    call_command("letter", "C-0042", "--template", "formal_notice", "--date", "2026-03-20",
                 "--output", str(target), "--org", "acme", "--json", stdout=out)  # fmt: skip
    report = json.loads(out.getvalue())
    assert report["invoices"] == [f"FA-{i:04d}" for i in range(10)]
    interest = sum(
        p.interest for p in penalties_of(acme, list(dupont.invoices.all()), DAY).values()
    )
    assert Decimal(report["claimed"][0]["interest"]) == interest
    assert "mettons en demeure" in text_of(target.read_bytes())
    assert report["portal_url"] in text_of(target.read_bytes()).replace("\n", "")
    with pytest.raises(CommandError, match="fr_late_penalty_default"):
        call_command("letter", "C-0042", "--template", "formal_notice", "--date", "2026-09-15",
                     "--output", str(tmp_path / "no.pdf"), "--org", "acme")  # fmt: skip
    assert not (tmp_path / "no.pdf").exists()
    with pytest.raises(CommandError, match="not found"):
        call_command("letter", "C-404", "--template", "formal_notice", "--output",
                     str(tmp_path / "x.pdf"), "--org", "acme")  # fmt: skip
    make.communication(dupont, list(dupont.invoices.all()[:1]), on=DAY, channel="letter",
                       template="first_reminder")  # fmt: skip
    outbox.send_due(acme.pk, today=DAY)
    out = io.StringIO()
    batch, listing = tmp_path / "b.pdf", tmp_path / "b.csv"
    call_command("letters", "batch", "--date", "2026-03-20", "--output", str(batch),
                 "--list", str(listing), "--org", "acme", "--json", stdout=out)  # fmt: skip
    report = json.loads(out.getvalue())
    assert report["letters"] == 1 and report["list"][0]["customer"] == "C-0042"
    assert "FA-0000" in text_of(batch.read_bytes())
    assert listing.read_text().startswith("rank,customer")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_letters_columns_have_a_name_each(language):
    """A payment plan's table names its instalment's number apart from its due date (in
    French both were "Échéance")."""
    from relance.documents.letters import words

    with translation.override(language):
        labels = words()
    assert len({labels["instalment"], labels["due"], labels["amount"]}) == 3
