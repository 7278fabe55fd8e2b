"""Disputes, promises, holds and plans: recorded with their timeline events, and honoured by
the next run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from relance.dunning import pauses
from relance.dunning.engine import run
from relance.dunning.models import Communication
from relance.ledger.models import Customer, Invoice, TimelineEvent

D = dt.date(2026, 11, 24)
pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(org):
    return Customer.objects.create(organisation=org, reference="C1", legal_name="Dupont SAS")


def invoice(customer, number: str, overdue: int, amount: str = "1000.00") -> Invoice:
    return Invoice.objects.create(
        organisation_id=customer.organisation_id,
        customer=customer,
        number=number,
        issue_date=D - dt.timedelta(days=overdue + 30),
        due_date=D - dt.timedelta(days=overdue),
        currency="EUR",
        amount=Decimal(amount),
        balance=Decimal(amount),
    )


def reminded(org) -> list[str]:
    return sorted(
        n
        for c in Communication.objects.filter(organisation=org)
        for n in c.items.values_list("invoice__number", flat=True)
    )


def events(customer) -> list[str]:
    return list(
        TimelineEvent.objects.filter(customer=customer)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_a_dispute_pauses_its_invoice_until_resolved(org, customer):
    disputed = invoice(customer, "F1", 6)
    invoice(customer, "F2", 6)
    dispute = pauses.open_dispute(disputed, reason="quantity", on=D - dt.timedelta(days=1))
    run(org, D)
    assert reminded(org) == ["F2"]
    pauses.resolve_dispute(dispute, on=D + dt.timedelta(days=3), resolution="credit note sent")
    run(org, D + dt.timedelta(days=6))  # the Monday after (D + 4 is a Saturday)
    assert "F1" in reminded(org)
    assert events(customer)[:1] == ["dispute_opened"]
    assert "dispute_resolved" in events(customer)


def test_a_promise_on_the_customer_pauses_all_its_invoices(org, customer):
    invoice(customer, "F1", 6)
    invoice(customer, "F2", 20)
    pauses.record_promise(customer, promised_on=D + dt.timedelta(days=5))
    run(org, D)
    assert reminded(org) == []
    assert events(customer) == ["promise_recorded"]


def test_a_hold_stops_dunning_until_released(org, customer):
    invoice(customer, "F1", 6)
    hold = pauses.place_hold(
        customer,
        kind="negotiation",
        start=D - dt.timedelta(days=2),
        reason="new terms under discussion",
    )
    run(org, D)
    assert reminded(org) == []
    pauses.release_hold(hold, on=D + dt.timedelta(days=1))
    run(org, D + dt.timedelta(days=1))
    assert reminded(org) == ["F1"]
    assert events(customer)[:2] == ["hold_placed", "hold_released"]


def test_a_plan_pauses_its_invoices_and_must_add_up(org, customer):
    planned = invoice(customer, "F1", 6, "900.00")
    invoice(customer, "F2", 6)
    with pytest.raises(pauses.PauseError, match=r"add up to 600\.00"):
        pauses.agree_plan(
            customer, [planned], [(D + dt.timedelta(days=30), Decimal("600.00"))], on=D
        )
    plan = pauses.agree_plan(
        customer,
        [planned],
        [
            (D + dt.timedelta(days=30), Decimal("450.00")),
            (D + dt.timedelta(days=60), Decimal("450.00")),
        ],
        on=D,
    )
    assert plan.instalments.count() == 2
    run(org, D)
    assert reminded(org) == ["F2"]
    assert "plan_agreed" in events(customer)


def test_it_refuses_incoherent_pauses(org, customer, other_org):
    stranger = Customer.objects.create(organisation=other_org, reference="X", legal_name="X")
    theirs = invoice(stranger, "F9", 3)
    with pytest.raises(pauses.PauseError, match="not"):
        pauses.record_promise(customer, promised_on=D, invoice=theirs)
    with pytest.raises(pauses.PauseError, match="publication"):
        pauses.place_hold(customer, kind="insolvency", start=D)
    with pytest.raises(pauses.PauseError, match="between 0"):
        pauses.open_dispute(
            invoice(customer, "F1", 3), reason="price", on=D, amount=Decimal("5000")
        )
    assert TimelineEvent.objects.filter(customer=customer).count() == 0
