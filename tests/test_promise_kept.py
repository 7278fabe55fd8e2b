"""A promise to pay is kept once what it covers is paid (``pauses.keep_promises``)."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import customer, days, invoice, organisation, pay, promise

from relance.dunning import pauses
from relance.dunning.models import Promise
from relance.ledger.models import TimelineEvent

D = dt.date(2026, 3, 10)


@pytest.mark.django_db
def test_it_keeps_a_promise_on_an_invoice_once_the_invoice_is_paid():
    org = organisation()
    client = customer(org)
    first = invoice(client, due=D - days(20))
    other = invoice(client, due=D - days(20))
    on_first = promise(client, promised_on=D + days(5), invoice=first)
    on_client = promise(client, promised_on=D + days(5))
    assert pauses.keep_promises(org, on=D) == []
    pay(first, on=D + days(1))
    [kept] = pauses.keep_promises(org, on=D + days(1))
    assert kept.pk == on_first.pk
    # The customer still owes the other invoice: its own promise stays open.
    assert Promise.objects.get(pk=on_client.pk).status == Promise.Status.OPEN
    pay(other, on=D + days(2))
    assert [p.pk for p in pauses.keep_promises(org, on=D + days(2))] == [on_client.pk]
    assert set(Promise.objects.values_list("status", flat=True)) == {"kept"}
    assert TimelineEvent.objects.filter(kind="promise_kept").count() == 2
    assert pauses.keep_promises(org, on=D + days(3)) == []


@pytest.mark.django_db
def test_it_leaves_a_broken_promise_broken_when_the_payment_comes_late():
    org = organisation()
    client = customer(org)
    late = invoice(client, due=D - days(20))
    broken = promise(client, promised_on=D, invoice=late)
    Promise.objects.filter(pk=broken.pk).update(status="broken", broken_on=D + days(3))
    pay(late, on=D + days(10))
    assert pauses.keep_promises(org, on=D + days(10)) == []
    assert Promise.objects.get(pk=broken.pk).status == "broken"


@pytest.mark.django_db
def test_the_run_keeps_a_paid_promise_so_that_a_later_invoice_is_not_paused_by_it():
    from factories import scenario

    from relance.dunning.engine import run
    from relance.dunning.models import Communication

    org = organisation()
    scenario(org)
    client = customer(org, email="compta@client.test")
    paid = invoice(client, due=D - days(20))
    on_client = promise(client, promised_on=D + days(30))
    pay(paid, on=D)
    run(org, D)
    assert Promise.objects.get(pk=on_client.pk).status == Promise.Status.KEPT
    # A new invoice, due long ago, gets its first reminder: the kept promise pauses nothing.
    invoice(client, due=D - days(10))
    run(org, D + days(1))
    assert Communication.objects.filter(purpose="reminder").count() == 1
