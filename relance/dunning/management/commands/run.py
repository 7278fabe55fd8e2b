"""relance run [--date D] [--org SLUG] [--dry-run] [--json] [--jobs N]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.accounts.identity import missing_for_email
from relance.accounts.models import Organisation
from relance.dunning.engine import RunError, run
from relance.lib.commands import iso_date, organisation_option
from relance.lib.output import Column, print_json, print_table, progress_bar


class Command(BaseCommand):
    help = "Run the dunning of a day: decide and plan the reminders, calls and tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=iso_date, help="the run date (default: today)")
        parser.add_argument("--org", help="organisation slug; every organisation if omitted")
        parser.add_argument("--dry-run", action="store_true", help="show the decisions only")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--jobs", type=int, default=None,
            help="processes sharing the customers (default: one per core, up to 4, from "
            "200,000 open items; --json and --dry-run use one)",
        )  # fmt: skip

    def handle(self, *args: Any, **opts: Any) -> None:
        orgs = (
            [organisation_option(opts["org"])]
            if opts["org"]
            else list(Organisation.objects.order_by("slug"))
        )
        results = []
        refused = []
        for org in orgs:
            day = opts["date"] or timezone.localdate()
            if opts["dry_run"] and (missing := missing_for_email(org)):
                self.stderr.write(f"warning: {missing}; a real run would be refused.")
            try:
                with progress_bar(enabled=not opts["json"]) as report:
                    results.append(
                        run(org, day, dry_run=opts["dry_run"], explain=opts["json"],
                            jobs=opts["jobs"], progress=report)
                    )  # fmt: skip
            except RunError as exc:
                if opts["org"]:
                    raise CommandError(str(exc)) from None
                refused.append(str(exc))  # the other organisations' dunning still runs
        self.report(results, opts)
        if refused:
            raise CommandError("\n".join(refused))

    def report(self, results: list[Any], opts: dict[str, Any]) -> None:
        if opts["json"]:
            print_json(self.stdout, {"runs": [r.as_dict() for r in results]})
            return
        for result in results:
            verb = "would plan" if result.dry_run else "planned"
            when = (
                ""
                if result.business_day
                else f" (not a business day: {result.holiday or 'weekend'}; nothing is sent)"
            )
            self.stdout.write(
                f"{result.organisation} {result.run_date}: {result.customers} customers, "
                f"{result.items_considered} items that may move{when}; {verb}:"
            )
            rows = [(k.replace("_", " "), str(v)) for k, v in sorted(result.counts.items())]
            print_table(self.stdout, [Column("what"), Column("count", numeric=True)],
                        rows or [("nothing", "0")])  # fmt: skip
