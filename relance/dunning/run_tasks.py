"""The daily run as tasks on the queue (django-tasks, queue ``runs``), for as many
``relance worker`` processes as there are, on as many machines as share the database.

``enqueue`` records a ``QueuedRun`` and enqueues its beginning. Then, each a task that any
worker takes:

1. ``begin``: what ``engine.run`` does before sharing out the customers (promises kept,
   balances aged, insolvency tasks, payment plans), then the run is cut into parts
   (``sharing.parts``), one ``RunPart`` and one task each, in the same transaction.
2. ``run_part``: one share of the customers (those whose id is k modulo n, the shares of
   ``relance run --jobs``), decided and written chunk by chunk as in one process, so the
   decisions are the same whatever the number of parts or workers.
3. The part that ends last ends the run: the counts summed, ``run.completed`` in the audit
   trail, the record done.

A part that fails is tried again (``MAX_ATTEMPTS`` in all), then fails the run: the record
says which part and why, and ``run.failed`` is in the audit trail. What a part wrote stands
chunk by chunk (each chunk is one transaction, and the database keeps communications unique
per run date), so running the same date again finishes it without planning anything twice.
A part whose worker died (no chunk written for ``stale_after``) is taken back by the next
worker's sweep as a failed attempt.

Locks: every task holds its organisation shared (relance.lib.locks), so parts run together
while an import or a run in one process waits; between tasks, those wait for the
unfinished run as well (``run_holder.holder``, registered with the locks by the app).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections import Counter
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop
from django_tasks import task
from django_tasks.base import Task

from relance.accounts.identity import missing_for_email
from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.dunning import engine, sharing
from relance.dunning.models import QueuedRun, RunPart
from relance.dunning.run_errors import (
    BEGINNER,
    BEGINNING,
    PART,
    STANDS,
    STILL_QUEUED,
    WORKER,
    written,
)
from relance.dunning.run_holder import ACTIVE, progress
from relance.ledger.timeline import Text
from relance.lib import locks

QUEUE = "runs"
MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=10)


def enqueue(organisation: Organisation, run_date: dt.date, parts: int | None = None) -> QueuedRun:
    """The run of ``run_date`` on the queue; the organisation's unfinished run of the same
    date if there is one (never two at once). Refused (``engine.RunError``) for an
    organisation without a reply address, or with an unfinished run of another date."""
    if missing := missing_for_email(organisation):
        raise engine.RunError(missing)
    with transaction.atomic():
        # Two commands enqueueing at once: the second waits here, then finds the first's.
        list(Organisation.objects.select_for_update().filter(pk=organisation.pk).values("pk"))
        active = QueuedRun.objects.filter(organisation=organisation, status__in=ACTIVE).first()
        if active is not None:
            if active.run_date == run_date:
                return active
            raise engine.RunError(
                written(
                    STILL_QUEUED, organisation=repr(organisation.slug), queued=active.run_date,
                    progress=progress(active), run_date=run_date,
                )
            )  # fmt: skip
        run = QueuedRun.objects.create(
            organisation=organisation, run_date=run_date, parts_wanted=parts or 0
        )
        _enqueue(begin, run.pk)
    return run


@task(queue_name=QUEUE)
def begin(run_id: int) -> dict[str, Any]:
    """The run up to its parts, then the parts enqueued."""
    if not QueuedRun.objects.filter(pk=run_id, status=QueuedRun.Status.QUEUED).update(
        status=QueuedRun.Status.RUNNING
    ):
        return {"skipped": 1}  # delivered twice, or already ended
    run = QueuedRun.objects.select_related("organisation").get(pk=run_id)
    org = run.organisation
    try:
        with locks.organisation_lock(org.slug, "run", shared=True):
            result, closed = engine.begin_parts(org, run.run_date)
            shares = sharing.parts(org, run.parts_wanted or None)
    except Exception as error:
        _fail(run, written(BEGINNING, reason=_reason(error)))
        if isinstance(error, engine.RunError):
            return {"failed": 1}
        raise
    with transaction.atomic():
        RunPart.objects.bulk_create(
            RunPart(organisation=org, run=run, share=k) for k in range(shares)
        )
        QueuedRun.objects.filter(pk=run.pk).update(
            parts_total=shares,
            data={"closed": closed, "begun": _figures(result), "business_day":
                  result.business_day, "holiday": result.holiday},
        )  # fmt: skip
        for k in range(shares):
            _enqueue(run_part, run.pk, k)
    return {"parts": shares}


@task(queue_name=QUEUE)
def run_part(run_id: int, share: int) -> dict[str, Any]:
    """One share of the run's customers; the last part done ends the run."""
    claimed = RunPart.objects.filter(
        run_id=run_id, share=share, status=RunPart.Status.QUEUED,
        run__status=QueuedRun.Status.RUNNING,
    ).update(
        status=RunPart.Status.RUNNING, attempts=F("attempts") + 1, worker=worker_name()
    )  # fmt: skip
    if not claimed:
        return {"skipped": 1}  # delivered twice, taken back by a sweep, or its run failed
    part = RunPart.objects.select_related("run", "organisation").get(run_id=run_id, share=share)
    run, org = part.run, part.organisation

    def heartbeat(done: int) -> None:  # a chunk written: the part is alive (see sweep)
        RunPart.objects.filter(pk=part.pk).update(updated_at=timezone.now())

    try:
        with locks.organisation_lock(org.slug, "run", shared=True):
            result = engine.part(org, run.run_date, (share, run.parts_total),
                                 run.data.get("closed", {}), report=heartbeat)  # fmt: skip
    except Exception as error:
        _attempt_failed(part, _reason(error), retry=not isinstance(error, engine.RunError))
        raise
    _part_done(part, result)
    return _figures(result)


def sweep_stale(stale_after: timedelta = STALE_AFTER) -> int:
    """Parts whose worker stopped (no chunk written for ``stale_after``): a failed attempt,
    tried again or failing the run; runs that never got past their beginning, failed.
    Returns how many were taken back."""
    before = timezone.now() - stale_after
    stale = list(
        RunPart.objects.filter(status=RunPart.Status.RUNNING, updated_at__lt=before)
        .select_related("run", "organisation")
    )  # fmt: skip
    for part in stale:
        _attempt_failed(part, written(WORKER, worker=part.worker,
                                      seconds=int(stale_after.total_seconds())))  # fmt: skip
    begun = QueuedRun.objects.filter(
        status=QueuedRun.Status.RUNNING, parts_total=0, updated_at__lt=before
    ).select_related("organisation")
    for run in begun:
        _fail(run, written(BEGINNER))
    return len(stale) + len(begun)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def result_of(run: QueuedRun) -> engine.RunResult:
    """A finished run's figures as a ``RunResult`` (what ``relance run`` prints)."""
    figures = run.data.get("result") or run.data.get("begun") or {}
    return engine.RunResult(
        run.organisation.slug, run.run_date, False, bool(run.data.get("business_day", True)),
        run.data.get("holiday"), customers=figures.get("customers", 0),
        items_considered=figures.get("items_considered", 0),
        counts=Counter(figures.get("counts", {})),
    )  # fmt: skip


def _part_done(part: RunPart, result: engine.RunResult) -> None:
    with transaction.atomic():
        if not RunPart.objects.filter(pk=part.pk, status=RunPart.Status.RUNNING).update(
            status=RunPart.Status.DONE, result=_figures(result), error=""
        ):
            return  # taken back meanwhile (a sweep thought it dead): the retry counts it
        QueuedRun.objects.filter(pk=part.run_id).update(parts_done=F("parts_done") + 1)
        # The row is locked by the update until commit: one part alone sees the last count.
        run = QueuedRun.objects.select_related("organisation").get(pk=part.run_id)
        if run.parts_done < run.parts_total or run.status != QueuedRun.Status.RUNNING:
            return
        total = result_of(run)
        for figures in RunPart.objects.filter(run=run).values_list("result", flat=True):
            total.customers += figures["customers"]
            total.items_considered += figures["items_considered"]
            total.counts.update(figures["counts"])
        engine.recorded(run.organisation, total)
        run.data["result"] = _figures(total)
        run.status = QueuedRun.Status.DONE
        run.finished_at = timezone.now()
        run.save(update_fields=["data", "status", "finished_at", "updated_at"])


def _attempt_failed(part: RunPart, reason: str, retry: bool = True) -> None:
    """Try the part again, or fail its run after ``MAX_ATTEMPTS``."""
    with transaction.atomic():
        again = retry and part.attempts < MAX_ATTEMPTS
        status = RunPart.Status.QUEUED if again else RunPart.Status.FAILED
        if not RunPart.objects.filter(pk=part.pk, status=RunPart.Status.RUNNING).update(
            status=status, error=reason
        ):
            return
        if again:
            _enqueue(run_part, part.run_id, part.share)
            return
    run = QueuedRun.objects.select_related("organisation").get(pk=part.run_id)
    _fail(run, written(PART, part=part.share + 1, parts=run.parts_total,
                       attempts=part.attempts, reason=reason))  # fmt: skip


def _fail(run: QueuedRun, reason: str) -> None:
    message = written(STANDS, reason=reason)
    if not QueuedRun.objects.filter(pk=run.pk, status__in=ACTIVE).update(
        status=QueuedRun.Status.FAILED, error=message, finished_at=timezone.now()
    ):
        return
    trail.record(run.organisation, "run.failed", target=("run", run.run_date),
                 summary=Text(gettext_noop("run of %(date)s failed: %(error)s"),
                              {"date": lazy_short_date(run.run_date), "error": message}),
                 data={"run_date": run.run_date, "queued_run": run.pk, "error": message,
                       "parts_done": run.parts_done, "parts_total": run.parts_total})  # fmt: skip


def _figures(result: engine.RunResult) -> dict[str, Any]:
    return {"customers": result.customers, "items_considered": result.items_considered,
            "counts": dict(sorted(result.counts.items()))}  # fmt: skip


def _reason(error: BaseException) -> str:
    return str(error) if isinstance(error, engine.RunError) else repr(error)


def _enqueue(work: Task[Any, Any], *args: Any) -> None:
    """On the database's queue, in the caller's transaction: the task exists exactly when
    what it stands for was committed. Another backend (the immediate one runs the task on
    the spot) after the commit."""
    from django_tasks_db import DatabaseBackend

    if isinstance(work.get_backend(), DatabaseBackend):
        work.enqueue(*args)
    else:
        transaction.on_commit(lambda: work.enqueue(*args))
