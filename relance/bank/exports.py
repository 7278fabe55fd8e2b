"""The CSV exports of French banks: one line per movement, columns named by a mapping (or
recognised by their usual French headers), French amounts and dates. Read by the imports'
own table reader (encodings, delimiters, sizes) and value parsers."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from relance.bank.lines import StatementLine, compact_iban, problems_of
from relance.ledger.imports.parsing import parse_date, parse_money
from relance.ledger.imports.records import ImportFailed, Problem, Problems
from relance.ledger.imports.tabular import read_table
from relance.lib import safe_yaml

FIELDS = ("date", "amount", "debit", "credit", "label", "reference", "remittance",
          "debtor_name", "debtor_iban", "currency")  # fmt: skip

# The headers French banks write, lower-case and without accents, for files without a mapping.
USUAL_HEADERS: dict[str, tuple[str, ...]] = {
    "date": ("date", "date operation", "date de l'operation", "date comptable",
             "date de comptabilisation", "date operation bancaire"),
    "amount": ("montant", "montant(euros)", "montant (eur)", "montant eur", "montant en euros"),
    "debit": ("debit", "debit euros", "debit (eur)"),
    "credit": ("credit", "credit euros", "credit (eur)"),
    "label": ("libelle", "libelle operation", "libelle de l'operation", "libelle simplifie",
              "detail", "details"),
    "reference": ("reference", "ref", "reference operation", "reference banque"),
    "remittance": ("informations complementaires", "motif", "libelle complementaire"),
    "debtor_name": ("nom du tiers", "tiers", "emetteur"),
    "debtor_iban": ("iban du tiers", "iban emetteur", "compte emetteur"),
    "currency": ("devise",),
}  # fmt: skip


@dataclass
class BankMapping:
    columns: dict[str, str] = field(default_factory=dict)  # field -> header
    dates: str = "auto"
    decimal: str = "auto"
    encoding: str = "auto"
    delimiter: str = "auto"
    header_row: int = 1
    currency: str = ""
    account: str = ""  # our account, when the file does not say

    @classmethod
    def from_dict(cls, data: dict[str, Any], label: str) -> BankMapping:
        problems = Problems(label)
        unknown = set(data) - {"columns", "dates", "decimal", "encoding", "delimiter",
                               "header_row", "currency", "account", "name", "record"}  # fmt: skip
        for key in sorted(unknown):
            problems.add(None, key, _("not an option of a bank mapping"))
        columns = data.get("columns") or {}
        if not isinstance(columns, dict):
            raise problems.fail(None, "columns", _("a list of field: header"))
        for key in sorted(set(columns) - set(FIELDS)):
            problems.add(
                None, f"columns.{key}",
                _("not a field: one of %(fields)s") % {"fields": ", ".join(FIELDS)},
            )  # fmt: skip
        if data.get("decimal", "auto") not in ("auto", ",", "."):
            problems.add(None, "decimal", _("one of auto, ',' or '.'"))
        header_row = data.get("header_row", 1)
        if not isinstance(header_row, int) or not 1 <= header_row <= 10_000:
            problems.add(None, "header_row", _("a whole number from 1 to 10,000"))
        problems.raise_if_any()
        return cls(
            columns={str(k): str(v) for k, v in columns.items()},
            dates=str(data.get("dates", "auto")), decimal=str(data.get("decimal", "auto")),
            encoding=str(data.get("encoding", "auto")),
            delimiter=str(data.get("delimiter", "auto")), header_row=header_row,
            currency=str(data.get("currency", "")).upper(),
            account=compact_iban(str(data.get("account", ""))),
        )  # fmt: skip


def load_mapping(path: Path) -> BankMapping:
    """A bank CSV's columns, from a YAML file (docs/bank.md), read with the limits of an
    import mapping."""
    return BankMapping.from_dict(read_spec(path), path.name)


def read_spec(path: Path) -> dict[str, Any]:
    """A bank mapping file's options as read (to check, or to save: relance.bank.mappings)."""
    try:
        data = safe_yaml.read(path)
    except OSError as exc:
        raise ImportFailed([Problem(path.name, None, None, exc.strerror or str(exc))]) from None
    except safe_yaml.YamlRefused as exc:
        raise ImportFailed([Problem(path.name, exc.line, None, str(exc))]) from None
    if not isinstance(data, dict):
        raise ImportFailed([Problem(path.name, None, None, _("a mapping of options"))])
    return dict(data)


def _plain(header: str) -> str:
    decomposed = unicodedata.normalize("NFKD", header)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def resolve_columns(header: list[str], mapping: BankMapping, label: str) -> dict[str, int]:
    """Field -> column index, from the mapping, else from the usual headers."""
    index = {h: i for i, h in enumerate(header)}
    plain = {_plain(h): i for i, h in enumerate(header)}
    columns: dict[str, int] = {}
    problems = Problems(label)
    for name in FIELDS:
        if name in mapping.columns:
            wanted = mapping.columns[name]
            if wanted in index:
                columns[name] = index[wanted]
            elif _plain(wanted) in plain:
                columns[name] = plain[_plain(wanted)]
            else:
                problems.add(
                    1, f"columns.{name}",
                    _("no column %(column)s in the file") % {"column": repr(wanted)},
                )  # fmt: skip
        elif not mapping.columns or name not in ("amount", "debit", "credit"):
            found = [plain[h] for h in USUAL_HEADERS[name] if h in plain]
            if found:
                columns[name] = found[0]
    if "date" not in columns:
        problems.add(1, "date", _("no date column: name it in the mapping (columns: date: ...)"))
    if "amount" not in columns and "credit" not in columns:
        problems.add(
            1, "amount", _("no amount column, nor a credit column: name it in the mapping")
        )
    problems.raise_if_any()
    return columns


def read_export(path: Path, mapping: BankMapping, default_currency: str) -> list[StatementLine]:
    if not path.is_file():
        raise ImportFailed([Problem(path.name, None, None, _("no such file"))])
    table = read_table(path, encoding=mapping.encoding, delimiter=mapping.delimiter,
                       header_row=mapping.header_row)  # fmt: skip
    columns = resolve_columns(table.header, mapping, path.name)
    problems = Problems(path.name)
    lines: list[StatementLine] = []
    currency = mapping.currency or default_currency

    def cell(cells: list[Any], name: str) -> str:
        at = columns.get(name)
        if at is None or at >= len(cells) or cells[at] is None:
            return ""
        return " ".join(str(cells[at]).split())

    def header(name: str) -> str:
        return table.header[columns[name]]

    for row, cells in table.rows:
        if not any(str(c or "").strip() for c in cells):
            continue
        day: dt.date | None = None
        amount: Decimal | None = None
        raw_day = cells[columns["date"]] if columns["date"] < len(cells) else ""
        try:
            day = (
                raw_day
                if isinstance(raw_day, dt.date)
                else parse_date(str(raw_day or ""), mapping.dates)
            )
        except ValueError as exc:
            problems.add(row, header("date"), str(exc))
        try:
            if "amount" in columns:
                amount = parse_money(cell(cells, "amount"), mapping.decimal)
            else:
                credit, debit = cell(cells, "credit"), cell(cells, "debit")
                amount = parse_money(credit, mapping.decimal) if credit else Decimal("0.00")
                if debit:
                    amount -= abs(parse_money(debit, mapping.decimal))
        except ValueError as exc:
            name = "amount" if "amount" in columns else "credit"
            problems.add(row, header(name), str(exc))
        if day is None or amount is None:
            continue
        if isinstance(day, dt.datetime):
            day = day.date()
        line = StatementLine(
                row,
                day,
                amount,
                (cell(cells, "currency") or currency).upper(),
                mapping.account,
                cell(cells, "reference")[:64],
                cell(cells, "label")[:500],
                remittance=cell(cells, "remittance")[:500],
                debtor_name=cell(cells, "debtor_name")[:200],
                debtor_iban=compact_iban(cell(cells, "debtor_iban"))[:34],
            )  # fmt: skip
        fields = {
            "date": header("date"),
            "amount": header("amount" if "amount" in columns else "credit"),
            "currency": header("currency") if "currency" in columns else "currency",
        }
        for what, message in problems_of(line):
            problems.add(row, fields[what], message)
        lines.append(line)
    problems.raise_if_any()
    return lines
