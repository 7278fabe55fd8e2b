"""relance portal link CUSTOMER [--days N] | revoke CUSTOMER; both [--org] [--json]"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.dunning import actions
from relance.lib.commands import organisation_option, refused, scope_options
from relance.lib.output import print_json
from relance.portal import links


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= links.MAX_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 to "
                                         f"{links.MAX_DAYS}")  # fmt: skip
    return value


class Command(BaseCommand):
    help = "The personal link to a customer's portal: give it, or revoke it."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        link = verbs.add_parser("link", help="print the customer's portal link")
        link.add_argument("customer", help="the customer's account reference")
        link.add_argument(
            "--days", type=_days, help="a new link living this many days (default: the live one)"
        )
        revoke = verbs.add_parser("revoke", help="revoke every live link of the customer")
        revoke.add_argument("customer", help="the customer's account reference")
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        with refused(actions.Refused):
            customer = actions.customer_by_reference(org, opts["customer"])
        if opts["action"] == "link":
            url = links.url_for(customer, days=opts["days"])
            link = links.resolve(url.rstrip("/").rsplit("/", 1)[-1])
            assert link is not None
            if opts["json"]:
                print_json(self.stdout, {"customer": customer.reference, "url": url,
                                         "expires_at": link.expires_at.isoformat()})  # fmt: skip
            else:
                self.stdout.write(url)
            return
        count = links.revoke(customer)
        if opts["json"]:
            print_json(self.stdout, {"customer": customer.reference, "revoked": count})
        else:
            self.stdout.write(f"{count} link(s) of {customer.reference} revoked")
