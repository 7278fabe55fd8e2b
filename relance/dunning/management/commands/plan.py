"""relance plan create CUSTOMER --invoice N... --instalment DATE:AMOUNT... [--date D]
[--note TEXT] [--confirm] | confirm ID [--date D] | cancel ID [--note TEXT] [--date D];
all [--org SLUG] [--json]"""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.dunning import actions
from relance.dunning.customer_view import describe_plan
from relance.insights.management.commands.report import today_for
from relance.lib.commands import amount, iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json


def instalment(text: str) -> tuple[dt.date, Decimal]:
    """An argparse type: ``2026-12-15:500.00``."""
    day, sep, value = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not DATE:AMOUNT (2026-12-15:500.00)")
    return iso_date(day), amount(value)


class Command(BaseCommand):
    help = "Agree a payment plan: its invoices pause, its instalments are followed instead."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        create = verbs.add_parser("create", help="agree a payment plan with a customer")
        create.add_argument("customer", help="the customer's account reference")
        create.add_argument(
            "--invoice",
            dest="invoices",
            nargs="+",
            action="extend",
            required=True,
            metavar="N",
            help="the invoices it covers",
        )
        create.add_argument(
            "--instalment",
            dest="instalments",
            nargs="+",
            action="extend",
            type=instalment,
            required=True,
            metavar="DATE:AMOUNT",
            help="what is paid when; they add up to what the invoices owe",
        )
        create.add_argument("--date", type=iso_date, help="the day it was agreed (today)")
        create.add_argument("--note", default="")
        create.add_argument(
            "--confirm",
            action="store_true",
            help="confirm the plan to the customer by e-mail (template plan_confirmation)",
        )
        confirming = verbs.add_parser("confirm", help="confirm a plan to the customer by e-mail")
        confirming.add_argument("plan", metavar="ID", help="the plan's id")
        confirming.add_argument("--date", type=iso_date, help="the day (today)")
        cancelling = verbs.add_parser("cancel", help="end an active plan: its invoices are dunned")
        cancelling.add_argument("plan", metavar="ID", help="the plan's id")
        cancelling.add_argument("--date", type=iso_date, help="the day (today)")
        cancelling.add_argument("--note", default="")
        scope_options(create, confirming, cancelling)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        day = opts["date"] or today_for(org)
        with refused(actions.Refused):
            if opts["action"] == "confirm":
                plan = actions.confirm_plan(org, opts["plan"], on=day)
            elif opts["action"] == "cancel":
                plan = actions.cancel_plan(org, opts["plan"], on=day, note=opts["note"])
            else:
                plan = actions.create_plan(
                    org,
                    opts["customer"],
                    opts["invoices"],
                    opts["instalments"],
                    on=day,
                    note=opts["note"],
                    confirm=opts["confirm"],
                )
        described = describe_plan(plan)
        if opts["json"]:
            print_json(self.stdout, {"plan": described})
            return
        self.stdout.write(
            f"Payment plan {described['id']} ({described['status']}) for "
            f"{', '.join(described['invoices'])}: "
            + ", ".join(f"{i['amount']} on {i['due_date']}" for i in described["instalments"])
        )
