"""The hand-over file (`relance handover`): a ZIP for a credit insurer, an agency, a lawyer
or the court, holding the summary PDF, the invoices, the letters, the terms of sale, the
timeline as CSV and a manifest; its sums are the penalty service's, to the cent."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import commands
import factories as make
import pypdf
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from relance.audit.models import AuditEvent
from relance.channels.formatting import money, percent
from relance.documents import handover, letters
from relance.documents.channel import Posted, file_letter
from relance.dunning.models import CommStatus, Promise, Rate
from relance.dunning.pauses import resolve_dispute
from relance.dunning.penalty_service import penalties_of
from relance.ledger.models import Address, Attachment, TimelineEvent

D = date(2026, 11, 23)  # a Monday
PARIS = ZoneInfo("Europe/Paris")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS))


@pytest.fixture
def acme(db):
    org = make.organisation(
        "acme",
        legal_name="Acme Industries SAS",
        siren="732829320",
        vat_number="FR44732829320",
        address="3 rue de la Paix\n75002 Paris",
        phone="01 40 00 00 00",
    )
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")
    return org


@pytest.fixture
def durand(acme):
    cust = make.customer(
        acme,
        "C001",
        legal_name="Durand SARL",
        email="factures@durand.test",
        siren="552100554",
        siret="55210055400013",
        vat_number="FR12552100554",
    )
    Address.objects.create(
        organisation=acme,
        customer=cust,
        kind="billing",
        line1="12 quai Saint-Antoine",
        postcode="69002",
        city="Lyon",
    )
    make.contact(cust, "Marie Durand", "marie@durand.test")
    return cust


def _attach(invoice, kind: str, name: str, content: bytes) -> Attachment:
    att = Attachment(
        organisation_id=invoice.organisation_id,
        invoice=invoice,
        kind=kind,
        name=name,
        sha256=hashlib.sha256(content).hexdigest(),
    )
    att.file.save(name, ContentFile(content), save=False)
    att.save()
    return att


@pytest.fixture
def history(acme, durand):
    """Two overdue invoices and one not due; a dispute resolved, a broken promise, three
    e-mail reminders sent and a formal notice filed as a letter."""
    f1 = make.invoice(
        durand, "F-2026-101", due=date(2026, 8, 31), amount="1200.00", issued=date(2026, 7, 31)
    )
    f2 = make.invoice(
        durand, "F-2026-117", due=date(2026, 9, 30), amount="480.50", issued=date(2026, 8, 31)
    )
    f3 = make.invoice(
        durand, "F-2026-140", due=date(2026, 12, 15), amount="300.00", issued=date(2026, 11, 15)
    )
    dispute = make.dispute(f2, on=date(2026, 10, 5), reason="quality")
    resolve_dispute(
        dispute, on=date(2026, 10, 20), resolution="Goods checked: compliant", outcome="rejected"
    )
    promise = make.promise(durand, promised_on=date(2026, 10, 15), invoice=f1)
    Promise.objects.filter(pk=promise.pk).update(
        status=Promise.Status.BROKEN, broken_on=date(2026, 10, 18)
    )
    reminders = []
    for i, (day, subject) in enumerate(
        [
            (date(2026, 9, 7), "Rappel : facture F-2026-101"),
            (date(2026, 9, 21), "Relance : factures échues"),
            (date(2026, 10, 26), "Dernier rappel avant mise en demeure"),
        ]
    ):
        reminders.append(
            make.communication(
                durand,
                [f1, f2] if i else [f1],
                on=day,
                status=CommStatus.SENT,
                subject=subject,
                sent_at=datetime(day.year, day.month, day.day, 8, 15, tzinfo=PARIS),
            )
        )
    notice_day = date(2026, 11, 9)
    comm = make.communication(
        durand,
        [f1, f2],
        on=notice_day,
        channel="letter",
        template="formal_notice",
        status=CommStatus.SENT,
        sent_at=datetime(2026, 11, 9, 10, 0, tzinfo=PARIS),
    )
    request = letters.for_customer(acme, durand, "formal_notice", notice_day)
    letter, pdf = letters.write(request)
    file_letter(Posted(comm.pk, letter, pdf))
    _attach(f1, "invoice_pdf", "F-2026-101.pdf", b"%PDF-1.4 invoice 101")
    _attach(f2, "invoice_pdf", "F-2026-117.pdf", b"%PDF-1.4 invoice 117")
    _attach(f1, "proof_of_delivery", "BL-5531.pdf", b"%PDF-1.4 delivery note")
    handover.set_terms(acme, "CGV Acme 2026.pdf", b"%PDF-1.4 terms of sale")
    return {"invoices": (f1, f2, f3), "reminders": reminders, "notice": comm}


def run(*args: str) -> dict:
    out = StringIO()
    call_command("handover", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def refused(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("handover", *args, stdout=StringIO(), stderr=StringIO())
    assert caught.value.returncode == 1
    return str(caught.value)


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def squeeze(text: str) -> str:
    """Text without any space: PDF extraction and money formats space differently."""
    return re.sub(r"\s+", "", text.replace("\u202f", " ").replace("\xa0", " "))


def test_it_writes_every_file_of_the_hand_over(acme, durand, history, tmp_path):
    output = tmp_path / "durand.zip"
    report = run("C001", "--to", "insurer", "--output", str(output), "--date", "2026-11-23")
    with zipfile.ZipFile(output) as zf:
        names = zf.namelist()
        files = {name: zf.read(name) for name in names}
    assert names[0] == "summary.pdf" and names[-1] == "manifest.json"
    assert [n for n in names if n.startswith("invoices/")] == [
        "invoices/01-F-2026-101.pdf",
        "invoices/02-F-2026-117.pdf",
    ]
    assert files["invoices/01-F-2026-101.pdf"] == b"%PDF-1.4 invoice 101"
    assert files["attachments/03-BL-5531.pdf"] == b"%PDF-1.4 delivery note"
    [letter] = [n for n in names if n.startswith("exchanges/")]
    assert files[letter].startswith(b"%PDF") and "formal_notice" in letter
    assert files["terms-of-sale.pdf"] == b"%PDF-1.4 terms of sale"
    assert "timeline.csv" in names
    manifest = json.loads(files["manifest.json"])
    assert manifest["recipient"] == "insurer" and manifest["date"] == "2026-11-23"
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(names) - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert entry["description"]
    assert [e["name"] for e in report["entries"]] == names
    assert report["output"] == str(output) and report["penalties"] == "computed"
    assert not [p for p in tmp_path.iterdir() if p.name != "durand.zip"]  # no temporary left


def test_it_states_the_invoices_and_the_penalties_of_the_penalty_service(
    acme, durand, history, tmp_path
):
    output = tmp_path / "durand.zip"
    report = run("C001", "--to", "lawyer", "--output", str(output))
    with zipfile.ZipFile(output) as zf:
        summary = zf.read("summary.pdf")
    text = squeeze(pdf_text(summary))
    f1, f2, f3 = history["invoices"]
    found = penalties_of(acme, [f1, f2], D)
    interest = sum((p.interest for p in found.values()), Decimal(0))
    indemnity = sum((p.indemnity for p in found.values()), Decimal(0))
    principal = f1.balance + f2.balance
    assert indemnity == Decimal("80.00") and interest > 0
    with translation.override(acme.language):
        for inv in (f1, f2, f3):
            assert inv.number in text
            assert squeeze(money(inv.balance, "EUR")) in text
        for p in found.values():
            assert squeeze(money(p.interest, "EUR")) in text
        for value in (principal, interest, principal + interest + indemnity):
            assert squeeze(money(value, "EUR")) in text
    assert report["claimed"] == [
        {
            "currency": "EUR",
            "principal": str(principal),
            "interest": str(interest),
            "indemnity": str(indemnity),
            "total": str(principal + interest + indemnity),
        }
    ]
    for word in (
        "Durand SARL",
        "552100554",
        "55210055400013",
        "Acme Industries SAS",
        "732829320",
        "Goods checked",
        "CGV Acme 2026.pdf",
    ):
        assert squeeze(word) in text
    ARTIFACTS.mkdir(exist_ok=True)
    import pypdfium2

    pdf = pypdfium2.PdfDocument(summary)
    pdf[0].render(scale=1.3).to_pil().save(ARTIFACTS / "handover-summary.png")


def test_it_lists_every_exchange_in_the_timeline_csv(acme, durand, history, tmp_path):
    output = tmp_path / "durand.zip"
    run("C001", "--to", "agency", "--output", str(output))
    with zipfile.ZipFile(output) as zf:
        content = zf.read("timeline.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0]) == ["date", "time", "kind", "channel", "summary", "invoices"]
    sent = [r for r in rows if r["kind"] == "communication.sent"]
    assert [(r["date"], r["channel"]) for r in sent] == [
        ("2026-09-07", "email"),
        ("2026-09-21", "email"),
        ("2026-10-26", "email"),
        ("2026-11-09", "letter"),
    ]
    assert sent[0]["summary"] == "Rappel : facture F-2026-101"
    assert sent[0]["time"] == "08:15:00"
    assert sent[1]["invoices"] == "F-2026-101 F-2026-117"
    kinds = {r["kind"] for r in rows}
    assert {"dispute_opened", "dispute_resolved", "promise_recorded"} <= kinds
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows)


def test_it_fills_the_fields_of_the_request_for_an_order_for_payment(
    acme, durand, history, tmp_path
):
    output = tmp_path / "court.zip"
    report = run("C001", "--to", "court", "--output", str(output))
    with zipfile.ZipFile(output) as zf:
        text = squeeze(pdf_text(zf.read("summary.pdf")))
        names = zf.namelist()
    assert squeeze("Cerfa n° 12948") in text
    assert squeeze("Tribunal de commerce of Lyon") in text or squeeze("Lyon") in text
    for label in (
        "Creditor (applicant)",
        "Debtor (defendant)",
        "Principal",
        "Interest",
        "Indemnity for recovery costs",
        "Total claimed",
        "Competent court",
        "Exhibits (bordereau de pièces)",
    ):
        with translation.override(acme.language):
            assert squeeze(translation.gettext(label)) in text
    with translation.override(acme.language):
        assert squeeze("L441-10") in text and squeeze(percent(Decimal("12.15"))) in text
    total = report["claimed"][0]["total"]
    with translation.override(acme.language):
        assert squeeze(money(Decimal(total), "EUR")) in text
    for number, name in enumerate(names[1:-1], start=1):  # the exhibits, numbered
        assert squeeze(f"{number}.{name}") in text
    ARTIFACTS.mkdir(exist_ok=True)
    import pypdfium2

    with zipfile.ZipFile(output) as zf:
        pdf = pypdfium2.PdfDocument(zf.read("summary.pdf"))
    pdf[len(pdf) - 1].render(scale=1.3).to_pil().save(ARTIFACTS / "handover-court.png")


def test_it_says_the_terms_of_sale_are_missing_and_never_guesses_a_rate(acme, durand, tmp_path):
    make.invoice(durand, "F-9", due=date(2026, 10, 1), amount="250.00")
    Rate.objects.all().delete()  # the shipped tables stop before the second half of 2026
    output = tmp_path / "durand.zip"
    report = run("C001", "--to", "insurer", "--output", str(output))
    assert report["penalties"] == "rate_unknown"
    assert report["claimed"] == [
        {
            "currency": "EUR",
            "principal": "250.00",
            "interest": None,
            "indemnity": None,
            "total": "250.00",
        }
    ]
    with zipfile.ZipFile(output) as zf:
        text = squeeze(pdf_text(zf.read("summary.pdf")))
        assert not [n for n in zf.namelist() if n.startswith("terms-of-sale")]
    with translation.override(acme.language):
        missing = "The terms of sale are missing: none was given to Relance (relance org terms)."
        assert squeeze(translation.gettext(missing)) in text
        assert squeeze(translation.gettext("not computed")) in text


def test_it_records_the_hand_over_on_the_timeline_and_the_audit_trail(
    acme, durand, history, tmp_path
):
    run("C001", "--to", "court", "--output", str(tmp_path / "c.zip"))
    event = TimelineEvent.objects.get(customer=durand, kind="handover")
    assert event.data["recipient"] == "court" and event.data["file"] == "c.zip"
    audit = AuditEvent.objects.get(action="handover.made")
    assert audit.data["claimed"][0]["currency"] == "EUR"
    assert AuditEvent.objects.filter(action="terms.set").count() == 1


def test_it_refuses_an_unknown_customer_or_nothing_to_hand_over(acme, durand, tmp_path):
    output = tmp_path / "x.zip"
    assert "not found" in refused("NOPE", "--to", "insurer", "--output", str(output))
    make.invoice(durand, "F-1", due=date(2026, 12, 31), amount="100.00")  # not yet due
    output.write_bytes(b"before")
    message = refused("C001", "--to", "insurer", "--output", str(output))
    assert "nothing to hand over" in message
    assert output.read_bytes() == b"before"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.zip"]
    assert not TimelineEvent.objects.filter(kind="handover").exists()


def test_it_leaves_nothing_when_the_zip_cannot_be_written(tmp_path):
    entries = [handover.Entry("a.txt", "a", b"a"), handover.Entry("b.txt", "b", object())]  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        handover.write_zip(entries, tmp_path / "out.zip")
    assert list(tmp_path.iterdir()) == []


def test_it_exits_1_and_2_as_a_command(db, tmp_path):
    assert commands.in_process("createorg", "acme", "--name", "Acme SAS").returncode == 0
    unknown = commands.in_process(
        "handover",
        "C404",
        "--to",
        "court",
        "--output",
        str(tmp_path / "o.zip"),
        "--org",
        "acme",
    )
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "customer 'C404' not found" in unknown.stderr
    assert not (tmp_path / "o.zip").exists()
    usage = commands.in_process("handover", "C1", "--to", "bailiff", "--output", "o.zip")
    assert usage.returncode == 2 and "--to" in usage.stderr


def test_it_keeps_the_terms_of_sale_given_to_relance_org_terms(acme, durand, tmp_path):
    make.invoice(durand, "F-7", due=date(2026, 10, 1), amount="90.00")
    terms = tmp_path / "CGV 2027.pdf"
    terms.write_bytes(b"%PDF-1.4 new terms")
    out = StringIO()
    call_command("org", "terms", str(terms), "--org", "acme", "--json", stdout=out)
    assert json.loads(out.getvalue())["terms"] == "CGV 2027.pdf"
    output = tmp_path / "d.zip"
    run("C001", "--to", "agency", "--output", str(output))
    with zipfile.ZipFile(output) as zf:
        assert zf.read("terms-of-sale.pdf") == b"%PDF-1.4 new terms"
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(CommandError) as caught:
        call_command("org", "terms", str(empty), "--org", "acme", stdout=StringIO())
    assert "empty" in str(caught.value)


def test_it_adds_the_signed_acknowledgement_of_a_registered_formal_notice(acme, durand, tmp_path):
    from relance.channels.models import RegisteredLetter
    from relance.channels.registered_mail import record_posting, record_receipt
    from relance.documents.channel import keep

    late = make.invoice(durand, "F-2026-201", due=date(2026, 9, 30), amount="900.00")
    notice_day = date(2026, 11, 9)
    comm = make.communication(durand, [late], on=notice_day, channel="registered_letter",
                              template="formal_notice", status=CommStatus.SENT)  # fmt: skip
    request = letters.for_customer(acme, durand, "formal_notice", notice_day, registered=True)
    letter, pdf = letters.write(request)
    keep(Posted(comm.pk, letter, pdf))
    record = RegisteredLetter.objects.get(communication=comm)
    record_posting(record, "1A 123 456 7890 1", D)  # the record is made today (the clock)
    scan = make.pdf("AR signé")
    record_receipt(record, on=D, proof=scan)
    output = tmp_path / "durand.zip"
    run("C001", "--to", "lawyer", "--output", str(output), "--date", "2026-11-23")
    with zipfile.ZipFile(output) as zf:
        [proof] = [n for n in zf.namelist() if n.endswith("-proof.pdf")]
        assert zf.read(proof) == scan
        manifest = json.loads(zf.read("manifest.json"))
    [entry] = [f for f in manifest["files"] if f["name"] == proof]
    assert "1A12345678901" in entry["description"]
