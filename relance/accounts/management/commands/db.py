"""`relance db citus-layout [--json]`: the SQL that distributes the PostgreSQL database by
organisation with Citus (docs/deployment.md, "Distributing by organisation")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.lib.citus import LayoutError, layout
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "The database's layout: how to distribute it by organisation (Citus)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        citus = actions.add_parser(
            "citus-layout",
            help="print the SQL that distributes the database by organisation with Citus",
            description=(
                "Print, derived from the models, the SQL that makes the organisations, users "
                "and rates reference tables, distributes every tenant table on "
                "organisation_id (colocated), and puts the organisation in the keys Citus "
                "requires. Prints only: review it, then run it on the coordinator."
            ),
        )
        citus.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            plan = layout()
        except LayoutError as error:
            raise CommandError(str(error)) from None
        if opts["json"]:
            print_json(self.stdout, plan.as_json())
        else:
            self.stdout.write(plan.sql(), ending="")
