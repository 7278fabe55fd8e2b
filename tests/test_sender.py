"""The organisation's sender name and reply-to address in the e-mails a customer receives,
through a real SMTP server; both default to the organisation's name and e-mail."""

from __future__ import annotations

import datetime as dt
from email.utils import getaddresses, parseaddr
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command

from relance.accounts.models import Organisation
from relance.dunning import outbox

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 23)


def send_one(org):
    customer = make.customer(org, "C1", legal_name="Dupont SAS", email="compta@dupont.test")
    invoice = make.invoice(customer, "F1", due=TODAY - make.days(10), amount="120.00")
    make.communication(customer, [invoice], on=TODAY)
    assert outbox.send_due(today=TODAY).counts["sent"] == 1


def test_it_sends_under_the_sender_name_with_replies_to_the_reply_to_address(mail, org):
    call_command("org", "set", "--sender-name", "Service relances Acme",
                 "--reply-to", "relances@acme.test", stdout=StringIO())  # fmt: skip
    send_one(Organisation.objects.get(pk=org.pk))
    [received] = mail.received
    assert parseaddr(received.message["From"]) == ("Service relances Acme", "relance@relance.test")
    assert getaddresses([received.message["Reply-To"]]) == [
        ("Service relances Acme", "relances@acme.test")
    ]


def test_it_defaults_to_the_organisation_name_and_e_mail(mail, org):
    send_one(org)
    [received] = mail.received
    assert parseaddr(received.message["From"]) == ("Acme Industrie SAS", "relance@relance.test")
    assert parseaddr(received.message["Reply-To"]) == ("Acme Industrie SAS", "compta@acme.test")


def test_it_refuses_a_reply_to_that_is_not_an_address(org):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="reply_to:"):
        call_command("org", "set", "--reply-to", "relances-at-acme", stdout=StringIO())
    assert Organisation.objects.get(pk=org.pk).reply_to == ""


def test_it_sends_in_the_name_of_the_agent_writing_for_the_organisation(mail, org):
    from relance.accounts import agents

    agents.set_agent(org, {"kind": "agency", "name": "Recouvra", "email": "dossiers@recouvra.test",
                           "address": "3 place Bellecour\n69002 Lyon"})  # fmt: skip
    send_one(org)
    [received] = mail.received
    assert parseaddr(received.message["From"]) == ("Recouvra", "relance@relance.test")
    assert parseaddr(received.message["Reply-To"]) == ("Recouvra", "dossiers@recouvra.test")
    text = received.message.get_body(("plain",)).get_content()
    assert "Recouvra" in text and "Acme Industrie SAS" in text
    assert "3 place Bellecour" in text.split("Bien cordialement,")[1]  # signed by the agent
    assert " ".join(agents.L111_8[0].split()) in " ".join(text.split())
