"""relance bank import FILE [--format camt053|csv] [--mapping FILE.yaml|NAME] [--save-mapping NAME]
[--as-of D]
| queue | apply LINE (--invoice N[=AMOUNT]... | --accept | --unapplied [--customer REF]);
each [--org] [--json]"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from relance.bank import mappings as bank_mappings
from relance.bank import services
from relance.insights.management.commands.report import today_for
from relance.ledger.imports.records import ImportFailed, Problem
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import print_json


def invoice_part(text: str) -> tuple[str, Decimal | None]:
    """``NUMBER`` or ``NUMBER=AMOUNT`` (``services.parse_parts``)."""
    try:
        with translation.override("en"):  # read before handle(): the command line's language
            (part,) = services.parse_parts(text)
    except (services.BankError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc) or f"{text!r}: NUMBER[=AMOUNT]") from None
    return part


class Command(BaseCommand):
    help = "Import bank statements (CAMT.053, bank CSV), review the credits not matched."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        importing = verbs.add_parser("import", help="import a statement and match its credits")
        importing.add_argument("file", type=Path)
        importing.add_argument("--format", choices=services.FORMATS, help="default: from the file")
        importing.add_argument(
            "--mapping",
            help="a CSV's columns: a YAML file (docs/bank.md), or the name of a bank mapping "
            "saved before",
        )
        importing.add_argument(
            "--save-mapping", metavar="NAME",
            help="save the --mapping file under NAME, to be chosen again (console, --mapping)",
        )  # fmt: skip
        importing.add_argument("--as-of", type=iso_date, help="the day of the import")
        verbs.add_parser("queue", help="the credits waiting for a person")
        applying = verbs.add_parser("apply", help="decide on a credit of the queue")
        applying.add_argument("line", type=int, help="the line's id (relance bank queue)")
        how = applying.add_mutually_exclusive_group(required=True)
        how.add_argument(
            "--invoice",
            dest="invoices",
            action="append",
            type=invoice_part,
            metavar="N[=AMOUNT]",
            help="an invoice it pays (repeat to split)",
        )
        how.add_argument("--accept", action="store_true", help="apply the proposal")
        how.add_argument("--unapplied", action="store_true",
                         help="keep it on the customer's account, unapplied")  # fmt: skip
        applying.add_argument("--customer", help="with --unapplied: the customer who paid")
        applying.add_argument("--as-of", type=iso_date, help="the day of the decision")
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        with translation.override("en"):  # as relance import: the command line's language
            self.act(opts)

    def act(self, opts: dict[str, Any]) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "import":
            self.importing(org, opts)
        elif opts["action"] == "queue":
            lines = services.queue(org)
            if opts["json"]:
                print_json(self.stdout, {"organisation": org.slug, "lines": lines})
                return
            for line in lines:
                proposal = ", ".join(f"{p['invoice']}={p['amount']}" for p in line["proposal"])
                self.stdout.write(
                    f"{line['id']:>6}  {line['date']}  {line['amount']:>12} {line['currency']}  "
                    f"{line['confidence'] or 'no match':<8}  {line['customer'] or '-':<12}  "
                    f"{proposal or '-'}  {line['label'] or line['remittance']}"
                )
            self.stdout.write(f"{len(lines)} credit(s) to review")
        else:
            with refused(services.BankError):
                applied = services.apply_line(
                    org, opts["line"], invoices=opts["invoices"] or (), accept=opts["accept"],
                    unapplied=opts["unapplied"], customer=opts["customer"],
                    as_of=opts["as_of"] or today_for(org),
                )  # fmt: skip
            if opts["json"]:
                payment = applied.payment.reference if applied.payment else None
                print_json(
                    self.stdout, {"line": applied.pk, "status": applied.status, "payment": payment}
                )
            else:
                self.stdout.write(f"Bank line {applied.pk}: {applied.status}")

    def importing(self, org: Any, opts: dict[str, Any]) -> None:
        if opts["save_mapping"] and not (opts["mapping"] and Path(opts["mapping"]).is_file()):
            raise CommandError("--save-mapping saves a --mapping FILE", returncode=2)
        try:
            mapping = bank_mappings.resolve(org, opts["mapping"]) if opts["mapping"] else None
            if opts["save_mapping"]:  # its name checked before anything is imported
                to_save = bank_mappings.check_file(org, opts["save_mapping"], Path(opts["mapping"]))
            result = services.import_statement(
                org, opts["file"], format=opts["format"], mapping=mapping,
                as_of=opts["as_of"] or today_for(org),
            )  # fmt: skip
            if opts["save_mapping"]:  # with the import it served: a refused one saves nothing
                bank_mappings.save(org, opts["save_mapping"], to_save)
        except ImportFailed as failure:
            self.fail(failure.problems, opts["json"])
        if opts["json"]:
            print_json(self.stdout, {"ok": True, "organisation": org.slug, **result.as_dict()})
            return
        summary(self.stdout, result)

    def fail(self, problems: list[Problem], as_json: bool) -> NoReturn:
        if as_json:
            print_json(self.stdout, {"ok": False, "problems": [p.__dict__ for p in problems]})
            sys.exit(1)
        lines = "\n".join(f"  {p}" for p in problems)
        raise CommandError(f"nothing was imported:\n{lines}")


def summary(out: Any, result: services.BankImportResult) -> None:
    """A statement's import in words (``relance bank import`` and ``relance import``)."""
    out.write(
        f"{result.file} ({result.format}): {result.credits} new credit(s), "
        f"{result.matched} matched ({result.allocated} allocated), {result.proposed} to "
        f"review, {result.unmatched} without a match, {result.duplicates} already imported, "
        f"{result.debits} debit(s) skipped"
    )
    if result.files:
        out.write(f"Statements: {', '.join(result.files)}")
    if result.holds:
        out.write(f"Dunning held (unapplied cash): {', '.join(result.holds)}")
    if result.dry_run:
        out.write("Dry run: nothing was written.")
