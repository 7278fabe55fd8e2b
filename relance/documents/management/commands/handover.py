"""relance handover CUSTOMER --to insurer|agency|lawyer|court [--date D] --output FILE.zip
[--org SLUG] [--json]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.documents import handover
from relance.documents.typesetting import DocumentError
from relance.dunning.actions import NotFound, customer_by_reference
from relance.insights.management.commands.report import today_for
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json


class Command(BaseCommand):
    help = (
        "Write the hand-over file of a customer (a ZIP: summary PDF, invoices, letters, "
        "terms of sale, timeline) for a credit insurer, an agency, a lawyer or the court."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", help="the customer's account reference")
        parser.add_argument(
            "--to",
            required=True,
            choices=handover.RECIPIENTS,
            help="who receives it (court: with the order-for-payment fields)",
        )
        parser.add_argument("--date", type=iso_date, help="the date of the claim (today)")
        parser.add_argument("--output", required=True, type=Path, help="the ZIP file to write")
        scope_options(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        day = opts["date"] or today_for(org)
        output: Path = opts["output"]
        if not output.resolve().parent.is_dir():
            raise CommandError(f"{output}: no such directory")
        with refused(NotFound, handover.NothingToHandOver, DocumentError):
            customer = customer_by_reference(org, opts["customer"])
            try:
                made = handover.hand_over(org, customer, opts["to"], day, output)
            except OSError as error:
                raise CommandError(f"{output}: {error.strerror or error}") from None
        if opts["json"]:
            print_json(self.stdout, made.report())
            return
        totals = ", ".join(f"{c['total']} {c['currency']}" for c in made.claimed)
        self.stdout.write(
            f"{output}: hand-over file of {customer.legal_name} for {opts['to']}, "
            f"{len(made.entries)} files, {totals} claimed"
        )
        for note in made.notes:
            self.stderr.write(note)
