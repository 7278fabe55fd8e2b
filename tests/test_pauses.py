"""Disputes, promises, holds and plans: recorded with their timeline events, and honoured by
the next run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from factories import customer as new_customer
from factories import days, import_ledger, promise, scenario
from factories import hold as hold_on
from factories import invoice as new_invoice

from relance.dunning import batch, pauses, penalty_service, recheck
from relance.dunning.engine import run
from relance.dunning.models import Communication, ItemState, Promise
from relance.ledger.models import Dispute, Invoice, TimelineEvent

D = dt.date(2026, 11, 24)
pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(org):
    return new_customer(org, "C1", legal_name="Dupont SAS")


def invoice(customer, number: str, overdue: int, amount: str = "1000.00") -> Invoice:
    return new_invoice(customer, number, due=D - days(overdue), amount=amount)


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
    stranger = new_customer(other_org, "X", legal_name="X")
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


# -- pauses decided once: disputes flagged again, overlapping promises, a hold's end --------


def test_a_dispute_flagged_cleared_and_flagged_again_by_imports_pauses_again(
    org, customer, tmp_path
):
    scenario(org)
    inv = new_invoice(customer, "F1", due=D - days(6))
    import_ledger(org, tmp_path, [inv], disputed=["F1"], on=D - days(3))
    import_ledger(org, tmp_path, [inv], disputed=["F1"], on=D - days(2))  # the same file again
    assert Dispute.objects.filter(invoice=inv, resolved_on=None).count() == 1
    import_ledger(org, tmp_path, [inv], on=D - days(1))  # cleared
    import_ledger(org, tmp_path, [inv], disputed=["F1"], on=D)  # flagged again
    assert Dispute.objects.filter(invoice=inv, resolved_on=None).count() == 1
    run(org, D)
    assert reminded(org) == []
    import_ledger(org, tmp_path, [inv], disputed=["F1"], on=D + days(1))
    assert Dispute.objects.filter(invoice=inv).count() == 2  # no third one


def test_a_dispute_a_person_resolved_stays_resolved_while_the_file_still_flags_it(
    org, customer, tmp_path
):
    scenario(org)
    inv = new_invoice(customer, "F1", due=D - days(6))
    import_ledger(org, tmp_path, [inv], disputed=["F1"], on=D - days(3))
    pauses.resolve_dispute(Dispute.objects.get(), on=D - days(2), resolution="credit note")
    import_ledger(org, tmp_path, [inv], disputed=["F1"], on=D - days(1))
    assert Dispute.objects.filter(invoice=inv, resolved_on=None).count() == 0


def test_overlapping_promises_each_break_once_and_waive_the_gap_once(org, customer):
    """The invoice's own promise and its customer's both open: the item waits for both,
    each breaks once, and the step after them waives its gap once."""
    scenario(org)  # J+5 e-mail, J+8 call (gap 3), J+15 e-mail (gap 5), J+30 letter (gap 10)
    inv = new_invoice(customer, "F1", due=D - days(20))
    ItemState.objects.create(invoice=inv, level=3, level_date=D - days(1))
    own = promise(customer, invoice=inv, promised_on=D + days(1))
    everything = promise(customer, promised_on=D + days(6))
    for n in range(0, 9):
        run(org, D + days(n))
    # The invoice's promise broke on D+4, the customer's on D+9 (not yet run).
    assert Promise.objects.get(pk=own.pk).broken_on == D + days(4)
    assert Promise.objects.get(pk=everything.pk).status == Promise.Status.OPEN
    assert reminded(org) == []  # still covered by the customer's promise
    run(org, D + days(9))
    run(org, D + days(9))  # the same date again records nothing new
    assert Promise.objects.get(pk=everything.pk).broken_on == D + days(9)
    assert reminded(org) == ["F1"]  # the firm reminder at once, despite its gap
    for n in range(10, 16):
        run(org, D + days(n))
    # No second waiver: the letter waits for its 10 days after the firm reminder.
    assert reminded(org) == ["F1"]
    assert events(customer).count("promise_broken") == 2


def test_a_hold_released_on_a_day_lets_dunning_resume_that_day_everywhere(org, customer):
    """The run plans on the day a hold ends, and the send-time re-check and the penalty
    service agree that it no longer holds."""
    scenario(org)
    new_invoice(customer, "F1", due=D - days(6))
    negotiation = hold_on(customer, start=D - days(10), kind="negotiation")
    pauses.release_hold(negotiation, on=D)
    run(org, D)
    assert reminded(org) == ["F1"]
    [comm] = Communication.objects.all()
    facts = batch.load([comm], D)
    assert recheck.recheck(comm, D, facts).kept  # not dropped as held on the day it ended
    proceedings = hold_on(customer, start=D - days(40), kind="insolvency",
                          published_on=D - days(40))  # fmt: skip
    pauses.release_hold(proceedings, on=D)
    assert penalty_service._in_proceedings(org.pk, [customer.pk], D) == set()
    assert penalty_service._in_proceedings(org.pk, [customer.pk], D - days(1)) == {customer.pk}
