"""Settings → Webhooks: managers read, administrators add, disable, enable, remove, test,
show a secret and replay a delivery; another organisation's ids answer 404; every change
is in the audit trail."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import factories as make
import pytest
import webhook_receiver
from django.urls import reverse

from relance.audit.models import AuditEvent
from relance.hooks import delivery, dispatch, endpoints
from relance.hooks.models import Delivery, Endpoint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

URL = reverse("console:settings_webhooks")
D = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def loopback(settings, time_machine):
    settings.RELANCE_WEBHOOKS_ALLOW_HTTP = True
    settings.RELANCE_WEBHOOKS_ALLOW_PRIVATE = True
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Paris")), tick=False)


@pytest.fixture
def receiver():
    server = webhook_receiver.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def admin(client, owner):
    client.force_login(owner)
    return client


def signed_in(client, org, role):
    client.force_login(make.member(org, f"{role}@acme.test", role))
    return client


def delivered(org, receiver):
    endpoint = endpoints.add(org, receiver.url)
    receiver.secret = endpoint.secret
    customer = make.customer(org, "C001")
    make.dispute(make.invoice(customer, "F-001", due=D - timedelta(days=5)), on=D)
    dispatch.dispatch(org.pk)
    delivery.deliver_due()
    return endpoint, Delivery.objects.get()


def test_it_lets_managers_read_and_only_administrators_change(client, org, receiver):
    endpoint, row = delivered(org, receiver)
    for role in ("viewer", "collector"):
        assert signed_in(client, org, role).get(URL).status_code == 403
    manager = signed_in(client, org, "manager")
    page = manager.get(URL).content.decode()
    assert receiver.url in page and "dispute.opened" in page and "HTTP 200" in page
    assert 'name="action" value="replay"' not in page and endpoint.secret not in page
    for data in (
        {"action": "disable", "endpoint": endpoint.pk},
        {"action": "replay", "delivery": row.pk},
        {"action": "add", "url": receiver.url},
    ):
        assert manager.post(URL, data).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.active and Endpoint.objects.count() == 1


def test_it_shows_the_tab_to_those_who_read_it(client, org, owner):
    client.force_login(owner)
    assert URL in client.get(reverse("console:settings")).content.decode()
    assert (
        URL
        not in signed_in(client, org, "collector").get(reverse("console:settings")).content.decode()
    )


def test_it_adds_an_endpoint_and_shows_its_secret_once(admin, org):
    response = admin.post(
        URL,
        {
            "action": "add",
            "url": "http://127.0.0.1:9/in",
            "description": "ERP",
            "event_types": ["invoice.paid", "dispute.opened"],
        },
    )
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["dispute.opened", "invoice.paid"]
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in admin.get(URL).content.decode()
    assert AuditEvent.objects.filter(action="webhooks.endpoint_added").count() == 1


def test_it_refuses_an_address_inside_in_production_naming_the_field(admin, org, settings):
    settings.RELANCE_WEBHOOKS_ALLOW_HTTP = False
    settings.RELANCE_WEBHOOKS_ALLOW_PRIVATE = False
    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x"):
        page = admin.post(URL, {"action": "add", "url": url}).content.decode()
        assert 'class="field-error"' in page
    assert not Endpoint.objects.exists()


def test_it_reveals_disables_enables_and_removes_with_an_audit_trail(admin, org):
    endpoint = endpoints.add(org, "http://127.0.0.1:9/in")
    page = admin.post(URL, {"action": "reveal", "endpoint": endpoint.pk}).content.decode()
    assert endpoint.secret in page
    admin.post(URL, {"action": "disable", "endpoint": endpoint.pk})
    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    admin.post(URL, {"action": "enable", "endpoint": endpoint.pk})
    endpoint.refresh_from_db()
    assert endpoint.active
    page = admin.post(URL, {"action": "rotate", "endpoint": endpoint.pk}).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret in page and endpoint.previous_secret
    admin.post(URL, {"action": "remove", "endpoint": endpoint.pk})
    assert not Endpoint.objects.exists()
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions[-6:] == [
        "webhooks.endpoint_added",
        "webhooks.secret_revealed",
        "webhooks.endpoint_disabled",
        "webhooks.endpoint_enabled",
        "webhooks.secret_rotated",
        "webhooks.endpoint_removed",
    ]


def test_it_replays_a_delivery_with_the_same_event_id(admin, org, receiver, time_machine):
    _, row = delivered(org, receiver)
    time_machine.shift(timedelta(minutes=10))
    response = admin.post(URL, {"action": "replay", "delivery": row.pk})
    assert response.status_code == 302
    first, again = receiver.received
    assert again.verified and again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.headers["webhook-timestamp"] != first.headers["webhook-timestamp"]
    row.refresh_from_db()
    assert row.replays == 1 and row.status == "succeeded"


def test_it_sends_a_test_message(admin, org, receiver):
    endpoint = endpoints.add(org, receiver.url)
    receiver.secret = endpoint.secret
    admin.post(URL, {"action": "test", "endpoint": endpoint.pk})
    [got] = receiver.received
    assert got.verified and got.payload["type"] == "webhook.test"


def test_it_answers_404_for_another_organisation_s_ids(admin, org, other_org, receiver):
    theirs, their_delivery = delivered(other_org, receiver)
    for data in (
        {"action": "disable", "endpoint": theirs.pk},
        {"action": "reveal", "endpoint": theirs.pk},
        {"action": "remove", "endpoint": theirs.pk},
        {"action": "replay", "delivery": their_delivery.pk},
    ):
        response = admin.post(URL, data)
        assert response.status_code == 404
        assert theirs.secret not in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.active and len(receiver.received) == 1
    page = admin.get(URL).content.decode()
    assert receiver.url not in page
