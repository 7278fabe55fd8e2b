"""relance hold add CUSTOMER --kind manual|negotiation|insolvency [--from D]
[--published-on D] [--reason TEXT] | release CUSTOMER|ID [--on D]; both [--org] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.dunning import actions
from relance.dunning.customer_view import describe_hold
from relance.insights.management.commands.report import today_for
from relance.ledger.models import HoldKind
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Stop dunning a customer for a while (a hold), or release the hold."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        adding = verbs.add_parser("add", help="place a hold on a customer")
        adding.add_argument("customer", help="the customer's account reference")
        adding.add_argument("--kind", required=True, choices=HoldKind.values)
        adding.add_argument(
            "--from", dest="start", type=iso_date, help="its first day (default: today)"
        )
        adding.add_argument(
            "--published-on",
            type=iso_date,
            help="collective proceedings: the day they were published",
        )
        adding.add_argument("--reason", default="")
        release = verbs.add_parser("release", help="lift a hold")
        release.add_argument(
            "target",
            metavar="CUSTOMER|ID",
            help="a customer reference (its hold in force) or a hold id",
        )
        release.add_argument("--on", type=iso_date, help="the day dunning resumes (default: today)")
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        today = today_for(org)
        with refused(actions.Refused):
            if opts["action"] == "add":
                hold = actions.add_hold(
                    org,
                    opts["customer"],
                    kind=opts["kind"],
                    start=opts["start"] or today,
                    reason=opts["reason"],
                    published_on=opts["published_on"],
                )
            else:
                hold = actions.release_hold(org, opts["target"], on=opts["on"] or today)
        described = describe_hold(hold, today)
        if opts["json"]:
            print_json(self.stdout, {"hold": described})
            return
        until = f" until {described['until']}" if described["until"] else ""
        self.stdout.write(
            f"Hold {described['id']} ({described['kind']}) on {hold.customer.reference} "
            f"from {described['from']}{until}"
        )
