"""relance demo [--host H] [--port P] [--date D] [--no-serve]"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.cli import ensure_migrated
from relance.console.management import serving
from relance.console.management.commands.serve import add_server_arguments, start
from relance.demo.load import ORGANISATION_NAME, USER_EMAIL, USER_PASSWORD, load, mail_dir
from relance.demo.past import Past
from relance.dunning.models import CommStatus, Communication, Task
from relance.ledger.models import Customer, Invoice
from relance.lib.commands import iso_date


class Command(BaseCommand):
    help = (
        f"Load (or refresh) the demo organisation {ORGANISATION_NAME!r} as of a day, with the "
        "weeks of dunning before it done and sent, print the login and serve the console."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_server_arguments(parser)
        parser.add_argument("--date", type=iso_date, help="the demo's today (default: today)")
        parser.add_argument("--no-serve", action="store_true", help="load, print, and exit")

    def handle(self, *args: Any, **opts: Any) -> None:
        ensure_migrated()
        today: dt.date = opts["date"] or timezone.localdate()
        self.stdout.write(f"Loading the demo organisation as of {today:%Y-%m-%d}...")
        organisation, past = load(today)
        if past is not None:
            self.print_past(past)
        if not opts["no_serve"]:
            serving.collect_static()
        self.print_welcome(organisation, opts["host"], opts["port"], served=not opts["no_serve"])
        if not opts["no_serve"]:
            start(self, opts)

    def print_past(self, past: Past) -> None:
        sent = past.counts["outbox_sent"]
        handed = past.counts["outbox_handed_over"]
        lines = [
            f"Replayed {past.runs} daily runs from {past.start:%Y-%m-%d}: {sent} e-mails sent, "
            f"{handed} calls, letters and reviews handed to people.",
        ]
        if past.last_business_day and past.last_run:
            counts = past.last_run.counts
            lines.append(
                f"Last business day, {past.last_business_day:%A %Y-%m-%d}: "
                f"{counts['queued']} communications queued, "
                f"{counts['awaiting_approval']} awaiting approval."
            )
        self.stdout.write("\n".join(lines))

    def print_welcome(
        self, organisation: Organisation, host: str, port: int, *, served: bool
    ) -> None:
        customers = Customer.objects.filter(organisation=organisation).count()
        invoices = Invoice.objects.filter(organisation=organisation)
        open_items = invoices.filter(balance__gt=0).count()
        comms = Communication.objects.filter(organisation=organisation)
        awaiting = comms.filter(status=CommStatus.AWAITING_APPROVAL).count()
        tasks = Task.objects.filter(organisation=organisation, status=Task.Status.OPEN).count()
        lines = [
            "",
            self.style.SUCCESS(f"Demo ready: {organisation.name}"),
            f"  {customers} customers, {invoices.count()} invoices, {open_items} open",
            f"  {comms.filter(status=CommStatus.SENT).count()} communications sent, "
            f"{awaiting} awaiting approval, {tasks} open tasks",
            f"  E-mails   written to {mail_dir(organisation)}, never sent",
            "",
            f"  Address   {serving.address(host, port)}" + ("" if served else "  (relance serve)"),
            f"  Login     {USER_EMAIL}",
            f"  Password  {USER_PASSWORD}",
            "",
        ]
        self.stdout.write("\n".join(lines))
