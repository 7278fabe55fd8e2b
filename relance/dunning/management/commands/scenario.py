"""relance scenario export [--org SLUG] [--output FILE]
relance scenario import FILE [--org SLUG] [--dry-run] [--prune] [--json]
relance scenario install-defaults [--org SLUG]

Dunning scenarios and segment rules as a YAML file (see docs/scenarios.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.accounts.models import Organisation
from relance.dunning.defaults import install_defaults
from relance.dunning.scenarios_io import (
    ImportResult,
    ScenarioFileError,
    export_yaml,
    import_document,
    load_file,
)
from relance.lib.commands import organisation_option
from relance.lib.output import print_json

ORG_HELP = "the organisation's slug (may be omitted when there is only one)"


class Command(BaseCommand):
    help = "Dunning scenarios and segment rules as a YAML file: export, import, defaults."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        export_help = "write the scenarios and rules as YAML (standard output by default)"
        export = actions.add_parser("export", help=export_help, description=export_help)
        export.add_argument("--org", help=ORG_HELP)
        export.add_argument("--output", type=Path, metavar="FILE", help="write to FILE")
        import_help = "make the scenarios named in FILE, and the rules, what FILE says"
        imp = actions.add_parser("import", help=import_help, description=import_help)
        imp.add_argument("file", type=Path, metavar="FILE")
        imp.add_argument("--org", help=ORG_HELP)
        imp.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
        imp.add_argument(
            "--prune", action="store_true", help="delete the scenarios the file does not name"
        )
        imp.add_argument("--json", action="store_true", help="print one JSON document")
        defaults_help = "add the default scenarios and rules the organisation lacks"
        actions.add_parser(
            "install-defaults", help=defaults_help, description=defaults_help
        ).add_argument("--org", help=ORG_HELP)

    def handle(self, *args: Any, **opts: Any) -> None:
        organisation = organisation_option(opts["org"])
        if opts["action"] == "export":
            self.export(organisation, opts["output"])
        elif opts["action"] == "import":
            self.import_(organisation, opts)
        else:
            created = install_defaults(organisation)
            names = ", ".join(created) if created else "none, all were there"
            self.stdout.write(f"{organisation.slug}: default scenarios added: {names}.")

    def export(self, organisation: Organisation, output: Path | None) -> None:
        text = export_yaml(organisation)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            # Bytes, not text mode: the same file on every platform, fit for version control.
            output.write_bytes(text.encode("utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc}") from None
        self.stdout.write(f"Wrote the scenarios of {organisation.slug} to {output}.")

    def import_(self, organisation: Organisation, opts: dict[str, Any]) -> None:
        path: Path = opts["file"]
        try:
            document = load_file(path)
            result = import_document(
                organisation, document, file=path.name, prune=opts["prune"],
                dry_run=opts["dry_run"],
            )  # fmt: skip
        except ScenarioFileError as failure:
            if opts["json"]:
                problems = [p.__dict__ for p in failure.problems]
                print_json(self.stdout, {"ok": False, "problems": problems})
                sys.exit(1)
            lines = "\n".join(f"  {p}" for p in failure.problems)
            raise CommandError(f"nothing was imported:\n{lines}") from None
        if opts["json"]:
            print_json(self.stdout, {"ok": True, **result.as_dict()})
        else:
            self.summary(result)

    def summary(self, result: ImportResult) -> None:
        verb = "would change" if result.dry_run else "changed"
        if not result.changes:
            self.stdout.write(f"{result.file} → {result.organisation}: nothing to change.")
        else:
            self.stdout.write(f"{result.file} → {result.organisation}: {verb}:")
            for change in result.changes:
                self.stdout.write(f"  {change}")
        if result.dry_run:
            self.stdout.write("Dry run: nothing was written.")
