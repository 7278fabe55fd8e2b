"""A thank-you planned by the run leaves through the outbox, listing the invoices paid."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from factories import customer as make_customer
from factories import days, invoice, organisation, pay, scenario

from relance.dunning import engine, outbox
from relance.dunning.models import CommStatus, Communication, ItemState

D = dt.date(2026, 3, 10)  # a Tuesday


@pytest.mark.django_db
def test_it_sends_the_thank_you_for_a_reminded_invoice_once_paid(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = organisation(email="credit@acme.example")
    scenario(org)
    customer = make_customer(org, "C1", legal_name="Client SAS", email="ap@client.example")
    inv = invoice(customer, "F-001", due=D - days(5), amount="1200.00")
    engine.run(org, D)
    outbox.send_due(org.pk, today=D)
    assert len(mail.outbox) == 1  # the first reminder
    state = ItemState.objects.get(invoice=inv)
    pay(inv, on=D + days(1))
    engine.run(org, D + days(1))
    report = outbox.send_due(org.pk, today=D + days(1))
    thanks = Communication.objects.get(purpose="thanks")
    assert thanks.status == CommStatus.SENT, (thanks.status, report.as_dict())
    assert list(thanks.items.values_list("invoice__number", flat=True)) == ["F-001"]
    assert len(mail.outbox) == 2 and "F-001" in mail.outbox[1].body
    # A thank-you steps no item: the level and its date stay the reminder's.
    again = ItemState.objects.get(invoice=inv)
    assert (again.level, again.level_date) == (state.level, state.level_date)
