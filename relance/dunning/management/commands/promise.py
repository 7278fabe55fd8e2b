"""relance promise add CUSTOMER --on DATE [--invoice N] [--amount A] [--grace N] [--note]
[--org SLUG] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.dunning import actions
from relance.dunning.customer_view import describe_promise
from relance.lib.commands import amount, iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Record a customer's promise to pay: the items it covers wait until its date + grace."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        adding = verbs.add_parser("add", help="record a promise to pay")
        adding.add_argument("customer", help="the customer's account reference")
        adding.add_argument(
            "--on",
            dest="promised_on",
            type=iso_date,
            required=True,
            help="the day the customer promised to pay",
        )
        adding.add_argument("--invoice", help="one invoice (default: all the customer's)")
        adding.add_argument("--amount", type=amount, help="the amount promised")
        adding.add_argument(
            "--grace",
            type=int,
            default=None,
            choices=range(0, 31),
            metavar="DAYS",
            help="days after the date before it breaks (default: the organisation's, "
            "`relance org set --promise-grace-days`)",
        )
        adding.add_argument("--note", default="")
        scope_options(adding)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        with refused(actions.Refused):
            promise = actions.add_promise(
                org,
                opts["customer"],
                promised_on=opts["promised_on"],
                invoice=opts["invoice"],
                amount=opts["amount"],
                grace_days=opts["grace"],
                note=opts["note"],
            )
        described = describe_promise(promise)
        if opts["json"]:
            print_json(self.stdout, {"promise": described})
            return
        what = described["invoice"] or "all open invoices"
        self.stdout.write(
            f"Promise {described['id']}: {opts['customer']} pays {what} by "
            f"{described['promised_on']} (grace {described['grace_days']} days)"
        )
