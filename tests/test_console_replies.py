"""The replies inbox and a reply's page: new first, filtered by status and kind; opening a
reply reads it (the customer's reminders resume); its proposed action applied in one
click or the reply dismissed; roles (a viewer reads and changes nothing, a collector only
their customers) and another organisation's replies answered 404."""

from __future__ import annotations

import datetime as dt
import re

import factories as f
import pytest
from django.urls import reverse

from relance.dunning.models import Promise, Task
from relance.ledger.models import Dispute, Hold
from relance.replies.models import ReplyStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

TODAY = dt.date(2026, 11, 25)


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC), tick=True)


@pytest.fixture
def durand(org):
    org.reply_to = "relances@acme.test"
    org.save()
    customer = f.customer(org, "C001", legal_name="Durand SA")
    f.contact(customer, "Marie Durand", "marie@durand.test")
    f.invoice(customer, "F-1", due=TODAY - f.days(40), amount="1250.00")
    f.invoice(customer, "F-2", due=TODAY - f.days(20), amount="300.00")
    return customer


def signed_in(client, org, role="manager", email=None):
    user = f.member(org, email or f"{role}@{org.slug}.test", role)
    client.force_login(user)
    return user


def earlier(hours: int) -> dt.datetime:
    return dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC) - dt.timedelta(hours=hours)


def test_it_lists_new_replies_first_and_filters_them(client, org, durand):
    promise = f.reply(durand, "Nous réglerons le 15 décembre.", received=earlier(5))
    dispute = f.reply(durand, "Nous contestons le prix de la F-2.", received=earlier(1))
    old = f.reply(durand, "Bien reçu, merci.", received=earlier(0))
    old.status = ReplyStatus.READ
    old.save()
    signed_in(client, org)

    page = client.get(reverse("console:replies")).content.decode()

    order = [page.index(f'data-reply="{r.pk}"') for r in (dispute, promise, old)]
    assert order == sorted(order)  # new ones first (newest first), then the read one
    assert "Durand SA" in page and "Promises to pay" in page
    disputes = client.get(reverse("console:replies"), {"kind": "dispute"}).content.decode()
    assert f'data-reply="{dispute.pk}"' in disputes and f'data-reply="{promise.pk}"' not in disputes
    read = client.get(reverse("console:replies"), {"status": "read"}).content.decode()
    assert f'data-reply="{old.pk}"' in read and f'data-reply="{promise.pk}"' not in read


def test_it_marks_a_reply_read_when_a_collector_opens_it_and_lifts_the_pause(client, org, durand):
    reply = f.reply(durand, "Nous réglerons le 15 décembre.")
    assert Hold.objects.get(customer=durand).end_date is None
    collector = signed_in(client, org, "collector")

    page = client.get(reverse("console:reply", args=[reply.pk])).content.decode()

    reply.refresh_from_db()
    assert (reply.status, reply.read_by) == (ReplyStatus.READ, collector)
    assert Hold.objects.get(customer=durand).end_date == TODAY
    assert "Nous réglerons le 15 décembre." in page
    assert 'value="2026-12-15"' in page and "Record the promise" in page
    assert "<q>réglerons</q>" in page  # the evidence
    # Which rule read it is for support (an attribute), not a word shown to the reader.
    evidence = page[page.index("<q>réglerons</q>") :]
    assert not re.match(r"<q>réglerons</q>[^<]*<span", evidence)
    assert 'data-rule="' in page and "(payment_on_future_date)" not in page


def test_it_leaves_a_reply_new_when_a_viewer_looks_at_it_and_refuses_their_post(
    client, org, durand
):
    reply = f.reply(durand, "Nous réglerons le 15 décembre.")
    signed_in(client, org, "viewer")
    page = client.get(reverse("console:reply", args=[reply.pk])).content.decode()
    assert "Record the promise" not in page
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.NEW
    url = reverse("console:reply_apply", args=[reply.pk])
    assert client.post(url, {"date": "2026-12-15"}).status_code == 403
    assert client.post(reverse("console:reply_dismiss", args=[reply.pk])).status_code == 403
    assert not Promise.objects.exists()


def test_it_records_the_promise_in_one_click(client, org, durand):
    reply = f.reply(durand, "Nous réglerons la F-1 le 15 décembre.")
    signed_in(client, org)
    invoice = durand.invoices.get(number="F-1")
    response = client.post(
        reverse("console:reply_apply", args=[reply.pk]),
        {"date": "2026-12-15", "invoices": [invoice.pk]},
    )
    assert response.status_code == 302
    promise = Promise.objects.get(customer=durand)
    assert (promise.promised_on, promise.invoice_id) == (dt.date(2026, 12, 15), invoice.pk)
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.APPLIED and reply.details["applied"]["promise"] == promise.pk


def test_it_opens_the_dispute_with_its_reason_in_one_click(client, org, durand):
    reply = f.reply(durand, "Nous contestons la F-2 : la marchandise est arrivée endommagée.")
    signed_in(client, org)
    page = client.get(reverse("console:reply", args=[reply.pk])).content.decode()
    f2 = durand.invoices.get(number="F-2")
    assert f'value="{f2.pk}" checked' in page  # the invoice it names, proposed
    assert '<option value="delivery" selected>' in page
    client.post(
        reverse("console:reply_apply", args=[reply.pk]), {"reason": "delivery", "invoices": [f2.pk]}
    )
    dispute = Dispute.objects.get()
    assert (dispute.invoice_id, dispute.reason) == (f2.pk, "delivery")


def test_it_opens_a_task_for_a_payment_the_customer_says_it_made(client, org, durand):
    reply = f.reply(durand, "Le virement a été effectué hier, référence VIR-55120.")
    signed_in(client, org)
    client.post(reverse("console:reply_apply", args=[reply.pk]), {})
    task = Task.objects.get(kind="check_payment")
    assert task.customer_id == durand.pk and task.data["reference"] == "VIR-55120"
    assert "Payments to check" in client.get(reverse("console:tasks")).content.decode()


def test_it_holds_reminders_until_the_return_date_of_an_out_of_office(client, org, durand):
    reply = f.reply(durand, "Je suis absente du bureau, de retour le 7 décembre.",
                    subject="Réponse automatique : Relance")  # fmt: skip
    signed_in(client, org)
    client.post(reverse("console:reply_apply", args=[reply.pk]), {"date": "2026-12-07"})
    away = Hold.objects.get(customer=durand, kind="manual")
    assert (away.start_date, away.end_date) == (TODAY, dt.date(2026, 12, 7))


def test_it_refuses_a_promise_without_a_date_and_writes_nothing(client, org, durand):
    reply = f.reply(durand, "Nous réglerons bientôt.")
    signed_in(client, org)
    response = client.post(reverse("console:reply_apply", args=[reply.pk]), {"date": ""})
    assert response.status_code == 400
    assert "a promise needs its date" in response.content.decode()
    assert not Promise.objects.exists()


def test_it_dismisses_a_reply(client, org, durand):
    reply = f.reply(durand, "Bien reçu, merci.")
    signed_in(client, org)
    assert client.post(reverse("console:reply_dismiss", args=[reply.pk])).status_code == 302
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.DISMISSED
    assert Hold.objects.get(customer=durand).end_date == TODAY


def test_it_lets_a_collector_act_only_on_their_customers(client, org, durand):
    someone = f.member(org, "someone@acme.test", "collector")
    durand.collector = someone
    durand.save()
    reply = f.reply(durand, "Nous réglerons le 15 décembre.")
    signed_in(client, org, "collector")
    client.get(reverse("console:reply", args=[reply.pk]))
    reply.refresh_from_db()
    assert reply.status == ReplyStatus.NEW  # not theirs to read
    url = reverse("console:reply_apply", args=[reply.pk])
    assert client.post(url, {"date": "2026-12-15"}).status_code == 403


def test_it_answers_404_for_another_organisations_reply(client, org, other_org, durand):
    other_org.reply_to = "ar@other.test"
    other_org.save()
    theirs = f.customer(other_org, "X1")
    f.contact(theirs, "Someone", "someone@x1.test")
    reply = f.reply(theirs, "Nous réglerons le 15 décembre.")
    signed_in(client, org)
    for name in ("console:reply", "console:reply_apply", "console:reply_dismiss"):
        url = reverse(name, args=[reply.pk])
        assert (client.post(url) if name != "console:reply" else client.get(url)).status_code == 404
    assert f'data-reply="{reply.pk}"' not in client.get(reverse("console:replies")).content.decode()


def test_it_shows_the_reply_on_the_customers_timeline(client, org, durand):
    reply = f.reply(durand, "Nous réglerons le 15 décembre.")
    signed_in(client, org)
    page = client.get(reverse("console:customer", args=[durand.pk])).content.decode()
    assert "Reply received" in page
    assert f'href="{reverse("console:reply", args=[reply.pk])}"' in page


def test_it_shows_a_reply_from_an_unknown_sender_with_nothing_to_apply_but_dismissal(
    client, org, durand
):
    reply = f.reply(durand, "Nous réglerons le 15 décembre.", sender="stranger@gmail.test")
    assert reply.customer is None
    signed_in(client, org)
    page = client.get(reverse("console:reply", args=[reply.pk])).content.decode()
    assert "No customer has this address" in page and "Record the promise" not in page
    assert 'id="reply-dismiss"' in page
