"""The providers' webhooks, through real HTTP requests to anymail's Postmark tracking URL:
closed without their secret, bounces matched to one organisation's own e-mail only, and
every delivery in the audit trail."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.dunning.models import CommStatus, Communication, Task
from relance.ledger.models import Contact, TimelineEvent

URL = "/anymail/postmark/tracking/"
SECRET = "relance-hooks:Zq8vR2pLw7TnB4xK"

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    return SECRET


def auth(credentials: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def bounce(email: str, message_id: str = "883953f4-6105-42a2-a16a-77a8eac79483") -> dict:
    """A hard bounce as Postmark posts it."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": message_id,
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "relance@relance.test",
        "BouncedAt": "2026-11-23T16:33:54.9070259Z",
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Relance : facture F-1",
    }


def delivery(email: str, message_id: str) -> dict:
    """A delivery as Postmark posts it."""
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": message_id,
        "Recipient": email,
        "Tag": "",
        "DeliveredAt": "2026-11-23T16:33:54.9070259Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }


def post(client, payload: dict, credentials: str | None = SECRET):
    headers = auth(credentials) if credentials is not None else {}
    return client.post(URL, json.dumps(payload), content_type="application/json", **headers)


def sent(org_customer, address: str, *, days_ago: int = 2, number: str = "F-1") -> Communication:
    """An e-mail sent ``days_ago`` to ``address`` (the recipient field as the outbox writes it)."""
    inv = make.invoice(org_customer, number, due=date(2026, 10, 1))
    at = timezone.now() - timedelta(days=days_ago)
    return make.communication(
        org_customer,
        [inv],
        on=at.date(),
        status=CommStatus.SENT,
        recipient=address,
        message_id=f"<relance.{org_customer.pk}.{number}@relance.test>",
        sent_at=at,
    )


def person(org, reference: str, address: str) -> Contact:
    cust = make.customer(org, reference)
    return make.contact(cust, f"Comptabilité {reference}", address)


def valid(contact: Contact) -> bool:
    return Contact.objects.get(pk=contact.pk).email_valid


def nothing_written() -> bool:
    return not (
        Task.objects.exists()
        or TimelineEvent.objects.filter(kind__startswith="email_").exists()
        or AuditEvent.objects.filter(action__startswith="webhook.").exists()
        or Communication.objects.exclude(last_error="").exists()
    )


# -- the secret -----------------------------------------------------------------------------


def test_it_refuses_deliveries_without_the_secret(client, org, settings):
    marie = person(org, "C001", "marie@durand.test")
    sent(marie.customer, "marie@durand.test")

    settings.ANYMAIL = {"WEBHOOK_SECRET": []}  # none configured: the route is closed
    assert post(client, bounce("marie@durand.test"), credentials=None).status_code == 404
    assert post(client, bounce("marie@durand.test"), credentials="any:thing").status_code == 404

    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    assert post(client, bounce("marie@durand.test"), credentials=None).status_code == 400
    assert post(client, bounce("marie@durand.test"), "relance-hooks:wrong").status_code == 400

    assert valid(marie) and nothing_written()


def test_it_takes_a_bounce_with_the_secret_and_audits_it(client, org, secret):
    marie = person(org, "C001", "marie@durand.test")
    comm = sent(marie.customer, "marie@durand.test")

    assert post(client, bounce("marie@durand.test", comm.message_id)).status_code == 200

    assert not valid(marie)
    assert Task.objects.filter(organisation=org, kind="invalid_email").count() == 1
    event = AuditEvent.objects.get(action="webhook.bounced")
    assert (event.organisation_id, event.actor) == (org.pk, "webhook:Postmark")
    assert (event.object_type, event.object_id) == ("communication", str(comm.pk))
    assert event.data["matched_by"] == "message_id"
    assert event.data["invalidated"] == [marie.pk]


def test_it_audits_every_delivery_even_unmatched(client, org, secret):
    marie = person(org, "C001", "marie@durand.test")
    comm = sent(marie.customer, "marie@durand.test")

    assert post(client, delivery("marie@durand.test", comm.message_id)).status_code == 200
    stranger = delivery("nobody@elsewhere.test", "unknown-id")
    stranger["Metadata"] = {"relance_communication": "9" * 40}  # not one of ours
    assert post(client, stranger).status_code == 200

    ours, unknown = AuditEvent.objects.filter(action="webhook.delivered").order_by("pk")
    assert (ours.organisation_id, ours.object_id) == (org.pk, str(comm.pk))
    assert (unknown.organisation_id, unknown.object_id) == (None, "")
    assert unknown.actor == "webhook:Postmark" and unknown.data["matched_by"] == ""
    assert valid(marie) and not Task.objects.exists()


def deploy_check() -> str:
    err = StringIO()
    call_command("check", "--deploy", stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_it_warns_in_check_deploy_while_the_webhooks_have_no_usable_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": []}
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    assert "relance.webhooks.W001" in deploy_check()
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["no-colon-so-never-matches"]}
    assert "relance.webhooks.W002" in deploy_check()
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["relance:short"]}
    assert "relance.webhooks.W003" in deploy_check()
    settings.ANYMAIL = {"WEBHOOK_SECRET": [SECRET]}
    assert "relance.webhooks" not in deploy_check()

    # Plain SMTP and no secret: the webhooks are closed and nothing is lost.
    settings.ANYMAIL = {"WEBHOOK_SECRET": []}
    settings.EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"
    assert "relance.webhooks" not in deploy_check()


# -- which organisation -----------------------------------------------------------------------


def test_it_never_acts_in_an_organisation_that_did_not_send_to_the_address(
    client, org, other_org, secret
):
    # Globex knows the address but never wrote to it; nobody did recently.
    theirs = person(other_org, "G001", "ap@shared.test")

    assert post(client, bounce("ap@shared.test", "unknown-id")).status_code == 200

    assert valid(theirs) and not Task.objects.exists()
    event = AuditEvent.objects.get(action="webhook.bounced")
    assert event.organisation_id is None and event.data["invalidated"] == []


def test_it_keeps_a_bounce_in_the_organisation_that_sent_the_message(
    client, org, other_org, secret
):
    ours, theirs = (
        person(org, "C001", "ap@shared.test"),
        person(other_org, "G001", "ap@shared.test"),
    )
    our_comm = sent(ours.customer, "ap@shared.test")
    sent(theirs.customer, "ap@shared.test", days_ago=1)

    # The address alone: both wrote to it, so neither is chosen.
    assert post(client, bounce("ap@shared.test", "not-ours")).status_code == 200
    assert valid(ours) and valid(theirs) and not Task.objects.exists()
    ambiguous = AuditEvent.objects.get(action="webhook.bounced")
    assert ambiguous.organisation_id is None
    assert ambiguous.data["ambiguous_organisations"] == sorted([org.pk, other_org.pk])

    # Its message ID: the organisation that sent it, alone.
    assert post(client, bounce("ap@shared.test", our_comm.message_id)).status_code == 200
    assert not valid(ours) and valid(theirs)
    assert set(Task.objects.values_list("organisation_id", flat=True)) == {org.pk}


def test_it_matches_the_one_organisation_that_sent_to_the_address(client, org, other_org, secret):
    ours, theirs = (
        person(org, "C001", "ap@shared.test"),
        person(other_org, "G001", "ap@shared.test"),
    )
    comm = sent(ours.customer, "compta@durand.test, AP@Shared.test")

    assert post(client, bounce("ap@SHARED.test", "provider-own-id")).status_code == 200

    assert not valid(ours) and valid(theirs)
    event = AuditEvent.objects.get(action="webhook.bounced")
    assert (event.organisation_id, event.object_id) == (org.pk, str(comm.pk))
    assert event.data["matched_by"] == "address"


# -- which address --------------------------------------------------------------------------


@pytest.mark.parametrize("reported", [".test", "durand.test", "rie@durand.test", "marie@durand"])
def test_it_never_matches_part_of_an_address(client, org, secret, reported):
    marie = person(org, "C001", "marie@durand.test")
    sent(marie.customer, "marie@durand.test")

    assert post(client, bounce(reported, "unknown-id")).status_code == 200

    assert valid(marie) and not Task.objects.exists()
    assert not Communication.objects.exclude(last_error="").exists()
    assert not TimelineEvent.objects.filter(kind__startswith="email_").exists()


def test_it_looks_for_the_address_among_recent_e_mails_only(client, org, secret):
    marie = person(org, "C001", "marie@durand.test")
    sent(marie.customer, "marie@durand.test", days_ago=45)

    assert post(client, bounce("marie@durand.test", "unknown-id")).status_code == 200

    assert valid(marie) and not Task.objects.exists()


# -- from the send to the bounce ----------------------------------------------------------------


def test_it_matches_a_bounce_by_the_communication_the_provider_echoes(
    client, org, other_org, secret, settings, tmp_path
):
    """Providers report their own message IDs: the communication sent as metadata (here
    through anymail's test backend) is what they give back."""
    from django.core import mail

    from relance.dunning import outbox

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.MEDIA_ROOT = tmp_path
    today = timezone.localdate()
    ours, theirs = (
        person(org, "C001", "ap@shared.test"),
        person(other_org, "G001", "ap@shared.test"),
    )
    inv = make.invoice(ours.customer, "F-1", due=date(2026, 10, 1))
    comm = make.communication(ours.customer, [inv], on=today)
    assert outbox.send_due(today=today).as_dict() == {"sent": 1}
    [message] = mail.outbox
    # Globex wrote to the same address since: the address alone would be ambiguous.
    sent(theirs.customer, "ap@shared.test", days_ago=0)

    payload = bounce("ap@shared.test", "883953f4-6105-42a2-a16a-77a8eac79483")
    payload["Metadata"] = message.anymail_test_params["metadata"]
    assert post(client, payload).status_code == 200

    assert not valid(ours) and valid(theirs)
    event = AuditEvent.objects.get(action="webhook.bounced")
    assert (event.organisation_id, event.object_id) == (org.pk, str(comm.pk))
    assert event.data["matched_by"] == "communication"
