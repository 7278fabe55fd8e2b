"""`relance rates show|add|refresh`: the late-payment rate tables (see docs/penalties.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from relance.dunning.models import RateSeries
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
from relance.lib.output import Column, print_json, print_table

SERIES_HELP = "one of: " + ", ".join(SERIES)
REFRESH_HELP = (
    "Load rate files into the database, upserting by series and date. Relance never "
    "downloads rates (its machines have no network): bring newer CSV files to the machine "
    "and point this command at them. Each file is `date,rate_percent,source` and is named "
    "after its series (e.g. ecb_mro.csv; the names of the shared rate histories are accepted "
    "too). Nothing is loaded unless every file is valid."
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

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, options["action"])(options)
        except RateInputError as exc:
            raise CommandError(str(exc)) from None

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
