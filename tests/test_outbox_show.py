"""`relance outbox show ID`: a message exactly as the worker sends it; and why a send
failed, in `relance outbox list --json`."""

from __future__ import annotations

import datetime as dt
import json
from email.header import decode_header, make_header
from io import StringIO

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.accounts.identity import update_identity
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import Communication

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


def planned(org, *steps):
    customer = f.customer(org, "C-7", email="factures@durand.test")
    f.invoice(customer, "F-1", due=D - f.days(5), amount="1200.00")
    f.invoice(customer, "F-2", due=D + f.days(5), amount="300.00")
    f.scenario(org, steps or f.EXAMPLE_STEPS)
    run(org, D)
    return Communication.objects.get()


def show(*args):
    out, err = StringIO(), StringIO()
    call_command("outbox", "show", *map(str, args), stdout=out, stderr=err)
    return out.getvalue()


def decoded(value):
    return str(make_header(decode_header(value))).strip()  # a folded header starts with a blank


def test_it_shows_a_message_exactly_as_it_is_sent(mail):
    org = f.organisation("acme")
    update_identity(org, {"iban": "FR7630006000011234567890189", "signature": "Marie Martin"})
    comm = planned(org)
    shown = show(comm.pk)
    as_json = json.loads(show(comm.pk, "--json"))

    assert outbox.send_due(today=D).counts["sent"] == 1
    message = mail.received[0].message
    head, _, body = shown.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    for name in ("From", "To", "Reply-To", "Subject", "X-Relance-Communication"):
        assert headers[name] == decoded(message[name]), name
        assert as_json["headers"][name] == decoded(message[name]), name
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    sent_text = text.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert body == sent_text
    assert as_json["text"] == sent_text
    assert "FR76 3000" in body and "F-1" in body and "F-2" in body


def test_it_refuses_what_sends_no_message():
    org = f.organisation("acme")
    comm = planned(org, (5, 0, "call", "call"))
    with pytest.raises(CommandError, match="carried out by a person"):
        show(comm.pk)
    with pytest.raises(CommandError, match="no communication 999"):
        show(999)


def test_it_lists_why_a_send_failed(mail):
    org = f.organisation("acme")
    comm = planned(org)
    mail.recorder.data_reply = "554 5.6.0 Message refused"
    assert outbox.send_due(today=D).counts["failed"] == 1
    out = StringIO()
    call_command("outbox", "list", "--status", "failed", "--json", stdout=out)
    [row] = json.loads(out.getvalue())["communications"]
    assert row["id"] == comm.pk
    assert "554" in row["last_error"] and "Message refused" in row["last_error"]
