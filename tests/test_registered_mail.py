"""Registered letters: posted by hand (tracking number and AR entered by a person) or through
Maileva, tested against a Maileva on loopback that speaks its documented API; the date a
formal notice's deadline counts from; the `relance registered` command."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
from io import StringIO
from zoneinfo import ZoneInfo

import commands
import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from fake_maileva import USERNAME, FakeMaileva
from pypdf import PdfReader

from relance.accounts.models import Organisation
from relance.audit.models import AuditEvent
from relance.channels import maileva, registered_mail
from relance.channels.models import RegisteredLetter
from relance.channels.registered_mail import RegisteredMailError, record_posting, record_receipt
from relance.dunning.models import Task
from relance.ledger.models import TimelineEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
PARIS = ZoneInfo("Europe/Paris")
D = dt.date(2026, 11, 23)  # a Monday
NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def fake(settings):
    server = FakeMaileva(ar_pdf=f.pdf("AR signé 1A"), deposit_pdf=f.pdf("Preuve de dépôt")).start()
    settings.RELANCE_MAILEVA = server.settings()
    settings.RELANCE_REGISTERED_MAIL_PROVIDER = "maileva"
    maileva._tokens.clear()
    yield server
    server.stop()
    maileva._tokens.clear()


@pytest.fixture
def acme(db):
    return f.organisation("acme", legal_name="Acme Industrie SAS",
                          address="3 quai Perrache\n69002 Lyon")  # fmt: skip


@pytest.fixture
def durand(acme):
    customer = f.customer(acme, "C001", legal_name="Durand SARL")
    f.postal_address(customer, line1="12 rue des Lilas", line2="BP 42")
    return customer


def events(customer, prefix="registered."):
    return list(
        TimelineEvent.objects.filter(customer=customer, kind__startswith=prefix)
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


def audited(prefix="registered."):
    """The test organisation's events (a module's data set, such as the demo's, may stay)."""
    acme = Organisation.objects.get(slug="acme")
    return list(AuditEvent.objects.filter(organisation_id=acme.pk, action__startswith=prefix)
                .order_by("pk").values_list("action", flat=True))  # fmt: skip


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=PARIS)


# -- through Maileva ------------------------------------------------------------------------


def test_it_submits_a_prepared_letter_to_maileva_as_its_api_documents(fake, durand, acme):
    content = f.pdf("Mise en demeure C001", pages=2)
    letter = f.registered_letter(durand, provider="maileva", pdf=content)
    assert letter.status == "prepared" and letter.provider == "maileva"

    report = registered_mail.sync(acme)

    assert report.submitted == [letter.pk] and not report.errors
    [sign_in] = fake.token_requests
    assert sign_in["form"] == {"grant_type": "password", "username": USERNAME,
                               "password": "p4ssword"}  # fmt: skip
    assert sign_in["content_type"] == "application/x-www-form-urlencoded"
    [sending] = fake.sendings.values()
    assert sending.status == "PENDING"  # submitted
    assert sending.body["acknowledgement_of_receipt"] is True
    assert sending.body["acknowledgement_of_receipt_scanning"] is True
    assert sending.body["custom_id"] == f"relance-{letter.pk}"
    assert sending.body["notification_email"] == "compta@acme.test"
    assert sending.body["sender_address_line_1"] == "Acme Industrie SAS"
    assert sending.body["sender_address_line_4"] == "3 quai Perrache"
    assert sending.body["sender_address_line_6"] == "69002 Lyon"
    [document] = sending.documents
    assert document["content"] == content and document["priority"] == 1
    assert len(PdfReader(io.BytesIO(document["content"])).pages) == 2
    [recipient] = sending.recipients
    assert (recipient["address_line_1"], recipient["address_line_4"],
            recipient["address_line_5"], recipient["address_line_6"],
            recipient["country_code"]) == (
        "Durand SARL", "12 rue des Lilas", "BP 42", "69003 Lyon", "FR")  # fmt: skip
    assert [p for m, p in fake.requests if m == "POST"][-1] == f"/sendings/{sending.id}/submit"
    letter.refresh_from_db()
    assert (letter.status, letter.provider_id) == ("submitted", sending.id)
    assert letter.provider_data["recipient_id"] == recipient["id"]
    assert events(durand) == ["registered.prepared", "registered.submitted"]
    assert audited() == ["registered.prepared", "registered.submitted"]
    with pytest.raises(RegisteredMailError, match="posted by maileva: its number comes from it"):
        record_posting(letter, "1A12345678901", D)


def test_it_follows_a_letter_to_its_signed_acknowledgement_and_keeps_the_ar(fake, durand, acme):
    letter = f.registered_letter(durand, provider="maileva")
    registered_mail.sync(acme)
    sending_id = RegisteredLetter.objects.get().provider_id
    number = fake.post(sending_id, "2026-11-23")
    registered_mail.sync(acme)
    letter.refresh_from_db()
    assert (letter.status, letter.tracking_number, letter.posted_on) == ("posted", number, D)
    assert letter.receipt_date is None  # on its way: no deadline runs yet

    fake.event(sending_id, "A02", "Avisé", "2026-11-24T10:05:00.000Z")
    fake.event(sending_id, "D01", "Distribué", "2026-11-25T10:12:00.000Z")
    fake.event(sending_id, "N01", "AR Signé : RAR distribué", "2026-11-27T08:00:00.000Z")
    report = registered_mail.sync(acme)

    letter.refresh_from_db()
    assert report.updated == [letter.pk]
    assert letter.status == "acknowledged"
    # The AR's date is the day it was signed (delivered), not the day Maileva scanned it.
    assert letter.acknowledged_on == dt.date(2026, 11, 25) == letter.receipt_date
    assert letter.presented_on == dt.date(2026, 11, 24)
    assert letter.proof.read() == fake.ar_pdf
    assert [e["code"] for e in letter.events] == ["A01", "A02", "D01", "N01"]
    assert events(durand) == ["registered.prepared", "registered.submitted",
                              "registered.posted", "registered.acknowledged"]  # fmt: skip
    summary = TimelineEvent.objects.get(kind="registered.acknowledged").summary
    assert "2026-11-25" in summary

    again = registered_mail.sync(acme)  # idempotent: nothing new, nothing written twice
    assert again.updated == [] and len(events(durand)) == 4 and len(audited()) == 4


def test_it_counts_a_letter_not_collected_from_its_first_presentation(fake, durand, acme):
    letter = f.registered_letter(durand, provider="maileva")
    registered_mail.sync(acme)
    sending_id = RegisteredLetter.objects.get().provider_id
    fake.post(sending_id, "2026-11-23")
    fake.event(sending_id, "A02", "Avisé", "2026-11-24T10:05:00.000Z")
    fake.event(sending_id, "P01", "Attend d'être retiré au guichet", "2026-11-24T11:00:00.000Z")
    fake.event(sending_id, "N03", "Non réclamé", "2026-12-10T09:00:00.000Z")

    registered_mail.sync(acme)

    letter.refresh_from_db()
    assert (letter.status, letter.return_reason) == ("returned", "not_collected")
    assert letter.returned_on == dt.date(2026, 12, 10)
    assert letter.receipt_date == dt.date(2026, 11, 24)  # first presentation, not the return
    assert letter.proof.read() == fake.deposit_pdf  # no AR: the proof of deposit
    assert events(durand)[-1] == "registered.returned"


def test_it_signs_in_again_when_the_token_has_expired(fake, durand, acme):
    f.registered_letter(durand, provider="maileva")
    registered_mail.sync(acme)
    fake.expire_tokens()  # Maileva answers 401 to the token Relance holds
    fake.post(RegisteredLetter.objects.get().provider_id, "2026-11-23")

    report = registered_mail.sync(acme)

    assert not report.errors and len(fake.token_requests) == 2
    assert RegisteredLetter.objects.get().status == "posted"


def test_it_tries_again_later_when_maileva_fails_and_resumes_without_posting_twice(
    fake, durand, acme
):
    letter = f.registered_letter(durand, provider="maileva")
    fake.fail_next("/documents", 503)  # the sending is made, the upload fails

    report = registered_mail.sync(acme, now=NOW)

    letter.refresh_from_db()
    assert report.retry == [letter.pk] and "503" in report.errors[letter.pk]
    assert (letter.status, letter.attempts) == ("prepared", 1)
    assert letter.next_attempt_at == NOW + dt.timedelta(minutes=5)
    calls = len(fake.requests)
    registered_mail.sync(acme, now=NOW + dt.timedelta(minutes=4))
    assert len(fake.requests) == calls  # not yet due: Maileva not asked

    report = registered_mail.sync(acme, now=NOW + dt.timedelta(minutes=6))

    letter.refresh_from_db()
    assert report.submitted == [letter.pk]
    assert len(fake.sendings) == 1  # the same sending, resumed
    assert (letter.status, letter.attempts, letter.last_error) == ("submitted", 0, "")
    assert not Task.objects.exists()


def test_it_fails_a_letter_maileva_refuses_and_asks_a_person(fake, durand, acme):
    letter = f.registered_letter(durand, provider="maileva")
    fake.fail_next("/recipients", 400, {"errors": [
        {"code": "ADDRESS_LINE_6_WRONG_FORMAT", "message": "code postal inconnu"}]})  # fmt: skip

    report = registered_mail.sync(acme)

    letter.refresh_from_db()
    assert report.failed == [letter.pk] and letter.status == "failed"
    assert "ADDRESS_LINE_6_WRONG_FORMAT" in letter.last_error
    task = Task.objects.get(kind=registered_mail.TASK_KIND)
    assert task.customer == durand and "ADDRESS_LINE_6_WRONG_FORMAT" in task.title
    assert events(durand)[-1] == "registered.failed"
    registered_mail.sync(acme)  # a failed letter is left to the person
    assert Task.objects.count() == 1


def test_it_fails_a_letter_maileva_rejects_after_submission(fake, durand, acme):
    letter = f.registered_letter(durand, provider="maileva")
    registered_mail.sync(acme)
    sending = fake.sendings[RegisteredLetter.objects.get().provider_id]
    sending.status = "REJECTED"
    sending.recipients[0].update(status="REJECTED", status_detail="Document illisible")

    registered_mail.sync(acme)

    letter.refresh_from_db()
    assert letter.status == "failed" and "Document illisible" in letter.last_error
    assert Task.objects.filter(kind=registered_mail.TASK_KIND, customer=durand).count() == 1


def test_it_refuses_an_address_maileva_cannot_print_without_cutting_it(fake, durand, acme):
    durand.addresses.update(line1="Zone industrielle des Grandes Terres, bâtiment C")
    letter = f.registered_letter(durand, provider="maileva")
    registered_mail.sync(acme)
    letter.refresh_from_db()
    assert letter.status == "failed" and "longer than 38 characters" in letter.last_error
    assert fake.sendings == {}  # nothing made at Maileva


# -- by hand ----------------------------------------------------------------------------------


def test_it_records_a_tracking_number_and_a_signed_ar_by_hand(durand, tmp_path):
    letter = f.registered_letter(durand)
    assert letter.provider == "" and registered_mail.sync().submitted == []

    letter = record_posting(letter, "1a 123 456 7890 1", D)
    assert (letter.status, letter.tracking_number, letter.posted_on) == (
        "posted", "1A12345678901", D)  # fmt: skip
    assert record_posting(letter, "1A12345678901", D).pk == letter.pk  # again: nothing new

    scan = f.pdf("AR")
    letter = record_receipt(letter, on=D, proof=scan)
    assert (letter.status, letter.acknowledged_on, letter.receipt_date) == ("acknowledged", D, D)
    assert letter.proof.read() == scan
    record_receipt(letter, on=D, proof=scan)  # again: nothing new
    assert events(durand) == ["registered.prepared", "registered.posted",
                              "registered.acknowledged"]  # fmt: skip
    assert audited() == events(durand)


def test_it_checks_international_numbers_by_their_check_digit():
    assert registered_mail.tracking_number("RR 12345678 5 FR") == "RR123456785FR"
    assert registered_mail.tracking_number("AA473124829GB") == "AA473124829GB"  # S10's example
    with pytest.raises(RegisteredMailError, match="check digit is wrong"):
        registered_mail.tracking_number("RR123456784FR")


def test_it_refuses_bad_hand_entries_clearly_and_writes_nothing(durand, clock):
    letter = f.registered_letter(durand)
    before = (events(durand), audited())
    bad_postings = [
        ("12345", D, "is not a registered letter's number: 13 characters"),
        ("", D, "Give the tracking number"),
        ("1A12345678901", D + dt.timedelta(days=1), "is in the future"),
        ("1A12345678901", D - dt.timedelta(days=3), "before the letter was written"),
    ]
    for number, day, message in bad_postings:
        with pytest.raises(RegisteredMailError, match=message):
            record_posting(letter, number, day)
    with pytest.raises(RegisteredMailError, match="tracking number and posting date first"):
        record_receipt(letter, on=D)
    letter = record_posting(letter, "1A12345678901", D)
    before = (events(durand), audited())
    clock.move_to(at("2026-12-15"), tick=False)
    bad_receipts = [
        ({"on": D - dt.timedelta(days=1)}, "before the letter was posted"),
        ({"on": dt.date(2026, 12, 16)}, "in the future"),
        ({"on": dt.date(2026, 12, 10), "returned": "not_collected"}, "first presented"),
        ({"on": dt.date(2026, 12, 10), "returned": "lost"}, "Unknown reason 'lost'"),
        ({"on": dt.date(2026, 12, 1), "proof": b"GIF89a..."}, "not a PDF, PNG or JPEG"),
        ({"on": dt.date(2026, 12, 1), "returned": "not_collected",
          "presented_on": dt.date(2026, 12, 2)}, "cannot come after the return"),
    ]  # fmt: skip
    for kwargs, message in bad_receipts:
        with pytest.raises(RegisteredMailError, match=message):
            record_receipt(letter, **kwargs)
    letter.refresh_from_db()
    assert letter.status == "posted" and not letter.proof
    assert (events(durand), audited()) == before


def test_it_counts_a_refused_letter_from_the_day_it_was_refused(durand, clock):
    letter = record_posting(f.registered_letter(durand), "1A12345678901", D)
    undeliverable = record_posting(f.registered_letter(durand), "1A12345678902", D)
    clock.move_to(at("2026-12-01"), tick=False)
    letter = record_receipt(letter, on=dt.date(2026, 11, 25), returned="refused")
    assert letter.receipt_date == dt.date(2026, 11, 25)
    undeliverable = record_receipt(undeliverable, on=dt.date(2026, 11, 26),
                                   returned="undeliverable")  # fmt: skip
    assert undeliverable.receipt_date is None  # never reached its addressee: no deadline
    with pytest.raises(RegisteredMailError, match="already returned"):
        record_receipt(letter, on=dt.date(2026, 11, 30))


def test_it_prepares_one_letter_per_message_and_refuses_what_cannot_be_posted(durand, acme):
    invoice = f.invoice(durand, "F-1", due=D - f.days(40), amount="1200.00")
    comm = f.communication(durand, [invoice], on=D, channel="registered_letter",
                           template="formal_notice")  # fmt: skip
    first = f.registered_letter(durand, communication=comm)
    assert f.registered_letter(durand, communication=comm).pk == first.pk
    recipient = registered_mail.PostalAddress.of_customer(durand)
    with pytest.raises(RegisteredMailError, match="not a PDF"):
        registered_mail.prepare(None, acme, durand, b"<html>", recipient)
    with pytest.raises(RegisteredMailError, match="postcode '6900' is not five digits"):
        lyon = registered_mail.PostalAddress("Durand", ("1 rue",), "6900", "Lyon")
        registered_mail.prepare(None, acme, durand, f.pdf(), lyon)
    with pytest.raises(RegisteredMailError, match="Unknown registered-mail provider 'laposte'"):
        registered_mail.prepare(None, acme, durand, f.pdf(), recipient, provider_name="laposte")
    assert RegisteredLetter.objects.count() == 1


# -- the command ------------------------------------------------------------------------------


def relance(*args: str) -> dict:
    out = StringIO()
    call_command("registered", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_lists_tracks_and_records_receipts_from_the_command_line(durand, tmp_path, clock):
    letter = f.registered_letter(durand)
    [row] = relance("list", "--org", "acme")["registered_letters"]
    assert (row["id"], row["status"], row["provider"]) == (letter.pk, "prepared", "")
    [row] = relance("track", str(letter.pk), "1A 123 456 7890 1", "--posted-on", "2026-11-23",
                    "--org", "acme")["registered_letters"]  # fmt: skip
    assert (row["tracking_number"], row["posted_on"]) == ("1A12345678901", "2026-11-23")
    clock.move_to(at("2026-12-15"), tick=False)
    scan = tmp_path / "envelope.pdf"
    scan.write_bytes(f.pdf("enveloppe"))
    [row] = relance("receipt", str(letter.pk), "--on", "2026-12-12", "--returned",
                    "not_collected", "--presented-on", "2026-11-25", "--proof", str(scan),
                    "--org", "acme")["registered_letters"]  # fmt: skip
    assert (row["status"], row["receipt_date"], row["proof"]) == ("returned", "2026-11-25", True)
    assert relance("list", "--status", "posted", "--org", "acme")["registered_letters"] == []
    with pytest.raises(CommandError, match="registered letter 999 not found"):
        relance("track", "999", "1A12345678901", "--org", "acme")
    with pytest.raises(CommandError, match=r"missing\.pdf: No such file"):
        relance("receipt", str(letter.pk), "--on", "2026-12-12", "--proof",
                str(tmp_path / "missing.pdf"), "--org", "acme")  # fmt: skip


def test_it_syncs_from_the_command_line(fake, durand, acme):
    letter = f.registered_letter(durand, provider="maileva")
    theirs = f.registered_letter(f.customer(f.organisation("globex"), "G1"), provider="maileva")
    report = relance("sync", "--org", "acme")
    assert report["submitted"] == [letter.pk] and report["errors"] == {}
    assert relance("sync")["submitted"] == [theirs.pk]  # every organisation without --org


def test_it_does_not_reach_another_organisations_letters(durand, acme):
    globex = f.organisation("globex")
    theirs = f.registered_letter(f.customer(globex, "G001"))
    with pytest.raises(CommandError, match=f"registered letter {theirs.pk} not found in "
                       "organisation 'acme'"):  # fmt: skip
        relance("track", str(theirs.pk), "1A12345678901", "--org", "acme")
    assert relance("list", "--org", "acme")["registered_letters"] == []
    theirs.refresh_from_db()
    assert theirs.status == "prepared"


def test_it_exits_1_for_refused_input_and_2_for_a_usage_error():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return commands.in_process("registered", *args)

    assert commands.in_process("createorg", "acme", "--name", "Acme SAS").returncode == 0
    listed = run("list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == {"registered_letters": []}
    missing = run("track", "7", "1A12345678901", "--json")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert "registered letter 7 not found" in missing.stderr
    assert run("receipt", "7").returncode == 2  # --on is required
    assert run("track", "7", "1A12345678901", "--posted-on", "yesterday").returncode == 2
