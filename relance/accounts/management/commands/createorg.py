"""relance createorg SLUG --name NAME [--country FR] [--currency EUR] [--language fr]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.accounts.models import Organisation
from relance.accounts.services import create_organisation
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Create an organisation (a creditor company whose receivables Relance follows)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="short name used in commands: --org SLUG")
        parser.add_argument("--name", required=True, help="the company's name")
        parser.add_argument("--legal-name", default="")
        parser.add_argument("--siren", default="")
        parser.add_argument("--country", default="FR", help="ISO code; sets holidays and law")
        parser.add_argument("--currency", default="EUR")
        parser.add_argument("--language", default="fr", choices=["fr", "en"])
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        if Organisation.objects.filter(slug=opts["slug"]).exists():
            raise CommandError(f"organisation {opts['slug']!r} already exists")
        try:
            org = create_organisation(
                opts["slug"], name=opts["name"], country=opts["country"].upper(),
                currency=opts["currency"].upper(), language=opts["language"],
                legal_name=opts["legal_name"], siren=opts["siren"],
            )  # fmt: skip
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if opts["json"]:
            print_json(self.stdout, {"slug": org.slug, "name": org.name, "id": org.pk})
        else:
            self.stdout.write(f"Created organisation {org.slug} ({org.name}).")
