"""A payment plan's schedule proposed to the cent, and its confirmation in writing: queued
through the outbox, re-checked, sent in the customer's language, recorded on the plan."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command
from factories import days
from hypothesis import given
from hypothesis import strategies as st

from relance.dunning import outbox, plans
from relance.dunning.models import Communication, PaymentPlan

D = dt.date(2026, 11, 24)


@given(
    cents=st.integers(min_value=1, max_value=10**12),
    count=st.integers(min_value=1, max_value=plans.MAX_INSTALMENTS),
)
def test_a_split_adds_up_exactly_and_differs_by_a_cent_at_most(cents, count):
    total = Decimal(cents).scaleb(-2)
    if cents < count:
        with pytest.raises(plans.PlanError):
            plans.split(total, count)
        return
    parts = plans.split(total, count)
    assert sum(parts) == total and len(parts) == count
    assert max(parts) - min(parts) <= Decimal("0.01")
    assert parts == sorted(parts, reverse=True)  # the extra cents come first


def test_monthly_dates_keep_the_day_or_take_the_months_last():
    assert plans.due_dates(dt.date(2027, 1, 31), 4, "month") == [
        dt.date(2027, 1, 31), dt.date(2027, 2, 28), dt.date(2027, 3, 31), dt.date(2027, 4, 30)
    ]  # fmt: skip
    assert plans.due_dates(D, 3, "fortnight") == [D, D + days(14), D + days(28)]
    with pytest.raises(plans.PlanError):
        plans.due_dates(D, 2, "yearly")


@pytest.fixture
def durand(db):
    org = make.organisation("acme")
    make.scenario(org)
    customer = make.customer(org, "C001", legal_name="Durand Ltd", email="ap@durand.test",
                             language="en")  # fmt: skip
    return customer


def test_the_confirmation_goes_out_in_english_once(mail, durand):
    invoice = make.invoice(durand, "F-1", due=D - days(30), amount="900.00")
    plan = make.plan(durand, [invoice], [(D + days(7), "450.00"), (D + days(37), "450.00")], on=D)
    comm = plans.confirm(plan, on=D)
    with pytest.raises(plans.PlanError):
        plans.confirm(plan, on=D)  # already on its way

    assert outbox.send_due(today=D).as_dict() == {"sent": 1}
    assert outbox.send_due(today=D).as_dict() == {}  # at most once

    [received] = mail.received
    assert received.subject.startswith("Your payment plan of 2 instalments")
    assert "1 December 2026" in received.text() and "€450.00" in received.text()
    assert "<table" in received.html() and "€900.00" in received.html()
    plan.refresh_from_db()
    comm.refresh_from_db()
    assert comm.status == "sent" and plan.confirmed_at == comm.sent_at


def test_a_second_plan_of_the_day_is_confirmed_the_next_day(durand):
    first, second = (make.invoice(durand, n, due=D - days(30)) for n in ("F-1", "F-2"))
    one = make.plan(durand, [first], [(D + days(7), "100.00")], on=D)
    two = make.plan(durand, [second], [(D + days(7), "100.00")], on=D)
    plans.confirm(one, on=D)
    with pytest.raises(plans.PlanError, match="tomorrow"):
        plans.confirm(two, on=D)
    plans.confirm(two, on=D + days(1))
    assert Communication.objects.filter(purpose="plan_confirmation").count() == 2


def test_the_command_agrees_and_confirms_a_plan(durand):
    make.invoice(durand, "F-1", due=D - days(30), amount="300.00")
    out = StringIO()
    call_command("plan", "create", "C001", "--invoice", "F-1", "--instalment",
                 f"{D + days(7)}:150", f"{D + days(37)}:150", "--date", D.isoformat(),
                 "--confirm", "--json", stdout=out)  # fmt: skip
    described = json.loads(out.getvalue())["plan"]
    plan = PaymentPlan.objects.get()
    assert described["confirmation"] == plan.confirmation_id is not None
    out = StringIO()
    call_command("plan", "cancel", str(plan.pk), "--date", D.isoformat(), "--json", stdout=out)
    assert json.loads(out.getvalue())["plan"]["status"] == "cancelled"
