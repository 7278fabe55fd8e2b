"""How a dispute ends and what that does to dunning: rejected or settled resume where the
invoice stood; a credit note is recorded through the ledger, keyed by its number so that the
accounting export bringing it later does not count it twice. The command line too."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from factories import days

from relance.dunning import pauses
from relance.dunning.customer_view import customer_view
from relance.dunning.models import ItemState
from relance.ledger.imports import import_file
from relance.ledger.imports.mapping import load_mapping
from relance.ledger.models import Dispute, Invoice, Payment

D = dt.date(2026, 11, 24)
pytestmark = pytest.mark.django_db

CREDITS_MAPPING = (
    "record: payment\ncolumns:\n  customer.reference: client\n  payment.reference: ref\n"
    "  payment.date: date\n  payment.kind: kind\n  allocation.amount: amount\n"
    "  allocation.invoice: invoice\n"
)


@pytest.fixture
def acme(db):
    org = make.organisation("acme")
    make.scenario(org)
    return org


@pytest.fixture
def durand(acme):
    return make.customer(acme, "C001", legal_name="Durand SARL", email="f@durand.test")


def export_credit_note(org, folder: Path, reference: str, number: str, amount: str) -> None:
    """The accounting export, later, bringing the credit note through the import path."""
    path = folder / "credits.csv"
    path.write_text(
        f"client,ref,date,kind,amount,invoice\nC001,{reference},{D + days(3):%d/%m/%Y},"
        f"credit_note,{amount},{number}\n",
        encoding="utf-8",
    )
    (folder / "mapping.yaml").write_text(CREDITS_MAPPING, encoding="utf-8")
    import_file(org, path, mapping=load_mapping(folder / "mapping.yaml"), as_of=D + days(3))


def test_a_rejected_dispute_resumes_dunning_where_the_invoice_stood(acme, durand):
    invoice = make.invoice(durand, "F-1", due=D - days(20))
    ItemState.objects.create(invoice=invoice, level=2, level_date=D - days(15))
    dispute = make.dispute(invoice, on=D - days(14))
    [paused] = customer_view(acme, durand, D).open_items
    assert paused.paused == "dispute" and paused.next_step.on is None

    pauses.resolve_dispute(dispute, on=D, resolution="goods delivered", outcome="rejected")

    [item] = customer_view(acme, durand, D).open_items
    assert item.paused is None and item.level == 2
    # The third step (J+8 call) was due long ago and its gap has passed: today.
    assert (item.next_step.position, item.next_step.on) == (3, D)
    assert Dispute.objects.get().outcome == "rejected"


def test_a_credit_note_is_not_counted_twice_when_the_export_brings_it(acme, durand, tmp_path):
    invoice = make.invoice(durand, "F-1", due=D - days(20), amount="1000.00")
    dispute = make.dispute(invoice, on=D - days(5), reason="price")

    pauses.resolve_dispute(dispute, on=D, resolution="agreed", outcome="credit_note",
                           credit_note=pauses.CreditNote("AV-17", Decimal("150.00")))  # fmt: skip
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("850.00")

    export_credit_note(acme, tmp_path, "AV-17", "F-1", "150.00")

    invoice.refresh_from_db()
    assert invoice.balance == Decimal("850.00")
    assert Payment.objects.filter(kind="credit_note").count() == 1


def test_a_credit_note_the_export_brought_first_is_used_as_it_is(acme, durand, tmp_path):
    invoice = make.invoice(durand, "F-1", due=D - days(20), amount="1000.00")
    dispute = make.dispute(invoice, on=D - days(5), reason="price")
    export_credit_note(acme, tmp_path, "AV-18", "F-1", "200.00")

    pauses.resolve_dispute(dispute, on=D + days(4), resolution="credited", outcome="credit_note",
                           credit_note=pauses.CreditNote("AV-18", Decimal("200.00")))  # fmt: skip

    assert Invoice.objects.get(pk=invoice.pk).balance == Decimal("800.00")
    assert Payment.objects.count() == 1


def test_a_credit_note_is_refused_above_what_is_owed_or_under_another_payments_number(acme, durand):
    invoice = make.invoice(durand, "F-1", due=D - days(20), amount="100.00")
    make.pay(make.invoice(durand, "F-2", due=D), on=D, reference="VIR-1")
    dispute = make.dispute(invoice, on=D - days(5))
    for credit in (pauses.CreditNote("AV-1", Decimal("100.01")),
                   pauses.CreditNote("VIR-1", Decimal("10.00")),
                   pauses.CreditNote(" ", Decimal("10.00"))):  # fmt: skip
        with pytest.raises(pauses.PauseError):
            pauses.resolve_dispute(dispute, on=D, resolution="x", outcome="credit_note",
                                   credit_note=credit)  # fmt: skip
    with pytest.raises(pauses.PauseError):
        pauses.resolve_dispute(dispute, on=D, resolution="x", outcome="credit_note")
    dispute.refresh_from_db()
    assert dispute.is_open and Invoice.objects.get(pk=invoice.pk).balance == Decimal("100.00")


def test_the_command_resolves_with_an_outcome_and_assigns(acme, durand):
    make.member(acme, "claire@acme.test", "collector")
    invoice = make.invoice(durand, "F-1", due=D - days(20), amount="500.00")
    make.dispute(invoice, on=D - days(5))
    out = StringIO()
    call_command("dispute", "assign", "F-1", "--to", "claire@acme.test", "--json", stdout=out)
    assert json.loads(out.getvalue())["disputes"][0]["assignee"] == "claire@acme.test"

    out = StringIO()
    call_command("dispute", "resolve", "F-1", "--resolution", "credited", "--outcome",
                 "credit_note", "--credit-note", "AV-9", "--credit-amount", "120.50",
                 "--date", D.isoformat(), "--json", stdout=out)  # fmt: skip

    [described] = json.loads(out.getvalue())["disputes"]
    assert (described["outcome"], described["open"]) == ("credit_note", False)
    assert Invoice.objects.get(pk=invoice.pk).balance == Decimal("379.50")
    with pytest.raises(CommandError) as usage:
        call_command("dispute", "resolve", "F-1", "--resolution", "x", "--credit-note", "AV-10")
    assert usage.value.returncode == 2


def test_the_command_cancels_a_promise(acme, durand):
    make.invoice(durand, "F-1", due=D - days(20))
    promise = make.promise(durand, promised_on=D + days(3))
    out = StringIO()
    call_command("promise", "cancel", str(promise.pk), "--date", D.isoformat(), "--json",
                 stdout=out)  # fmt: skip
    assert json.loads(out.getvalue())["promise"]["status"] == "cancelled"
    with pytest.raises(CommandError) as again:
        call_command("promise", "cancel", str(promise.pk))
    assert "only an open promise" in str(again.value)
