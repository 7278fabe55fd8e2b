"""What came of a call, recorded in one step (`relance tasks call`, the calls page): the task
closed, the timeline and the audit written, and the effect of each outcome on the engine."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.audit.models import AuditEvent
from relance.dunning import calls, outbox
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Communication, Promise, Task
from relance.ledger.models import Contact, Dispute, TimelineEvent

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday
# A call at J+5, an e-mail the day after: what a recorded call must hold back or not.
STEPS = [(5, 0, "call", "call"), (6, 1, "email", "first_reminder")]


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=False)


@pytest.fixture
def call(db):
    """A call planned by a run and handed to a person by the worker."""
    org = f.organisation("acme")
    f.scenario(org, STEPS)
    customer = f.customer(org, "C-9", legal_name="Durand SARL", email="compta@durand.test")
    f.invoice(customer, "F-1", due=D - f.days(5), amount="800.00")
    Contact.objects.create(organisation=org, customer=customer, name="Paul Durand",
                           phone="+33 1 23 45 67 89", is_primary=True)  # fmt: skip
    run(org, D)
    assert outbox.send_due(today=D).counts["handed_over"] == 1
    return Task.objects.get(kind="call")


def record(task, *args):
    out = StringIO()
    call_command("tasks", "call", str(task.pk), *map(str, args), "--json", stdout=out)
    [row] = json.loads(out.getvalue())["tasks"]
    return row


def planned_next_day(task):
    """What the run of the next day plans for the customer (e-mails and calls)."""
    run(task.organisation, D + f.days(1))
    return list(
        Communication.objects.filter(customer=task.customer, run_date=D + f.days(1)).values_list(
            "channel", flat=True
        )
    )


def test_it_records_a_reached_call_as_a_note_and_dunning_goes_on(call):
    owner = f.member(call.organisation, "marie@acme.test", "collector")
    task = calls.record_outcome(call, "reached", note="will look into it", user_id=owner.pk)
    assert (task.status, task.outcome, task.closed_by_id) == ("done", "reached", owner.pk)
    assert task.closed_at is not None
    event = TimelineEvent.objects.get(kind="call_made")
    assert "will look into it" in event.summary and event.actor_id == owner.pk
    audit = AuditEvent.objects.get(action="call.recorded")
    assert audit.data["outcome"] == "reached" and audit.user_id == owner.pk
    assert planned_next_day(call) == ["email"]  # a note changes nothing for the engine


def test_it_records_a_promise_and_the_next_run_pauses(call):
    row = record(call, "--outcome", "promise", "--on", D + f.days(7), "--amount", "800",
                 "--note", "by transfer")  # fmt: skip
    assert (row["status"], row["outcome"]) == ("done", "promise")
    promise = Promise.objects.get()
    assert (promise.promised_on, promise.amount) == (D + f.days(7), Decimal("800.00"))
    assert promise.grace_days == call.organisation.promise_grace_days
    assert planned_next_day(call) == []


def test_it_records_a_dispute_on_the_calls_invoices_and_the_next_run_pauses(call):
    record(call, "--outcome", "dispute", "--reason", "quality", "--note", "broken parts")
    dispute = Dispute.objects.get()
    assert (dispute.invoice.number, dispute.reason, dispute.opened_on) == ("F-1", "quality", D)
    assert planned_next_day(call) == []


def test_it_calls_again_two_business_days_after_no_answer(call):
    friday = D + f.days(4)
    calls.record_outcome(call, "no_answer", on=friday)
    again = Task.objects.get(kind="call", status="open")
    assert again.due_on == D + f.days(8)  # Monday, then Tuesday
    assert again.communication_id == call.communication_id
    assert again.data["attempt"] == 2
    # Closed days of the organisation and public holidays are skipped too.
    org = call.organisation
    org.closed_days = ["2026-11-30"]
    org.save()
    calls.record_outcome(again, "no_answer", on=friday)
    third = Task.objects.get(kind="call", status="open")
    assert third.due_on == D + f.days(9)
    assert calls.business_days_after(org, dt.date(2026, 12, 24), 2) == dt.date(2026, 12, 29)


def test_it_marks_a_wrong_number_and_asks_for_the_right_one(call):
    calls.record_outcome(call, "wrong_number")
    assert not Contact.objects.get().phone_valid
    find = Task.objects.get(kind="find_number")
    assert (find.status, find.data["wrong"]) == ("open", ["+33 1 23 45 67 89"])


def test_it_pauses_a_customer_who_says_it_paid_while_the_payment_is_checked(call):
    calls.record_outcome(call, "paid", note="paid yesterday by transfer")
    promise = Promise.objects.get()
    assert (promise.promised_on, promise.grace_days) == (D, calls.PAID_GRACE)
    check = Task.objects.get(kind="check_payment")
    assert check.due_on == D + f.days(calls.PAID_GRACE)
    assert check.data["invoices"] == ["F-1"]
    assert planned_next_day(call) == []


def test_it_refuses_what_it_cannot_record_and_writes_nothing(call):
    with pytest.raises(CommandError, match="needs the date promised"):
        record(call, "--outcome", "promise")
    with pytest.raises(CommandError, match="needs its reason"):
        record(call, "--outcome", "dispute")
    with pytest.raises(CommandError, match="before the call"):
        record(call, "--outcome", "promise", "--on", D - f.days(1))
    call.refresh_from_db()
    assert (call.status, call.outcome) == ("open", "")
    assert not TimelineEvent.objects.filter(kind="call_made").exists()
    record(call, "--outcome", "no_answer")
    with pytest.raises(CommandError, match="not open"):
        record(call, "--outcome", "reached")
    assert Task.objects.filter(kind="call").count() == 2  # one retry, not two
    other = Task.objects.create(organisation=call.organisation, customer=call.customer,
                                kind="letter", title="Post it", due_on=D, key="x")  # fmt: skip
    with pytest.raises(CommandError, match="not a call"):
        record(other, "--outcome", "reached")
    with pytest.raises(CommandError, match="no task 999"):
        call_command("tasks", "call", "999", "--outcome", "reached")


def test_the_retry_is_handed_over_like_any_call(call):
    """The rescheduled call is a task of the same communication: nothing is sent twice."""
    calls.record_outcome(call, "no_answer")
    assert Communication.objects.get(channel="call").status == CommStatus.SENT
    assert outbox.send_due(today=D + f.days(2)).total == 0
