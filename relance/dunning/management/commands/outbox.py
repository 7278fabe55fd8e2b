"""relance outbox list [--status S] [--org SLUG] [--json] | approve ID... | skip ID..."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.dunning.approval import NotAwaiting, decide, describe
from relance.dunning.models import CommStatus, Communication
from relance.lib.commands import organisation_option
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "Review the communications planned by the runs; approve or skip those awaiting."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="communications by status")
        listing.add_argument("--status", default=CommStatus.AWAITING_APPROVAL,
                             choices=CommStatus.values)  # fmt: skip
        listing.add_argument("--limit", type=int, default=200)
        for name, text in (("approve", "queue them for sending"), ("skip", "cancel them")):
            action = actions.add_parser(name, help=text)
            action.add_argument("ids", nargs="+", type=int)
            action.add_argument("--note", default="")
        for action in actions.choices.values():
            action.add_argument("--org", help="organisation slug")
            action.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "list":
            comms = (
                Communication.objects.filter(organisation=org, status=opts["status"])
                .select_related("customer")
                .prefetch_related("items__invoice")
                .order_by("send_on", "customer__reference")[: opts["limit"]]
            )
            rows = [describe(c) for c in comms]
        else:
            try:
                decided = decide(org, opts["ids"], approve=opts["action"] == "approve",
                                 note=opts["note"])  # fmt: skip
            except NotAwaiting as exc:
                raise CommandError(str(exc)) from None
            rows = [describe(c) for c in decided]
        if opts["json"]:
            print_json(self.stdout, {"communications": rows})
            return
        print_table(
            self.stdout,
            [Column("id", numeric=True), Column("customer"), Column("channel"),
             Column("template"), Column("status"), Column("send on"), Column("invoices")],
            [(str(r["id"]), f"{r['customer']} {r['name']}", r["channel"], r["template"],
              r["status"], r["send_on"].isoformat(), ", ".join(r["invoices"][:6]))
             for r in rows] or [("", "nothing", "", "", "", "", "")],
        )  # fmt: skip
