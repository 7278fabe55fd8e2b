"""An instalment reminder is linked to its instalment (``Communication.instalment``): the
run writes the link, the send-time re-check and the message read the instalment through it,
never the explanation's JSON (which is for people)."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import customer, invoice, pay, plan

from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.instalments import REMIND_AFTER
from relance.dunning.models import CommPurpose, Communication, Instalment

D = dt.date(2026, 11, 24)  # a Tuesday
pytestmark = pytest.mark.django_db


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


@pytest.fixture
def agreed(org):
    debtor = customer(org, "C1", legal_name="Dupont SA", email="compta@dupont.test",
                      language="en")  # fmt: skip
    invoices = [invoice(debtor, "F1", due=D - days(30), amount="600.00"),
                invoice(debtor, "F2", due=D - days(20), amount="600.00")]  # fmt: skip
    # 1,200 in three instalments: 300 on D+10, 500 on D+40, 400 on D+70.
    return plan(debtor, invoices, [(D + days(10), "300"), (D + days(40), "500"),
                                   (D + days(70), "400")], on=D)  # fmt: skip


def remind_second(org, agreed) -> Communication:
    pay(agreed.invoices.get(number="F1"), "300.00", on=D + days(9))  # the first, on time
    day = D + days(40 + REMIND_AFTER + 1)
    run(org, day)
    return Communication.objects.get(purpose=CommPurpose.INSTALMENT)


def test_it_links_the_reminder_to_its_instalment(org, agreed):
    comm = remind_second(org, agreed)
    second = Instalment.objects.get(plan=agreed, due_date=D + days(40))
    assert comm.instalment_id == second.pk


def test_it_writes_the_message_from_the_instalment_not_from_the_explanation(mail, org, agreed):
    comm = remind_second(org, agreed)
    # What a person may read or an older version wrote: the message must not depend on it.
    Communication.objects.filter(pk=comm.pk).update(explanation={"why": "late"})

    report = outbox.send_due(today=comm.run_date)

    assert report.as_dict() == {"sent": 1}
    [received] = mail.received
    assert received.subject.startswith("Payment plan instalment of 3 January 2027")
    text = received.text()
    assert "€500.00" in text  # the instalment's amount
    assert "€900.00" in text  # what is left on the plan


def test_it_drops_the_reminder_once_its_own_instalment_is_paid(mail, org, agreed):
    comm = remind_second(org, agreed)
    Communication.objects.filter(pk=comm.pk).update(explanation={})
    # 300 + 500 paid: the invoices owe 400, the instalment after the second one.
    pay(agreed.invoices.get(number="F2"), "500.00", on=comm.run_date)

    assert outbox.send_due(today=comm.run_date).as_dict() == {"cancelled": 1}
    assert mail.received == []
    assert set(comm.items.values_list("dropped", flat=True)) == {"paid"}
