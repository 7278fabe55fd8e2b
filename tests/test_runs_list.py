"""`relance runs`: the runs on the queue as a person sees them, queued, done or failed, with
their parts (relance.dunning.queued_runs, which the console's Runs page calls too)."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from factories import days
from test_run_queue import work_off

from relance.audit.models import AuditEvent
from relance.dunning import engine, queued_runs, run_tasks
from relance.dunning.models import QueuedRun, RunPart

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 24)


def dunned(slug: str, customers: int = 6) -> Any:
    """An organisation whose run has something to plan: customers with overdue invoices."""
    org = make.organisation(slug)
    make.scenario(org)
    for n in range(customers):
        customer = make.customer(org, f"C{n}")
        make.invoice(customer, f"{slug}-F{n}", due=D - days(5 + 9 * n), amount="120.00")
    return org


def failing_part(monkeypatch: pytest.MonkeyPatch, share: int, error: Exception) -> None:
    """Part ``share`` (0-based) of every run fails with ``error``; the others run."""
    real = engine.part

    def broken(org, day, shares, closed, report=None):
        if shares[0] == share:
            raise error
        return real(org, day, shares, closed, report)

    monkeypatch.setattr(engine, "part", broken)


def runs(*args: str) -> Any:
    out = StringIO()
    call_command("runs", *args, stdout=out)
    return json.loads(out.getvalue()) if "--json" in args else out.getvalue()


def test_it_lists_queued_and_done_runs_with_their_parts() -> None:
    done_org, waiting_org = dunned("done"), dunned("waiting")
    done = run_tasks.enqueue(done_org, D, parts=2)
    work_off()
    waiting = run_tasks.enqueue(waiting_org, D)

    listed = {r["organisation"]: r for r in runs("--json")["runs"]}

    done.refresh_from_db()
    total = run_tasks.result_of(done)
    assert listed["done"]["id"] == done.pk and listed["done"]["status"] == "done"
    assert (listed["done"]["parts_done"], listed["done"]["parts_total"]) == (2, 2)
    assert listed["done"]["customers"] == total.customers > 0
    assert listed["done"]["counts"] == dict(total.counts) and total.counts
    assert [p["status"] for p in listed["done"]["parts"]] == ["done", "done"]
    assert sum(p["customers"] for p in listed["done"]["parts"]) == total.customers
    assert listed["done"]["run_date"] == D.isoformat() and listed["done"]["finished_at"]
    assert listed["waiting"]["id"] == waiting.pk and listed["waiting"]["status"] == "queued"
    assert listed["waiting"]["parts"] == [] and listed["waiting"]["customers"] is None
    table = runs()
    assert f"{done.pk}" in table and "2/2" in table and "waiting" in table


def test_it_shows_a_failed_run_with_the_error_of_its_part(monkeypatch) -> None:
    org = dunned("broken")
    failing_part(monkeypatch, 1, OSError("disk full"))
    queued = run_tasks.enqueue(org, D, parts=2)
    work_off()

    shown = runs("show", str(queued.pk), "--json")["run"]

    assert shown["status"] == "failed"
    assert "part 2 of 2 failed (attempts: 3): OSError('disk full')" in shown["error"]
    failed = [p for p in shown["parts"] if p["status"] == "failed"]
    assert [(p["number"], p["attempts"], p["error"]) for p in failed] == [
        (2, run_tasks.MAX_ATTEMPTS, "OSError('disk full')")
    ]
    text = runs("show", str(queued.pk))
    assert "failed: part 2 of 2" in text and "OSError('disk full')" in text


def test_it_keeps_to_one_organisation_with_org() -> None:
    mine, theirs = dunned("mine", 1), dunned("theirs", 1)
    run_tasks.enqueue(mine, D)
    other = run_tasks.enqueue(theirs, D)

    assert [r["organisation"] for r in runs("--org", "mine", "--json")["runs"]] == ["mine"]
    with pytest.raises(CommandError, match=f"no run on the queue with id {other.pk} in mine"):
        runs("show", str(other.pk), "--org", "mine")
    assert runs("show", str(other.pk), "--json")["run"]["organisation"] == "theirs"


def test_it_refuses_show_without_an_id_as_a_usage_error() -> None:
    with pytest.raises(CommandError) as refused:
        runs("show")
    assert refused.value.returncode == 2


def test_it_records_who_queued_a_run_once() -> None:
    org = dunned("audited", 1)
    user = make.member(org, "admin@audited.test", "admin")

    first = queued_runs.queue_now(org, D, user=user)
    again = queued_runs.queue_now(org, D, user=user)

    assert again.pk == first.pk and QueuedRun.objects.count() == 1
    events = AuditEvent.objects.filter(organisation=org, action="run.enqueued")
    assert [(e.data["queued_run"], e.user_id) for e in events] == [(first.pk, user.pk)]
    with pytest.raises(CommandError, match="still on the queue"):
        call_command("run", "--enqueue", "--org", "audited", "--date",
                     (D + days(1)).isoformat(), stdout=StringIO())  # fmt: skip
    assert events.count() == 1  # refused: nothing recorded
    dunned("by-command", 1)
    call_command("run", "--enqueue", "--org", "by-command", "--date", D.isoformat(),
                 stdout=StringIO())  # fmt: skip
    by_command = AuditEvent.objects.get(organisation__slug="by-command", action="run.enqueued")
    assert (
        by_command.data["queued_run"]
        == QueuedRun.objects.get(organisation=by_command.organisation).pk
    )


def test_it_reads_runs_and_parts_in_two_queries(django_assert_num_queries) -> None:
    for slug in ("q1", "q2", "q3"):
        run_tasks.enqueue(dunned(slug, 2), D, parts=2)
    work_off()
    assert RunPart.objects.count() == 6

    with django_assert_num_queries(2):
        found = queued_runs.recent()

    assert sorted(len(r.parts) for r in found) == [2, 2, 2]
