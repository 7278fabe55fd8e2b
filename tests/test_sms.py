"""Text messages through Vonage's SMS API, against a server on loopback that speaks it:
what leaves, its segments and sender, errors, opt-out, and signed delivery receipts and
inbound STOPs coming back."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import time
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from relance.audit.models import AuditEvent
from relance.channels import registry
from relance.channels.models import MessageTemplate, SmsOptOut, SmsReceipt
from relance.channels.sms import clean_sender, numbers, vonage
from relance.dunning import outbox
from relance.dunning.models import CommStatus, Task
from relance.ledger.models import Contact, TimelineEvent

PARIS = ZoneInfo("Europe/Paris")
TODAY = date(2026, 11, 23)
KEY, SECRET, SIGNING = "abcd1234", "api-secret-42", "signature-secret-99"
GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)


def md5_signature(params, secret):
    """Vonage's default signature, written here from its documentation, apart from ours."""
    signed = "".join(
        "&{}={}".format(k, str(v).replace("&", "_").replace("=", "_"))
        for k, v in sorted(params.items())
        if k != "sig"
    )
    return hashlib.md5((signed + secret).encode()).hexdigest()


# -- a server that speaks Vonage's SMS API --------------------------------------------------


class FakeVonage:
    """``POST /sms/json`` as Vonage answers it. ``behaviour[number]`` makes a number fail:
    "throttled" (status 1), "invalid" (6), "barred" (7), "drop" (the connection closed
    once the request is read: no answer)."""

    def __init__(self):
        self.requests: list[dict[str, str]] = []
        self.behaviour: dict[str, str] = {}
        self.signed = False
        self.ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length).decode()
                if self.path != "/sms/json":
                    return self.answer(404, {"error": "not found"})
                if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                    return self.answer(400, {"error": "form expected"})
                form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
                fake.requests.append(form)
                if fake.behaviour.get(form.get("to")) == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                return self.answer(200, fake.answer(form))

            def answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def error(status, text):
        return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}

    def answer(self, form):
        missing = [f for f in ("api_key", "from", "to", "text") if not form.get(f)]
        if missing:
            return self.error("2", f"Missing {missing[0]}")
        if form["api_key"] != KEY:
            return self.error("4", "Bad Credentials")
        if self.signed:
            if "api_secret" in form:
                return self.error("32", "Signature and API secret given")
            if form.get("sig") != md5_signature(form, SIGNING):
                return self.error("14", "Invalid Signature")
        elif form.get("api_secret") != SECRET:
            return self.error("4", "Bad Credentials")
        if not form["to"].isdigit() or not 8 <= len(form["to"]) <= 15:
            return self.error("3", "Invalid to param")
        sender = form["from"]
        if not (sender.isdigit() or (len(sender) <= 11 and sender.replace(" ", "").isalnum())):
            return self.error("15", "Illegal Sender Address - rejected")
        unicode = form.get("type") == "unicode"
        if not unicode and not set(form["text"]) <= GSM:
            return self.error("3", "Text outside GSM-7 sent as type=text")
        if len(form.get("client-ref", "")) > 100:
            return self.error("3", "client-ref too long")
        behaviour = self.behaviour.get(form["to"])
        if behaviour == "throttled":
            return self.error("1", "Throughput Rate Exceeded - please wait [ 1000 ] and retry")
        if behaviour == "invalid":
            return self.error("6", "Unroutable message - rejected")
        if behaviour == "barred":
            return self.error("7", "Number barred")
        size = (
            len(form["text"])
            if unicode
            else sum(2 if c in "^{}\\[~]|€\f" else 1 for c in form["text"])
        )
        single, each = (70, 67) if unicode else (160, 153)
        parts = 1 if size <= single else math.ceil(size / each)
        messages = [
            {
                "to": form["to"],
                "message-id": f"{next(self.ids):016X}",
                "status": "0",
                "remaining-balance": "12.34000000",
                "message-price": "0.07600000",
                "network": "20801",
                "client-ref": form.get("client-ref", ""),
            }
            for _ in range(parts)
        ]
        return {"message-count": str(parts), "messages": messages}

    def receipt(self, request, status="delivered", err_code="0", *, at=None, part=0):
        """The delivery receipt Vonage posts for the ``part``-th segment of a request, signed
        with the account's signature secret."""
        stamp = int(at if at is not None else time.time())
        params = {
            "msisdn": request["to"],
            "to": request["from"],
            "network-code": "20801",
            "messageId": f"{part + 1:016X}",
            "price": "0.07600000",
            "status": status,
            "scts": "2611230931",
            "err-code": err_code,
            "api-key": KEY,
            "client-ref": request.get("client-ref", ""),
            "message-timestamp": "2026-11-23 08:31:00",
            "timestamp": str(stamp),
            "nonce": "3c1b5a2e-1f0b-4a59-9c7a-42d1f2c3b4a5",
        }
        params["sig"] = md5_signature(params, SIGNING)
        return params

    def inbound(self, number, text, *, at=None):
        params = {
            "msisdn": number, "to": "33700000000", "messageId": "0B00000012345678",
            "text": text, "type": "text", "keyword": text.split()[0].upper() if text else "",
            "api-key": KEY, "message-timestamp": "2026-11-23 08:40:00",
            "timestamp": str(int(at if at is not None else time.time())), "nonce": "n-1",
        }  # fmt: skip
        params["sig"] = md5_signature(params, SIGNING)
        return params


@pytest.fixture
def vonage_api():
    fake = FakeVonage()
    yield fake
    fake.stop()


@pytest.fixture
def provider(settings, vonage_api):
    """Texts through the fake Vonage, its webhooks signed with the signature secret."""
    settings.VONAGE_BASE_URL = vonage_api.url
    settings.VONAGE_API_SECRET = SECRET
    settings.VONAGE_SIGNATURE_SECRET = SIGNING
    settings.VONAGE_SIGNATURE_METHOD = "md5hash"
    settings.RELANCE_SMS_CALLBACK_URL = "https://relance.example/sms/vonage/receipt/"
    settings.RELANCE_SEND_BACKOFF = [60, 300]
    settings.VONAGE_API_KEY = KEY  # last: the channel registers itself with a key and secret
    assert registry.get("sms") is not None
    return vonage_api


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS), tick=True)


@pytest.fixture
def acme(org):
    org.phone = "01 23 45 67 89"
    org.save()
    return org


@pytest.fixture
def durand(acme):
    cust = make.customer(acme, "C001", legal_name="Durand Bâtiment SARL", language="fr")
    make.mobile_contact(cust, "Jeanne Durand", "06 12 34 56 78")
    return cust


def overdue(cust, number="F-1", amount="1234.50"):
    return make.invoice(cust, number, due=date(2026, 10, 15), amount=amount)


def text_step(cust, invoices, template="first_reminder", **fields):
    return make.communication(cust, invoices, on=TODAY, channel="sms", template=template, **fields)


def events(kind):
    return list(TimelineEvent.objects.filter(kind=kind).order_by("pk"))


# -- sending ------------------------------------------------------------------------------


def test_it_sends_a_reminder_by_text_and_records_its_delivery_from_a_signed_receipt(
    provider, durand
):
    client = Client(enforce_csrf_checks=True)  # as Vonage: no CSRF token, no session
    comm = text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}

    [sent] = provider.requests
    assert sent["to"] == "33612345678" and sent["from"] == "Acme"
    assert sent["api_key"] == KEY and sent["api_secret"] == SECRET
    assert sent["callback"] == "https://relance.example/sms/vonage/receipt/"
    # "impayée", "réglé" are GSM-7; the amount's no-break spaces are sent as spaces.
    assert sent["type"] == "text" and "(1 234,50 €)" in sent["text"]
    assert sent["text"].startswith("Acme Industrie SAS : sauf erreur, la facture F-1 reste impayée")
    assert "01 23 45 67 89" in sent["text"]
    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT
    assert comm.recipient == "+33612345678" and comm.message_id == sent["client-ref"]
    assert comm.sent_text == sent["text"]
    [event] = events("communication_sent")
    assert event.data["messages"] == {"+33612345678": ["0000000000000001", "0000000000000002"]}
    assert event.data["segments"] == 2 and event.data["encoding"] == "GSM-7"

    receipt = provider.receipt(sent, "delivered")
    assert client.post("/sms/vonage/receipt/", receipt).status_code == 204
    assert client.post("/sms/vonage/receipt/", receipt).status_code == 204  # sent twice
    second_part = provider.receipt(sent, "delivered", part=1)
    assert client.get("/sms/vonage/receipt/", second_part).status_code == 204  # as GET too

    [delivered] = events("sms_delivered")
    assert delivered.customer_id == durand.pk and "+33612345678" in delivered.summary
    assert SmsReceipt.objects.get().outcome == "delivered"
    assert AuditEvent.objects.filter(action="webhook.sms_delivered").count() == 1


def test_it_gives_a_person_a_task_when_a_text_is_not_delivered(provider, durand, client):
    text_step(durand, [overdue(durand)])
    outbox.send_due(today=TODAY)
    [sent] = provider.requests

    failed = provider.receipt(sent, "failed", "7")  # handset busy: the number is fine
    assert client.post("/sms/vonage/receipt/", failed).status_code == 204
    assert client.post("/sms/vonage/receipt/", failed).status_code == 204

    [event] = events("sms_failed")
    assert "handset busy" in event.summary
    [task] = Task.objects.filter(kind="send_failed")
    assert task.customer_id == durand.pk and "+33612345678" in task.title
    assert Contact.objects.get().phone_valid


def test_it_marks_a_number_invalid_when_the_network_says_it_is_gone(provider, durand, client):
    text_step(durand, [overdue(durand)])
    outbox.send_due(today=TODAY)
    [sent] = provider.requests

    gone = provider.receipt(sent, "failed", "3")  # absent subscriber, for good
    assert client.post("/sms/vonage/receipt/", json.dumps(gone),
                       content_type="application/json").status_code == 204  # fmt: skip

    assert not Contact.objects.get().phone_valid
    [task] = Task.objects.filter(kind="invalid_phone")
    assert "+33612345678" in task.title and task.customer_id == durand.pk


def test_it_sends_in_the_customers_language_and_the_organisations_own_wording(
    provider, durand, acme
):
    durand.language = "en"
    durand.save()
    text_step(durand, [overdue(durand)])
    MessageTemplate.objects.create(
        organisation=acme, channel="sms", language="fr", slug="thanks", part="txt",
        body="{{ organisation.name }} : paiement reçu pour {{ lines.0.number }}, merci.",
    )  # fmt: skip
    other = make.customer(acme, "C002", legal_name="Martin SA", language="fr")
    make.mobile_contact(other, "Paul Martin", "+33 7 11 22 33 44")
    paid = overdue(other, "F-9")
    make.pay(paid, "1234.50", on=TODAY)
    text_step(other, [paid], template="thanks", purpose="thanks")

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 2}

    english, thanks = provider.requests
    assert english["text"].startswith("Acme Industrie SAS: our records show invoice F-1 unpaid")
    assert english["type"] == "text"  # plain GSM-7: "€1,234.50"
    assert thanks == thanks | {
        "to": "33711223344", "type": "unicode",  # ç is not GSM-7 (Ç is)
        "text": "Acme Industrie SAS : paiement reçu pour F-9, merci.",
    }  # fmt: skip


def test_it_keeps_a_long_text_within_the_cap_in_gsm_7(provider, durand, settings):
    settings.RELANCE_SMS_MAX_SEGMENTS = 1
    text_step(durand, [overdue(durand)])

    outbox.send_due(today=TODAY)

    [sent] = provider.requests
    assert sent["type"] == "text" and len(sent["text"]) <= 160
    assert sent["text"].startswith("Acme Industrie SAS : sauf erreur, la facture F-1 reste impayée")
    assert "1 234,50 €" in sent["text"]  # the no-break spaces written as spaces


def test_it_sends_under_a_forced_number_and_signs_its_requests(provider, durand, settings):
    settings.RELANCE_SMS_FROM_NUMBER = "+33 7 00 00 00 00"
    settings.VONAGE_SIGN_REQUESTS = True
    provider.signed = True
    text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}

    [sent] = provider.requests
    assert sent["from"] == "33700000000" and "api_secret" not in sent
    assert sent["sig"] == md5_signature(sent, SIGNING)


def test_it_writes_the_sender_name_as_networks_accept_it():
    assert clean_sender("Acme Industrie SAS") == "Acme"
    assert clean_sender("Société Générale d'Éts") == "Societe"
    assert clean_sender("Ébénisterie Dupré & Fils") == "Ebenisterie"
    assert clean_sender("Les Bâtisseurs du Rhône") == "Les"
    assert clean_sender("BTP 2000") == "BTP 2000"
    assert clean_sender("Établissementsmartin") == "Etablisseme"
    assert clean_sender("2000") == "" and clean_sender("—") == ""


def test_it_uses_the_organisations_sender_name(provider, durand, acme):
    acme.sender_name = "Acme Pro"
    acme.save()
    text_step(durand, [overdue(durand)])
    outbox.send_due(today=TODAY)
    assert provider.requests[0]["from"] == "Acme Pro"


# -- errors -------------------------------------------------------------------------------


def test_it_tries_a_throttled_text_again_later(provider, durand, time_machine):
    comm = text_step(durand, [overdue(durand)])
    provider.behaviour["33612345678"] = "throttled"

    assert outbox.send_due(today=TODAY).as_dict() == {"deferred": 1}
    comm.refresh_from_db()
    assert (comm.status, comm.attempts) == (CommStatus.QUEUED, 1)
    assert "throttled" in comm.last_error

    del provider.behaviour["33612345678"]
    time_machine.shift(61)
    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}
    assert len(provider.requests) == 2


def test_it_fails_a_text_to_a_number_vonage_refuses(provider, durand):
    comm = text_step(durand, [overdue(durand)])
    provider.behaviour["33612345678"] = "invalid"

    assert outbox.send_due(today=TODAY).as_dict() == {"failed": 1}

    comm.refresh_from_db()
    assert comm.status == CommStatus.FAILED and "6 invalid message" in comm.last_error
    assert not Contact.objects.get().phone_valid
    assert Task.objects.filter(kind="invalid_phone").count() == 1
    assert Task.objects.filter(key=f"send_failed:{comm.pk}").exists()


def test_it_sends_to_the_numbers_that_accept_and_reports_the_others(provider, durand):
    make.mobile_contact(durand, "Marc Durand", "07 98 76 54 32")
    provider.behaviour["33798765432"] = "barred"
    comm = text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}

    comm.refresh_from_db()
    assert comm.recipient == "+33612345678, +33798765432"
    event = events("communication_sent")[0]
    assert list(event.data["not_sent"]) == ["+33798765432"]
    assert not Contact.objects.get(name="Marc Durand").phone_valid
    assert Contact.objects.get(name="Jeanne Durand").phone_valid


def test_it_never_resends_a_text_whose_answer_was_lost(provider, durand):
    comm = text_step(durand, [overdue(durand)])
    provider.behaviour["33612345678"] = "drop"

    assert outbox.send_due(today=TODAY).as_dict() == {"ambiguous": 1}

    comm.refresh_from_db()
    assert comm.status == CommStatus.AMBIGUOUS
    assert Task.objects.filter(key=f"ambiguous:{comm.pk}").exists()


def test_it_defers_a_text_when_vonage_cannot_be_reached(provider, durand, settings):
    provider.stop()
    comm = text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"deferred": 1}
    comm.refresh_from_db()
    assert comm.status == CommStatus.QUEUED and "cannot reach Vonage" in comm.last_error


def answer(code, text="error"):
    return json.dumps({"message-count": "1", "messages": [{"status": code, "error-text": text}]})


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, answer("1", "Throttled"), "transient"),
        (200, answer("9", "Partner Quota Violation"), "transient"),
        (200, answer("4", "Bad Credentials"), "transient"),
        (200, answer("7", "Number barred"), "permanent"),
        (200, answer("12", "Message too long"), "permanent"),
        (200, answer("99"), "permanent"),
        (200, "<html>gateway</html>", "ambiguous"),
        (429, "", "transient"),
        (500, "", "ambiguous"),
        (401, "", "permanent"),
    ],
)
def test_it_classifies_vonages_answers(status, body, kind):
    with pytest.raises(vonage.TransportError) as raised:
        vonage.read_answer(status, body, "+33612345678")
    assert raised.value.kind == kind


def test_it_takes_a_text_of_which_some_segments_were_accepted_as_sent():
    body = json.dumps({"message-count": "2", "messages": [
        {"status": "0", "message-id": "A1", "remaining-balance": "1.00"},
        {"status": "5", "error-text": "Internal Error"},
    ]})  # fmt: skip
    assert vonage.read_answer(200, body, "+33612345678").message_ids == ("A1",)


# -- recipients and opt-out ---------------------------------------------------------------


def test_it_hands_a_customer_without_a_mobile_to_a_person(provider, acme):
    office = make.customer(acme, "C003", legal_name="Bureau SA", phone="01 44 55 66 77")
    make.mobile_contact(office, "Standard", "04 72 00 00 00")
    comm = text_step(office, [overdue(office)])

    assert outbox.send_due(today=TODAY).as_dict() == {"no_address": 1}

    comm.refresh_from_db()
    assert comm.last_error == "no valid mobile number for Bureau SA"
    task = Task.objects.get(key=f"no_mobile:{office.pk}")
    assert task.kind == "no_mobile" and "Bureau SA" in task.title
    assert provider.requests == []


def test_it_does_not_text_a_number_that_opted_out(provider, durand, acme):
    out = StringIO()
    call_command("sms", "optout", "06 12 34 56 78", "--org", "acme", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "organisation": "acme", "number": "+33612345678", "opted_out": True, "changed": True,
    }  # fmt: skip
    comm = text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"no_address": 1}

    assert provider.requests == []
    comm.refresh_from_db()
    assert "opted out of text messages" in comm.last_error
    assert Task.objects.get(kind="no_mobile").customer_id == durand.pk
    assert AuditEvent.objects.filter(action="sms.opted_out").count() == 1

    out = StringIO()
    call_command("sms", "optout", "+33612345678", "--undo", "--org", "acme", "--json", stdout=out)
    assert json.loads(out.getvalue())["opted_out"] is False
    assert not SmsOptOut.objects.exists()


def test_it_texts_the_others_when_one_number_opted_out(provider, durand, acme):
    make.mobile_contact(durand, "Marc Durand", "+33798765432")
    call_command("sms", "optout", "0612345678", "--org", "acme", stdout=StringIO())
    text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}
    assert [r["to"] for r in provider.requests] == ["33798765432"]


def test_it_refuses_an_opt_out_for_a_number_it_cannot_read(acme):
    with pytest.raises(CommandError, match="not a phone number"):
        call_command("sms", "optout", "call me", "--org", "acme", stdout=StringIO())
    assert not SmsOptOut.objects.exists()


def test_it_opts_out_a_number_that_texts_stop(provider, durand, client, other_org):
    stop = provider.inbound("33612345678", "Stop")
    assert client.post("/sms/vonage/inbound/", stop).status_code == 204
    assert client.post("/sms/vonage/inbound/", stop).status_code == 204

    opted = SmsOptOut.objects.get()
    assert (opted.organisation, opted.number, opted.source) == (None, "+33612345678", "inbound")
    text_step(durand, [overdue(durand)])
    assert outbox.send_due(today=TODAY).as_dict() == {"no_address": 1}
    # An organisation cannot lift a STOP the number texted: only its START does.
    call_command("sms", "optout", "0612345678", "--undo", "--org", "acme", stdout=StringIO())
    assert SmsOptOut.objects.exists()
    start = provider.inbound("33612345678", "START")
    assert client.post("/sms/vonage/inbound/", start).status_code == 204
    assert not SmsOptOut.objects.exists()


# -- the webhooks' signatures -------------------------------------------------------------


def test_it_computes_signatures_as_vonage_publishes_them():
    # The example of Vonage's own client library (vonage-python-sdk's tests).
    params = {"a": "1", "b": "2", "timestamp": "1461605396"}
    assert vonage.signature(params, "secret") == "6af838ef94998832dbfc29020b564830"
    hmac = vonage.signature(params, "secret", "sha256")
    assert len(hmac) == 64 and hmac != vonage.signature(params, "other", "sha256")


def test_it_refuses_receipts_and_stops_not_signed_with_our_secret(provider, durand, client):
    text_step(durand, [overdue(durand)])
    outbox.send_due(today=TODAY)
    [sent] = provider.requests
    good = provider.receipt(sent, "failed", "3")
    stop = provider.inbound("33612345678", "STOP")

    forged = good | {"sig": md5_signature(good, "guessed")}
    tampered = good | {"msisdn": "33699999999"}
    unsigned = {k: v for k, v in good.items() if k != "sig"}
    stale = provider.receipt(sent, "failed", "3", at=time.time() - 3600)
    for params in (forged, tampered, unsigned, stale, stop | {"text": "STOP", "keyword": "STAR"}):
        assert client.post("/sms/vonage/receipt/", params).status_code == 403
    assert client.post("/sms/vonage/inbound/", stop | {"sig": "0" * 32}).status_code == 403

    assert not SmsReceipt.objects.exists() and not SmsOptOut.objects.exists()
    assert Contact.objects.get().phone_valid
    assert AuditEvent.objects.filter(action="webhook.refused").count() == 6


def test_it_checks_hmac_signatures_when_the_account_uses_them(provider, durand, client, settings):
    settings.VONAGE_SIGNATURE_METHOD = "sha256"
    text_step(durand, [overdue(durand)])
    outbox.send_due(today=TODAY)
    params = provider.receipt(provider.requests[0], "delivered")
    assert client.post("/sms/vonage/receipt/", params).status_code == 403  # md5hash-signed
    params["sig"] = vonage.signature(params, SIGNING, "sha256").upper()
    assert client.post("/sms/vonage/receipt/", params).status_code == 204


def test_it_closes_the_webhooks_until_a_signature_secret_is_set(provider, client, settings, db):
    settings.VONAGE_SIGNATURE_SECRET = ""
    stop = provider.inbound("33612345678", "STOP")
    assert client.post("/sms/vonage/inbound/", stop).status_code == 404
    assert client.post("/sms/vonage/receipt/", {}).status_code == 404
    assert not SmsOptOut.objects.exists()


# -- without a provider -------------------------------------------------------------------


def test_it_hands_text_steps_to_a_person_while_no_provider_is_configured(durand, settings):
    settings.VONAGE_API_KEY = ""
    assert registry.get("sms") is None
    comm = text_step(durand, [overdue(durand)])

    assert outbox.send_due(today=TODAY).as_dict() == {"handed_over": 1}

    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT
    task = Task.objects.get(key=f"comm:{comm.pk}")
    assert task.kind == "sms"
    assert task.title.startswith("Envoyer un SMS à Durand Bâtiment SARL pour une facture,")


# -- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("07.98.76.54.32", "FR", "+33798765432"),
        ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
        ("0033612345678", "BE", "+33612345678"),
        ("0470 12 34 56", "BE", "+32470123456"),
        ("+44 7700 900123", "FR", "+447700900123"),
        ("0690 12 34 56", "GP", "+590690123456"),
        ("+1 415 555 0100", "FR", "+14155550100"),  # a country we know nothing of: accepted
    ],
)
def test_it_writes_mobile_numbers_in_e164(raw, country, e164):
    assert numbers.normalise(raw, country) == e164


@pytest.mark.parametrize(
    "raw",
    ["01 44 55 66 77", "+33 1 44 55 66 77", "09 70 00 00 00", "08 00 00 00 00", "06 12 34",
     "+33 6 12 34 56 78 90", "", "call me", "+44 20 7946 0000", "+32 2 123 45 67"],
)  # fmt: skip
def test_it_refuses_numbers_that_cannot_receive_a_text(raw):
    with pytest.raises(numbers.NotMobile):
        numbers.normalise(raw, "FR")


def test_it_shows_a_text_awaiting_approval_as_it_would_leave(provider, durand, acme):
    comm = text_step(durand, [overdue(durand)], status=CommStatus.AWAITING_APPROVAL)
    out = StringIO()
    call_command("outbox", "show", str(comm.pk), "--org", "acme", "--json", stdout=out)
    shown = json.loads(out.getvalue())
    assert shown["headers"]["From"] == "Acme" and shown["headers"]["To"] == "+33612345678"
    assert shown["headers"]["Subject"] == "SMS, GSM-7, 2 segment(s)"
    assert shown["text"].startswith("Acme Industrie SAS : sauf erreur, la facture F-1")
    assert provider.requests == []
