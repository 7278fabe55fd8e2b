"""Replies to reminders: received through anymail's inbound webhook (Postmark's payload to
the real anymail view) and an IMAP mailbox (Dovecot when installed, else a small IMAP4rev1
server on loopback), routed to one organisation and customer, threaded to the reminder
they answer, on the timeline, pausing the customer's reminders until a person reads them
(the run plans nothing, the outbox sends nothing), and their proposed actions applied."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import imaplib
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from io import StringIO
from zoneinfo import ZoneInfo

import factories as make
import pytest
from django.core.management import call_command

from relance.audit.models import AuditEvent
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Communication, Promise, Task
from relance.ledger.models import Dispute, Hold, TimelineEvent
from relance.replies import intake, service
from relance.replies.models import Reply, ReplyStatus

PARIS = ZoneInfo("Europe/Paris")
SENT = date(2026, 11, 24)  # the reminder went out on the Tuesday
TODAY = date(2026, 11, 25)  # the reply comes on the Wednesday
URL = "/anymail/postmark/inbound/"
SECRET = "relance-hooks:Zq8vR2pLw7TnB4xK"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 25, 10, 0, tzinfo=PARIS), tick=True)


@pytest.fixture(autouse=True)
def secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}


@pytest.fixture
def acme(org):
    org.email, org.reply_to = "compta@acme.test", "relances@acme.test"
    org.save()
    return org


@pytest.fixture
def durand(acme):
    customer = make.customer(acme, "C001", legal_name="Durand SA", email="factures@durand.test")
    make.contact(customer, "Marie Durand", "marie@durand.test")
    make.invoice(customer, "F-1", due=SENT - timedelta(days=40), amount="1250.00")
    return customer


@pytest.fixture
def reminder(mail, durand):
    """A reminder the outbox sent to Durand, with its Message-ID."""
    comm = make.communication(durand, list(durand.invoices.all()), on=SENT)
    outbox.send_due(today=SENT)
    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT and comm.message_id
    mail.received.clear()
    return comm


def postmark(
    *,
    sender: str = "marie@durand.test",
    to: str = "relances@acme.test",
    subject: str = "RE: Relance facture F-1",
    text: str = "Bonjour,\nNous réglerons la facture le 15 décembre.\nMarie",
    message_id: str = "<CAF=reply-1@mail.durand.test>",
    answers: str = "",
    date_header: str = "Wed, 25 Nov 2026 09:12:00 +0100",
) -> dict:
    """An inbound message as Postmark posts it to its inbound webhook."""
    headers = [
        {"Name": "Return-Path", "Value": f"<{sender}>"},
        {"Name": "Received", "Value": "by mx.postmarkapp.com (Postfix) with ESMTPS"},
        {"Name": "Message-ID", "Value": message_id},
        {"Name": "MIME-Version", "Value": "1.0"},
    ]
    if answers:
        headers += [
            {"Name": "In-Reply-To", "Value": answers},
            {"Name": "References", "Value": answers},
        ]
    return {
        "FromName": "Marie Durand",
        "MessageStream": "inbound",
        "From": sender,
        "FromFull": {"Email": sender, "Name": "Marie Durand", "MailboxHash": ""},
        "To": to,
        "ToFull": [{"Email": to, "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": to,
        "Subject": subject,
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": date_header,
        "TextBody": text,
        "HtmlBody": "",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": headers,
        "Attachments": [],
    }


def post(client, payload: dict, credentials: str | None = SECRET):
    headers = {}
    if credentials:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return client.post(URL, json.dumps(payload), content_type="application/json", **headers)


# -- anymail --------------------------------------------------------------------------------


def test_it_threads_a_reply_posted_by_postmark_to_the_reminder_it_answers(client, reminder):
    durand = reminder.customer
    quoted = (
        "\n\nLe mar. 24 nov. 2026, Acme <relances@acme.test> a écrit :\n> Réglez sous huitaine."
    )
    text = "Bonjour, nous réglerons le 15 décembre." + quoted
    response = post(
        client, postmark(text=text, answers=reminder.message_id, to="someone@elsewhere.test")
    )
    assert response.status_code == 200
    reply = Reply.objects.get()
    assert (reply.organisation_id, reply.customer_id, reply.communication_id) == (
        durand.organisation_id, durand.pk, reminder.pk,
    )  # fmt: skip
    assert reply.source == "anymail:postmark" and reply.status == ReplyStatus.NEW
    assert reply.kind == "promise" and reply.details["date"] == "2026-12-15"
    assert reply.details["routed_by"] == "thread" and "réglerons" in reply.details["evidence"]
    assert reply.text == "Bonjour, nous réglerons le 15 décembre."  # the quote cut
    assert reply.message_id == "<CAF=reply-1@mail.durand.test>"
    event = TimelineEvent.objects.get(customer=durand, kind="reply_received")
    assert event.data["reply"] == reply.pk and event.data["kind"] == "promise"
    assert AuditEvent.objects.filter(
        action="reply.received", organisation=durand.organisation
    ).exists()


def test_it_answers_404_to_inbound_mail_without_a_secret(client, settings, durand):
    settings.ANYMAIL = {}
    assert post(client, postmark(), credentials=None).status_code == 404
    assert not Reply.objects.exists()


def test_it_stores_a_message_delivered_twice_once(client, durand):
    assert post(client, postmark()).status_code == 200
    assert post(client, postmark()).status_code == 200
    assert Reply.objects.count() == 1
    assert TimelineEvent.objects.filter(kind="reply_received").count() == 1


# -- routing ----------------------------------------------------------------------------------


def test_it_routes_by_the_address_written_to_then_the_senders_contact_in_that_organisation(
    client, durand, other_org
):
    other_org.reply_to = "ar@other.test"
    other_org.save()
    twin = make.customer(other_org, "X9", legal_name="Durand (chez Other)")
    make.contact(twin, "Marie Durand", "MARIE@durand.test")  # the same person, another creditor

    post(client, postmark(to="Relances@ACME.test", message_id="<a@durand.test>"))
    post(client, postmark(to="ar@other.test", message_id="<b@durand.test>"))

    mine, theirs = Reply.objects.order_by("pk")
    assert (mine.organisation_id, mine.customer_id, mine.details["routed_by"]) == (
        durand.organisation_id, durand.pk, "address",
    )  # fmt: skip
    assert (theirs.organisation_id, theirs.customer_id) == (other_org.pk, twin.pk)


def test_it_stores_nothing_for_no_organisation_and_never_trusts_a_customer_named_in_the_text(
    client, durand, other_org
):
    text = "Bonjour, client C001 (Durand SA) : nous avons payé hier."
    post(client, postmark(to="random@nowhere.test", text=text))
    # An address two organisations share routes nowhere.
    other_org.reply_to = "relances@acme.test"
    other_org.save()
    post(client, postmark(text=text, message_id="<shared@durand.test>"))
    assert not Reply.objects.exists()
    assert not Hold.objects.exists()


def test_it_keeps_a_reply_from_an_unknown_sender_for_a_person_off_any_timeline(client, durand):
    post(client, postmark(sender="stranger@gmail.test"))
    reply = Reply.objects.get()
    assert reply.organisation_id == durand.organisation_id and reply.customer is None
    assert not TimelineEvent.objects.filter(kind="reply_received").exists()
    assert not Hold.objects.exists()


# -- the pause ----------------------------------------------------------------------------------


def test_it_pauses_the_run_until_a_person_reads_the_reply(client, acme, durand, owner):
    make.scenario(acme)
    post(client, postmark(text="Bonjour, je regarde cela et reviens vers vous."))
    reply = Reply.objects.get()
    assert Hold.objects.get(customer=durand).kind == "reply"

    run(acme, TODAY)
    assert not Communication.objects.filter(customer=durand).exists()

    service.mark_read(reply, user=owner, on=TODAY)
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.READ and reply.read_by == owner
    assert Hold.objects.get(customer=durand).end_date == TODAY
    run(acme, TODAY + timedelta(days=1))
    assert Communication.objects.filter(customer=durand).count() == 1


def test_it_keeps_the_outbox_from_sending_until_the_reply_is_read(
    client, mail, acme, durand, owner
):
    queued = make.communication(durand, list(durand.invoices.all()), on=TODAY)
    post(client, postmark(text="Nous contestons le prix de cette facture."))
    post(client, postmark(text="Et la facture F-1 aussi.", message_id="<second@durand.test>"))

    report = outbox.send_due(today=TODAY)

    assert mail.received == []
    queued.refresh_from_db()
    assert queued.status == CommStatus.CANCELLED
    assert queued.items.get().dropped == "hold"
    first, second = Reply.objects.order_by("pk")
    assert first.hold_id == second.hold_id  # one pause while either waits
    service.mark_read(first, user=owner, on=TODAY)
    assert Hold.objects.get().end_date is None  # the second still waits
    service.mark_read(second, user=owner, on=TODAY)
    assert Hold.objects.get().end_date == TODAY
    assert report.as_dict() == {"cancelled": 1}


# -- the actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("Nous réglerons le 15 décembre.", "promise"),
        ("Nous contestons la facture F-1 : le prix ne correspond pas au devis.", "dispute"),
        ("Le virement a été effectué hier, référence VIR-88213.", "paid"),
        ("Pourriez-vous nous renvoyer la facture F-1 ?", "copy"),
        ("Je suis absente du bureau, de retour le 7 décembre.", "absence"),
    ],
)
def test_it_applies_each_proposed_action_through_the_engines_services(
    client, durand, owner, text, check
):
    post(client, postmark(text=text))
    reply = Reply.objects.get()
    assert reply.kind == check
    proposed = service.proposal(reply)
    service.apply(reply, user=owner, on=TODAY, date=proposed.date, reason=proposed.reason,
                  invoices=proposed.invoices)  # fmt: skip
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.APPLIED
    assert Hold.objects.get(kind="reply").end_date == TODAY  # read: the pause lifted
    if check == "promise":
        assert Promise.objects.get(customer=durand).promised_on == date(2026, 12, 15)
    elif check == "dispute":
        dispute = Dispute.objects.get(invoice__customer=durand)
        assert (dispute.reason, dispute.invoice.number) == ("price", "F-1")
    elif check == "paid":
        task = Task.objects.get(customer=durand, kind="check_payment")
        assert task.data["reference"] == "VIR-88213" and task.data["date"] == "2026-11-24"
    elif check == "copy":
        assert Task.objects.get(customer=durand, kind="send_copy").data["invoices"] == ["F-1"]
    else:
        away = Hold.objects.get(kind="manual")
        assert (away.start_date, away.end_date) == (TODAY, date(2026, 12, 7))
    assert AuditEvent.objects.filter(action="reply.applied").count() == 1
    with pytest.raises(service.ReplyError):
        service.apply(reply, user=owner, on=TODAY, date=proposed.date)


# -- IMAP ---------------------------------------------------------------------------------------


class Dovecot:
    """A throw-away Dovecot on loopback, its mail in a temporary folder (Debian's
    dovecot-imapd, run as root with a configuration of its own)."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="relance-dovecot-")
        os.chmod(self.dir, 0o755)
        for sub in ("mail", "run", "state"):
            os.makedirs(os.path.join(self.dir, sub))
        shutil.chown(os.path.join(self.dir, "mail"), "nobody", "nogroup")
        with open(os.path.join(self.dir, "passwd"), "w") as fh:
            fh.write("replies:{PLAIN}s3cret::::::\n")
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as fh:
            fh.write(DOVECOT_CONF.format(dir=self.dir, port=self.port))
        subprocess.run(["/usr/sbin/dovecot", "-c", self.conf], check=True)
        for _ in range(50):
            try:
                imaplib.IMAP4("127.0.0.1", self.port).logout()
                break
            except OSError:
                time.sleep(0.1)

    def stop(self) -> None:
        with open(os.path.join(self.dir, "run", "master.pid")) as fh:
            os.kill(int(fh.read()), 15)
        time.sleep(0.3)
        shutil.rmtree(self.dir, ignore_errors=True)


DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{dir}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _dovecot_usable() -> bool:
    return os.path.exists("/usr/sbin/dovecot") and os.geteuid() == 0


@pytest.fixture
def imap_server():
    """(kind, port): Dovecot where it is installed, else the small server of the tests."""
    if _dovecot_usable():
        server = Dovecot()
        yield "dovecot", server.port
        server.stop()
        return
    from imap_server import Store, serve

    tcp, port = serve(Store("replies", "s3cret"))
    yield "imap_server", port
    tcp.shutdown()
    tcp.server_close()


def imap(port: int) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login("replies", "s3cret")
    return client


def deliver(port: int, message: EmailMessage) -> None:
    client = imap(port)
    client.append("INBOX", "", imaplib.Time2Internaldate(time.time()), message.as_bytes())
    client.logout()


def flags(port: int, folder: str) -> list[str]:
    """Each message's flags in ``folder``."""
    client = imap(port)
    client.select(f'"{folder}"')
    _, data = client.uid("FETCH", "1:*", "(FLAGS)")
    client.logout()
    return [d.decode() for d in data if d]


def mime(subject: str, text: str, *, to: str, message_id: str, answers: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Marie Durand <marie@durand.test>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC))
    message["Message-ID"] = message_id
    if answers:
        message["In-Reply-To"] = answers
        message["References"] = answers
    message.set_content(text)
    return message


def test_it_polls_an_imap_mailbox_once_and_files_what_it_read(imap_server, monkeypatch, reminder):
    kind, port = imap_server
    print(f"IMAP server: {kind}")
    deliver(port, mime("RE: Relance", "Le virement a été effectué hier.", to="x@y.test",
                       message_id="<imap-1@durand.test>", answers=reminder.message_id))  # fmt: skip
    deliver(port, mime("Hello", "Who are you?", to="nobody@nowhere.test",
                       message_id="<imap-2@durand.test>"))  # fmt: skip
    client = imap(port)
    client.create("Done")
    client.logout()
    for name, value in {
        "RELANCE_IMAP_HOST": "127.0.0.1", "RELANCE_IMAP_PORT": str(port),
        "RELANCE_IMAP_USER": "replies", "RELANCE_IMAP_PASSWORD": "s3cret",
        "RELANCE_IMAP_SECURITY": "none", "RELANCE_IMAP_DONE_FOLDER": "Done",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)

    out = StringIO()
    call_command("replies", "poll", "--json", stdout=out)

    result = json.loads(out.getvalue())
    reply = Reply.objects.get()
    assert result == {
        "mailbox": "replies@127.0.0.1/INBOX", "fetched": 2, "stored": 1, "duplicate": 0,
        "unrouted": 1, "ignored": 0, "replies": [reply.pk],
    }  # fmt: skip
    assert (reply.source, reply.kind, reply.communication_id) == ("imap", "paid", reminder.pk)
    assert reply.details["date"] == "2026-11-24"
    # The reply moved out of the way; the message for no one left, flagged for a person.
    assert len(flags(port, "Done")) == 1
    [left] = flags(port, "INBOX")
    assert "\\Flagged" in left

    again = StringIO()
    call_command("replies", "poll", "--json", stdout=again)
    assert json.loads(again.getvalue())["fetched"] == 0
    assert Reply.objects.count() == 1


def test_it_refuses_to_poll_without_a_mailbox_configured(monkeypatch):
    monkeypatch.delenv("RELANCE_IMAP_HOST", raising=False)
    with pytest.raises(Exception, match="RELANCE_IMAP_HOST"):
        call_command("replies", "poll")


def test_it_ignores_a_bounce_and_a_message_from_ourselves(durand, settings):
    settings.DEFAULT_FROM_EMAIL = "Relance <relance@relance.test>"
    for sender in ("MAILER-DAEMON@mx.acme.test", "relance@relance.test"):
        message = mime("Undelivered", "...", to="relances@acme.test", message_id=f"<{sender}>")
        message.replace_header("From", sender)
        assert intake.receive(intake.incoming(message), source="test").status == intake.IGNORED
    assert not Reply.objects.exists()


def test_it_flags_what_it_read_without_a_done_folder_and_counts_a_message_once_across_ways(
    client, imap_server, monkeypatch, durand
):
    _, port = imap_server
    post(client, postmark(message_id="<both-ways@durand.test>"))  # the webhook had it first
    deliver(port, mime("RE: Relance", "Nous réglerons le 15 décembre.", to="relances@acme.test",
                       message_id="<both-ways@durand.test>"))  # fmt: skip
    for name, value in {
        "RELANCE_IMAP_HOST": "127.0.0.1", "RELANCE_IMAP_PORT": str(port),
        "RELANCE_IMAP_USER": "replies", "RELANCE_IMAP_PASSWORD": "s3cret",
        "RELANCE_IMAP_SECURITY": "none",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RELANCE_IMAP_DONE_FOLDER", raising=False)

    first, again = StringIO(), StringIO()
    call_command("replies", "poll", "--json", stdout=first)
    call_command("replies", "poll", "--json", stdout=again)

    assert json.loads(first.getvalue())["duplicate"] == 1
    assert json.loads(again.getvalue())["fetched"] == 0  # still there, remembered by UID
    [left] = flags(port, "INBOX")
    assert "\\Seen" in left and "\\Flagged" not in left
    assert Reply.objects.count() == 1
