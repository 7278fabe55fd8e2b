"""The debtor's portal through Django's test client: links (made, reused, expired,
revoked, wrong), pages in the customer's language, invoice PDFs scoped to the link, the
four actions and the contact change (each through the console's services, on the
timeline, and honoured by the outbox's send-time re-check and the next run), double
submits, the rate limit, the command."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import factories as make
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from factories import days
from fake_stripe import FakeStripe

from relance.audit.models import AuditEvent
from relance.checkout.models import CheckoutSession
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import (
    CommStatus,
    Communication,
    PaymentPlan,
    Promise,
    Task,
)
from relance.insights.management.commands.report import today_for
from relance.ledger.models import (
    Attachment,
    Contact,
    Dispute,
    Hold,
    TimelineEvent,
)
from relance.portal import links
from relance.portal.models import PortalLink

PARIS = ZoneInfo("Europe/Paris")
IBAN = "FR7630006000011234567890189"


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS), tick=True)
    return time_machine


@pytest.fixture
def acme(org, settings):
    settings.RELANCE_BASE_URL = "https://relance.example"
    org.email, org.phone, org.iban, org.bic = "compta@acme.test", "01 23 45 67 89", IBAN, ""
    org.save()
    make.scenario(org)
    return org


@pytest.fixture
def today(acme):
    return today_for(acme)


@pytest.fixture
def durand(acme, today):
    customer = make.customer(acme, "C001", legal_name="Durand Frères SARL", language="fr",
                             email="factures@durand.test")  # fmt: skip
    make.contact(customer, "Marie Durand", "marie@durand.test")
    make.invoice(customer, "F-101", due=today - days(12), amount="1200.00")
    make.invoice(customer, "F-117", due=today - days(9), amount="480.50")
    return customer


def pdf(invoice, content=b"%PDF-1.4 facture\n%%EOF\n"):
    return Attachment.objects.create(
        organisation=invoice.organisation, invoice=invoice, kind="invoice_pdf",
        file=ContentFile(content, name=f"{invoice.number}.pdf"), name=f"{invoice.number}.pdf",
        sha256=hashlib.sha256(content).hexdigest(),
    )  # fmt: skip


def text(page) -> str:
    """The page's HTML, its thousands separators (narrow no-break spaces in French) plain."""
    return page.content.decode().replace("\u202f", " ").replace("\xa0", " ")


def path_of(url: str) -> str:
    assert url.startswith("https://relance.example/p/")
    return url.removeprefix("https://relance.example")


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def key_of(page) -> str:
    return re.search(r'name="key" value="([^"]+)"', page.content.decode()).group(1)


def post(client, url: str, name: str, data: dict, **kw):
    form = client.get(path_of(url) + f"{name}/")
    assert form.status_code == 200
    return client.post(path_of(url) + f"{name}/", {"key": key_of(form), **data}, **kw)


def portal_actions(customer) -> list[str]:
    return [
        e.data["action"]
        for e in TimelineEvent.objects.filter(customer=customer, kind="portal_action").order_by(
            "pk"
        )
    ]


# -- links ---------------------------------------------------------------------------------


def audited_links(organisation):
    """The organisation's audit events of links made (counted before and after: a delta)."""
    return AuditEvent.objects.filter(
        organisation_id=organisation.pk, action="portal.link_created"
    ).count()


def test_it_gives_one_link_that_opens_the_customers_page_and_stores_no_token(client, durand):
    made = audited_links(durand.organisation)
    url = links.url_for(durand)
    assert re.fullmatch(r"https://relance\.example/p/[A-Za-z0-9_-]{43}/", url)
    assert links.url_for(durand) == url  # the live link again
    [link] = PortalLink.objects.filter(customer=durand)
    token = token_of(url)
    assert token not in (link.token_hash, link.seed)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    page = client.get(path_of(url))
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store, private"
    html = text(page)
    assert html.count("<h1") == 1 and "<main" in html
    assert "Durand Frères SARL" in html and "F-101" in html and "F-117" in html
    assert "1 680,50 €" in html  # the total due, in French
    assert audited_links(durand.organisation) == made + 1


def test_it_makes_links_for_a_batch_in_a_few_queries(acme, django_assert_max_num_queries):
    customers = [make.customer(acme, f"B{n}") for n in range(50)]
    links.url_for(customers[0])
    with django_assert_max_num_queries(5):
        urls = links.urls_for(customers)
    assert len(set(urls.values())) == 50
    assert urls[customers[0].pk] == links.url_for(customers[0])
    assert PortalLink.objects.count() == 50


def test_it_refuses_expired_revoked_and_wrong_links_with_the_same_page(
    client, durand, acme, clock, settings
):
    url = links.url_for(durand)
    gone = [
        client.get(f"/p/{'x' * 43}/"),
        client.get("/p/short/"),
        client.get(path_of(url).replace(token_of(url)[:5], "AAAAA")),
    ]
    clock.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS) + timedelta(days=61), tick=True)
    gone.append(client.get(path_of(url)))
    clock.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS), tick=True)
    assert client.get(path_of(url)).status_code == 200
    links.revoke(durand)
    gone.append(client.get(path_of(url)))
    assert {page.status_code for page in gone} == {404}
    assert len({page.content for page in gone}) == 1
    assert AuditEvent.objects.filter(action="portal.link_revoked").count() == 1
    assert links.url_for(durand) != url  # a revoked link is never given again


def test_it_makes_a_new_link_when_the_live_one_is_half_spent(durand, clock):
    url = links.url_for(durand)
    clock.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS) + timedelta(days=20), tick=True)
    assert links.url_for(durand) == url
    clock.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=PARIS) + timedelta(days=31), tick=True)
    fresh = links.url_for(durand)
    assert fresh != url
    assert links.resolve(token_of(url)) is not None  # the older one still opens until it expires


def test_it_shows_the_page_in_the_customers_language(client, acme, today):
    english = make.customer(acme, "C002", legal_name="Smith Ltd", language="en")
    make.invoice(english, "F-200", due=today - days(3), amount="1234.50")
    html = text(client.get(path_of(links.url_for(english))))
    assert '<html lang="en">' in html
    assert "Your account with Acme Industrie SAS" in html
    assert "€1,234.50" in html and '<span class="late">3 days late</span>' in html
    french = make.customer(acme, "C003", language="fr")
    make.invoice(french, "F-300", due=today - days(3), amount="1234.50")
    html = text(client.get(path_of(links.url_for(french))))
    assert '<html lang="fr">' in html and "1 234,50 €" in html
    assert '<span class="late">3 jours de retard</span>' in html


def test_it_shows_how_to_pay_with_the_customers_reference_and_the_qr_code(client, durand):
    from relance.accounts.identity import bank_details
    from relance.channels.paying import data_uri, payment_for

    html = client.get(path_of(links.url_for(durand))).content.decode()
    expected = payment_for(bank_details(durand.organisation, durand), Decimal("1680.50"), "EUR")
    assert expected.reference in html  # RF.. of the customer's account
    assert "FR76 3000 6000 0112 3456 7890 189" in html
    assert data_uri(expected.code) in html
    assert 'id="pay-online"' not in html  # no payment provider installed


# -- invoice PDFs ----------------------------------------------------------------------------


def test_it_serves_the_customers_pdfs_and_nothing_else(client, durand, acme, today, other_org):
    own = pdf(durand.invoices.get(number="F-101"))
    other = make.customer(acme, "C009")
    theirs = pdf(make.invoice(other, "F-900", due=today - days(5)))
    foreign = pdf(make.invoice(make.customer(other_org, "X1"), "G-1", due=today - days(5)))
    url = links.url_for(durand)
    page = client.get(path_of(url))
    assert f"/invoices/{own.pk}.pdf" in page.content.decode()
    got = client.get(path_of(url) + f"invoices/{own.pk}.pdf")
    assert got.status_code == 200 and b"".join(got.streaming_content).startswith(b"%PDF")
    for attachment in (theirs, foreign):
        assert client.get(path_of(url) + f"invoices/{attachment.pk}.pdf").status_code == 404
    assert client.get(path_of(url) + "invoices/999999.pdf").status_code == 404


# -- the actions and the engine ------------------------------------------------------------------


def queued(customer, today):
    return make.communication(customer, list(customer.invoices.order_by("number")), on=today)


def test_it_pauses_dunning_and_opens_a_task_when_the_debtor_has_paid(client, durand, today, mail):
    comm = queued(durand, today)
    url = links.url_for(durand)
    answer = post(client, url, "paid", {
        "paid_on": (today - days(1)).isoformat(), "amount": "1680,50", "currency": "EUR",
        "reference": "VIR 42", "invoices": [str(i.pk) for i in durand.invoices.all()],
    })  # fmt: skip
    assert answer.status_code == 302 and answer["Location"].endswith("?done=paid#done")
    [hold] = Hold.objects.filter(customer=durand)
    assert hold.start_date == today and hold.end_date == today + days(7)
    task = Task.objects.get(customer=durand, kind="check_payment")
    assert task.data["reference"] == "VIR 42" and task.data["amount"] == "1680.50"
    assert portal_actions(durand) == ["paid"]
    outbox.send_due(today=today)
    comm.refresh_from_db()
    assert comm.status != CommStatus.SENT and mail.received == []
    assert client.get(answer["Location"]).content.decode().count('role="status"') == 1


def test_it_records_a_promise_that_the_next_run_honours(client, durand, today, acme):
    url = links.url_for(durand)
    promised = today + days(10)
    answer = post(client, url, "promise", {"promised_on": promised.isoformat()})
    assert answer.status_code == 302
    [promise] = Promise.objects.filter(customer=durand)
    assert promise.promised_on == promised and promise.grace_days == acme.promise_grace_days
    assert portal_actions(durand) == ["promise"]
    run(acme, today)
    assert not Communication.objects.filter(customer=durand).exists()


def test_it_bounds_a_promise_and_shows_the_error_next_to_the_field(client, durand, today):
    url = links.url_for(durand)
    answer = post(client, url, "promise", {"promised_on": (today + days(200)).isoformat()})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert 'id="id_promised_on-error"' in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_promised_on"', html)
    past = post(client, url, "promise", {"promised_on": (today - days(1)).isoformat()})
    assert past.status_code == 400 and 'id="id_promised_on-error"' in past.content.decode()
    assert not Promise.objects.exists()


def test_it_opens_a_dispute_with_the_debtors_file(client, durand, today, acme, mail):
    invoice = durand.invoices.get(number="F-101")
    comm = make.communication(durand, [invoice], on=today)
    url = links.url_for(durand)
    upload = SimpleUploadedFile("bon.pdf", b"%PDF-1.4 bon de livraison\n", "application/pdf")
    answer = post(client, url, "dispute", {
        "invoice": str(invoice.pk), "reason": "delivery", "comment": "Deux palettes manquantes",
        "attachment": upload,
    })  # fmt: skip
    assert answer.status_code == 302
    [dispute] = Dispute.objects.filter(invoice=invoice)
    assert dispute.reason == "delivery" and "Deux palettes" in dispute.note
    kept = Attachment.objects.get(invoice=invoice, kind="other")
    assert kept.file.read().startswith(b"%PDF")
    assert TimelineEvent.objects.get(kind="portal_action").data["attachment"] == kept.pk
    outbox.send_due(today=today)
    comm.refresh_from_db()
    assert comm.status != CommStatus.SENT and mail.received == []
    # The file is not served back by the portal: only invoice PDFs are.
    assert client.get(path_of(url) + f"invoices/{kept.pk}.pdf").status_code == 404


def test_it_refuses_a_file_of_another_type_or_too_large(client, durand, settings):
    invoice = durand.invoices.get(number="F-101")
    url = links.url_for(durand)
    script = SimpleUploadedFile("x.pdf", b"<script>alert(1)</script>", "application/pdf")
    answer = post(client, url, "dispute", {"invoice": str(invoice.pk), "reason": "price",
                                           "attachment": script})  # fmt: skip
    assert answer.status_code == 400 and 'id="id_attachment-error"' in answer.content.decode()
    settings.RELANCE_PORTAL_UPLOAD_MAX_BYTES = 10
    big = SimpleUploadedFile("x.pdf", b"%PDF-1.4" + b"0" * 100, "application/pdf")
    answer = post(client, url, "dispute", {"invoice": str(invoice.pk), "reason": "price",
                                           "attachment": big})  # fmt: skip
    assert answer.status_code == 400 and 'id="id_attachment-error"' in answer.content.decode()
    assert not Dispute.objects.exists() and not Attachment.objects.exists()


def test_it_refuses_another_customers_invoice_in_a_form(client, durand, acme, today):
    other = make.invoice(make.customer(acme, "C010"), "F-999", due=today - days(9))
    url = links.url_for(durand)
    answer = post(client, url, "dispute", {"invoice": str(other.pk), "reason": "price"})
    assert answer.status_code == 400 and 'id="id_invoice-error"' in answer.content.decode()
    assert not Dispute.objects.exists()


def test_it_proposes_a_plan_that_a_manager_accepts(client, durand, today, acme):
    from relance.portal import actions

    url = links.url_for(durand)
    answer = post(client, url, "plan", {
        "invoices": [str(i.pk) for i in durand.invoices.all()], "count": "3",
        "first": (today + days(7)).isoformat(), "period": "month",
    })  # fmt: skip
    assert answer.status_code == 302
    [plan] = PaymentPlan.objects.filter(customer=durand)
    assert plan.status == PaymentPlan.Status.PROPOSED
    amounts = sorted(i.amount for i in plan.instalments.all())
    assert sum(amounts) == Decimal("1680.50") and len(amounts) == 3
    hold = Hold.objects.get(customer=durand, kind="negotiation")
    assert Task.objects.get(customer=durand, kind="plan_proposal").status == "open"
    run(acme, today)  # the proposal waits for a manager: nothing is sent meanwhile
    assert not Communication.objects.filter(customer=durand).exists()
    actions.decide_plan(plan, accept=True, on=today)
    plan.refresh_from_db()
    hold.refresh_from_db()
    assert plan.status == PaymentPlan.Status.ACTIVE
    assert hold.end_date == today
    assert Task.objects.get(customer=durand, kind="plan_proposal").status == "done"
    run(acme, today)  # its invoices are in an active plan now
    assert not Communication.objects.filter(customer=durand, purpose="dunning").exists()


def test_a_refused_plan_lets_dunning_resume(client, durand, today, acme):
    from relance.portal import actions

    url = links.url_for(durand)
    post(client, url, "plan", {
        "invoices": [str(i.pk) for i in durand.invoices.all()], "count": "2",
        "first": (today + days(7)).isoformat(), "period": "month",
    })  # fmt: skip
    plan = PaymentPlan.objects.get(customer=durand)
    actions.decide_plan(plan, accept=False, on=today, note="trop long")
    plan.refresh_from_db()
    assert plan.status == PaymentPlan.Status.REFUSED
    run(acme, today)
    assert Communication.objects.filter(customer=durand).exists()


def test_it_changes_the_dunning_contact_as_the_console_validates(client, durand):
    url = links.url_for(durand)
    bad = post(client, url, "contact", {"name": "Paul", "email": "not-an-address",
                                         "preferred_channel": "email"})  # fmt: skip
    assert bad.status_code == 400 and 'id="id_email-error"' in bad.content.decode()
    answer = post(client, url, "contact", {
        "name": "Paul Durand", "email": "Paul@Durand.test", "preferred_channel": "email",
        "line1": "3 rue des Lilas", "postcode": "69003", "city": "Lyon",
    })  # fmt: skip
    assert answer.status_code == 302
    dunning = list(Contact.objects.filter(customer=durand, is_primary=True))
    assert [(c.name, c.email) for c in dunning] == [("Paul Durand", "paul@durand.test")]
    assert durand.addresses.get(kind="dunning").city == "Lyon"
    assert portal_actions(durand) == ["contact"]


def test_a_form_sent_twice_is_done_once(client, durand, today):
    url = links.url_for(durand)
    form = client.get(path_of(url) + "promise/")
    data = {"key": key_of(form), "promised_on": (today + days(5)).isoformat()}
    first = client.post(path_of(url) + "promise/", data)
    second = client.post(path_of(url) + "promise/", data)
    assert first.status_code == second.status_code == 302
    assert Promise.objects.count() == 1 and portal_actions(durand) == ["promise"]


def test_it_asks_for_the_csrf_token(durand, today):
    browser = Client(enforce_csrf_checks=True)
    url = links.url_for(durand)
    data = {"key": "k" * 20, "promised_on": today.isoformat()}
    answer = browser.post(path_of(url) + "promise/", data)
    assert answer.status_code == 403 and not Promise.objects.exists()


# -- rate limit -------------------------------------------------------------------------------


def test_it_limits_requests_per_link_and_per_address(client, durand, settings):
    settings.RELANCE_PORTAL_RATE_LIMIT = 5
    settings.RELANCE_PORTAL_ADDRESS_RATE_LIMIT = 8
    url = links.url_for(durand)
    codes = [client.get(path_of(url)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    # Guessing other links from the same address soon meets the address's limit.
    guesses = [client.get(f"/p/{n:043d}/").status_code for n in range(3)]
    assert guesses == [404, 404, 429]
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.get(f"/p/{'y' * 43}/").status_code == 404


# -- the command ----------------------------------------------------------------------------


def test_the_command_gives_and_revokes_a_link(durand, client):
    out = StringIO()
    call_command("portal", "link", "C001", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["customer"] == "C001" and client.get(path_of(data["url"])).status_code == 200
    out = StringIO()
    call_command("portal", "link", "C001", "--days", "5", stdout=out)
    assert out.getvalue().strip() != data["url"]
    out = StringIO()
    call_command("portal", "revoke", "C001", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"customer": "C001", "revoked": 2}
    assert client.get(path_of(data["url"])).status_code == 404
    with pytest.raises(CommandError, match="not found"):
        call_command("portal", "link", "NOPE")


# -- the console: a proposed plan accepted or refused by a manager ---------------------------


@pytest.fixture
def proposed(client, durand, today):
    url = links.url_for(durand)
    post(client, url, "plan", {
        "invoices": [str(i.pk) for i in durand.invoices.all()], "count": "3",
        "first": (today + days(7)).isoformat(), "period": "month",
    })  # fmt: skip
    return PaymentPlan.objects.get(customer=durand)


def test_a_manager_accepts_a_proposed_plan_in_the_console(client, acme, durand, proposed):
    from django.urls import reverse

    collector = make.member(acme, "paul@acme.test", "collector")
    manager = make.member(acme, "claire@acme.test", "manager")
    client.force_login(collector)
    page = client.get(reverse("console:plan", args=[proposed.pk]))
    assert page.status_code == 200 and b'id="plan-accept"' not in page.content
    assert client.post(reverse("console:plan_accept", args=[proposed.pk])).status_code == 403
    client.force_login(manager)
    customer_page = client.get(reverse("console:customer", args=[durand.pk]))
    assert f'id="plan-proposed-{proposed.pk}"'.encode() in customer_page.content
    page = client.get(reverse("console:plan", args=[proposed.pk]))
    assert b'id="plan-accept"' in page.content and b'id="plan-refuse"' in page.content
    client.post(reverse("console:plan_accept", args=[proposed.pk]))
    proposed.refresh_from_db()
    assert proposed.status == PaymentPlan.Status.ACTIVE


def test_a_manager_of_another_organisation_reaches_no_proposed_plan(client, proposed, other_org):
    from django.urls import reverse

    client.force_login(make.member(other_org, "mallory@globex.test", "manager"))
    assert client.post(reverse("console:plan_refuse", args=[proposed.pk])).status_code == 404
    proposed.refresh_from_db()
    assert proposed.status == PaymentPlan.Status.PROPOSED


# -- every message carries the link -----------------------------------------------------------


def test_every_e_mail_carries_the_link_to_the_customers_portal(client, durand, today, mail):
    queued(durand, today)
    outbox.send_due(today=today)
    [received] = mail.received
    text = received.message.get_body(("plain",)).get_content()
    html = received.message.get_body(("html",)).get_content()
    [url] = re.findall(r"https://relance\.example/p/[A-Za-z0-9_-]{43}/", text)
    assert f'href="{url}"' in html
    assert url == links.url_for(durand)
    assert client.get(path_of(url)).status_code == 200


def test_a_batch_of_e_mails_makes_the_missing_links_at_once(acme, today, mail):
    from relance.dunning import batch

    customers = [make.customer(acme, f"M{n}", email=f"m{n}@client.test") for n in range(20)]
    comms = [
        make.communication(c, [make.invoice(c, due=today - days(9))], on=today) for c in customers
    ]
    made = audited_links(acme)
    assert batch.load(comms, today).portal_urls == {}  # reading facts makes none
    assert not PortalLink.objects.filter(organisation=acme).exists()
    facts = batch.load(comms, today)
    batch.load_portal_urls(facts, comms)
    assert set(facts.portal_urls) == {c.pk for c in customers}
    assert PortalLink.objects.filter(organisation=acme).count() == 20
    assert audited_links(acme) == made + 1  # one event for the batch
    again = batch.load(comms, today)
    batch.load_portal_urls(again, comms)
    assert again.portal_urls == facts.portal_urls  # the same links again


def test_a_text_message_carries_the_link_whole_or_not_at_all(durand, today, settings):
    from relance.channels.sms import build_sms
    from relance.dunning import batch

    make.mobile_contact(durand, "Marie", "+33612345678")
    comm = make.communication(durand, list(durand.invoices.all()), on=today, channel="sms")
    items = list(comm.items.select_related("invoice"))
    facts = batch.load([comm], today)
    batch.load_portal_urls(facts, [comm])
    text = build_sms(comm, items, today, facts).text
    assert text.endswith(links.url_for(durand))
    settings.RELANCE_SMS_MAX_SEGMENTS = 1
    short = build_sms(comm, items, today, facts).text
    assert "https://" not in short


def test_a_letter_prints_the_link_near_how_to_pay(durand, today):
    import io

    import pypdf

    from relance.documents.channel import build_letter
    from relance.dunning import batch

    make.address(durand, line1="3 rue des Lilas", postcode="69003", city="Lyon")
    comm = make.communication(durand, list(durand.invoices.all()), on=today, channel="letter")
    items = list(comm.items.select_related("invoice"))
    facts = batch.load([comm], today)
    batch.load_portal_urls(facts, [comm])
    outgoing = build_letter(comm, items, today, facts)
    url = links.url_for(durand)
    assert outgoing.payload.letter.data["portal_url"] == url
    pdf = outgoing.payload.pdf
    printed = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert url in printed.replace("\n", "")


# -- pay online: shown only when the payment provider says it is available ------------------


@pytest.fixture
def stripe(acme, settings):
    """Stripe on loopback (tests/fake_stripe.py), speaking its API to relance.checkout."""
    server = FakeStripe({"sk_test_acme": "acme"}).start()
    settings.RELANCE_STRIPE = {
        "ORGANISATIONS": ["acme"],
        "ACCOUNTS": {"ACME": {"SECRET_KEY": "sk_test_acme", "WEBHOOK_SECRETS": ["whsec_a"]}},
        "API_BASE": server.base, "TIMEOUT": 5,
    }  # fmt: skip
    yield server
    server.stop()


def test_it_sends_the_debtor_to_the_payment_provider_when_available(client, durand, stripe):
    url = links.url_for(durand)
    page = client.get(path_of(url))
    assert b'id="pay-online"' in page.content
    answer = client.post(path_of(url) + "pay/")
    session = CheckoutSession.objects.get(customer=durand)
    assert answer.status_code == 302 and answer["Location"] == session.url
    assert answer["Location"].startswith("https://checkout.stripe.com/")  # as Stripe answered
    # Both open invoices, for what they owe; back to the portal after paying or not.
    assert session.amount == Decimal("1680.50") and session.currency == "EUR"
    [form] = [dict(r["form"]) for r in stripe.requests if r["path"] == "/v1/checkout/sessions"]
    assert form["success_url"] == url + "?paid=online" and form["cancel_url"] == url
    assert b'id="done"' in client.get(path_of(url) + "?paid=online").content


def test_it_offers_the_transfer_when_the_provider_refuses(client, durand, stripe, settings):
    url = links.url_for(durand)
    settings.RELANCE_STRIPE = {**settings.RELANCE_STRIPE, "API_BASE": "http://127.0.0.1:9"}
    answer = client.post(path_of(url) + "pay/")
    assert answer.status_code == 302 and answer["Location"] == path_of(url) + "?done=offline"
    assert not CheckoutSession.objects.filter(status="paid").exists()
    settings.RELANCE_STRIPE = {**settings.RELANCE_STRIPE, "ORGANISATIONS": []}
    assert b'id="pay-online"' not in client.get(path_of(url)).content
    assert client.post(path_of(url) + "pay/")["Location"] == path_of(url)


def test_a_plan_whose_invoices_were_paid_meanwhile_cannot_be_accepted(proposed, durand, today):
    from relance.dunning import pauses
    from relance.portal import actions

    make.pay(durand.invoices.get(number="F-117"), "100.00", on=today)
    with pytest.raises(pauses.PauseError, match=r"now owe 1580\.50"):
        actions.decide_plan(proposed, accept=True, on=today)
    proposed.refresh_from_db()
    assert proposed.status == PaymentPlan.Status.PROPOSED
    assert Hold.objects.get(customer=durand, kind="negotiation").end_date > today
