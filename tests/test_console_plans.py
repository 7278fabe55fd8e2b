"""The console's payment plans: the builder proposes instalments that add up to the cent and
refuses those that do not, the plan is confirmed to the customer in writing through the
outbox, its page follows each instalment, and it can be cancelled; roles, other
organisations and query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factories as make
import pytest
from django.urls import reverse
from factories import days

from relance.audit.models import AuditEvent
from relance.dunning import outbox
from relance.dunning.models import Communication, PaymentPlan
from relance.insights.management.commands.report import today_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def today(org) -> dt.date:
    return today_for(org)


@pytest.fixture
def cast(org):
    return {role: make.member(org, f"{role}@acme.test", role)
            for role in ("manager", "collector", "viewer")}  # fmt: skip


@pytest.fixture
def durand(org):
    make.scenario(org)
    customer = make.customer(org, "C001", legal_name="Durand SARL", email="factures@durand.test")
    make.contact(customer, "Marie Durand", "marie@durand.test")
    return customer


@pytest.fixture
def invoices(durand, today):
    return [
        make.invoice(durand, "F-1", due=today - days(40), amount="700.00"),
        make.invoice(durand, "F-2", due=today - days(20), amount="300.01"),
    ]


def test_it_proposes_instalments_that_add_up_to_the_cent(client, cast, durand, invoices, today):
    client.force_login(cast["collector"])
    first = today + days(10)
    page = client.get(reverse("console:plan_new"), {
        "customer": durand.pk, "invoice": [i.pk for i in invoices], "count": "3",
        "first": first.isoformat(), "period": "month", "propose": "1",
    })  # fmt: skip
    builder = page.context["builder"]
    assert page.status_code == 200 and builder.owed == Decimal("1000.01")
    assert [amount for _, amount in builder.parsed] == [
        Decimal("333.34"),
        Decimal("333.34"),
        Decimal("333.33"),
    ]
    assert builder.parsed[0][0] == first
    assert builder.shortfall == 0 and b'id="plan-adds-up"' in page.content
    assert not PaymentPlan.objects.exists()  # proposing writes nothing


def test_it_refuses_instalments_that_do_not_add_up_and_writes_nothing(
    client, cast, durand, invoices, today
):
    client.force_login(cast["collector"])
    answer = client.post(reverse("console:plan_new"), {
        "customer": durand.pk, "invoice": [i.pk for i in invoices], "confirm": "1",
        "due-0": (today + days(10)).isoformat(), "amount-0": "500,00",
        "due-1": (today + days(40)).isoformat(), "amount-1": "500.00",
    })  # fmt: skip
    assert answer.status_code == 400
    assert b'id="plan-shortfall"' in answer.content
    assert b"the instalments add up to 1000.00, the invoices owe 1000.01" in answer.content
    assert not PaymentPlan.objects.exists() and not Communication.objects.exists()


def test_it_agrees_a_plan_and_its_confirmation_reaches_the_customer(
    client, mail, org, cast, durand, invoices, today
):
    client.force_login(cast["collector"])
    answer = client.post(reverse("console:plan_new"), {
        "customer": durand.pk, "invoice": [i.pk for i in invoices], "confirm": "1",
        "note": "agreed by phone with Marie",
        "due-0": (today + days(10)).isoformat(), "amount-0": "500.01",
        "due-1": (today + days(40)).isoformat(), "amount-1": "500",
    })  # fmt: skip
    plan = PaymentPlan.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("console:plan", args=[plan.pk])
    comm = plan.confirmation
    assert (comm.purpose, comm.template, comm.status) == (
        "plan_confirmation",
        "plan_confirmation",
        "queued",
    )
    assert plan.confirmed_at is None

    report = outbox.send_due(today=today)

    assert report.as_dict() == {"sent": 1}
    [received] = mail.received
    assert received.rcpt_tos == ["marie@durand.test"]
    assert received.subject.startswith("Votre échéancier de paiement en 2 échéances")
    for part in (received.text(), received.html()):
        assert "F-1" in part and "F-2" in part
        assert "500,01" in part and "1 000,01" in part.replace("\u202f", " ").replace("\xa0", " ")
        assert "{{" not in part and "{%" not in part
    plan.refresh_from_db()
    assert plan.confirmed_at is not None
    page = client.get(reverse("console:plan", args=[plan.pk]))
    assert page.status_code == 200 and b'id="plan-confirm"' not in page.content
    assert AuditEvent.objects.filter(action="plan.created").exists()
    assert AuditEvent.objects.filter(action="plan.confirmation_queued").exists()


def test_the_plan_page_follows_each_instalment(client, cast, durand, invoices, today):
    schedule = [(today - days(30), "400.00"), (today - days(3), "300.00"),
                (today + days(27), "300.01")]  # fmt: skip
    plan = make.plan(durand, invoices, schedule, on=today - days(40))
    make.pay(invoices[0], "400.00", on=today - days(29))
    client.force_login(cast["viewer"])
    page = client.get(reverse("console:plan", args=[plan.pk]))
    assert page.status_code == 200
    assert [s.state for s in page.context["schedule"]] == ["paid", "late", "due"]
    assert b'id="plan-cancel"' not in page.content  # a viewer changes nothing


def test_it_cancels_a_plan_and_its_unsent_confirmation_is_dropped(
    client, mail, cast, durand, invoices, today
):
    plan = make.plan(durand, invoices, [(today + days(10), "1000.01")], on=today)
    client.force_login(cast["collector"])
    assert client.post(reverse("console:plan_confirm", args=[plan.pk])).status_code == 302
    assert client.post(reverse("console:plan_cancel", args=[plan.pk]),
                       {"note": "customer paid in full instead"}).status_code == 302  # fmt: skip
    plan.refresh_from_db()
    assert plan.status == "cancelled"

    report = outbox.send_due(today=today)

    assert report.as_dict() == {"cancelled": 1} and mail.received == []
    assert set(plan.confirmation.items.values_list("dropped", flat=True)) == {"plan_closed"}
    assert AuditEvent.objects.filter(action="plan.cancelled").count() == 1


def test_roles_and_other_organisations(client, org, cast, outsider, durand, invoices, today):
    plan = make.plan(durand, invoices, [(today + days(10), "1000.01")], on=today)
    client.force_login(cast["viewer"])
    assert client.get(reverse("console:plans")).status_code == 200
    assert client.get(reverse("console:plan_new"), {"customer": durand.pk}).status_code == 403
    assert client.post(reverse("console:plan_cancel", args=[plan.pk])).status_code == 403
    durand.collector = cast["manager"]
    durand.save()
    client.force_login(cast["collector"])
    assert client.post(reverse("console:plan_cancel", args=[plan.pk])).status_code == 403
    client.force_login(outsider)
    assert client.get(reverse("console:plan", args=[plan.pk])).status_code == 404
    assert client.post(reverse("console:plan_confirm", args=[plan.pk])).status_code == 404
    assert b"Durand" not in client.get(reverse("console:plans")).content
    plan.refresh_from_db()
    assert plan.status == "active" and plan.confirmation_id is None


@pytest.mark.parametrize("rows", [3, 30])
def test_the_plans_list_costs_the_same_queries_for_3_and_30_rows(
    client, org, cast, today, rows, django_assert_max_num_queries
):
    for n in range(rows):
        customer = make.customer(org, f"P{n}")
        invoice = make.invoice(customer, f"P-{n}", due=today)
        make.plan(customer, [invoice], [(today + days(5), "100.00")], on=today)
    client.force_login(cast["manager"])
    with django_assert_max_num_queries(8):
        page = client.get(reverse("console:plans"))
    assert page.content.count(b"data-plan=") == rows
