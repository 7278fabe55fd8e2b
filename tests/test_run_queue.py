"""The run on the task queue (relance.dunning.run_tasks), its tasks taken here as a worker
takes them: the same decisions as a run in one process on an identical ledger, a part that
fails tried again then failing the run visibly, and an import that waits for a run on the
queue. Two real `relance worker` processes sharing a run: tests/test_run_workers.py."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tasks_db.models import DBTaskResult
from factories import days

from relance.audit.models import AuditEvent
from relance.dunning import engine, run_tasks
from relance.dunning.management.commands.worker import _run_worker
from relance.dunning.models import (
    Communication,
    CommunicationItem,
    ItemState,
    PaymentPlan,
    QueuedRun,
    RunPart,
    Step,
    Task,
)
from relance.lib import locks

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 24)  # a Tuesday


def ledger(org: Any) -> None:
    """A ledger with something of everything a run reads: reminders at every step, pre-due
    notices, a dispute, promises kept and broken, an insolvency, and payment plans that
    run on, complete and default today."""
    for n in range(24):
        customer = make.customer(org, f"C{n:02d}", legal_name=f"Client {n}")
        invoices = [
            make.invoice(customer, f"{org.slug}-F{n:02d}-{k}",
                         due=D - days((n * 7 + k * 11) % 70 - 8), amount=f"{150 + n * 10 + k}.00")
            for k in range(3)
        ]  # fmt: skip
        if n % 6 == 1:
            make.dispute(invoices[0], on=D - days(3))
        if n % 6 == 2:
            make.promise(customer, invoice=invoices[1], promised_on=D + days(4))
        if n % 6 == 3:
            make.promise(customer, promised_on=D - days(6), grace_days=2)
        if n == 4:
            make.hold(customer, kind="insolvency", start=D - days(3), published_on=D - days(5))
        if n in (5, 11, 17):  # runs on / defaults today / completes today
            due = {5: D + days(10), 11: D - days(20), 17: D - days(40)}[n]
            make.plan(customer, invoices[:2], [(due, invoices[0].balance + invoices[1].balance)],
                      on=D - days(45))  # fmt: skip
            if n == 17:
                make.pay(invoices[0], on=D - days(2))
                make.pay(invoices[1], on=D - days(2))


def planned(org: Any) -> dict[str, Any]:
    """What a run wrote, by references (the two organisations' ids differ)."""
    comms = {
        c.pk: (c.customer.reference, c.channel, c.purpose, c.template, c.status, c.pre_due)
        for c in Communication.objects.filter(organisation=org).select_related("customer")
    }
    items = sorted(
        (*comms[i.communication_id], i.invoice.number.split("-", 1)[1], i.step_position,
         i.days_overdue, i.balance, i.previous_level)
        for i in CommunicationItem.objects.filter(communication_id__in=comms)
        .select_related("invoice")
    )  # fmt: skip
    levels = sorted(
        (s.invoice.number.split("-", 1)[1], s.level, s.level_date, s.thanked)
        for s in ItemState.objects.filter(invoice__organisation=org).select_related("invoice")
    )
    return {
        "communications": sorted(comms.values()),
        "items": items,
        "levels": levels,
        "tasks": sorted(Task.objects.filter(organisation=org).values_list("kind", "status")),
        "plans": sorted(PaymentPlan.objects.filter(organisation=org).values_list("status")),
    }


def work_off() -> int:
    """Take the queue's run tasks one by one as `relance worker` takes them, until none is
    ready; how many were taken."""
    worker = _run_worker()
    taken = 0
    while True:
        ready = DBTaskResult.objects.ready().filter(queue_name=run_tasks.QUEUE).first()
        if ready is None:
            return taken
        ready.claim("test")
        worker.run_task(ready)
        taken += 1


@pytest.fixture
def twins():
    one, many = make.organisation("one"), make.organisation("many")
    for org in (one, many):
        make.scenario(org)
        ledger(org)
    return one, many


def test_it_plans_on_the_queue_exactly_what_one_process_plans(twins):
    one, many = twins
    alone = engine.run(one, D, jobs=1)

    queued = run_tasks.enqueue(many, D, parts=3)
    assert queued.status == "queued" and work_off() == 1 + 3

    queued.refresh_from_db()
    assert (queued.status, queued.parts_done, queued.parts_total) == ("done", 3, 3)
    assert planned(many) == planned(one)
    assert len(planned(one)["communications"]) > 10
    assert {"plans_defaulted", "plans_completed", "customers_in_proceedings"} <= set(alone.counts)
    assert run_tasks.result_of(queued).as_dict() | {"organisation": "one"} == alone.as_dict()
    # Ended once, as a run in one process ends: one event with the same counts.
    ended = AuditEvent.objects.get(organisation=many, action="run.completed")
    assert ended.data["counts"] == dict(sorted(alone.counts.items()))
    assert sorted(RunPart.objects.filter(run=queued).values_list("share", "status")) == [
        (0, "done"), (1, "done"), (2, "done"),
    ]  # fmt: skip


def test_it_enqueues_one_run_per_organisation_from_the_command(twins, capsys):
    call_command("run", "--enqueue", "--date", D.isoformat(), "--parts", "2")
    assert sorted(QueuedRun.objects.values_list("organisation__slug", "status")) == [
        ("many", "queued"), ("one", "queued"),
    ]  # fmt: skip
    assert "many 2026-11-24: run" in capsys.readouterr().out
    assert work_off() == 2 * (1 + 2)
    assert set(QueuedRun.objects.values_list("status", flat=True)) == {"done"}
    assert planned(QueuedRun.objects.get(organisation__slug="many").organisation) == planned(
        QueuedRun.objects.get(organisation__slug="one").organisation
    )


def test_it_does_not_enqueue_a_second_run_while_one_is_unfinished(twins):
    one, _ = twins
    first = run_tasks.enqueue(one, D)
    assert run_tasks.enqueue(one, D).pk == first.pk
    with pytest.raises(engine.RunError, match="still on the queue"):
        run_tasks.enqueue(one, D + days(1))
    with pytest.raises(CommandError, match="--parts and --wait go with --enqueue"):
        call_command("run", "--org", "one", "--parts", "2")


def test_it_tries_a_failing_part_again(twins, monkeypatch):
    _, many = twins
    real, failures = engine.part, []

    def flaky(org, day, share, closed, report=None):
        if share[0] == 1 and not failures:
            failures.append(share)
            raise OSError("connection lost")
        return real(org, day, share, closed, report)

    monkeypatch.setattr(engine, "part", flaky)
    queued = run_tasks.enqueue(many, D, parts=3)
    work_off()
    queued.refresh_from_db()
    assert queued.status == "done" and failures == [(1, 3)]
    part = RunPart.objects.get(run=queued, share=1)
    assert (part.status, part.attempts) == ("done", 2)
    assert (
        queued.data["result"]["counts"]["queued"]
        == Communication.objects.filter(organisation=many, status="queued").count()
    )


def test_it_fails_the_run_visibly_when_a_part_keeps_failing(twins, monkeypatch):
    _, many = twins
    real = engine.part

    def broken(org, day, share, closed, report=None):
        if share[0] == 2:
            raise OSError("disk full")
        return real(org, day, share, closed, report)

    monkeypatch.setattr(engine, "part", broken)
    queued = run_tasks.enqueue(many, D, parts=3)
    work_off()
    queued.refresh_from_db()
    assert queued.status == "failed" and queued.finished_at is not None
    assert "part 3 of 3 failed (attempts: 3): OSError('disk full')" in queued.error
    assert "run the same date again" in queued.error
    assert RunPart.objects.get(run=queued, share=2).attempts == run_tasks.MAX_ATTEMPTS
    failed = AuditEvent.objects.get(organisation=many, action="run.failed")
    assert failed.data["parts_total"] == 3
    assert not AuditEvent.objects.filter(organisation=many, action="run.completed").exists()
    # What the other parts wrote stands; the same date run again finishes the rest.
    monkeypatch.setattr(engine, "part", real)
    again = run_tasks.enqueue(many, D, parts=3)
    work_off()
    again.refresh_from_db()
    assert again.status == "done"
    one = make.organisation("one-again")
    make.scenario(one)
    ledger(one)
    engine.run(one, D, jobs=1)
    assert planned(many)["communications"] == planned(one)["communications"]


def test_it_makes_an_import_wait_for_a_run_on_the_queue(twins, monkeypatch):
    _, many = twins
    queued = run_tasks.enqueue(many, D, parts=2)
    said: list[str] = []
    seen: list[str] = []

    def meanwhile(seconds: float) -> None:  # while the import waits, workers take the run
        work_off()

    monkeypatch.setattr(locks.time, "sleep", meanwhile)
    with locks.organisation_lock("many", "import", notice=said.append):
        seen.append(QueuedRun.objects.get(pk=queued.pk).status)
    assert seen == ["done"]
    assert said == [
        f"waiting for the run of {D} on the queue (not begun; run `relance worker`) on "
        "organisation many to finish..."
    ]
    # Another organisation's import does not wait.
    run_tasks.enqueue(many, D + days(1))
    with locks.organisation_lock("one", "import", notice=said.append):
        pass
    assert len(said) == 1


def test_it_keeps_a_part_of_a_stopped_worker_for_another(twins):
    _, many = twins
    queued = run_tasks.enqueue(many, D, parts=2)
    begin = DBTaskResult.objects.ready().filter(queue_name=run_tasks.QUEUE).get()
    begin.claim("test")
    _run_worker().run_task(begin)
    # A worker took a part and died: its claim is old and nothing was written since.
    taken = DBTaskResult.objects.ready().filter(queue_name=run_tasks.QUEUE).first()
    taken.claim("dead")
    share = taken.args_kwargs["args"][1]
    RunPart.objects.filter(run=queued, share=share).update(
        status="running", attempts=1, updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    assert run_tasks.sweep_stale() == 1
    work_off()
    queued.refresh_from_db()
    assert queued.status == "done"
    assert RunPart.objects.get(run=queued, share=share).attempts == 2


def test_it_says_when_no_worker_takes_a_run_it_waits_for(twins, monkeypatch):
    from relance.dunning.management.commands import run as command

    monkeypatch.setattr(command, "NOBODY_AFTER", 0)
    monkeypatch.setattr(command.time, "sleep", lambda seconds: work_off())  # a worker, late
    out, err = StringIO(), StringIO()
    call_command("run", "--org", "many", "--date", D.isoformat(), "--enqueue", "--wait",
                 "--json", stdout=out, stderr=err)  # fmt: skip
    assert "waiting for a `relance worker` to begin 1 run(s) on the queue" in err.getvalue()
    (ended,) = json.loads(out.getvalue())["runs"]
    assert ended["organisation"] == "many" and ended["counts"]["queued"] > 0


def test_it_plans_the_next_day_on_the_queue_as_one_process_after_the_scenarios_changed(twins):
    """The dates the next day reads by (Invoice.moves_on) are forgotten once per run when
    the scenarios change: on the queue too, before any part reads."""
    one, many = twins
    for org in (one, many):  # not due for three weeks: its pre-due notice is far off
        make.invoice(make.customer(org, "Z", legal_name="Zed"), f"{org.slug}-Z", due=D + days(20))
    engine.run(one, D, jobs=1)
    run_tasks.enqueue(many, D, parts=3)
    work_off()
    for org in (one, many):  # the notice now three weeks and more before the due date
        Step.objects.filter(scenario__organisation=org, position=1).update(offset=-25)
    next_day = D + days(1)
    engine.run(one, next_day, jobs=1)
    run_tasks.enqueue(many, next_day, parts=3)
    work_off()
    assert planned(many) == planned(one)
    assert Communication.objects.filter(organisation=one, run_date=next_day,
                                        customer__reference="Z").exists()  # fmt: skip


def test_it_ends_a_worker_after_its_number_of_run_tasks(twins, worker_in_transaction):
    _, many = twins
    queued = run_tasks.enqueue(many, D, parts=2)  # three tasks: the beginning, two parts
    out = StringIO()
    call_command("worker", "--runs-only", "--max-run-tasks", "2", "--sleep", "0", stdout=out)
    assert out.getvalue().splitlines()[-1].endswith(": 2 tasks of runs, exits")
    assert sorted(RunPart.objects.filter(run=queued).values_list("status", flat=True)) == [
        "done", "queued"
    ]  # fmt: skip
    assert work_off() == 1
    queued.refresh_from_db()
    assert queued.status == "done"
    with pytest.raises(CommandError, match="--max-run-tasks takes a number from 1"):
        call_command("worker", "--max-run-tasks", "0")
