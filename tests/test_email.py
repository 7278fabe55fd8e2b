"""The outbox and e-mail against a real SMTP server on loopback: what the debtor receives,
the re-check at send time, retries, refusals, interrupted sends and bounces."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import parseaddr
from zoneinfo import ZoneInfo

import factories as make
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from relance.channels import registry
from relance.dunning import batch, outbox
from relance.dunning.bounces import record_bounce
from relance.dunning.models import (
    CommStatus,
    Communication,
    Rate,
    Task,
)
from relance.ledger.models import (
    Attachment,
    Contact,
    TimelineEvent,
)

PARIS = ZoneInfo("Europe/Paris")
TODAY = date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS), tick=True)
    return time_machine


@pytest.fixture
def acme(org):
    org.email = "compta@acme.test"
    org.phone = "01 23 45 67 89"
    org.save()
    return org


def customer(org, reference, *, language="fr", email="", contacts=()):
    cust = make.customer(
        org, reference, legal_name=f"Client {reference}", language=language, email=email
    )
    for name, address, primary in contacts:
        make.contact(cust, name, address, primary=primary)
    return cust


def invoice(cust, number, amount, *, balance=None, due=date(2026, 10, 15), currency="EUR"):
    """An invoice of ``amount``; with ``balance``, the rest was paid on its due date."""
    inv = make.invoice(cust, number, due=due, amount=amount, currency=currency)
    if balance is not None:
        make.pay(inv, Decimal(amount) - Decimal(balance), on=due)
    return inv


def plan(cust, invoices, *, template="first_reminder", channel="email", run_date=TODAY, **kw):
    return make.communication(cust, invoices, on=run_date, channel=channel, template=template, **kw)


def pdf(inv, content=b"%PDF-1.4 facture\n%%EOF\n"):
    return Attachment.objects.create(
        organisation=inv.organisation,
        invoice=inv,
        kind="invoice_pdf",
        file=ContentFile(content, name=f"{inv.number}.pdf"),
        name=f"{inv.number}.pdf",
        sha256=hashlib.sha256(content).hexdigest(),
    )


@pytest.fixture
def durand(acme):
    return customer(
        acme,
        "C001",
        email="factures@durand.test",
        contacts=[("Marie Durand", "marie@durand.test", True), ("Paul", "paul@durand.test", False)],
    )


# -- what the debtor receives -------------------------------------------------------------


def test_it_sends_a_french_reminder_listing_the_invoices(mail, durand):
    first = invoice(durand, "F-2026-101", "1234.50", balance="1000.00")
    second = invoice(durand, "F-2026-102", "250.00", due=date(2026, 10, 30))
    pdf(first)
    comm = plan(durand, [first, second])

    report = outbox.send_due(today=TODAY)

    assert report.counts["sent"] == 1
    [received] = mail.received
    assert received.rcpt_tos == ["marie@durand.test"]
    message = received.message
    assert parseaddr(message["To"])[1] == "marie@durand.test"
    assert message["Reply-To"] == "Acme Industrie SAS <compta@acme.test>"
    assert parseaddr(message["From"]) == ("Acme Industrie SAS", "relance@relance.test")
    assert received.subject == (
        "Rappel\xa0: 2 factures en attente de règlement – Acme Industrie SAS"
    )
    text = received.text()
    assert text.startswith("Bonjour Marie Durand,")
    assert (
        "- Facture n° F-2026-101 du 15/09/2026\xa0: 1\xa0234,50\xa0€ TTC, échéance le 15/10/2026 "
        "(39 jours de retard), reste dû 1\xa0000,00\xa0€"
    ) in text
    assert "F-2026-102 du 30/09/2026\xa0: 250,00\xa0€ TTC, échéance le 30/10/2026 (24 jours" in text
    assert "Total restant dû\xa0: 1\xa0250,00\xa0€" in text
    assert "Votre référence client\xa0: C001" in text
    assert "40 € par facture (articles L441-10 et D441-5 du Code de commerce)" in text
    assert "compta@acme.test – 01 23 45 67 89" in text
    html = received.html()
    assert "<td" in html and "1\xa0250,00\xa0€" in html and 'lang="fr"' in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "F-2026-101.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4 facture\n%%EOF\n"

    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT
    assert comm.message_id == received.message_id == message["Message-ID"]
    assert comm.message_id.endswith("@relance.test>")
    assert comm.sent_at is not None and comm.recipient == "marie@durand.test"
    assert comm.subject == received.subject
    event = TimelineEvent.objects.get(customer=durand)
    assert event.kind == "communication_sent"
    assert event.data["message_id"] == comm.message_id
    assert event.data["invoices"] == ["F-2026-101", "F-2026-102"]


def test_it_writes_to_an_english_customer_in_english(mail, acme):
    cust = customer(acme, "UK01", language="en", email="ap@northwind.test")
    inv = invoice(cust, "F-2026-201", "1234.50", currency="GBP")
    plan(cust, [inv], template="courtesy")

    outbox.send_due(today=TODAY)

    [received] = mail.received
    assert received.rcpt_tos == ["ap@northwind.test"]  # no contact: the billing address
    assert received.subject == ("Coming due: invoice F-2026-201 – Acme Industrie SAS")
    text = received.text()
    assert text.startswith("Dear Sir or Madam,")
    assert "Invoice F-2026-201 of 15 Sep 2026: £1,234.50 incl. tax, due 15 Oct 2026" in text
    assert "Total outstanding: £1,234.50" in text
    assert "Your customer reference: UK01" in text
    assert "French Commercial Code" in text and "€40 per invoice" in text
    assert "Facture" not in text and 'lang="en"' in received.html()


def test_it_states_the_penalties_due_so_far_in_a_firm_reminder(mail, durand):
    inv = invoice(durand, "F-2026-301", "1000.00")
    plan(durand, [inv], template="firm_reminder")
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")

    outbox.send_due(today=TODAY)

    text = mail.received[0].text()
    # 1,000 EUR x 12.15 % x 39 days (16 October to 23 November) / 365 = 12.98 EUR.
    assert "au taux annuel de 12,15\xa0%" in text
    assert "ces sommes s'élèvent à 12,98\xa0€ de pénalités et 40,00\xa0€ d'indemnité" in text
    assert mail.received[0].subject.startswith("Relance\xa0: facture F-2026-301 impayée")


def test_it_states_the_rule_when_the_rate_of_the_period_is_unknown(mail, durand):
    inv = invoice(durand, "F-2026-302", "1000.00")
    plan(durand, [inv], template="formal_notice")

    outbox.send_due(today=TODAY)

    text = mail.received[0].text()
    assert "taux de refinancement de la Banque centrale européenne majoré de 10 points" in text
    assert "À ce jour" not in text  # no figure guessed for a half-year the tables lack
    assert (
        "nous vous mettons en demeure de nous régler la somme de 1\xa0000,00\xa0€ au plus tard "
        "le 1 décembre 2026, soit dans un délai de 8 jours."
    ) in text


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(
    "template",
    [
        "courtesy",
        "first_reminder",
        "firm_reminder",
        "formal_notice",
        "registered_letter",
        "thanks",
        "no_such_template",
    ],
)
def test_it_renders_every_template_in_both_languages(mail, acme, language, template):
    cust = customer(acme, "T1", language=language, email="t1@example.test")
    paid = template == "thanks"
    inv = invoice(cust, "F-2026-401", "99.90", balance="0" if paid else None)
    plan(cust, [inv], template=template, purpose="thanks" if paid else "reminder")

    outbox.send_due(today=TODAY)

    [received] = mail.received
    subject, text, html = received.subject, received.text(), received.html()
    assert "Acme Industrie SAS" in subject or "T1" in subject
    for part in (subject, text, html):
        assert "{{" not in part and "{%" not in part
    assert "F-2026-401" in text and "F-2026-401" in html
    assert ("99,90\xa0€" if language == "fr" else "€99.90") in text
    assert ("Bien cordialement" if language == "fr" else "Kind regards") in text
    if template in {"formal_notice", "registered_letter"}:
        assert ("1 décembre 2026" if language == "fr" else "1 December 2026") in text
    if template == "registered_letter":
        assert ("lettre recommandée" if language == "fr" else "registered letter") in text


def test_it_threads_a_reminder_under_the_previous_message(mail, durand):
    first = plan(durand, [invoice(durand, "F-1", "100")], run_date=TODAY - timedelta(days=7))
    outbox.send_due(today=TODAY)
    second = plan(durand, [invoice(durand, "F-2", "200")], template="firm_reminder")

    outbox.send_due(today=TODAY)

    first.refresh_from_db()
    second.refresh_from_db()
    later = mail.received[1].message
    assert later["Message-ID"] == second.message_id != first.message_id
    # A long identifier is folded onto its own line, as compat32 folds it: the folding
    # white space is not part of the identifier (RFC 5322, 3.6.4).
    assert later["In-Reply-To"].split() == [first.message_id]
    assert later["References"].split() == [first.message_id]
    assert mail.received[0].message["In-Reply-To"] is None


# -- re-checked at send time ----------------------------------------------------------------


def test_it_drops_items_settled_since_planning_and_cancels_an_emptied_message(mail, durand, acme):
    paid = invoice(durand, "F-PAID", "500.00")
    disputed = invoice(durand, "F-DISPUTED", "300.00")
    promised = invoice(durand, "F-PROMISED", "200.00")
    due = invoice(durand, "F-DUE", "100.00")
    kept = plan(durand, [paid, disputed, promised, due])
    other = customer(acme, "C002", email="x@other.test")
    elsewhere = invoice(other, "F-OTHER", "80.00")
    emptied = plan(other, [elsewhere])
    # Since planning: a payment leaves less than the minimum, a dispute, a promise.
    make.pay(paid, "499.50", on=TODAY)
    make.pay(elsewhere, "79.50", on=TODAY)
    make.dispute(disputed, on=TODAY)
    make.promise(durand, invoice=promised, promised_on=TODAY - timedelta(days=1))

    report = outbox.send_due(today=TODAY)

    assert report.as_dict() == {"cancelled": 1, "sent": 1}
    [received] = mail.received
    text = received.text()
    assert "F-DUE" in text and "Total restant dû\xa0: 100,00\xa0€" in text
    assert not {"F-PAID", "F-DISPUTED", "F-PROMISED"} & set(text.split())
    reasons = dict(kept.items.values_list("invoice__number", "dropped"))
    assert reasons == {
        "F-PAID": "paid",
        "F-DISPUTED": "disputed",
        "F-PROMISED": "promise",
        "F-DUE": "",
    }
    emptied.refresh_from_db()
    assert emptied.status == CommStatus.CANCELLED and emptied.message_id == ""
    assert emptied.items.get().dropped == "paid"
    assert TimelineEvent.objects.get(customer=other).kind == "communication_cancelled"


def test_it_sends_a_promised_item_once_the_promise_and_its_grace_ran_out(mail, durand, acme):
    inv = invoice(durand, "F-LATE", "100.00")
    plan(durand, [inv])
    make.promise(durand, promised_on=TODAY - timedelta(days=3), grace_days=2)

    outbox.send_due(today=TODAY)

    assert len(mail.received) == 1


def test_it_sends_nothing_more_on_a_second_pass_or_a_repeated_batch(mail, durand):
    comm = plan(durand, [invoice(durand, "F-1", "100")])

    first = outbox.send_due(today=TODAY)
    second = outbox.send_due(today=TODAY)
    repeated = outbox.send_batch([comm.pk, comm.pk], TODAY)  # a task delivered twice

    assert first.counts["sent"] == 1
    assert second.total == 0 and repeated.total == 0
    assert len(mail.received) == 1


def test_it_claims_a_communication_only_once(mail, durand):
    comm = plan(durand, [invoice(durand, "F-1", "100")])
    facts = batch.load([comm], TODAY)
    outgoing = registry.get("email").build(comm, facts.items[comm.pk], TODAY, facts)
    now = timezone.now()

    assert outbox.claim(comm, outgoing, TODAY, now) is True
    assert outbox.claim(comm, outgoing, TODAY, now) is False
    comm.refresh_from_db()
    assert (comm.status, comm.message_id) == (CommStatus.SENDING, outgoing.message_id)


def test_it_waits_for_the_day_a_communication_is_due(mail, durand):
    plan(durand, [invoice(durand, "F-1", "100")], run_date=TODAY + timedelta(days=1))

    assert outbox.send_due(today=TODAY).total == 0
    assert outbox.send_due(today=TODAY + timedelta(days=1)).counts["sent"] == 1


# -- failures ------------------------------------------------------------------------------


def test_it_retries_a_temporary_refusal_with_back_off_then_hands_it_to_a_person(
    mail, durand, clock
):
    mail.recorder.mail_reply = "421 4.3.2 Too busy, try again later"
    comm = plan(durand, [invoice(durand, "F-1", "100")])
    waits = []

    for attempt in range(1, 6):
        assert outbox.send_due(today=TODAY).as_dict() == {"deferred": 1}
        comm.refresh_from_db()
        assert (comm.status, comm.attempts) == (CommStatus.QUEUED, attempt)
        assert comm.message_id == "" and "421" in comm.last_error
        waits.append(comm.next_attempt_at - comm.updated_at)
        assert outbox.send_due(today=TODAY).total == 0  # not before its time
        clock.shift(waits[-1] + timedelta(seconds=1))
    assert waits == list(outbox.BACKOFF)

    assert outbox.send_due(today=TODAY).as_dict() == {"failed": 1}
    comm.refresh_from_db()
    assert (comm.status, comm.attempts) == (CommStatus.FAILED, 6)
    task = Task.objects.get(key=f"send_failed:{comm.pk}")
    assert task.communication == comm and task.customer == durand
    assert mail.received == []
    assert Contact.objects.filter(email_valid=False).count() == 0  # not the address's fault


def test_it_retries_when_the_server_is_down_and_sends_when_it_is_back(mail, durand, clock):
    comms = [plan(durand, [invoice(durand, "F-1", "100")])]
    other = customer(durand.organisation, "C009", email="a@c009.test")
    comms.append(plan(other, [invoice(other, "F-9", "100")]))
    mail.stop()

    assert outbox.send_due(today=TODAY).as_dict() == {"deferred": 2}
    assert {c.status for c in Communication.objects.all()} == {CommStatus.QUEUED}
    mail.start()
    clock.shift(timedelta(seconds=61))

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 2}
    assert mail.recorder.connections == 1  # both over one connection
    assert sorted(mail.recorder.message_ids()) == sorted(
        Communication.objects.values_list("message_id", flat=True)
    )


def test_it_retries_when_the_connection_drops_before_the_message_left(mail, durand, clock):
    comm = plan(durand, [invoice(durand, "F-1", "100")])
    mail.recorder.mail_reply = None
    original = mail.recorder.handle_MAIL

    async def hang_up(server, session, envelope, address, options):
        server.transport.abort()
        return "250 OK"

    mail.recorder.handle_MAIL = hang_up

    assert outbox.send_due(today=TODAY).as_dict() == {"deferred": 1}
    mail.recorder.handle_MAIL = original
    clock.shift(timedelta(seconds=61))
    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}
    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT and comm.attempts == 1
    assert mail.recorder.message_ids() == [comm.message_id]


def test_it_marks_a_refused_address_invalid_and_asks_for_a_better_one(mail, durand):
    mail.recorder.refuse["marie@durand.test"] = "550 5.1.1 No such mailbox"
    comm = plan(durand, [invoice(durand, "F-1", "100")])

    assert outbox.send_due(today=TODAY).as_dict() == {"failed": 1}

    comm.refresh_from_db()
    assert comm.status == CommStatus.FAILED and "550" in comm.last_error
    marie = Contact.objects.get(email="marie@durand.test")
    assert marie.email_valid is False
    assert Contact.objects.get(email="paul@durand.test").email_valid is True
    assert Task.objects.filter(key=f"send_failed:{comm.pk}").exists()
    assert Task.objects.filter(key__startswith=f"invalid_email:{marie.pk}:").count() == 1
    assert mail.received == []
    # The next message goes to the billing address instead.
    plan(durand, [invoice(durand, "F-2", "100")], run_date=TODAY + timedelta(days=1))
    outbox.send_due(today=TODAY + timedelta(days=1))
    assert mail.received[0].rcpt_tos == ["factures@durand.test"]


def test_it_keeps_a_message_sent_to_the_recipients_that_accepted_it(mail, acme):
    cust = customer(acme, "C2", contacts=[("A", "a@two.test", True), ("B", "b@two.test", True)])
    mail.recorder.refuse["b@two.test"] = "550 5.1.1 No such mailbox"
    comm = plan(cust, [invoice(cust, "F-1", "100")])

    assert outbox.send_due(today=TODAY).as_dict() == {"sent": 1}

    assert mail.received[0].rcpt_tos == ["a@two.test"]
    assert dict(Contact.objects.values_list("email", "email_valid")) == {
        "a@two.test": True,
        "b@two.test": False,
    }
    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT


def test_it_fails_a_message_the_server_refuses_for_good(mail, durand):
    mail.recorder.data_reply = "554 5.6.0 Message refused"
    comm = plan(durand, [invoice(durand, "F-1", "100")])

    assert outbox.send_due(today=TODAY).as_dict() == {"failed": 1}
    comm.refresh_from_db()
    assert comm.status == CommStatus.FAILED and comm.attempts == 1
    assert Contact.objects.filter(email_valid=False).count() == 0


def test_it_gives_a_customer_without_any_address_a_task_not_a_failure(mail, acme):
    cust = customer(acme, "C3")
    comm = plan(cust, [invoice(cust, "F-1", "100")])
    later = plan(cust, [invoice(cust, "F-2", "100")], run_date=TODAY + timedelta(days=1))

    assert outbox.send_due(today=TODAY).as_dict() == {"no_address": 1}
    comm.refresh_from_db()
    # Handed to a person, like a call: not a failure, and the reason kept.
    assert comm.status == CommStatus.SENT and "no valid e-mail" in comm.last_error
    assert not Task.objects.filter(key__startswith="send_failed").exists()
    task = Task.objects.get(key=f"no_email:{cust.pk}")
    assert (task.customer, task.kind, task.status) == (cust, "no_email", "open")
    assert task.title.startswith("Pas d'adresse e-mail pour Client C3")  # the org's language
    # Once per customer: the next message joins the same open task.
    assert outbox.send_due(today=TODAY + timedelta(days=1)).as_dict() == {"no_address": 1}
    task = Task.objects.get(customer=cust)
    assert task.data["communications"] == [comm.pk, later.pk]
    assert task.data["invoices"] == ["F-1", "F-2"]
    assert not mail.received


# -- interrupted sends: at most once -------------------------------------------------------


def test_it_never_retries_a_message_whose_connection_died_after_it_left(mail, durand):
    mail.recorder.drop_after_data = True
    comm = plan(durand, [invoice(durand, "F-1", "100")])

    assert outbox.send_due(today=TODAY).as_dict() == {"ambiguous": 1}
    mail.recorder.drop_after_data = False
    assert outbox.send_due(today=TODAY).total == 0

    comm.refresh_from_db()
    assert comm.status == CommStatus.AMBIGUOUS
    assert mail.recorder.message_ids() == [comm.message_id]  # it did arrive, once
    task = Task.objects.get(key=f"ambiguous:{comm.pk}")
    assert task.data["message_id"] == comm.message_id


def test_it_marks_a_stale_send_ambiguous_and_never_resends_it(mail, durand, clock):
    stale = plan(durand, [invoice(durand, "F-1", "100")])
    fresh = plan(durand, [invoice(durand, "F-2", "100")], run_date=TODAY - timedelta(days=1))
    now = timezone.now()
    Communication.objects.filter(pk=stale.pk).update(
        status=CommStatus.SENDING, claimed_at=now - timedelta(minutes=11), message_id="<a@b>"
    )
    Communication.objects.filter(pk=fresh.pk).update(
        status=CommStatus.SENDING, claimed_at=now - timedelta(minutes=1), message_id="<c@d>"
    )

    assert outbox.send_due(today=TODAY).as_dict() == {"ambiguous": 1}
    clock.shift(timedelta(minutes=5))
    assert outbox.send_due(today=TODAY).total == 0

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == CommStatus.AMBIGUOUS
    assert fresh.status == CommStatus.SENDING  # a live worker may still be on it
    assert Task.objects.filter(key=f"ambiguous:{stale.pk}").count() == 1
    assert not Task.objects.filter(key=f"ambiguous:{fresh.pk}").exists()
    assert TimelineEvent.objects.filter(kind="communication_ambiguous").count() == 1
    assert mail.received == []


# -- channels handed to people -------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "title"),
    # Tasks are written in the installation's language (French by default). Letters are
    # written and filed for printing (tests/test_letters.py).
    [("call", "Appeler Client C001")],
)
def test_it_hands_calls_to_a_person(mail, durand, channel, title):
    comm = plan(durand, [invoice(durand, "F-1", "100")], channel=channel, template="formal_notice")

    assert outbox.send_due(today=TODAY).as_dict() == {"handed_over": 1}

    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT
    task = Task.objects.get(key=f"comm:{comm.pk}")
    assert task.kind == channel and task.title.startswith(title)
    assert task.data["invoices"] == ["F-1"]
    assert mail.received == []


def test_it_hands_a_text_message_to_a_person_until_a_provider_exists(mail, durand):
    comm = plan(durand, [invoice(durand, "F-1", "100")], channel="sms")

    assert outbox.send_due(today=TODAY).as_dict() == {"handed_over": 1}
    comm.refresh_from_db()
    assert comm.status == CommStatus.SENT
    assert Task.objects.get(key=f"comm:{comm.pk}").kind == "sms"


# -- bounces -------------------------------------------------------------------------------


def test_it_records_a_bounce_against_the_message_and_its_address(mail, durand):
    comm = plan(durand, [invoice(durand, "F-1", "100")])
    outbox.send_due(today=TODAY)
    comm.refresh_from_db()

    result = record_bounce(message_id=comm.message_id, permanent=True, reason="550 unknown user")

    marie = Contact.objects.get(email="marie@durand.test")
    assert result.communication_id == comm.pk and result.invalidated == [marie.pk]
    assert marie.email_valid is False
    assert Task.objects.filter(key__startswith=f"invalid_email:{marie.pk}:").count() == 1
    assert TimelineEvent.objects.filter(customer=durand, kind="email_bounced").count() == 1


def test_it_only_notes_a_temporary_bounce(mail, durand):
    plan(durand, [invoice(durand, "F-1", "100")])
    outbox.send_due(today=TODAY)

    record_bounce(recipient="MARIE@durand.test", permanent=False, reason="mailbox full")

    assert Contact.objects.get(email="marie@durand.test").email_valid is True
    assert TimelineEvent.objects.filter(kind="email_delayed").count() == 1
    assert not Task.objects.exists()


def test_it_takes_bounces_from_the_providers_webhooks(mail, durand):
    from anymail.signals import AnymailTrackingEvent, tracking

    import relance.dunning
    from relance.dunning.apps import DunningConfig

    DunningConfig("relance.dunning", relance.dunning).ready()
    plan(durand, [invoice(durand, "F-1", "100")])
    outbox.send_due(today=TODAY)

    tracking.send(
        sender=object,
        event=AnymailTrackingEvent(
            event_type="opened", message_id="provider-1", recipient="marie@durand.test"
        ),
        esp_name="Test",
    )
    assert Contact.objects.get(email="marie@durand.test").email_valid is True
    tracking.send(
        sender=object,
        event=AnymailTrackingEvent(
            event_type="bounced",
            message_id="provider-1",
            recipient="marie@durand.test",
            description="Mailbox does not exist",
        ),
        esp_name="Test",
    )
    assert Contact.objects.get(email="marie@durand.test").email_valid is False
    assert Task.objects.filter(kind="invalid_email").count() == 1


# -- through the task queue ---------------------------------------------------------------


def test_it_enqueues_due_communications_in_batches(mail, acme, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    from relance.dunning.queue import enqueue_due

    for n in range(5):
        cust = customer(acme, f"B{n}", email=f"b{n}@batch.test")
        plan(cust, [invoice(cust, f"F-B{n}", "100")])

    assert enqueue_due(TODAY, batch_size=2) == 3
    assert enqueue_due(TODAY, batch_size=2) == 0  # sent: nothing left to hand out

    assert Communication.objects.filter(status=CommStatus.SENT).count() == 5
    assert len(mail.received) == 5
    assert mail.recorder.connections == 3  # one connection per batch
