"""Paying online through Stripe Checkout: the session made at a Stripe on loopback
(tests/fake_stripe.py), and the signed webhook that records the payment in the ledger."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from decimal import Decimal

import commands
import factories as f
import pytest
from fake_stripe import FakeStripe, sign

from relance.audit.models import AuditEvent
from relance.checkout import config, service, stripe
from relance.checkout.models import CheckoutInvoice, CheckoutSession, ProviderEvent, Status
from relance.ledger import payments
from relance.ledger.models import Allocation, CustomerBalance, Invoice, Payment, TimelineEvent

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
KEYS = {"sk_test_acme": "acme", "sk_test_globex": "globex"}
SUCCESS, CANCEL = "https://relance.test/p/abc/paid/", "https://relance.test/p/abc/"


@pytest.fixture
def fake(settings):
    server = FakeStripe(KEYS).start()
    settings.RELANCE_STRIPE = {
        "ORGANISATIONS": ["acme", "globex"],
        "ACCOUNTS": {
            "ACME": {"SECRET_KEY": "sk_test_acme", "WEBHOOK_SECRETS": ["whsec_acme"]},
            "GLOBEX": {"SECRET_KEY": "sk_test_globex", "WEBHOOK_SECRETS": ["whsec_globex"]},
        },
        "API_BASE": server.base,
        "TIMEOUT": 5,
    }
    yield server
    server.stop()


@pytest.fixture
def acme(db):
    return f.organisation("acme")


@pytest.fixture
def globex(db):
    return f.organisation("globex")


@pytest.fixture
def durand(acme):
    return f.customer(acme, "C001", legal_name="Durand SARL", email="compta@durand.test")


@pytest.fixture
def two_invoices(durand):
    older = f.invoice(durand, "F-001", due=TODAY - dt.timedelta(days=40), amount="1200.00")
    newer = f.invoice(durand, "F-002", due=TODAY - dt.timedelta(days=10), amount="300.50")
    f.pay(older, "200.00", on=TODAY - dt.timedelta(days=20))  # 1000.00 left
    return older, newer


def webhook(client, org_slug, event, *secrets, at=None, header=None):
    body, signed = sign(event, *secrets, at=at)
    return client.post(
        f"/checkout/stripe/{org_slug}/webhook/", data=body, content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signed if header is None else header,
    )  # fmt: skip


def started(fake, org, customer, invoices):
    url = service.start(org, customer, [i.pk for i in invoices], success_url=SUCCESS,
                        cancel_url=CANCEL)  # fmt: skip
    session = CheckoutSession.objects.get(url=url)
    return session, fake.sessions[session.provider_id]


# -- configuration --------------------------------------------------------------------------


def test_it_is_available_only_to_listed_organisations_with_both_keys(settings, acme, globex):
    settings.RELANCE_STRIPE = {"ORGANISATIONS": [], "ACCOUNTS": {
        "": {"SECRET_KEY": "sk_test_shared", "WEBHOOK_SECRETS": ["whsec_shared"]}}}  # fmt: skip
    assert not service.available(acme)
    settings.RELANCE_STRIPE["ORGANISATIONS"] = ["acme"]
    assert service.available(acme) and not service.available(globex)
    assert config.account(acme).secret_key == "sk_test_shared"
    # Keys of its own are used whole: never its key with the installation's webhook secret.
    settings.RELANCE_STRIPE["ACCOUNTS"]["ACME"] = {"SECRET_KEY": "sk_live_own"}
    assert not service.available(acme)
    settings.RELANCE_STRIPE["ACCOUNTS"]["ACME"]["WEBHOOK_SECRETS"] = ["whsec_own"]
    account = config.account(acme)
    assert (account.secret_key, account.webhook_secrets, account.live) == (
        "sk_live_own", ("whsec_own",), True)  # fmt: skip


def test_it_reads_the_keys_from_the_environment():
    environ = {
        "RELANCE_STRIPE_SECRET_KEY": "sk_test_shared",
        "RELANCE_STRIPE_WEBHOOK_SECRET": "whsec_new, whsec_old",
        "RELANCE_STRIPE_SECRET_KEY_ACME_SUD": "sk_test_sud",
        "RELANCE_STRIPE_WEBHOOK_SECRET_ACME_SUD": "whsec_sud",
        "RELANCE_STRIPE_SECRET_KEYS": "not one of ours",
        "PATH": "/usr/bin",
    }
    assert config.accounts_from_environment(environ) == {
        "": {"SECRET_KEY": "sk_test_shared", "WEBHOOK_SECRETS": ["whsec_new", "whsec_old"]},
        "ACME_SUD": {"SECRET_KEY": "sk_test_sud", "WEBHOOK_SECRETS": ["whsec_sud"]},
    }
    assert config.suffix("acme-sud") == "ACME_SUD"


# -- amounts ------------------------------------------------------------------------------


def test_it_writes_amounts_in_the_currency_s_minor_unit():
    assert stripe.minor_units(Decimal("1300.50"), "EUR") == 130050
    assert stripe.minor_units(Decimal("1300.00"), "JPY") == 1300
    assert stripe.minor_units(Decimal("12.34"), "KWD") == 12340
    with pytest.raises(ValueError):
        stripe.minor_units(Decimal("1300.50"), "JPY")
    assert stripe.from_minor_units(130050, "eur") == Decimal("1300.50")
    assert stripe.from_minor_units(1300, "jpy") == Decimal("1300.00")
    assert stripe.from_minor_units(12340, "kwd") == Decimal("12.34")


def test_it_spreads_a_payment_oldest_first_each_up_to_its_balance():
    owed = [(1, Decimal("100.00")), (2, Decimal("0.00")), (3, Decimal("50.00"))]
    assert payments.spread(Decimal("120.00"), owed) == [
        (1, Decimal("100.00")),
        (3, Decimal("20.00")),
    ]
    assert payments.spread(Decimal("200.00"), owed) == [
        (1, Decimal("100.00")),
        (3, Decimal("50.00")),
    ]


# -- the Checkout Session -------------------------------------------------------------------


def test_it_creates_a_checkout_session_at_stripe(fake, acme, durand, two_invoices):
    older, newer = two_invoices
    url = service.start(acme, durand, [newer.pk, older.pk], success_url=SUCCESS, cancel_url=CANCEL)

    [call] = fake.requests
    session = CheckoutSession.objects.get()
    assert url == session.url == fake.sessions[session.provider_id]["url"]
    assert url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert call["headers"]["Authorization"] == "Bearer sk_test_acme"
    assert call["headers"]["Idempotency-Key"] == session.idempotency_key
    form = dict(call["form"])
    assert form["mode"] == "payment"
    assert (form["success_url"], form["cancel_url"]) == (SUCCESS, CANCEL)
    assert form["customer_email"] == "compta@durand.test"
    assert form["client_reference_id"] == f"relance-{session.pk}"
    # One line per invoice, oldest due first, what each still owes, in cents.
    assert [(form[f"line_items[{i}][price_data][currency]"],
             form[f"line_items[{i}][price_data][unit_amount]"]) for i in (0, 1)] == [
        ("eur", "100000"), ("eur", "30050")]  # fmt: skip
    assert "F-001" in form["line_items[0][price_data][product_data][name]"]
    assert form["metadata[organisation]"] == "acme"
    assert form["metadata[customer]"] == "C001"
    assert form["metadata[invoices]"] == "F-001,F-002"
    assert form["payment_intent_data[metadata][invoices]"] == "F-001,F-002"
    assert fake.sessions[session.provider_id]["amount_total"] == 130050
    assert (session.status, session.amount, session.currency) == (
        Status.OPEN, Decimal("1300.50"), "EUR")  # fmt: skip
    links = CheckoutInvoice.objects.filter(session=session).order_by("position")
    assert [(link.invoice, link.amount) for link in links] == [
        (older, Decimal("1000.00")), (newer, Decimal("300.50"))]  # fmt: skip
    assert session.expires_at is not None
    assert AuditEvent.objects.filter(action="checkout.started", organisation=acme).count() == 1


def test_it_refuses_what_is_not_an_open_invoice_of_the_customer(fake, acme, durand, two_invoices):
    older = two_invoices[0]
    other = f.customer(acme, "C002")
    elsewhere = f.invoice(other, "F-900", due=TODAY, amount="50.00")
    paid = f.invoice(durand, "F-003", due=TODAY, amount="10.00")
    f.pay(paid, on=TODAY)
    dollars = f.invoice(durand, "F-004", due=TODAY, amount="10.00", currency="USD")
    for ids in ([older.pk, elsewhere.pk], [paid.pk], [older.pk, dollars.pk], [], [999999]):
        with pytest.raises(service.CheckoutError):
            service.start(acme, durand, ids, success_url=SUCCESS, cancel_url=CANCEL)
    with pytest.raises(service.CheckoutError):
        service.start(acme, other, [older.pk], success_url=SUCCESS, cancel_url=CANCEL)
    assert fake.requests == [] and not CheckoutSession.objects.exists()


def test_it_refuses_to_start_where_online_payment_is_not_set_up(fake, settings, acme, durand,
                                                                two_invoices):  # fmt: skip
    settings.RELANCE_STRIPE = {**settings.RELANCE_STRIPE, "ORGANISATIONS": ["globex"]}
    with pytest.raises(service.Unavailable):
        service.start(acme, durand, [two_invoices[0].pk], success_url=SUCCESS, cancel_url=CANCEL)
    assert fake.requests == []


def test_it_retries_a_lost_answer_under_the_same_idempotency_key(fake, acme, durand, two_invoices):
    fake.fail_next(500, after=True)  # Stripe made the session; its answer was lost
    url = service.start(acme, durand, [two_invoices[0].pk], success_url=SUCCESS, cancel_url=CANCEL)

    first, second = fake.requests
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"]
    assert len(fake.sessions) == 1
    assert CheckoutSession.objects.get().provider_id == next(iter(fake.sessions))
    assert url == next(iter(fake.sessions.values()))["url"]


def test_it_records_a_refusal_and_gives_no_page(fake, settings, acme, durand, two_invoices):
    settings.RELANCE_STRIPE["ACCOUNTS"]["ACME"]["SECRET_KEY"] = "sk_test_revoked"
    with pytest.raises(service.CheckoutError, match="401"):
        service.start(acme, durand, [two_invoices[0].pk], success_url=SUCCESS, cancel_url=CANCEL)
    session = CheckoutSession.objects.get()
    assert (session.status, session.provider_id, session.url) == (Status.ERROR, "", "")
    assert "Invalid API Key" in session.error
    refusal = AuditEvent.objects.get(action="checkout.refused")
    assert "sk_test" not in json.dumps(refusal.data) + refusal.summary


# -- the webhook ----------------------------------------------------------------------------


def test_it_records_the_payment_stripe_confirms(fake, client, acme, durand, two_invoices):
    older, newer = two_invoices
    session, _ = started(fake, acme, durand, two_invoices)
    event = fake.event(session.provider_id)

    answer = webhook(client, "acme", event, "whsec_acme")

    assert answer.status_code == 200 and answer.json()["outcome"] == "paid"
    intent = fake.sessions[session.provider_id]["payment_intent"]
    payment = Payment.objects.get(organisation=acme, reference=intent)
    assert (payment.customer, payment.amount, payment.currency, payment.kind, payment.source) == (
        durand, Decimal("1300.50"), "EUR", "payment", "stripe")  # fmt: skip
    assert sorted(Allocation.objects.filter(payment=payment).values_list(
        "invoice__number", "amount")) == [("F-001", Decimal("1000.00")),
                                          ("F-002", Decimal("300.50"))]  # fmt: skip
    for invoice in (older, newer):
        invoice.refresh_from_db()
        assert (invoice.balance, invoice.settled_on) == (Decimal("0.00"), payment.date)
    assert not CustomerBalance.objects.filter(customer=durand, open_amount__gt=0).exists()
    session.refresh_from_db()
    assert (session.status, session.payment, session.paid_at is not None) == (
        Status.PAID, payment, True)  # fmt: skip
    [line] = TimelineEvent.objects.filter(customer=durand, kind="online_payment")
    assert "F-001, F-002" in line.summary
    assert line.data["reference"] == intent and line.data["amount"] == "1300.50"
    assert line.data["unallocated"] == "0.00"
    audit = AuditEvent.objects.get(action="checkout.paid")
    assert (audit.organisation_id, audit.actor) == (acme.pk, "webhook:stripe")


def test_it_refuses_a_wrong_signature_and_writes_nothing(fake, client, acme, durand, two_invoices):
    session, _ = started(fake, acme, durand, two_invoices)
    event = fake.event(session.provider_id)
    body, good = sign(event, "whsec_acme")
    before = AuditEvent.objects.count()
    refused = [
        webhook(client, "acme", event, "whsec_guess"),
        webhook(client, "acme", event, "whsec_acme", header=""),
        webhook(client, "acme", event, "whsec_acme", header="t=123"),
        # The right signature on another body (the amount raised after signing).
        client.post("/checkout/stripe/acme/webhook/", content_type="application/json",
                    data=body.replace(b'"amount_total": 130050', b'"amount_total": 1'),
                    HTTP_STRIPE_SIGNATURE=good),
    ]  # fmt: skip
    assert [answer.status_code for answer in refused] == [400, 400, 400, 400]
    assert not Payment.objects.filter(source="stripe").exists()
    assert not ProviderEvent.objects.exists()
    assert not TimelineEvent.objects.filter(kind="online_payment").exists()
    assert AuditEvent.objects.count() == before
    assert CheckoutSession.objects.get().status == Status.OPEN


def test_it_refuses_a_signature_older_than_five_minutes(fake, client, acme, durand, two_invoices):
    session, _ = started(fake, acme, durand, two_invoices)
    event = fake.event(session.provider_id)
    stale = webhook(client, "acme", event, "whsec_acme", at=int(time.time()) - 301)
    assert stale.status_code == 400 and not ProviderEvent.objects.exists()
    fresh = webhook(client, "acme", event, "whsec_acme", at=int(time.time()) - 240)
    assert fresh.status_code == 200


def test_it_accepts_any_of_several_signatures_while_a_secret_rolls(
    fake, client, settings, acme, durand, two_invoices
):
    settings.RELANCE_STRIPE["ACCOUNTS"]["ACME"]["WEBHOOK_SECRETS"] = ["whsec_new"]
    session, _ = started(fake, acme, durand, two_invoices)
    answer = webhook(client, "acme", fake.event(session.provider_id), "whsec_old", "whsec_new")
    assert answer.json()["outcome"] == "paid"


def test_it_handles_a_replayed_event_once(fake, client, acme, durand, two_invoices):
    session, _ = started(fake, acme, durand, two_invoices)
    event = fake.event(session.provider_id)
    outcomes = [webhook(client, "acme", event, "whsec_acme").json()["outcome"] for _ in range(3)]
    # The same confirmation sent again under another event id pays nothing twice either.
    again = webhook(client, "acme", fake.event(session.provider_id), "whsec_acme")

    assert outcomes == ["paid", "duplicate", "duplicate"]
    assert again.json()["outcome"] == "already_paid"
    assert Payment.objects.filter(source="stripe").count() == 1
    assert TimelineEvent.objects.filter(kind="online_payment").count() == 1
    assert ProviderEvent.objects.filter(event_id=event["id"]).count() == 1


def test_it_answers_events_it_does_not_use_and_keeps_nothing(fake, client, acme, durand,
                                                             two_invoices):  # fmt: skip
    session, _ = started(fake, acme, durand, two_invoices)
    event = fake.event(session.provider_id)
    event["type"], event["data"]["object"] = (
        "payment_intent.succeeded",
        {"object": "payment_intent"},
    )
    answer = webhook(client, "acme", event, "whsec_acme")
    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored")
    assert not ProviderEvent.objects.exists() and not Payment.objects.filter(source="stripe")


def test_it_keeps_a_payment_for_an_invoice_paid_meanwhile_as_unallocated(
    fake, client, acme, durand, two_invoices
):
    older, newer = two_invoices
    session, _ = started(fake, acme, durand, two_invoices)
    f.pay(newer, on=TODAY, reference="VIR-123")  # paid by transfer before the card payment came

    answer = webhook(client, "acme", fake.event(session.provider_id), "whsec_acme")

    assert answer.json()["outcome"] == "paid"
    payment = Payment.objects.get(source="stripe")
    assert payment.amount == Decimal("1300.50")
    allocated = Allocation.objects.filter(payment=payment)
    assert list(allocated.values_list("invoice__number", "amount")) == [
        ("F-001", Decimal("1000.00"))]  # fmt: skip
    newer.refresh_from_db()
    older.refresh_from_db()
    assert (older.balance, newer.balance) == (Decimal("0.00"), Decimal("0.00"))
    line = TimelineEvent.objects.get(kind="online_payment")
    assert line.data["unallocated"] == "300.50"
    assert "300,50" in line.summary  # the part left unallocated, in the organisation's words


def test_it_waits_for_a_payment_that_settles_later(fake, client, acme, durand, two_invoices):
    older, newer = two_invoices
    debit, _ = started(fake, acme, durand, [older])
    refused, _ = started(fake, acme, durand, [newer])

    completed = webhook(client, "acme", fake.event(debit.provider_id, paid=False), "whsec_acme")
    assert completed.json()["outcome"] == "processing"
    assert not Payment.objects.filter(source="stripe").exists()
    debit.refresh_from_db()
    assert debit.status == Status.PROCESSING

    settled = fake.event(debit.provider_id, "checkout.session.async_payment_succeeded")
    assert webhook(client, "acme", settled, "whsec_acme").json()["outcome"] == "paid"
    older.refresh_from_db()
    assert older.balance == Decimal("0.00")

    webhook(client, "acme", fake.event(refused.provider_id, paid=False), "whsec_acme")
    failed = fake.event(refused.provider_id, "checkout.session.async_payment_failed", paid=False)
    assert webhook(client, "acme", failed, "whsec_acme").json()["outcome"] == "failed"
    newer.refresh_from_db()
    refused.refresh_from_db()
    assert (newer.balance, refused.status) == (Decimal("300.50"), Status.FAILED)
    assert AuditEvent.objects.filter(action="checkout.failed").count() == 1


def test_it_records_nothing_for_an_amount_other_than_asked_in_another_currency(
    fake, client, acme, durand, two_invoices
):
    session, _ = started(fake, acme, durand, two_invoices)
    event = fake.event(session.provider_id)
    event["data"]["object"]["currency"] = "usd"
    assert webhook(client, "acme", event, "whsec_acme").json()["outcome"] == "mismatch"
    assert not Payment.objects.filter(source="stripe").exists()
    assert AuditEvent.objects.filter(action="checkout.mismatch").count() == 1


def test_it_keeps_organisations_apart(fake, client, acme, globex, durand, two_invoices):
    session, _ = started(fake, acme, durand, two_invoices)
    wayne = f.customer(globex, "C001", legal_name="Wayne SA")
    theirs, _ = started(fake, globex, wayne, [f.invoice(wayne, "G-1", due=TODAY, amount="75.00")])
    assert fake.accounts[session.provider_id] == "acme"
    assert fake.accounts[theirs.provider_id] == "globex"

    event = fake.event(session.provider_id)
    # Acme's event at Globex's endpoint: not Globex's secret.
    assert webhook(client, "globex", event, "whsec_acme").status_code == 400
    # Signed with Globex's secret, naming Acme's session: no session of Globex's.
    answer = webhook(client, "globex", event, "whsec_globex")
    assert answer.json()["outcome"] == "unknown_session"
    assert not Payment.objects.filter(source="stripe").exists()
    # Globex's own payment lands on Globex's customer only.
    webhook(client, "globex", fake.event(theirs.provider_id), "whsec_globex")
    recorded = Payment.objects.filter(source="stripe")
    assert list(recorded.values_list("organisation", "customer")) == [(globex.pk, wayne.pk)]
    assert Invoice.objects.get(number="F-001").balance == Decimal("1000.00")


def test_it_answers_404_where_online_payment_is_not_set_up(fake, client, settings, acme, durand,
                                                           two_invoices):  # fmt: skip
    session, _ = started(fake, acme, durand, two_invoices)
    settings.RELANCE_STRIPE = {**settings.RELANCE_STRIPE, "ORGANISATIONS": ["globex"]}
    event = fake.event(session.provider_id)
    assert webhook(client, "acme", event, "whsec_acme").status_code == 404
    assert webhook(client, "nobody", event, "whsec_acme").status_code == 404
    assert client.get("/checkout/stripe/acme/webhook/").status_code in (404, 405)
    assert not ProviderEvent.objects.exists()


# -- relance checkout status ----------------------------------------------------------------


@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_it_tells_the_operator_what_is_set_up_without_a_key(tmp_path):
    commands.ready(tmp_path)
    env = commands.environment(tmp_path)
    subprocess.run([sys.executable, "-m", "relance", "createorg", "acme-sud", "--name", "Acme"],
                   env=env, check=True, capture_output=True)  # fmt: skip

    def status(**variables: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "relance", "checkout", "status", "--org", "acme-sud", "--json"],
            env={**env, **variables}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "sk_live_" not in done.stdout + done.stderr
        assert "whsec_" not in done.stdout + done.stderr
        return json.loads(done.stdout)

    nothing = status()
    assert not nothing["available"]
    assert any("RELANCE_STRIPE_ORGANISATIONS" in p for p in nothing["problems"])
    assert any("RELANCE_STRIPE_SECRET_KEY" in p for p in nothing["problems"])
    ready = status(
        RELANCE_STRIPE_ORGANISATIONS="acme-sud",
        RELANCE_STRIPE_SECRET_KEY_ACME_SUD="sk_live_0123456789",
        RELANCE_STRIPE_WEBHOOK_SECRET_ACME_SUD="whsec_one,whsec_two",
    )
    assert (ready["available"], ready["mode"], ready["keys"], ready["webhook_secrets"]) == (
        True, "live", "own", 2)  # fmt: skip
    assert ready["webhook_path"] == "/checkout/stripe/acme-sud/webhook/"
    assert "checkout.session.completed" in ready["events"] and ready["problems"] == []
