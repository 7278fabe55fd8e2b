"""relance scenario export [--org SLUG] [--output FILE]
relance scenario import FILE [--org SLUG] [--dry-run] [--prune] [--json]
relance scenario install-defaults [--org SLUG]
relance scenario simulate SLUG [--days 30] [--customer REF] [--date D] [--org SLUG] [--json]

Dunning scenarios and segment rules as a YAML file (see docs/scenarios.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone, translation

from relance.accounts.models import Organisation
from relance.dunning.defaults import install_defaults
from relance.dunning.scenarios_io import (
    ImportResult,
    ScenarioFileError,
    export_yaml,
    import_document,
    load_file,
)
from relance.dunning.simulation import MAX_DAYS, Simulated, Simulation, SimulationError, simulate
from relance.ledger.models import Customer
from relance.lib.commands import iso_date, organisation_option
from relance.lib.output import Column, money, print_json, print_table

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
        simulate_help = (
            "what the runs of the next days would send under a scenario, if no payment came"
        )
        sim = actions.add_parser("simulate", help=simulate_help, description=simulate_help)
        sim.add_argument("slug", metavar="SLUG", help="the scenario")
        sim.add_argument("--days", type=_days, default=30, help="how many days (default 30)")
        sim.add_argument("--customer", metavar="REF", help="only this customer (its reference)")
        sim.add_argument("--date", type=iso_date, help="the first day (default: today)")
        sim.add_argument("--org", help=ORG_HELP)
        sim.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        with translation.override("en"):  # as relance import: the command line's language
            self.act(opts)

    def act(self, opts: dict[str, Any]) -> None:
        organisation = organisation_option(opts["org"])
        if opts["action"] == "export":
            self.export(organisation, opts["output"])
        elif opts["action"] == "import":
            self.import_(organisation, opts)
        elif opts["action"] == "simulate":
            self.simulate(organisation, opts)
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

    def simulate(self, organisation: Organisation, opts: dict[str, Any]) -> None:
        customer = None
        if opts["customer"] is not None:
            customer = Customer.objects.filter(
                organisation=organisation, reference=opts["customer"]
            ).first()
            if customer is None:
                raise CommandError(f"no customer {opts['customer']!r} in {organisation.slug}")
        start = opts["date"] or timezone.localdate()
        try:
            result = simulate(organisation, start, opts["days"], scenario=opts["slug"],
                              customer=customer)  # fmt: skip
        except SimulationError as error:
            raise CommandError(str(error)) from None
        if opts["json"]:
            print_json(self.stdout, result.as_dict())
            return
        self.table(result)

    def table(self, result: Simulation) -> None:
        last = result.start.toordinal() + result.days - 1
        self.stdout.write(
            f"{result.organisation}, scenario {result.scenario}: {result.customers} customer(s),"
            f" {result.start} to {result.start.fromordinal(last)}, assuming no payment."
        )
        columns = [
            Column("day"),
            Column("customer"),
            Column("channel"),
            Column("step"),
            Column("template"),
            Column("invoices"),
            Column("amount", numeric=True),
        ]
        print_table(self.stdout, columns, [_row(result, c) for c in result.planned])
        counts = ", ".join(f"{n} {channel}" for channel, n in result.per_channel().items())
        self.stdout.write(f"Per channel: {counts or 'nothing'}.")


def _row(result: Simulation, comm: Simulated) -> Sequence[str]:
    amounts: dict[str, Any] = {}
    for item in comm.items:
        amounts[item.currency] = amounts.get(item.currency, 0) + item.balance
    step = f"{comm.step}. {comm.step_name}" if comm.step else comm.purpose
    if comm.approval:
        step += " (approval)"
    return [
        comm.day.isoformat(),
        result.names.get(comm.customer_id, ("", ""))[0],
        comm.channel,
        step,
        comm.template,
        " ".join(f"{i.number}@{i.step}" for i in comm.items),
        " + ".join(money(a, c) for c, a in sorted(amounts.items())),
    ]


def _days(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"from 1 to {MAX_DAYS} days")
    return value
