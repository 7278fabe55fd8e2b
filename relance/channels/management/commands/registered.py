"""relance registered list [--status S|all] [--org SLUG] [--json]
relance registered track ID NUMBER [--posted-on D] [--org SLUG] [--json]
relance registered receipt ID --on D [--returned REASON] [--presented-on D] [--proof FILE]
relance registered sync [--org SLUG] [--json]   (every organisation without --org)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.channels import registered_mail as rm
from relance.channels.models import RegisteredLetter, RegisteredStatus, ReturnReason
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "Registered letters: list them, enter their tracking number and receipt, sync them."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="registered letters, newest first")
        listing.add_argument("--status", default="all",
                             choices=[*RegisteredStatus.values, "all"])  # fmt: skip
        listing.add_argument("--limit", type=int, default=500)
        track = actions.add_parser("track", help="a letter posted by hand: its number")
        track.add_argument("id", type=int)
        track.add_argument("number", help='the tracking number, e.g. "1A 123 456 7890 1"')
        track.add_argument("--posted-on", type=iso_date, help="default: today")
        receipt = actions.add_parser("receipt", help="the AR signed, or the letter returned")
        receipt.add_argument("id", type=int)
        receipt.add_argument("--on", type=iso_date, required=True,
                             help="the date signed on the AR, or of the return")  # fmt: skip
        receipt.add_argument("--returned", choices=ReturnReason.values, default="",
                             help="the letter came back: why")  # fmt: skip
        receipt.add_argument(
            "--presented-on", type=iso_date,
            help='first presentation ("avisé le"): needed when not collected',
        )  # fmt: skip
        receipt.add_argument(
            "--proof", type=Path, help="the AR's or envelope's scan (PDF, PNG, JPEG)"
        )
        actions.add_parser(
            "sync", help="submit prepared letters to the provider, follow the others"
        )
        scope_options(*actions.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "sync":  # every organisation's letters without --org, as `worker`
            report = rm.sync(organisation_option(opts["org"]) if opts["org"] else None)
            if opts["json"]:
                print_json(self.stdout, report)
            else:
                self.stdout.write(
                    f"submitted {len(report.submitted)}, updated {len(report.updated)}, "
                    f"failed {len(report.failed)}, to retry {len(report.retry)}\n"
                )
                for pk, error in sorted(report.errors.items()):
                    self.stderr.write(f"letter {pk}: {error}\n")
            return
        org = organisation_option(opts["org"])
        if action == "list":
            status = None if opts["status"] == "all" else [opts["status"]]
            letters = list(rm.letters_of(org, status)[: opts["limit"]])
        else:
            letter = (
                RegisteredLetter.objects.filter(organisation=org, pk=opts["id"])
                .select_related("organisation", "customer")
                .first()
            )
            if letter is None:
                raise CommandError(f"registered letter {opts['id']} not found in organisation "
                                   f"{org.slug!r}")  # fmt: skip
            with refused(rm.RegisteredMailError):
                if action == "track":
                    posted_on = opts["posted_on"] or timezone.localdate()
                    letter = rm.record_posting(letter, opts["number"], posted_on)
                else:
                    letter = rm.record_receipt(
                        letter, on=opts["on"], returned=opts["returned"],
                        presented_on=opts["presented_on"], proof=self.read(opts["proof"]),
                    )  # fmt: skip
            letters = [letter]
        rows = [rm.describe(x) for x in letters]
        if opts["json"]:
            print_json(self.stdout, {"registered_letters": rows})
            return
        print_table(
            self.stdout,
            [Column("id", numeric=True), Column("customer"), Column("status"),
             Column("number"), Column("posted"), Column("received"), Column("provider")],
            [(str(r["id"]), f"{r['customer']} {r['name']}", r["status"], r["tracking_number"],
              _day(r["posted_on"]), _day(r["receipt_date"]), r["provider"] or "by hand")
             for r in rows] or [("", "nothing", "", "", "", "", "")],
        )  # fmt: skip

    def read(self, path: Path | None) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}") from None


def _day(day: Any) -> str:
    return day.isoformat() if day else ""
