"""`relance rates show|add|refresh|fetch`: the late-payment rate tables (docs/penalties.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from relance.dunning.models import RateSeries
from relance.dunning.rate_fetch import FetchReport, PublisherError, fetch_rates
from relance.dunning.rates import (
    KIND_HELP,
    SERIES,
    RateInputError,
    RateRow,
    RateTable,
    check_date,
    check_series,
    load_table,
    parse_date,
    parse_percent,
    read_csv_file,
    shipped_rows,
    upsert,
)
from relance.lib.commands import iso_date
from relance.lib.output import Column, print_json, print_table

SERIES_HELP = "one of: " + ", ".join(SERIES)
REFRESH_HELP = (
    "Load rate files into the database, upserting by series and date: the way to refresh "
    "the tables on a machine with no network (`rates fetch` reads them from their "
    "publishers): bring newer CSV files to the machine and point this command at them. "
    "Each file is `date,rate_percent,source` and is named "
    "after its series (e.g. ecb_mro.csv; the names of the shared rate histories are accepted "
    "too). Nothing is loaded unless every file is valid."
)
FETCH_HELP = (
    "Read the ECB main refinancing rate (ECB Data Portal) and the Bank of England Bank Rate "
    "(its database's CSV export) and, with --french, the French legal rates from a file "
    "written from the half-year's arrêté; derive the French default penalty rate and floor. "
    "The same rate again changes nothing; a different one for a known date is a conflict, "
    "replaced only with --replace. Nothing is written if a publisher cannot be read or the "
    "file is refused. Without --ecb, --boe or --french: the ECB and the Bank of England."
)
# A derived series an administrator must add too, since Relance does not derive it.
DERIVED = {
    "ecb_mro": "fr_late_penalty_default (ECB rate on 1 January / 1 July + 10)",
    "fr_legal_professionals": "fr_late_penalty_floor (3 x this rate)",
}


class Command(BaseCommand):
    help = (
        "The late-payment rate tables: show a series, add a rate (e.g. a new half-year's "
        "French rates), refresh the tables from CSV files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        show = actions.add_parser("show", help="print a series, shipped and added rates")
        show.add_argument("series", metavar="SERIES", help=SERIES_HELP)
        show.add_argument("--json", action="store_true", help="print one JSON document")
        add = actions.add_parser(
            "add", help="add or correct one rate (it overrides a shipped rate of the same date)"
        )
        add.add_argument("series", metavar="SERIES", help=SERIES_HELP)
        add.add_argument("date", metavar="DATE", help="YYYY-MM-DD (see `rates show SERIES`)")
        add.add_argument("percent", metavar="PERCENT", help="e.g. 2.15 for 2.15 %%")
        add.add_argument("--source", default="", help="where the rate was published")
        refresh = actions.add_parser(
            "refresh",
            help="load CSV files into the database (the way to refresh the tables offline)",
            description=REFRESH_HELP,
        )
        refresh.add_argument(
            "path", metavar="FILE_OR_DIR", type=Path, help="a CSV file, or a directory of them"
        )
        refresh.add_argument(
            "--series", help="the series of a single file whose name does not say it"
        )
        fetch = actions.add_parser(
            "fetch",
            help="read new rates from the ECB, the Bank of England and a French rates file",
            description=FETCH_HELP,
        )
        fetch.add_argument("--ecb", action="store_true", help="the ECB main refinancing rate")
        fetch.add_argument("--boe", action="store_true", help="the Bank of England Bank Rate")
        fetch.add_argument(
            "--french",
            metavar="FILE",
            type=Path,
            help="a CSV file date,professionals,individuals,source of French legal rates",
        )
        fetch.add_argument(
            "--since",
            metavar="DATE",
            type=iso_date,
            help="the first date to read (default: 1 January of last year)",
        )
        fetch.add_argument(
            "--replace", action="store_true", help="replace a rate that differs (a conflict)"
        )
        fetch.add_argument(
            "--dry-run", action="store_true", help="show what would change, write nothing"
        )
        fetch.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, options["action"])(options)
        except (RateInputError, PublisherError) as exc:
            raise CommandError(str(exc)) from None

    def fetch(self, options: dict[str, Any]) -> None:
        french = options["french"]
        ecb, boe = options["ecb"], options["boe"]
        if not (ecb or boe or french):
            ecb = boe = True
        report = fetch_rates(
            today=timezone.localdate(), ecb=ecb, boe=boe, french=french,
            since=options["since"], replace=options["replace"], dry_run=options["dry_run"],
        )  # fmt: skip
        for series, conflict in report.conflicts:
            verb = "replaced" if conflict.replaced else "kept (use --replace to replace it)"
            self.stderr.write(
                f"Conflict: {series} {conflict.date}: Relance has {conflict.current:f} % "
                f"({conflict.origin}), the publisher {conflict.published:f} %: {verb}"
            )
        if options["json"]:
            print_json(self.stdout, report.as_dict())
            return
        print_fetch(self.stdout, report)

    def show(self, options: dict[str, Any]) -> None:
        table = load_table(check_series(options["series"]))
        if options["json"]:
            print_json(self.stdout, show_document(table))
            return
        title = f"{table.series}: {RateSeries(table.series).label} ({KIND_HELP[table.kind]})"
        rows = [
            [row.date.isoformat(), f"{row.percent:f}", row.origin, shorten(row.source)]
            for row in table.rows
        ]
        columns = [Column("Date"), Column("Percent", True), Column("Origin"), Column("Source")]
        print_table(self.stdout, columns, rows, title=title)

    def add(self, options: dict[str, Any]) -> None:
        series = check_series(options["series"])
        try:
            day = check_date(series, parse_date(options["date"]))
        except RateInputError as exc:
            raise RateInputError(f"DATE: {exc}") from None
        try:
            percent = parse_percent(options["percent"])
        except RateInputError as exc:
            raise RateInputError(f"PERCENT: {exc}") from None
        with transaction.atomic():
            done = upsert(series, [RateRow(day, percent, options["source"].strip())])
        shipped = {row.date: row.percent for row in shipped_rows(series)}
        verb = "Added" if done.created else "Updated" if done.updated else "Unchanged:"
        message = f"{verb} {series} {day}: {percent:f} %"
        if day in shipped:
            message += f" (overrides the shipped {shipped[day]:f} %)"
        self.stdout.write(message)
        if series in DERIVED:
            self.stdout.write(f"Penalties read {DERIVED[series]}: add it too if it changes.")

    def refresh(self, options: dict[str, Any]) -> None:
        path: Path = options["path"]
        if not path.exists():
            raise RateInputError(f"{path}: no such file or directory")
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        if not files:
            raise RateInputError(f"{path}: no .csv file in this directory")
        if options["series"] and len(files) > 1:
            raise RateInputError("--series goes with a single file, not a directory")
        loaded = [read_csv_file(file, options["series"]) for file in files]
        seen: dict[str, Path] = {}
        for file, (series, _) in zip(files, loaded, strict=True):
            if series in seen:
                raise RateInputError(f"{file}: series {series} already given by {seen[series]}")
            seen[series] = file
        with transaction.atomic():
            for file, (series, rows) in zip(files, loaded, strict=True):
                done = upsert(series, rows)
                self.stdout.write(
                    f"{file.name}: {series}, {done.created} added, {done.updated} updated, "
                    f"{done.unchanged} unchanged"
                )


def print_fetch(out: Any, report: FetchReport) -> None:
    title = f"Rates fetched on {report.fetched_on}, from {report.since}"
    columns = [Column("Series"), Column("Added", True), Column("Unchanged", True)]
    columns.append(Column("Conflicts", True))
    rows = [
        [name, str(len(found.added)), str(len(found.unchanged)), str(len(found.conflicts))]
        for name, found in report.series.items()
    ]
    print_table(out, columns, rows, title=title)
    for name, found in report.series.items():
        for row in found.added:
            verb = "Would add" if report.dry_run else "Added"
            out.write(f"{verb} {name} {row.date}: {row.percent:f} %\n")
        for conflict in found.conflicts:
            if conflict.replaced:
                verb = "Would replace" if report.dry_run else "Replaced"
                out.write(
                    f"{verb} {name} {conflict.date}: {conflict.current:f} % -> "
                    f"{conflict.published:f} %\n"
                )
    if report.dry_run:
        out.write("Dry run: nothing written.\n")


def shorten(text: str, width: int = 80) -> str:
    """Sources can be long: the table shows their start, --json the whole text."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def show_document(table: RateTable) -> dict[str, Any]:
    return {
        "series": table.series,
        "label": str(RateSeries(table.series).label),
        "kind": table.kind.value,
        "rows": [
            {
                "date": row.date,
                "percent": row.percent,
                "origin": row.origin,
                "source": row.source,
            }
            for row in table.rows
        ],
    }
