"""relance audit list [--org SLUG] [--since DATE] [--until DATE] [--action PREFIX]
[--actor TEXT] [--limit N] [--json]"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.audit.reading import Filters, describe, events_of, zone_of
from relance.lib.commands import iso_date, organisation_option, scope_options
from relance.lib.output import Column, print_json, print_table

DEFAULT_LIMIT = 100


def positive(text: str) -> int:
    """An argparse type: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above zero")
    return value


class Command(BaseCommand):
    help = "The audit trail: who did what in an organisation, newest first."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        listing = verbs.add_parser("list", help="the organisation's events, newest first")
        listing.add_argument("--since", type=iso_date, help="from this day (YYYY-MM-DD) on")
        listing.add_argument("--until", type=iso_date, help="up to the end of this day")
        listing.add_argument(
            "--action", default="", metavar="PREFIX",
            help="actions starting with PREFIX, e.g. dispute or import.refused",
        )  # fmt: skip
        listing.add_argument("--actor", default="", help="actors whose name contains TEXT")
        listing.add_argument(
            "--limit", type=positive, default=DEFAULT_LIMIT,
            help=f"at most N events, the newest (default {DEFAULT_LIMIT})",
        )  # fmt: skip
        scope_options(listing)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["since"] and opts["until"] and opts["since"] > opts["until"]:
            raise CommandError(
                f"--since {opts['since']} is after --until {opts['until']}", returncode=2
            )
        org = organisation_option(opts["org"])
        filters = Filters(opts["since"], opts["until"], opts["action"], opts["actor"])
        limit = opts["limit"]
        found = list(events_of(org, filters)[: limit + 1])
        events = [describe(e) for e in found[:limit]]
        if opts["json"]:
            print_json(self.stdout, {"organisation": org.slug, "events": events,
                                     "more": len(found) > limit})  # fmt: skip
            return
        zone = zone_of(org)
        print_table(
            self.stdout,
            [Column("at"), Column("actor"), Column("action"), Column("target"),
             Column("summary")],
            [(e["at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), e["actor"], e["action"],
              " ".join(e["target"].values()) if e["target"] else "", e["summary"])
             for e in events] or [("", "", "nothing", "", "")],
            title=f"{org.slug} ({zone.key})",
        )  # fmt: skip
        if len(found) > limit:
            self.stderr.write(f"Only the newest {limit} shown: narrow with --since, or --limit.")
