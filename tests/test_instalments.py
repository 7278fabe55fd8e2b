"""Payment plans: the instalments are followed instead of the invoices. Paid in order by what
the customer pays, reminded once, and a plan left unpaid defaults back to dunning."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factories as make
import pytest
from factories import days

from relance.dunning.engine import run
from relance.dunning.instalments import (
    DEFAULT_AFTER,
    REMIND_AFTER,
    InstalmentFacts,
    PlanFacts,
    decide,
)
from relance.dunning.models import Communication, Instalment, PaymentPlan, Task
from relance.ledger.models import TimelineEvent

D = dt.date(2026, 11, 24)  # a Tuesday
pytestmark = pytest.mark.django_db


def plan(owed: str, *instalments: tuple[int, str, dt.date | None]) -> PlanFacts:
    return PlanFacts(
        1, 7,
        [InstalmentFacts(n, D + days(offset), Decimal(amount), None, reminded)
         for n, (offset, amount, reminded) in enumerate(instalments, start=1)],
        Decimal(owed),
    )  # fmt: skip


# -- the pure decision --------------------------------------------------------------------


def test_payments_cover_the_instalments_in_order():
    # 900 owed at the start in three instalments; 350 paid since: the first only.
    facts = plan("550.00", (-20, "300.00", None), (-5, "300.00", None), (10, "300.00", None))
    decision = decide(facts, D)
    assert decision.newly_paid == [1]
    # The second is 5 days late, past the grace of REMIND_AFTER days: reminded.
    assert decision.remind is not None and decision.remind.instalment_id == 2
    assert decision.outcome is None and decision.remaining == Decimal("550.00")


def test_an_instalment_is_reminded_once_and_not_before_its_grace():
    early = plan("300.00", (-(REMIND_AFTER - 1), "300.00", None))
    assert decide(early, D).remind is None
    done = plan("300.00", (-(REMIND_AFTER + 3), "300.00", D - days(3)))
    assert decide(done, D).remind is None and decide(done, D).outcome is None


def test_nothing_is_sent_on_a_holiday_but_the_plan_is_still_followed():
    facts = plan("300.00", (-5, "300.00", None))
    assert decide(facts, D, business_day=False).remind is None


def test_a_plan_left_unpaid_defaults_and_a_paid_one_completes():
    late = plan("300.00", (-DEFAULT_AFTER, "300.00", D - days(10)))
    assert decide(late, D).outcome == "defaulted"
    paid = plan("0.00", (-30, "150.00", None), (-1, "150.00", None))
    decision = decide(paid, D)
    assert decision.outcome == "completed" and decision.newly_paid == [1, 2]


# -- through the run ----------------------------------------------------------------------


@pytest.fixture
def customer(org):
    return make.customer(org, "C1", legal_name="Dupont SAS")


@pytest.fixture
def invoices(org, customer):
    return [
        make.invoice(customer, number, due=D - days(60), issued=D - days(90), amount="600.00")
        for number in ("F1", "F2")
    ]


def agree(customer, invoices) -> PaymentPlan:
    # 1,200 in three instalments of 400: D+10, D+40, D+70.
    return make.plan(customer, invoices, [(D + days(n), "400.00") for n in (10, 40, 70)], on=D)


def reminders(org, purpose: str) -> list[dt.date]:
    return sorted(
        Communication.objects.filter(organisation=org, purpose=purpose).values_list(
            "run_date", flat=True
        )
    )


def test_the_run_follows_the_instalments_not_the_invoices(org, customer, invoices):
    plan = agree(customer, invoices)
    run(org, D)
    assert reminders(org, "reminder") == []  # the invoices are in the plan
    # Paid on time: the first instalment is recorded paid, nobody is reminded.
    make.pay(invoices[0], "400.00", on=D + days(9))
    run(org, D + days(13))
    first = Instalment.objects.filter(plan=plan).order_by("due_date").first()
    assert first is not None and first.paid_on == D + days(13)
    assert reminders(org, "instalment") == []
    # The second is late: one reminder, on the first business day past the grace, only once.
    second_due = D + days(40)
    for n in range(REMIND_AFTER + 4):
        run(org, second_due + days(n))
    [comm] = Communication.objects.filter(purpose="instalment")
    assert comm.template == "instalment_reminder" and comm.status == "queued"
    assert comm.explanation["instalment_amount"] == "400.00"
    assert comm.explanation["remaining_on_plan"] == "800.00"
    assert comm.run_date >= second_due + days(REMIND_AFTER)
    assert TimelineEvent.objects.filter(kind="communication_queued",
                                        data__communication=comm.pk).exists()  # fmt: skip


def test_a_defaulted_plan_sends_its_invoices_back_to_dunning(org, customer, invoices):
    plan = agree(customer, invoices)
    late = D + days(10 + DEFAULT_AFTER + 2)  # a Monday
    run(org, late)
    plan.refresh_from_db()
    assert plan.status == PaymentPlan.Status.DEFAULTED
    assert Task.objects.filter(key=f"plan-defaulted:{plan.pk}", kind="call").exists()
    assert TimelineEvent.objects.filter(kind="plan_defaulted", customer=customer).exists()
    # The same run reminds the invoices again, at the level they had.
    assert reminders(org, "reminder") == [late]
    run(org, late)  # the same day again: nothing new
    assert Task.objects.count() == 1 and reminders(org, "reminder") == [late]


def test_a_plan_paid_in_full_completes(org, customer, invoices):
    plan = agree(customer, invoices)
    make.pay(invoices[0], "600.00", on=D + days(5))
    make.pay(invoices[1], "600.00", on=D + days(6))
    run(org, D + days(7))
    plan.refresh_from_db()
    assert plan.status == PaymentPlan.Status.COMPLETED
    assert set(Instalment.objects.values_list("paid_on", flat=True)) == {D + days(7)}
    assert TimelineEvent.objects.filter(kind="plan_completed").exists()
    assert reminders(org, "instalment") == []


# -- the message ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "subject", "amounts"),
    [
        ("fr", "Échéance du 3 janvier 2027 de votre échéancier", ("400,00\xa0€", "800,00\xa0€")),
        ("en", "Payment plan instalment of 3 January 2027", ("€400.00", "€800.00")),
    ],
)
def test_the_instalment_reminder_reaches_the_customer(
    mail, org, customer, invoices, language, subject, amounts
):
    from relance.dunning import outbox

    customer.email = "compta@dupont.test"
    customer.language = language
    customer.save()
    agree(customer, invoices)
    make.pay(invoices[0], "400.00", on=D + days(9))  # the first instalment, on time
    day = D + days(40 + REMIND_AFTER + 1)  # the second is late
    run(org, day)
    outbox.send_due(today=day)

    [received] = mail.received
    text, html = received.text(), received.html()
    assert received.rcpt_tos == ["compta@dupont.test"]
    assert received.subject.startswith(subject)
    instalment, left = amounts
    for part in (text, html):
        assert instalment in part and left in part  # the instalment, what is left on the plan
        assert "F1" in part and "F2" in part
        assert "{{" not in part and "{%" not in part
    assert Communication.objects.get(purpose="instalment").status == "sent"


def test_an_instalment_paid_before_the_reminder_leaves_cancels_it(mail, org, customer, invoices):
    from relance.dunning import outbox

    customer.email = "compta@dupont.test"
    customer.save()
    agree(customer, invoices)
    day = D + days(10 + REMIND_AFTER + 1)
    run(org, day)
    make.pay(invoices[1], "400.00", on=day)  # paid in the meantime
    report = outbox.send_due(today=day)

    assert mail.received == [] and report.as_dict() == {"cancelled": 1}
    comm = Communication.objects.get(purpose="instalment")
    assert comm.status == "cancelled"
    assert set(comm.items.values_list("dropped", flat=True)) == {"paid"}
