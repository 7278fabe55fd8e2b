"""One penalty figure: what an e-mail states, what the penalty service computes and what
`relance customer show` prints are the same, credit notes included (a credit note corrects
the amount invoiced from the start; it is not a late payment)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import factories as make
import pytest
from django.core.management import call_command
from django.utils import translation

from relance.channels.formatting import money
from relance.dunning.models import Rate
from relance.dunning.penalty_service import customer_penalties, invoice_penalty, load_payments

TODAY = date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(datetime(2026, 11, 23, 9, 30, tzinfo=ZoneInfo("Europe/Paris")))


@pytest.fixture
def credited(db):
    """An invoice of 1,000 EUR due 15 October 2026, corrected by a credit note of 200 on
    2 November and paid 300 late on 9 November; the rate of 2026-H2 is 12.15 %."""
    org = make.organisation(email="compta@acme.test")
    Rate.objects.create(series="fr_late_penalty_default", date=date(2026, 7, 1), percent="12.15")
    durand = make.customer(org, "C001", email="factures@durand.test")
    make.contact(durand, "Marie", "marie@durand.test")
    item = make.invoice(durand, "F-2026-301", due=date(2026, 10, 15), amount="1000.00")
    make.credit(item, "200.00", on=date(2026, 11, 2))
    make.pay(item, "300.00", on=date(2026, 11, 9))
    return item


def test_it_states_in_the_email_the_figure_of_the_penalty_service(transactional_db, mail, credited):
    # Through `relance worker --once`, whose loop drops old connections: outside a test
    # transaction.
    comm = make.communication(credited.customer, [credited], on=TODAY, template="firm_reminder")
    comm.items.update(step_position=4)  # the firm reminder is the example's fourth step

    call_command("worker", "--once", stdout=StringIO(), stderr=StringIO())

    penalty = invoice_penalty(credited, TODAY)
    # The credit note lowers the amount from the start: 800 from 16 October, 500 after the
    # payment of 9 November.
    # 16 October-9 November: 800 x 12.15 % x 25 / 365 = 2,430 / 365 = 6.6575... = 6.66
    # 10-23 November: 500 x 12.15 % x 14 / 365 = 850.5 / 365 = 2.3301... = 2.33
    # (Counted as a payment of 2 November, the credit note made it 10.18: 1,000 for 18 days
    # = 5.99, 800 for 7 days = 1.86, then 2.33.)
    assert [(line.base, line.days, line.amount) for line in penalty.lines] == [
        (Decimal("800.00"), 25, Decimal("6.66")),
        (Decimal("500.00"), 14, Decimal("2.33")),
    ]
    assert penalty.interest == Decimal("8.99")
    text = mail.received[0].text()
    with translation.override("fr"):
        stated = (
            f"ces sommes s'élèvent à {money(penalty.interest, 'EUR')} de pénalités et "
            f"{money(penalty.indemnity, 'EUR')} d'indemnité"
        )
    assert stated in text, text


def test_it_prints_the_figure_of_the_penalty_service_in_customer_show(credited):
    out = StringIO()
    call_command("customer", "show", "C001", "--date", "2026-11-23", "--json", stdout=out)
    shown = json.loads(out.getvalue())
    service = customer_penalties(credited.customer, TODAY)
    (item,) = shown["open_items"]
    assert item["penalty"]["interest"] == str(service.invoices[0].penalty.interest) == "8.99"
    assert shown["penalties"]["EUR"]["total"] == str(service.totals["EUR"].total) == "48.99"


def test_it_loads_payments_and_credit_notes_apart_up_to_the_day_asked(credited):
    loaded = load_payments(credited.organisation_id, [credited.pk], date(2026, 11, 5))
    assert loaded[credited.pk].payments == ()
    assert loaded[credited.pk].credit_notes == ((date(2026, 11, 2), Decimal("200.00")),)
    later = load_payments(credited.organisation_id, [credited.pk], TODAY)[credited.pk]
    assert later.payments == ((date(2026, 11, 9), Decimal("300.00")),)
