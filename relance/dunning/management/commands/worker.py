"""relance worker [--once] [--batch 200] [--sleep 5] [--org SLUG] [--stale-after 600] [--enqueue]
[--no-runs | --runs-only] [--max-run-tasks N]

Sends what is due, in a loop: sweep abandoned claims, claim and send batches over one
connection each, sleep when nothing is due. Any number of workers may run at once, on one
machine or several: each message is claimed by compare-and-swap before it leaves.

It also takes the parts of runs on the queue (``relance run --enqueue``, queue ``runs``),
one task between two batches: any number of workers on any number of machines share a run
(relance.dunning.run_tasks); ``--no-runs`` leaves them to other workers, ``--runs-only``
sends nothing. ``--max-run-tasks N`` ends the process after N tasks of runs, for a supervisor
to start a fresh one (as django-tasks' ``db_worker --max-tasks``).

With ``--enqueue`` it sends nothing itself: it hands due batches to the task queue
(django-tasks) for ``db_worker`` processes to send.
"""

from __future__ import annotations

import signal
import sys
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from relance.accounts.models import Organisation
from relance.dunning import outbox


class Command(BaseCommand):
    help = "Send due communications (e-mails, tasks for people) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="send what is due, then exit")
        parser.add_argument("--batch", type=int, default=outbox.BATCH_SIZE, help="per connection")
        parser.add_argument("--sleep", type=float, default=5.0, help="seconds when idle")
        parser.add_argument("--org", help="one organisation's slug (default: all)")
        parser.add_argument(
            "--stale-after",
            type=float,
            default=outbox.STALE_AFTER.total_seconds(),
            help="seconds after which a claim is a dead process's (ambiguous)",
        )
        parser.add_argument(
            "--enqueue", action="store_true", help="enqueue batches as tasks instead of sending"
        )
        parser.add_argument(
            "--no-runs", action="store_true", help="take no part of runs on the queue"
        )
        parser.add_argument(
            "--runs-only", action="store_true", help="take runs' parts, send nothing"
        )
        parser.add_argument(
            "--max-run-tasks", type=int, metavar="N", help="exit after N tasks of runs"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        organisation_id = None
        if opts["org"]:
            org = Organisation.objects.filter(slug=opts["org"]).first()
            if org is None:
                raise CommandError(f"no organisation {opts['org']!r}")
            organisation_id = org.pk
        self.stopping = False
        # The thread talking to the server waits for replies while this one renders: let
        # it take the interpreter back sooner than every 5 ms (measured: +25 % e-mails/s).
        sys.setswitchinterval(0.0002)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        stale_after = timedelta(seconds=opts["stale_after"])
        if opts["no_runs"] and opts["runs_only"]:
            raise CommandError("--no-runs and --runs-only exclude each other")
        if opts["max_run_tasks"] is not None and (opts["max_run_tasks"] < 1 or opts["no_runs"]):
            raise CommandError("--max-run-tasks takes a number from 1, without --no-runs")
        self.runs = None if opts["no_runs"] else _run_worker()
        if not opts["once"]:  # a long-lived process says who it is in the logs
            from relance.dunning.run_tasks import worker_name

            takes = (
                "sending" if self.runs is None
                else "taking runs' parts" if opts["runs_only"]
                else "sending and taking runs' parts"
            )  # fmt: skip
            self.stdout.write(f"worker {worker_name()} started: {takes}")
            self.stdout.flush()
        while not self.stopping:
            close_old_connections()  # a long-lived loop: drop broken or expired connections
            busy = self._run_part(stale_after)
            if self.runs is not None and self.runs._run_tasks == opts["max_run_tasks"]:
                taken = opts["max_run_tasks"]
                self.stdout.write(f"worker {self.runs.worker_id}: {taken} tasks of runs, exits")
                self.stdout.flush()
                break
            if not opts["runs_only"]:
                busy = self._outbox(organisation_id, opts, stale_after) or busy
            if not busy:
                if opts["once"]:
                    break
                self._sleep(opts["sleep"])

    def _run_part(self, stale_after: timedelta) -> bool:
        """One task of a run on the queue, if one is ready; parts of dead workers first
        taken back."""
        if self.runs is None:
            return False
        from relance.dunning import run_tasks

        taken_back = run_tasks.sweep_stale(max(stale_after, run_tasks.STALE_AFTER))
        if taken_back:
            self.stdout.write(f"run parts taken back from stopped workers: {taken_back}")
        before = self.runs._run_tasks
        self.runs.run()
        return self.runs._run_tasks > before

    def _outbox(
        self, organisation_id: int | None, opts: dict[str, Any], stale_after: timedelta
    ) -> bool:
        if opts["enqueue"]:
            busy = self._enqueue(organisation_id, opts["batch"], stale_after)
        else:
            busy = self._send(organisation_id, opts["batch"], stale_after)
        return self._webhooks(organisation_id, opts["enqueue"]) or busy

    def _send(self, organisation_id: int | None, batch: int, stale_after: timedelta) -> bool:
        started = time.monotonic()
        report = outbox.send_due(
            organisation_id,
            limit=batch * 5,
            batch_size=batch,
            stale_after=stale_after,
            should_stop=lambda: self.stopping,
        )
        if report.total:
            elapsed = time.monotonic() - started
            counts = " ".join(f"{k}={v}" for k, v in report.as_dict().items())
            self.stdout.write(f"{counts} in {elapsed:.2f}s")
            self.stdout.flush()
        # "skipped" alone means others are sending the same rows: nothing left for us.
        return report.total > report.counts.get("skipped", 0)

    def _enqueue(self, organisation_id: int | None, batch: int, stale_after: timedelta) -> bool:
        from relance.dunning.queue import enqueue_due

        swept = outbox.sweep_stale(stale_after=stale_after)
        batches = enqueue_due(organisation_id=organisation_id, batch_size=batch)
        if swept or batches:
            self.stdout.write(f"ambiguous={swept} batches enqueued={batches}")
            self.stdout.flush()
        return bool(batches)

    def _webhooks(self, organisation_id: int | None, enqueue: bool) -> bool:
        """Webhooks out (relance.hooks): deliveries for the new events, then those due."""
        from relance.hooks import tasks

        if enqueue:
            return bool(tasks.enqueue_due(organisation_id=organisation_id))
        report = tasks.dispatch_and_deliver.call(organisation_id)
        sent = sum(v for k, v in report.items() if k not in ("created", "skipped"))
        if sent:
            self.stdout.write("webhooks " + " ".join(f"{k}={v}" for k, v in report.items()))
        return bool(sent)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        # Finish the message in hand, then stop: a stop never leaves a message in doubt.
        self.stopping = True


def _run_worker() -> Any:
    """django-tasks' database worker on the queue of runs, one task per call (``run``);
    None when the tasks do not go through the database (nothing to take)."""
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.management.commands.db_worker import Worker

    from relance.dunning import run_tasks

    backend = run_tasks.run_part.get_backend()
    if not isinstance(backend, DatabaseBackend):
        return None
    return Worker(
        queue_names=[run_tasks.QUEUE], interval=0, batch=True, backend_name=backend.alias,
        startup_delay=False, max_tasks=1, worker_id=run_tasks.worker_name(),
        excluded_queue_names=[],
    )  # fmt: skip
