"""On a day that is not a business day the policy plans no thank-you: the run does not look
for the items to thank (a scan of every item state not thanked), and the next business
day's run thanks for what was paid over the weekend."""

from __future__ import annotations

import datetime as dt

import factories as make
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from factories import days, pay

from relance.dunning.engine import run
from relance.dunning.models import Communication

pytestmark = pytest.mark.django_db

FRIDAY = dt.date(2026, 11, 20)
SUNDAY, MONDAY = FRIDAY + days(2), FRIDAY + days(3)


@pytest.fixture
def reminded(org):
    make.scenario(org)
    customer = make.customer(org, "C1")
    inv = make.invoice(customer, "F1", due=FRIDAY - days(5))
    run(org, FRIDAY)
    Communication.objects.update(status="sent")  # the worker sent the reminder
    pay(inv, on=FRIDAY + days(1))
    return inv


def _thanks() -> list[tuple[str, dt.date]]:
    return list(Communication.objects.filter(purpose="thanks").values_list("template", "run_date"))


def test_it_does_not_look_for_items_to_thank_on_a_non_business_day(org, reminded):
    with CaptureQueriesContext(connection) as queries:
        result = run(org, SUNDAY)
    assert not result.business_day
    assert not [q for q in queries.captured_queries if "thanked" in q["sql"]]
    assert _thanks() == []


def test_it_thanks_on_the_next_business_day_for_a_weekend_payment(org, reminded):
    run(org, SUNDAY)
    with CaptureQueriesContext(connection) as queries:
        run(org, MONDAY)
    assert [q for q in queries.captured_queries if "thanked" in q["sql"]]
    assert _thanks() == [("thanks", MONDAY)]
