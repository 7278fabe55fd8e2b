"""relance dispute open INVOICE --reason R [--amount A] [--note N] [--date D]
| resolve INVOICE|ID --resolution TEXT [--outcome O [--credit-note REF --credit-amount A]]
[--date D] | assign INVOICE|ID --to EMAIL|none; all [--org SLUG] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.dunning import actions, pauses
from relance.dunning.customer_view import describe_dispute
from relance.insights.management.commands.report import today_for
from relance.ledger.models import DisputeOutcome, DisputeReason
from relance.lib.commands import amount, iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Open a dispute on an invoice (its dunning pauses), or resolve it."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        opening = verbs.add_parser("open", help="the customer disputes an invoice")
        opening.add_argument("invoice", help="the invoice number")
        opening.add_argument("--reason", required=True, choices=DisputeReason.values)
        opening.add_argument("--amount", type=amount, help="the disputed part (default: all)")
        opening.add_argument("--note", default="")
        resolving = verbs.add_parser("resolve", help="resolve an invoice's open disputes")
        resolving.add_argument(
            "target",
            metavar="INVOICE|ID",
            help="an invoice number (its open disputes) or a dispute id",
        )
        resolving.add_argument("--resolution", required=True, help="how it was settled")
        resolving.add_argument(
            "--outcome",
            choices=DisputeOutcome.values,
            default="",
            help="rejected or settled: dunning resumes; credit_note: recorded, then resumes",
        )
        resolving.add_argument("--credit-note", help="the credit note's number (credit_note)")
        resolving.add_argument("--credit-amount", type=amount, help="its amount (credit_note)")
        for verb in verbs.choices.values():
            verb.add_argument("--date", type=iso_date, help="the day (default: today)")
        assigning = verbs.add_parser("assign", help="give a dispute to a member to follow up")
        assigning.add_argument("target", metavar="INVOICE|ID")
        assigning.add_argument("--to", required=True, help="the member's e-mail, or none")
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        day = opts.get("date") or today_for(org)
        with refused(actions.Refused):
            if opts["action"] == "open":
                disputes = [
                    actions.open_dispute(org, opts["invoice"], reason=opts["reason"], on=day,
                                         amount=opts["amount"], note=opts["note"])
                ]  # fmt: skip
            elif opts["action"] == "assign":
                to = None if opts["to"].lower() == "none" else opts["to"]
                disputes = actions.assign_disputes(org, opts["target"], to)
            else:
                credit = None
                if opts["credit_note"] is not None or opts["credit_amount"] is not None:
                    if not (opts["credit_note"] and opts["credit_amount"]):
                        raise CommandError(
                            "--credit-note and --credit-amount go together", returncode=2
                        )
                    credit = pauses.CreditNote(opts["credit_note"], opts["credit_amount"])
                disputes = actions.resolve_disputes(
                    org, opts["target"], resolution=opts["resolution"], on=day,
                    outcome=opts["outcome"], credit_note=credit,
                )  # fmt: skip
        described = [describe_dispute(d) for d in disputes]
        if opts["json"]:
            print_json(self.stdout, {"disputes": described})
            return
        for d in described:
            state = f"resolved on {d['resolved_on']}" if d["resolved_on"] else "open"
            if d["outcome"]:
                state += f" ({d['outcome']})"
            if d["assignee"]:
                state += f", assigned to {d['assignee']}"
            self.stdout.write(f"Dispute {d['id']} on {d['invoice']} ({d['reason']}): {state}")
