"""relance tasks list [--status open|done|cancelled|all] [--org SLUG] [--json] | done ID...
[--note TEXT] | call ID --outcome OUTCOME [--on DATE] [--amount A] [--reason R] [--note TEXT]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.dunning import calls
from relance.dunning.models import Task
from relance.dunning.tasklist import NotOpen, close, describe, tasks_of
from relance.ledger.models import DisputeReason
from relance.lib.commands import amount, iso_date, organisation_option, refused, scope_options
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
        call = actions.add_parser(
            "call", help="record what came of a call, with its effect on dunning"
        )
        call.add_argument("id", type=int)
        call.add_argument("--outcome", required=True, choices=calls.Outcome.values)
        call.add_argument("--on", type=iso_date, help="the promised date (promise); "
                          "otherwise the day of the call (default: today)")  # fmt: skip
        call.add_argument("--amount", type=amount, help="the amount promised")
        call.add_argument("--reason", choices=DisputeReason.values, default="",
                          help="why the customer disputes (dispute)")  # fmt: skip
        call.add_argument("--note", default="", help="what was said: kept with the call")
        scope_options(*actions.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "call":
            rows = [describe(self.call(org, opts))]
        elif opts["action"] == "list":
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

    def call(self, org: Any, opts: dict[str, Any]) -> Task:
        task = (
            Task.objects.filter(organisation=org, pk=opts["id"])
            .select_related("organisation", "customer")
            .first()
        )
        if task is None:
            raise CommandError(f"no task {opts['id']} in {org.slug}")
        promise = opts["outcome"] == calls.Outcome.PROMISE
        with refused(calls.CallError):
            return calls.record_outcome(
                task, opts["outcome"], on=None if promise else opts["on"],
                promised_on=opts["on"] if promise else None, amount=opts["amount"],
                reason=opts["reason"], note=opts["note"],
            )  # fmt: skip
