"""relance import FILE|FOLDER|ZIP [--format csv|xlsx|ods|fec|einvoice|statuses|camt053|bank-csv]
[--mapping FILE|NAME] [--org SLUG] [--create-org [--country CC] [--currency CUR]
[--language fr|en]] [--dry-run] [--json]"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.bank import mappings as bank_mappings
from relance.bank.management.commands.bank import summary as bank_summary
from relance.bank.services import BankImportResult
from relance.ledger.imports import FORMATS, ImportFailed, ImportResult, import_file
from relance.ledger.imports.mapping import Mapping, load_mapping, parse_mapping, read_mapping_spec
from relance.ledger.imports.records import Problem
from relance.ledger.models import ImportMapping
from relance.lib.commands import iso_date, organisation_option
from relance.lib.locks import organisation_lock
from relance.lib.output import Column, print_json, print_table, progress_bar


class Command(BaseCommand):
    help = (
        "Import customers, invoices and payments from a CSV, XLSX, ODS or FEC file, "
        "e-invoices (Factur-X PDF, CII or UBL XML) from a file, a folder or a ZIP, "
        "life-cycle statuses, or a bank statement (CAMT.053, a ZIP of them, a bank CSV with "
        "--format bank-csv); the format is detected from the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, help="default: from the file")
        parser.add_argument(
            "--mapping",
            help="a mapping file (YAML), or the name of a mapping saved before; with "
            "--format bank-csv, the bank CSV's columns: a file or a saved bank mapping's name "
            "(docs/bank.md)",
        )
        parser.add_argument("--save-mapping", metavar="NAME", help="save --mapping under NAME")
        parser.add_argument("--org", help="organisation slug")
        parser.add_argument(
            "--create-org",
            action="store_true",
            help="create the --org organisation if it does not exist yet",
        )
        parser.add_argument("--country", help="with --create-org (default: the mapping's, FR)")
        parser.add_argument("--currency", help="with --create-org (default: the mapping's, EUR)")
        parser.add_argument(
            "--language", help="with --create-org: fr or en (default: the mapping's, fr)"
        )
        parser.add_argument("--dry-run", action="store_true", help="show, write nothing")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--as-of", type=iso_date, help="date of the import (default: today)")
        parser.add_argument(
            "--settle-missing",
            action="store_true",
            help="the file lists every open item: settle open items missing from it",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        # The command line speaks English, its problems too (the console and the API speak
        # the reader's language).
        with translation.override("en"):
            self.run_command(opts)

    def run_command(self, opts: dict[str, Any]) -> None:
        if opts["create_org"] and not opts["org"]:
            raise CommandError("--create-org needs --org SLUG", returncode=2)
        if not opts["create_org"] and any(opts[k] for k in ("country", "currency", "language")):
            raise CommandError(
                "--country, --currency and --language set up a new organisation: "
                "give them with --create-org",
                returncode=2,
            )
        bank_csv = opts["format"] == "bank-csv"
        try:
            mapping_file = None if bank_csv else self.mapping_file(opts["mapping"])
        except ImportFailed as failure:
            self.fail(failure.problems, opts["json"])
        refused: ImportFailed | None = None
        # Taken before the transaction, so that an import waiting for a run (or another
        # import) of the organisation holds nothing the other needs.
        slug = opts["org"] if opts["create_org"] else organisation_option(opts["org"]).slug
        # A dry run writes nothing, not even the organisation it would create; an
        # organisation created for an import that is refused goes with it (there is no
        # ledger to log the refusal against): one transaction around the command. Otherwise
        # the import's own, as in the console: nested, the import ran in a savepoint, whose
        # original of every page it changed SQLite keeps in memory until its end
        # (docs/performance.md), and the refusal's record needs no outer transaction.
        whole = opts["dry_run"] or opts["create_org"]
        with organisation_lock(slug, "import"), transaction.atomic() if whole else nullcontext():
            org, created = self.organisation(opts, mapping_file)
            try:
                result = self.run(org, mapping_file, opts)
            except ImportFailed as failure:
                refused = failure  # raised below, after the import log's record is kept
            if whole:
                transaction.set_rollback(opts["dry_run"] or (refused is not None and created))
        if refused is not None:
            self.fail(refused.problems, opts["json"])
        if opts["json"]:
            print_json(self.stdout, {"ok": True, "organisation": org.slug, **result.as_dict()})
        elif isinstance(result, BankImportResult):
            bank_summary(self.stdout, result)
        else:
            self.summary(result, org.slug)
            for warning in result.warnings:
                self.stderr.write(f"warning: {warning}")

    def organisation(
        self, opts: dict[str, Any], mapping: Mapping | None
    ) -> tuple[Organisation, bool]:
        if opts["create_org"] and Organisation.objects.filter(slug=opts["org"]).exists():
            return organisation_option(opts["org"]), False
        defaults = {
            "country": (opts["country"] or (mapping and mapping.country) or "FR").upper(),
            "currency": (opts["currency"] or (mapping and mapping.currency) or "EUR").upper(),
            "language": (opts["language"] or (mapping and mapping.language) or "fr").lower(),
        }
        org = organisation_option(opts["org"], create=opts["create_org"], defaults=defaults)
        return org, opts["create_org"]

    def run(
        self, org: Organisation, mapping_file: Mapping | None, opts: dict[str, Any]
    ) -> ImportResult | BankImportResult:
        # A bank CSV's columns: a file or a bank mapping saved by name, as for relance bank
        # import (one function, relance.bank.mappings.resolve).
        bank_mapping = (
            bank_mappings.resolve(org, opts["mapping"])
            if opts["format"] == "bank-csv" and opts["mapping"]
            else None
        )
        from_file = bool(opts["mapping"]) and Path(opts["mapping"]).is_file()
        saving = opts["save_mapping"] if from_file else None
        # A bank file's columns are saved as a bank mapping, its name checked before the import.
        bank_spec = (
            bank_mappings.check_file(org, saving, Path(opts["mapping"]))
            if bank_mapping and saving
            else None
        )
        mapping = None if bank_mapping else mapping_file or self.saved_mapping(org, opts["mapping"])
        if mapping and opts["settle_missing"]:
            mapping.snapshot = True
        with progress_bar(enabled=not opts["json"]) as report:
            result = import_file(
                org, opts["file"], format=opts["format"], mapping=mapping,
                dry_run=opts["dry_run"], as_of=opts["as_of"], progress=report,
                bank_mapping=bank_mapping,
            )  # fmt: skip
        if mapping and not mapping_file and not opts["dry_run"]:
            # The saved mapping used last is the one the console offers first next time.
            ImportMapping.objects.filter(organisation=org, name=opts["mapping"]).update(
                updated_at=timezone.now()
            )
        # Saved with the import it served: a refused import saves nothing.
        if saving and bank_spec is not None:
            bank_mappings.save(org, saving, bank_spec)
        elif saving:
            spec = {"name": opts["save_mapping"], **_spec(Path(opts["mapping"]))}
            ImportMapping.objects.update_or_create(
                organisation=org, name=opts["save_mapping"], defaults={"spec": spec}
            )
        return result

    def mapping_file(self, given: str | None) -> Mapping | None:
        """The mapping of --mapping when it is a file (read before the organisation exists:
        it may say the currency of a new one)."""
        if given and Path(given).is_file():
            return load_mapping(Path(given))
        return None

    def saved_mapping(self, org: Organisation, given: str | None) -> Mapping | None:
        if not given:
            return None
        saved = ImportMapping.objects.filter(organisation=org, name=given).first()
        if saved is None:
            raise ImportFailed(
                [Problem(given, None, None, _("no such mapping file or saved name"))]
            )
        return parse_mapping(saved.spec, f"mapping {given!r}", default_name=given)

    def fail(self, problems: list[Problem], as_json: bool) -> NoReturn:
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
        for report in result.files if result.format == "einvoice" else ():
            line = f"  {report['status']:12} {report['file']}"
            if "number" in report:
                line += (
                    f": {report['kind'].replace('_', ' ')} {report['number']}, "
                    f"{report['customer_name']} ({report['customer']}), {report['amount']} "
                    f"{report['currency']}"
                )
            if report.get("same_as"):
                line += f" (same invoice as {report['same_as']})"
            self.stdout.write(line)
            for problem in report["problems"]:
                self.stdout.write(f"      {problem}")
        for report in result.files if result.format == "statuses" else ():
            self.stdout.write(
                f"  row {report['row']}: {report['invoice']} status {report['status']} "
                f"on {report['date']}: {report['result']}"
                + (f" ({report['effect']}: {report['done']})" if "done" in report else "")
            )


def _spec(path: Path) -> dict[str, Any]:
    # Read and checked once already (mapping_file): the same limited loader. Saved as JSON:
    # a YAML date (`value: 2026-10-01`) is kept as its ISO text, which reads back the same.
    return dict(json.loads(json.dumps(read_mapping_spec(path), default=str)))
