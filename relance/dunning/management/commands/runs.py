"""relance runs [list] [--org SLUG] [--limit N] [--json] | show ID [--org SLUG] [--json]

The runs put on the queue by ``relance run --enqueue`` (or the console's Runs page), queued,
running, done or failed: their parts, progress and failures (relance.dunning.queued_runs).
Without ``--org``, every organisation's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.dunning import queued_runs
from relance.lib.commands import organisation_option
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "List the runs on the queue, or show one with its parts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", default="list", choices=["list", "show"])
        parser.add_argument("id", nargs="?", type=int, help="with show: the run's id")
        parser.add_argument("--org", help="organisation slug; every organisation if omitted")
        parser.add_argument("--limit", type=int, default=queued_runs.RECENT,
                            help="with list: how many runs, newest first")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"]) if opts["org"] else None
        if opts["action"] == "show":
            if opts["id"] is None:
                raise CommandError("show needs the run's id: relance runs show ID", returncode=2)
            try:
                run = queued_runs.one(opts["id"], org)
            except queued_runs.RunNotFound as exc:
                raise CommandError(str(exc)) from None
            if opts["json"]:
                print_json(self.stdout, {"run": run.as_dict()})
            else:
                self.show(run)
            return
        if opts["id"] is not None:
            raise CommandError("list takes no id (relance runs show ID)", returncode=2)
        if opts["limit"] < 1:
            raise CommandError("--limit must be at least 1", returncode=2)
        runs = queued_runs.recent(org, opts["limit"])
        if opts["json"]:
            print_json(self.stdout, {"runs": [r.as_dict() for r in runs]})
            return
        print_table(
            self.stdout,
            [Column("id", numeric=True), Column("organisation"), Column("date"),
             Column("status"), Column("parts", numeric=True), Column("customers", numeric=True),
             Column("failure")],
            [(str(r.id), r.organisation, r.run_date.isoformat(), r.status,
              f"{r.parts_done}/{r.parts_total}",
              "" if r.customers is None else str(r.customers), _short(r.error))
             for r in runs] or [("", "no run on the queue", "", "", "", "", "")],
        )  # fmt: skip

    def show(self, run: queued_runs.Run) -> None:
        finished = f", finished {_local(run.finished_at)}" if run.finished_at else ""
        self.stdout.write(
            f"run {run.id}: {run.organisation} {run.run_date.isoformat()}, {run.status}, "
            f"{run.parts_done}/{run.parts_total} parts done (queued "
            f"{_local(run.created_at)}{finished})\n"
        )
        if run.error:
            self.stdout.write(f"failed: {run.error}\n")
        if run.customers is not None:
            self.stdout.write(f"{run.customers} customers, {run.items_considered} items "
                              "that may move\n")  # fmt: skip
        if run.planned:
            print_table(self.stdout, [Column("planned"), Column("count", numeric=True)],
                        [(what, str(n)) for what, n in run.planned])  # fmt: skip
        print_table(
            self.stdout,
            [Column("part", numeric=True), Column("status"), Column("attempts", numeric=True),
             Column("worker"), Column("customers", numeric=True), Column("error")],
            [(str(p.number), p.status, str(p.attempts), p.worker,
              "" if p.customers is None else str(p.customers), p.error)
             for p in run.parts] or [("", "not begun", "", "", "", "")],
        )  # fmt: skip


def _local(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
