"""relance run [--date D] [--org SLUG] [--dry-run] [--json] [--jobs N]
relance run --enqueue [--parts N] [--wait] [--date D] [--org SLUG] [--json]

``--enqueue`` puts the run of each organisation on the task queue, cut into parts that any
number of ``relance worker`` processes take (relance.dunning.run_tasks); ``--wait`` waits
for them and reports as a run in one process does."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.accounts.identity import missing_for_email
from relance.accounts.models import Organisation
from relance.dunning import queued_runs, run_tasks
from relance.dunning.engine import RunError, run
from relance.dunning.models import QueuedRun
from relance.lib.commands import iso_date, organisation_option
from relance.lib.output import Column, print_json, print_table, progress_bar

NOBODY_AFTER = 10  # seconds: a run still not begun by then has no worker to take it


class Command(BaseCommand):
    help = "Run the dunning of a day: decide and plan the reminders, calls and tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=iso_date, help="the run date (default: today)")
        parser.add_argument("--org", help="organisation slug; every organisation if omitted")
        parser.add_argument("--dry-run", action="store_true", help="show the decisions only")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--jobs", type=int, default=None,
            help="processes sharing the customers (default: one per core, up to 4, from "
            "200,000 open items; --json and --dry-run use one)",
        )  # fmt: skip
        parser.add_argument(
            "--enqueue", action="store_true",
            help="put the run on the task queue for `relance worker` processes to take",
        )  # fmt: skip
        parser.add_argument(
            "--parts", type=int, default=None,
            help="with --enqueue: parts per organisation (default: one per 250,000 open "
            "items from 200,000)",
        )  # fmt: skip
        parser.add_argument(
            "--wait", action="store_true", help="with --enqueue: wait for the runs to end"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        orgs = (
            [organisation_option(opts["org"])]
            if opts["org"]
            else list(Organisation.objects.order_by("slug"))
        )
        if opts["enqueue"]:
            self.enqueue(orgs, opts)
            return
        if opts["parts"] is not None or opts["wait"]:
            raise CommandError("--parts and --wait go with --enqueue")
        results = []
        refused = []
        for org in orgs:
            day = opts["date"] or timezone.localdate()
            if opts["dry_run"] and (missing := missing_for_email(org)):
                self.stderr.write(f"warning: {missing}; a real run would be refused.")
            try:
                with progress_bar(enabled=not opts["json"]) as report:
                    results.append(
                        run(org, day, dry_run=opts["dry_run"], explain=opts["json"],
                            jobs=opts["jobs"], progress=report)
                    )  # fmt: skip
            except RunError as exc:
                if opts["org"]:
                    raise CommandError(str(exc)) from None
                refused.append(str(exc))  # the other organisations' dunning still runs
        self.report(results, opts)
        if refused:
            raise CommandError("\n".join(refused))

    def enqueue(self, orgs: list[Organisation], opts: dict[str, Any]) -> None:
        if opts["dry_run"] or opts["jobs"] is not None:
            raise CommandError("--enqueue takes neither --dry-run nor --jobs")
        if opts["parts"] is not None and opts["parts"] < 1:
            raise CommandError("--parts must be at least 1")
        day = opts["date"] or timezone.localdate()
        queued, refused = [], []
        for org in orgs:
            try:
                queued.append(queued_runs.queue_now(org, day, parts=opts["parts"]))
            except RunError as exc:
                if opts["org"]:
                    raise CommandError(str(exc)) from None
                refused.append(str(exc))
        if opts["wait"]:
            ended = self.wait([r.pk for r in queued], opts)
            failed = [f"{r.organisation.slug}: {r.error}" for r in ended if r.error]
            self.report([run_tasks.result_of(r) for r in ended if not r.error], opts)
            if failed or refused:
                raise CommandError("\n".join(failed + refused))
            return
        if opts["json"]:
            print_json(self.stdout, {"queued": [_queued(r) for r in queued]})
        else:
            for r in queued:
                self.stdout.write(f"{r.organisation.slug} {r.run_date}: run {r.pk} on the "
                                  f"queue ({r.status}, {run_tasks.progress(r)})")  # fmt: skip
        if refused:
            raise CommandError("\n".join(refused))

    def wait(self, ids: list[int], opts: dict[str, Any]) -> list[QueuedRun]:
        """Until every run has ended, the parts done as progress; a word on stderr if no
        worker has begun one after ``NOBODY_AFTER`` seconds."""
        started, told = time.monotonic(), False
        with progress_bar(enabled=not opts["json"]) as report:
            while True:
                runs = list(QueuedRun.objects.filter(pk__in=ids).select_related("organisation")
                            .order_by("organisation__slug"))  # fmt: skip
                report("parts", sum(r.parts_done for r in runs),
                       sum(r.parts_total for r in runs))  # fmt: skip
                if all(r.status not in run_tasks.ACTIVE for r in runs):
                    return runs
                waiting = [r for r in runs if r.status == QueuedRun.Status.QUEUED]
                if waiting and not told and time.monotonic() - started > NOBODY_AFTER:
                    self.stderr.write(f"waiting for a `relance worker` to begin {len(waiting)} "
                                      "run(s) on the queue...")  # fmt: skip
                    told = True
                time.sleep(0.2)

    def report(self, results: list[Any], opts: dict[str, Any]) -> None:
        if opts["json"]:
            print_json(self.stdout, {"runs": [r.as_dict() for r in results]})
            return
        for result in results:
            verb = "would plan" if result.dry_run else "planned"
            when = (
                ""
                if result.business_day
                else f" (not a business day: {result.holiday or 'weekend'}; nothing is sent)"
            )
            self.stdout.write(
                f"{result.organisation} {result.run_date}: {result.customers} customers, "
                f"{result.items_considered} items that may move{when}; {verb}:"
            )
            rows = [(k.replace("_", " "), str(v)) for k, v in sorted(result.counts.items())]
            print_table(self.stdout, [Column("what"), Column("count", numeric=True)],
                        rows or [("nothing", "0")])  # fmt: skip


def _queued(run: QueuedRun) -> dict[str, Any]:
    return {"organisation": run.organisation.slug, "run_date": run.run_date, "id": run.pk,
            "status": run.status, "parts_total": run.parts_total,
            "parts_done": run.parts_done}  # fmt: skip
