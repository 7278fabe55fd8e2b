"""A step not done is given back: an item dropped from its message at send time, a message
cancelled, or skipped at approval goes back to its level before, so that its step is
proposed again rather than skipped; by compare-and-swap, so that a later step stands."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import customer, days, invoice, pay, promise, scenario

from relance.dunning import approval, levels, outbox
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Communication, CommunicationItem, ItemState

D = dt.date(2026, 11, 24)  # a Tuesday
pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(org):
    org.email = "compta@acme.test"
    org.save()
    scenario(org)
    return org


def state(inv) -> tuple[int, dt.date | None]:
    row = ItemState.objects.filter(invoice=inv).first()
    return (row.level, row.level_date) if row else (0, None)


def planned(org, day) -> list[tuple[str, list[tuple[str, int]]]]:
    return [
        (c.template, sorted(c.items.values_list("invoice__number", "step_position")))
        for c in Communication.objects.filter(organisation=org, run_date=day).order_by("pk")
    ]


def test_it_gives_the_step_back_when_a_promise_cancels_the_message(mail, acme):
    dupont = customer(acme, email="compta@dupont.test")
    inv = invoice(dupont, "F1", due=D - days(5))
    run(acme, D)
    assert state(inv) == (2, D)  # the courtesy reminder passed over, the first one planned
    promise(dupont, promised_on=D + days(3))  # recorded after planning
    outbox.send_due(today=D)
    assert Communication.objects.get().status == CommStatus.CANCELLED
    assert state(inv) == (0, None)
    assert not mail.received
    # The promise broken, the first reminder comes again, not the call after it.
    run(acme, D + days(6))
    assert planned(acme, D + days(6)) == [("first_reminder", [("F1", 2)])]


def test_it_gives_back_only_the_item_dropped_from_a_message_sent(mail, acme):
    dupont = customer(acme, email="compta@dupont.test")
    paid = invoice(dupont, "F1", due=D - days(5))
    owed = invoice(dupont, "F2", due=D - days(5))
    run(acme, D)
    pay(paid, on=D)
    outbox.send_due(today=D)
    assert len(mail.received) == 1
    assert (state(paid), state(owed)) == ((0, None), (2, D))
    assert CommunicationItem.objects.get(invoice_id=paid.pk).dropped == "paid"


def test_it_gives_the_step_back_when_a_person_skips_it(acme):
    scenario(acme, [(5, 0, "email", "first_reminder"),
                    (15, 5, "registered_letter", "formal_notice", "approval")])  # fmt: skip
    dupont = customer(acme)
    inv = invoice(dupont, "F1", due=D - days(20))
    ItemState.objects.create(invoice=inv, level=1, level_date=D - days(10))
    run(acme, D)
    [comm] = Communication.objects.all()
    assert comm.status == CommStatus.AWAITING_APPROVAL and state(inv) == (2, D)
    approval.decide(acme, [comm.pk], approve=False)
    assert state(inv) == (1, D - days(10))
    run(acme, D + days(1))  # not done: proposed again, not passed over
    assert planned(acme, D + days(1)) == [("formal_notice", [("F1", 2)])]


def test_it_leaves_a_level_a_later_step_set(acme):
    dupont = customer(acme)
    inv = invoice(dupont, "F1", due=D - days(5))
    run(acme, D)
    item = CommunicationItem.objects.get()
    assert (item.previous_level, item.previous_level_date) == (0, None)
    ItemState.objects.filter(invoice=inv).update(level=3, level_date=D + days(4))
    assert levels.give_back([item], D) == 0
    assert state(inv) == (3, D + days(4))
