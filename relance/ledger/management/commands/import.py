"""relance import FILE [--format csv|xlsx|ods|fec] [--mapping FILE|NAME] [--org SLUG]
[--dry-run] [--json]"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from relance.ledger.imports import FORMATS, ImportFailed, ImportResult, import_file
from relance.ledger.imports.mapping import Mapping, load_mapping, parse_mapping
from relance.ledger.imports.records import Problem
from relance.ledger.models import ImportMapping
from relance.lib.commands import iso_date, organisation_option
from relance.lib.output import Column, print_json, print_table, progress_bar


class Command(BaseCommand):
    help = "Import customers, invoices and payments from a CSV, XLSX, ODS or FEC file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="default: from the file")
        parser.add_argument(
            "--mapping", help="a mapping file (YAML), or the name of a mapping saved before"
        )
        parser.add_argument("--save-mapping", metavar="NAME", help="save --mapping under NAME")
        parser.add_argument("--org", help="organisation slug (created if missing)")
        parser.add_argument("--dry-run", action="store_true", help="show, write nothing")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--as-of", type=iso_date, help="date of the import (default: today)")
        parser.add_argument(
            "--settle-missing",
            action="store_true",
            help="the file lists every open item: settle open items missing from it",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        # A dry run writes nothing, not even the organisation it would create.
        with transaction.atomic():
            self.run(opts)
            transaction.set_rollback(opts["dry_run"])

    def run(self, opts: dict[str, Any]) -> None:
        org = organisation_option(opts["org"], create=bool(opts["org"]))
        try:
            mapping = self.mapping(org, opts["mapping"], opts["save_mapping"])
            if mapping and opts["settle_missing"]:
                mapping.snapshot = True
            with progress_bar(enabled=not opts["json"]) as report:
                result = import_file(
                    org, opts["file"], format=opts["format"], mapping=mapping,
                    dry_run=opts["dry_run"], as_of=opts["as_of"], progress=report,
                )  # fmt: skip
        except ImportFailed as failure:
            self.fail(failure.problems, opts["json"])
        if opts["json"]:
            print_json(self.stdout, {"ok": True, "organisation": org.slug, **result.as_dict()})
        else:
            self.summary(result, org.slug)
            for warning in result.warnings:
                self.stderr.write(f"warning: {warning}")

    def mapping(self, org: Any, given: str | None, save_as: str | None) -> Mapping | None:
        if not given:
            return None
        path = Path(given)
        if path.is_file():
            mapping = load_mapping(path)
            if save_as:
                spec = {"name": save_as, **_spec(path)}
                ImportMapping.objects.update_or_create(
                    organisation=org, name=save_as, defaults={"spec": spec}
                )
            return mapping
        saved = ImportMapping.objects.filter(organisation=org, name=given).first()
        if saved is None:
            raise ImportFailed([Problem(given, None, None, "no such mapping file or saved name")])
        return parse_mapping(saved.spec, f"mapping {given!r}", default_name=given)

    def fail(self, problems: list[Problem], as_json: bool) -> None:
        if as_json:
            print_json(
                self.stdout,
                {"ok": False, "problems": [p.__dict__ for p in problems]},
            )
            sys.exit(1)
        lines = "\n".join(f"  {p}" for p in problems)
        raise CommandError(f"nothing was imported:\n{lines}")

    def summary(self, result: ImportResult, slug: str) -> None:
        verb = "would change" if result.dry_run else "changed"
        rows = [(name.replace("_", " "), str(n)) for name, n in sorted(result.counts.items())]
        self.stdout.write(f"{result.file} → {slug}: {result.rows} rows read; {verb}:")
        print_table(
            self.stdout, [Column("what"), Column("count", numeric=True)], rows or [("nothing", "0")]
        )
        if result.dry_run:
            for change in result.changes[:50]:
                detail = ", ".join(f"{k}: {a} → {b}" for k, (a, b) in
                                   change.get("changes", {}).items())  # fmt: skip
                self.stdout.write(
                    f"  {change['action']:8} {change['what']} {change['key']} {detail}"
                )
            self.stdout.write("Dry run: nothing was written.")


def _spec(path: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))
