"""relance letter CUSTOMER --template NAME [--date D] [--invoice N...] [--registered]
[--language fr|en] --output FILE.pdf [--org SLUG] [--json]"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.documents import letters
from relance.documents.typesetting import DocumentError
from relance.dunning.actions import NotFound, customer_by_reference
from relance.insights.management.commands.report import today_for
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json
from relance.portal import links


class Command(BaseCommand):
    help = "Write one letter to a customer as a PDF (a formal notice, a statement, ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", help="the customer's account reference")
        parser.add_argument(
            "--template", required=True,
            help=f"the letter: {', '.join(letters.templates_available())}, or your own",
        )  # fmt: skip
        parser.add_argument("--date", type=iso_date, help="the letter's date (today)")
        parser.add_argument(
            "--invoice", dest="invoices", nargs="+", action="extend", default=[], metavar="N",
            help="the invoices it is about (default: those the template is about)",
        )  # fmt: skip
        parser.add_argument("--registered", action="store_true", help="a registered letter")
        parser.add_argument("--language", choices=["fr", "en"], help="default: the customer's")
        parser.add_argument("--output", required=True, type=Path, help="the PDF file to write")
        scope_options(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        day = opts["date"] or today_for(org)
        with refused(NotFound, letters.Refused, DocumentError):
            customer = customer_by_reference(org, opts["customer"])
            request = letters.for_customer(
                org, customer, opts["template"], day, numbers=opts["invoices"],
                registered=opts["registered"], language=opts["language"] or "",
            )  # fmt: skip
            # Like every letter sent, it carries the customer's portal.
            request = dataclasses.replace(request, portal_url=links.url_for(customer))
            try:
                letter, pdf = letters.write(request)
            except letters.RateMissing as error:
                raise CommandError(
                    f"the letter is not written: a rate it must state is unknown ({error}); "
                    "add it with `relance rates fetch` or `relance rates add`"
                ) from None
            except letters.NoRecipient as error:
                raise CommandError(str(error)) from None
        try:
            opts["output"].write_bytes(pdf)
        except OSError as error:
            raise CommandError(f"{opts['output']}: {error.strerror or error}") from None
        report = {
            "output": str(opts["output"]), "customer": customer.reference,
            "template": request.template, "module": letter.module, "date": day,
            "language": letter.data["lang"], "registered": request.registered,
            "invoices": [inv.number for inv in request.invoices],
            "claimed": letters.claimed_amounts(letter), "bytes": len(pdf),
            "portal_url": request.portal_url,
        }  # fmt: skip
        if opts["json"]:
            print_json(self.stdout, report)
            return
        self.stdout.write(
            f"{opts['output']}: {letter.data['subject']} to {customer.legal_name}"
            f" ({letter.data['claimed_text']})"
        )
