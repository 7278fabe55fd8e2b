"""relance tasks list [--status open|done|cancelled|all] [--org SLUG] [--json] | done ID...
[--note TEXT]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.dunning.models import Task
from relance.dunning.tasklist import NotOpen, close, describe, tasks_of
from relance.lib.commands import organisation_option, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "The calls and tasks the runs created for people: list them, mark them done."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="tasks by status, oldest due first")
        listing.add_argument("--status", default=Task.Status.OPEN,
                             choices=[*Task.Status.values, "all"])  # fmt: skip
        listing.add_argument("--limit", type=int, default=500)
        done = actions.add_parser("done", help="mark open tasks done (all or none)")
        done.add_argument("ids", nargs="+", type=int)
        done.add_argument("--note", default="", help="what was done: kept with the task")
        scope_options(*actions.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "list":
            status = None if opts["status"] == "all" else opts["status"]
            rows = [describe(t) for t in tasks_of(org, status)[: opts["limit"]]]
        else:
            try:
                rows = [describe(t) for t in close(org, opts["ids"], note=opts["note"])]
            except NotOpen as exc:
                raise CommandError(str(exc)) from None
        if opts["json"]:
            print_json(self.stdout, {"tasks": rows})
            return
        print_table(
            self.stdout,
            [Column("id", numeric=True), Column("due on"), Column("kind"), Column("status"),
             Column("customer"), Column("what")],
            [(str(r["id"]), r["due_on"].isoformat(), r["kind"], r["status"],
              f"{r['customer']} {r['name']}", r["title"]) for r in rows]
            or [("", "", "", "", "nothing", "")],
        )  # fmt: skip
