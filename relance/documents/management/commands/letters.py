"""relance letters batch [--date D] --output FILE.pdf [--list FILE.csv] [--dry-run] [--duplex]
relance letters list [--date D]; all [--org SLUG] [--json]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.documents import printing
from relance.insights.management.commands.report import today_for
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "The letters waiting to be posted, and the day's print batch (one PDF in postal order)."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        batch = verbs.add_parser("batch", help="print every letter waiting, in postal order")
        batch.add_argument("--date", type=iso_date, help="letters of this day and before (today)")
        batch.add_argument("--output", required=True, type=Path, help="the PDF file to write")
        batch.add_argument("--list", type=Path, help="also write the list of letters (CSV)")
        batch.add_argument(
            "--dry-run", action="store_true", help="write the files, mark nothing as printed"
        )
        batch.add_argument(
            "--duplex", action="store_true",
            help="printed on both sides: a blank back after a letter of an odd number of pages",
        )  # fmt: skip
        listing = verbs.add_parser("list", help="the letters waiting to be printed")
        listing.add_argument("--date", type=iso_date, help="letters of this day and before")
        scope_options(batch, listing)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        day = opts["date"] or today_for(org)
        if opts["action"] == "list":
            self.listing(org, day, opts)
            return
        with refused(printing.BatchConflict):
            made = printing.make_batch(org, day, dry_run=opts["dry_run"], duplex=opts["duplex"])
        try:
            if made.rows:
                opts["output"].write_bytes(made.pdf)
            if opts["list"]:
                opts["list"].write_text(made.list_csv(), encoding="utf-8")
        except OSError as error:
            raise CommandError(f"{error.filename}: {error.strerror or error}") from None
        report = {
            "date": day, "letters": len(made.rows),
            "registered": sum(1 for row in made.rows if row["registered"] == "yes"),
            "output": str(opts["output"]) if made.rows else None,
            "batch": made.batch.pk if made.batch else None, "dry_run": opts["dry_run"],
            "list": made.rows,
        }  # fmt: skip
        if opts["json"]:
            print_json(self.stdout, report)
        elif not made.rows:
            self.stdout.write(f"No letter waiting to be printed on {day}.")
        else:
            self.stdout.write(
                f"{opts['output']}: {report['letters']} letters in postal order"
                f" ({report['registered']} registered)"
            )

    def listing(self, org: Any, day: Any, opts: dict[str, Any]) -> None:
        rows = [
            {"letter": letter.pk, "day": letter.day, "customer": letter.customer.reference,
             "name": letter.recipient["name"], "postcode": letter.postcode,
             "country": letter.country, "template": letter.template,
             "registered": letter.registered}
            for letter in printing.waiting(org, day)
        ]  # fmt: skip
        if opts["json"]:
            print_json(self.stdout, {"date": day, "letters": rows})
            return
        print_table(
            self.stdout,
            [Column("letter", numeric=True), Column("day"), Column("customer"), Column("name"),
             Column("postcode"), Column("template"), Column("registered")],
            [[str(r["letter"]), r["day"].isoformat(), r["customer"], r["name"], r["postcode"],
              r["template"], "yes" if r["registered"] else ""] for r in rows],
        )  # fmt: skip
