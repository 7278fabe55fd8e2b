"""The organisation's default grace of promises: a promise recorded without a grace (the
command, the service, the console) gets it; one given explicitly keeps its own."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command

from relance.accounts.identity import update_identity
from relance.dunning import actions, pauses

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)


def test_it_gives_new_promises_the_organisation_grace(org):
    customer = make.customer(org, "C1")
    make.invoice(customer, "F1", due=D - make.days(10))
    update_identity(org, {"promise_grace_days": "5"})

    assert pauses.record_promise(customer, promised_on=D).grace_days == 5
    assert actions.add_promise(org, "C1", promised_on=D).grace_days == 5
    out = StringIO()
    call_command("promise", "add", "C1", "--on", D.isoformat(), "--json", stdout=out)
    assert json.loads(out.getvalue())["promise"]["grace_days"] == 5


def test_it_keeps_a_grace_given_explicitly(org):
    customer = make.customer(org, "C1")
    make.invoice(customer, "F1", due=D - make.days(10))
    update_identity(org, {"promise_grace_days": "5"})
    assert pauses.record_promise(customer, promised_on=D, grace_days=0).grace_days == 0
    out = StringIO()
    call_command("promise", "add", "C1", "--on", D.isoformat(), "--grace", "1", "--json",
                 stdout=out)  # fmt: skip
    assert json.loads(out.getvalue())["promise"]["grace_days"] == 1
