"""`relance tasks list|done`: the calls and tasks the runs created, shown and closed."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import Task
from relance.ledger.models import TimelineEvent

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday


def tasks(*args):
    out = StringIO()
    call_command("tasks", *map(str, args), "--json", stdout=out)
    return json.loads(out.getvalue())["tasks"]


@pytest.fixture
def call(db):
    """A call planned by a run and handed to a person by the worker."""
    org = f.organisation("acme")
    f.scenario(org, [(5, 0, "call", "call")])
    customer = f.customer(org, "C-9", legal_name="Durand SARL")
    f.invoice(customer, "F-1", due=D - f.days(5), amount="800.00")
    run(org, D)
    assert outbox.send_due(today=D).counts["handed_over"] == 1
    return Task.objects.get()


def test_it_lists_the_calls_runs_created(call):
    [row] = tasks("list")
    assert (row["id"], row["kind"], row["status"], row["customer"]) == (
        call.pk, "call", "open", "C-9",
    )  # fmt: skip
    assert "Durand SARL" in row["title"] and row["due_on"] == D.isoformat()
    text = StringIO()
    call_command("tasks", "list", stdout=text)
    assert "Durand SARL" in text.getvalue()


def test_it_closes_a_task_with_a_note(call):
    [row] = tasks("done", call.pk, "--note", "promised for Friday")
    assert (row["status"], row["note"]) == ("done", "promised for Friday")
    assert tasks("list") == []
    [closed] = tasks("list", "--status", "done")
    assert closed["id"] == call.pk
    event = TimelineEvent.objects.get(kind="task_done")
    assert "promised for Friday" in event.summary and event.customer_id == call.customer_id


def test_it_refuses_to_close_what_is_not_open_and_closes_nothing(call):
    other = Task.objects.create(organisation=call.organisation, customer=call.customer,
                                kind="task", title="Check", due_on=D, key="other")  # fmt: skip
    tasks("done", call.pk)
    with pytest.raises(CommandError, match=str(call.pk)):
        call_command("tasks", "done", str(other.pk), str(call.pk), stdout=StringIO())
    other.refresh_from_db()
    assert other.status == "open"
