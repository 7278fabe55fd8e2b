"""One check for every amount a person types (``lib.amounts``): its bounds, French and
English typing, and the pages and forms that use it, each saying what is wrong the same
way, naming the field, in the reader's language."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import factories as make
import pytest
from django import forms
from django.urls import reverse
from django.utils import translation
from factories import days

from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import Promise, SegmentRule, Task
from relance.insights.management.commands.report import today_for
from relance.ledger.models import Contact, Dispute
from relance.lib.amounts import AmountError, AmountField, Bound, check_amount

NBSP = "\u00a0"


def said(text: str) -> str:
    """A page's text with its spaces plain: French puts no-break ones before ':' and
    inside « »."""
    return html.unescape(text).replace(NBSP, " ").replace("\u202f", " ")


# -- the check ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [("fr", "1 234,56", "1234.56"), ("fr", "1\u202f234,56", "1234.56"),
     ("fr", "1234.56", "1234.56"), ("fr", "0,5", "0.50"), ("en", "1,234.56", "1234.56"),
     ("en", "1234.56", "1234.56"), ("en", " 7 ", "7.00"), ("fr", "9" * 16, "9" * 16 + ".00")],
)  # fmt: skip
def test_it_reads_an_amount_typed_the_readers_way_or_the_stored_one(language, typed, read):
    with translation.override(language):
        assert check_amount(typed, "Amount") == Decimal(read)


def test_a_blank_is_no_amount_and_each_bound_keeps_its_own():
    assert check_amount("  ", "Amount") is None
    assert check_amount("0", "Threshold", Bound.ZERO_OR_MORE) == Decimal("0.00")
    with translation.override("en"), pytest.raises(AmountError) as refused:
        check_amount("0", "Amount", Bound.ABOVE_ZERO)
    assert str(refused.value) == "Amount: the amount must be above zero"
    with translation.override("en"), pytest.raises(AmountError) as refused:
        check_amount("-3", "Threshold", Bound.ZERO_OR_MORE)
    assert str(refused.value) == "Threshold: the amount cannot be below zero"
    with translation.override("en"), pytest.raises(AmountError) as refused:
        check_amount("-3", "Amount")
    assert str(refused.value) == "Amount: the amount must be above zero"


@pytest.mark.parametrize(
    ("language", "typed", "message"),
    [("en", "1e5", "Amount: “1e5” is not an amount (write it like 1,234.56)"),
     ("fr", "1e5", "Montant : « 1e5 » n'est pas un montant (écrivez-le comme 1 234,56)"),
     ("fr", "abc", "Montant : « abc » n'est pas un montant (écrivez-le comme 1 234,56)"),
     ("fr", "12 €", "Montant : « 12 € » n'est pas un montant (écrivez-le comme 1 234,56)"),
     ("en", "12.345", "Amount: at most two decimals (cents)"),
     ("fr", "12,345", "Montant : au plus deux décimales (les centimes)"),
     ("en", "1" * 17, "Amount: at most 9,999,999,999,999,999.99"),
     ("fr", "1" * 17, "Montant : au plus 9 999 999 999 999 999,99"),
     ("fr", "-3", "Montant : le montant doit être supérieur à zéro")],
)  # fmt: skip
def test_it_says_what_is_wrong_naming_the_field_in_the_readers_language(language, typed, message):
    with translation.override(language), pytest.raises(AmountError) as refused:
        check_amount(typed, translation.gettext("Amount"))
    assert said(str(refused.value)) == message


def test_a_maximum_of_the_field_is_said_the_readers_way():
    with translation.override("fr"), pytest.raises(AmountError) as refused:
        check_amount("1 000 000,01", "Solde minimum", Bound.ZERO_OR_MORE, maximum=Decimal(10**6))
    assert said(str(refused.value)) == "Solde minimum : au plus 1 000 000,00"
    assert check_amount("1000000", "x", Bound.ZERO_OR_MORE, maximum=Decimal(10**6)) == 10**6


class _Form(forms.Form):
    amount = AmountField(label="Amount", required=False)
    needed = AmountField(label="Threshold", bound=Bound.ZERO_OR_MORE)


def test_the_form_field_is_the_same_check_as_a_text_input():
    with translation.override("en"):
        form = _Form({"amount": "1e5", "needed": ""})
        assert not form.is_valid()
        assert form.errors == {
            "amount": ["Amount: “1e5” is not an amount (write it like 1,234.56)"],
            "needed": ["Threshold: an amount is needed"],
        }
        form = _Form({"amount": "1,234.5", "needed": "0"})
        assert form.is_valid(), form.errors
        assert form.cleaned_data == {"amount": Decimal("1234.50"), "needed": Decimal("0.00")}
    with translation.override("fr"):
        shown = str(_Form(initial={"amount": Decimal("1234.5"), "needed": 0})["amount"])
    assert 'inputmode="decimal"' in shown and 'type="text"' in shown
    assert f'value="1{NBSP}234,50"' in shown.replace("\u202f", NBSP)


# -- the pages and forms that use it -----------------------------------------------------


@pytest.fixture
def durand(org):
    make.scenario(org)
    return make.customer(org, "C001", legal_name="Durand SARL", email="factures@durand.test")


@pytest.fixture
def collector(client, org):
    user = make.member(org, "collector@acme.test", "collector")
    client.force_login(user)
    return user


def test_a_promise_on_the_customers_page(client, org, durand, collector):
    invoice = make.invoice(durand, "F-1", due=today_for(org) - days(10), amount="2000.00")
    url = f"/customers/{durand.pk}/promise/"
    posted = {"promise-promised_on": "2026-12-20", "promise-invoice": str(invoice.pk),
              "promise-grace_days": "4"}  # fmt: skip
    for typed, message in [
        ("1e5", "Montant : « 1e5 » n'est pas un montant (écrivez-le comme 1 234,56)"),
        ("0", "Montant : le montant doit être supérieur à zéro"),
        ("10,001", "Montant : au plus deux décimales (les centimes)"),
    ]:
        page = client.post(url, {**posted, "promise-amount": typed})
        assert message in said(page.content.decode()), typed
    assert not Promise.objects.exists()
    client.post(url, {**posted, "promise-amount": "1 234,56"})
    assert Promise.objects.get().amount == Decimal("1234.56")


def test_a_disputed_amount_on_the_customers_page_and_the_dispute_page(
    client, org, durand, collector
):
    invoice = make.invoice(durand, "F-1", due=today_for(org) - days(10), amount="2000.00")
    refused = client.post(f"/customers/{durand.pk}/dispute/", {
        "dispute-invoices": [invoice.pk], "dispute-reason": "price", "dispute-amount": "-3",
    })  # fmt: skip
    assert refused.status_code == 400
    assert "Montant contesté (une facture) : le montant doit être supérieur à zéro" in said(
        refused.content.decode()
    )
    refused = client.post(reverse("console:dispute_new"), {
        "customer": durand.pk, "invoice": [invoice.pk], "reason": "price",
        f"amount-{invoice.pk}": "1e5",
    })  # fmt: skip
    assert "Montant contesté de F-1 : « 1e5 » n'est pas un montant" in said(
        refused.content.decode()
    )
    assert not Dispute.objects.exists()
    client.post(reverse("console:dispute_new"), {
        "customer": durand.pk, "invoice": [invoice.pk], "reason": "price",
        f"amount-{invoice.pk}": "1 500,5",
    })  # fmt: skip
    dispute = Dispute.objects.get()
    assert dispute.amount == Decimal("1500.50")
    url = reverse("console:dispute_resolve", args=[dispute.pk])
    refused = client.post(url, {"outcome": "credit_note", "credit_reference": "AV-1",
                                "credit_amount": "0", "resolution": "x"})  # fmt: skip
    assert refused.status_code == 400
    assert "Montant de l'avoir : le montant doit être supérieur à zéro" in said(
        refused.content.decode()
    )


def test_an_amount_promised_on_a_call(client, org, collector):
    make.scenario(org, [(5, 0, "call", "call")])
    customer = make.customer(org, "C-1", legal_name="Durand SARL", collector=collector)
    make.invoice(customer, "F-1", due=today_for(org) - days(5), amount="800.00")
    Contact.objects.create(organisation=org, customer=customer, name="Paul",
                           phone="+33 1 23 45 67 00", is_primary=True)  # fmt: skip
    run(org, today_for(org))
    outbox.send_due(today=today_for(org))
    task = Task.objects.get(kind="call")
    url = reverse("console:call_outcome", args=[task.pk])
    promise = {"outcome": "promise", "promised_on": str(today_for(org) + dt.timedelta(days=7))}
    answer = client.post(url, {**promise, "amount": "1e5"}, HTTP_HX_REQUEST="true")
    assert "Montant promis : « 1e5 » n'est pas un montant" in said(answer.content.decode())
    answer = client.post(url, {**promise, "amount": "-3"}, HTTP_HX_REQUEST="true")
    assert "Montant promis : le montant doit être supérieur à zéro" in said(answer.content.decode())
    assert not Promise.objects.exists()
    client.post(url, {**promise, "amount": "800,5"}, HTTP_HX_REQUEST="true")
    assert Promise.objects.get().amount == Decimal("800.50")


def test_a_threshold_in_the_segment_rules_and_the_scenarios_steps(client, org):
    example = make.scenario(org)
    client.force_login(make.member(org, "manager@acme.test", "manager"))

    def rules(typed):
        row = {"name": "Gros", "scenario": example.slug, "risk_class": "",
               "min_invoice_amount": typed, "min_years": "", "max_years": ""}  # fmt: skip
        data = {f"rule_{key}": [value] for key, value in row.items()}
        return client.post(reverse("console:scenario_rules"), {**data, "op": "save"})

    for typed, message in [
        ("1e5", "Une facture ouverte d'au moins : « 1e5 » n'est pas un montant"),
        ("-3", "Une facture ouverte d'au moins : le montant ne peut pas être négatif"),
    ]:
        page = rules(typed)
        assert page.status_code == 200 and message in said(page.content.decode()), typed
    assert not SegmentRule.objects.exists()
    assert rules("0").status_code == 302  # zero or more
    assert rules("20 000,5").status_code == 302
    assert SegmentRule.objects.get().min_invoice_amount == Decimal("20000.50")

    steps = list(example.steps.order_by("position"))
    data = {
        "name": example.name, "description": "", "thank_on_payment": "on", "op": "save",
        **{f"step_{key}": [str(getattr(s, key) or "") for s in steps]
           for key in ("name", "offset", "min_gap", "channel", "template", "mode")},
        "step_min_amount": ["12,345"] + [""] * (len(steps) - 1),
        "step_max_amount": ["1" * 17] + [""] * (len(steps) - 1),
    }  # fmt: skip
    page = client.post(reverse("console:scenario", args=[example.slug]), data)
    text = said(page.content.decode())
    assert "Montant minimum : au plus deux décimales (les centimes)" in text
    assert "Montant maximum : au plus 9 999 999 999 999 999,99" in text
    assert example.steps.filter(min_amount__isnull=False).count() == 0


def test_the_minimum_balance_in_the_settings(client, org):
    client.force_login(make.member(org, "admin@acme.test", "admin"))
    url = reverse("console:settings_dunning")
    posted = {"contact_gap": "3", "promise_grace_days": "2"}
    for typed, message in [
        ("-3", "Solde minimum : le montant ne peut pas être négatif"),
        ("1e5", "Solde minimum : « 1e5 » n'est pas un montant"),
        ("2 000 000", "Solde minimum : au plus 1 000 000,00"),
    ]:
        page = client.post(url, {**posted, "min_balance": typed})
        assert message in said(page.content.decode()), typed
    org.refresh_from_db()
    assert org.min_balance == Decimal("1.00")
    client.post(url, {**posted, "min_balance": "0"})
    org.refresh_from_db()
    assert org.min_balance == Decimal("0.00")
