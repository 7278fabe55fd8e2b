"""`relance report aged-balance|dso`: the receivables reports (see docs/reports.md)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.insights.aging import BUCKET_NAMES, AgedBalance, aged_balance
from relance.insights.dso import DsoResult, dso
from relance.lib.commands import iso_date, organisation_option
from relance.lib.output import Column, money, print_json, print_table

BUCKET_HEADERS = {
    "not_due": "Not due",
    "1-30": "1-30",
    "31-60": "31-60",
    "61-90": "61-90",
    "over_90": "Over 90",
}


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days above 0")
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--date", type=iso_date, help="the date of the report, YYYY-MM-DD (default: today)"
    )
    parser.add_argument(
        "--org", help="the organisation's slug (may be omitted when there is only one)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of a table"
    )


def today_for(organisation: Organisation) -> date:
    """Today where the organisation is: its books close on its own calendar."""
    try:
        return timezone.localdate(timezone=ZoneInfo(organisation.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.localdate()


class Command(BaseCommand):
    help = "Receivables reports: the aged balance and the days sales outstanding (DSO)."

    def add_arguments(self, parser: CommandParser) -> None:
        reports = parser.add_subparsers(dest="report", required=True, metavar="REPORT")
        aged_help = "open balances per customer by days overdue (see docs/reports.md)"
        aged = reports.add_parser("aged-balance", help=aged_help, description=aged_help)
        add_common_arguments(aged)
        aged.add_argument(
            "--summary", action="store_true", help="the totals per currency only, no customers"
        )
        dso_help = "days sales outstanding, standard and count-back (see docs/reports.md)"
        dso_parser = reports.add_parser("dso", help=dso_help, description=dso_help)
        add_common_arguments(dso_parser)
        dso_parser.add_argument(
            "--days",
            type=positive_int,
            default=90,
            help="the sales period of the standard method, in days (default: 90)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = organisation_option(options["org"])
        as_of = options["date"] or today_for(organisation)
        if options["report"] == "aged-balance":
            report = aged_balance(organisation, as_of)
            if options["json"]:
                print_json(self.stdout, aged_balance_document(report, options["summary"]))
            else:
                self.print_aged_balance(organisation, report, options["summary"])
        else:
            result = dso(organisation, as_of, options["days"])
            if options["json"]:
                print_json(self.stdout, {"report": "dso", **asdict(result)})
            else:
                self.print_dso(organisation, result)

    def print_aged_balance(
        self, organisation: Organisation, report: AgedBalance, summary: bool
    ) -> None:
        title = f"Aged balance of {organisation.name} at {report.as_of.isoformat()}"
        if not report.totals:
            self.stdout.write(f"{title}: nothing is owed.")
            return
        money_columns = [Column(BUCKET_HEADERS[name], numeric=True) for name in BUCKET_NAMES]
        money_columns += [Column("Total", numeric=True), Column("Unallocated credits", True)]
        rows = []
        if not summary:
            rows = [
                [
                    line.reference,
                    line.legal_name,
                    *(money(line.buckets[name], line.currency) for name in BUCKET_NAMES),
                    money(line.total, line.currency),
                    money(line.unallocated_credits, line.currency),
                ]
                for line in report.customers
            ]
        totals = [
            [
                f"Total {total.currency}",
                f"{plural(total.customers, 'customer')}, {plural(total.items, 'item')}",
                *(money(total.buckets[name], total.currency) for name in BUCKET_NAMES),
                money(total.total, total.currency),
                money(total.unallocated_credits, total.currency),
            ]
            for total in report.totals.values()
        ]
        columns = [Column("Account"), Column("Customer"), *money_columns]
        print_table(self.stdout, columns, rows, title=title, totals=totals)

    def print_dso(self, organisation: Organisation, result: DsoResult) -> None:
        title = f"DSO of {organisation.name} at {result.as_of.isoformat()}"
        if not result.currencies:
            self.stdout.write(f"{title}: no receivables and no credit sales.")
            return
        columns = [
            Column("Currency"),
            Column("Receivables", numeric=True),
            Column(f"Credit sales, {result.days} days", numeric=True),
            Column("DSO standard", numeric=True),
            Column("DSO count-back", numeric=True),
        ]
        rows = [
            [
                line.currency,
                money(line.receivables, line.currency),
                money(line.sales, line.currency),
                "n/a" if line.standard is None else f"{line.standard} days",
                "n/a" if line.count_back is None else f"{line.count_back} days",
            ]
            for line in result.currencies.values()
        ]
        print_table(self.stdout, columns, rows, title=title)
        for line in result.currencies.values():
            for note in (line.standard_note, line.count_back_note):
                if note:
                    self.stdout.write(f"{line.currency}: {note}")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def aged_balance_document(report: AgedBalance, summary: bool) -> dict[str, Any]:
    document = {"report": "aged-balance", "buckets": list(BUCKET_NAMES), **asdict(report)}
    if summary:
        del document["customers"]
    return document
