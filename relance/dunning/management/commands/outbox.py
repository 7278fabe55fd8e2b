"""relance outbox list [--status S] [--org SLUG] [--json] | show ID | approve ID... | skip ID..."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.channels.email import NoRecipient, shown_message
from relance.dunning.approval import NotAwaiting, decide, describe
from relance.dunning.models import CommStatus, Communication
from relance.dunning.outbox import preview
from relance.lib.commands import organisation_option, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "Review the communications planned by the runs; approve or skip those awaiting."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="communications by status")
        listing.add_argument("--status", default=CommStatus.AWAITING_APPROVAL,
                             choices=CommStatus.values)  # fmt: skip
        listing.add_argument("--limit", type=int, default=200)
        showing = actions.add_parser("show", help="a message as the worker would send it today")
        showing.add_argument("id", type=int)
        for name, text in (("approve", "queue them for sending"), ("skip", "cancel them")):
            action = actions.add_parser(name, help=text)
            action.add_argument("ids", nargs="+", type=int)
            action.add_argument("--note", default="")
        scope_options(*actions.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "show":
            self.show(org, opts["id"], as_json=opts["json"])
            return
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
              r["status"] + (f": {r['last_error'][:80]}" if r["last_error"] else ""),
              r["send_on"].isoformat(), ", ".join(r["invoices"][:6]))
             for r in rows] or [("", "nothing", "", "", "", "", "")],
        )  # fmt: skip

    def show(self, org: Organisation, pk: int, *, as_json: bool) -> None:
        comm = (
            Communication.objects.filter(organisation=org, pk=pk)
            .select_related("organisation", "customer")
            .first()
        )
        if comm is None:
            raise CommandError(f"no communication {pk} in {org.slug}")
        today = max(timezone.localdate(), comm.send_on)
        try:
            check, outgoing = preview(comm, today)
        except NoRecipient as error:
            raise CommandError(f"communication {pk} cannot be e-mailed: {error}") from None
        if outgoing is None:
            why = (
                f"every invoice would be dropped ({check.reasons})"
                if not check.kept
                else f"a {comm.channel} is carried out by a person: see `relance tasks list`"
            )
            raise CommandError(f"communication {pk} sends no message: {why}")
        shown = shown_message(outgoing.payload.message())
        if as_json:
            print_json(self.stdout, {**describe(comm), "send_on": today, **shown,
                                     "dropped": check.reasons})  # fmt: skip
            return
        if comm.status not in (CommStatus.QUEUED, CommStatus.AWAITING_APPROVAL):
            self.stderr.write(f"communication {pk} is {comm.status}: shown as it would be today")
        for name, value in shown["headers"].items():
            self.stdout.write(f"{name}: {value}")
        for name in shown["attachments"]:
            self.stdout.write(f"(attached: {name})")
        self.stdout.write("")
        self.stdout.write(shown["text"], ending="")
