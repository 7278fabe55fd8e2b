"""Imports: files in (CSV, XLSX, ODS, FEC), records out, applied in one transaction.

``import_file`` is the one entry point, for the CLI, the console and the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path

from django.utils import timezone

from relance.accounts.models import Organisation
from relance.ledger.imports.apply import ImportResult, apply_batch
from relance.ledger.imports.mapping import Mapping, default_mapping, read_rows
from relance.ledger.imports.records import ImportFailed, LedgerBatch, Problem
from relance.ledger.imports.tabular import SPREADSHEETS, read_table

FORMATS = ("csv", "xlsx", "ods", "fec")
Progress = Callable[[str, int, int], None]

__all__ = ["FORMATS", "ImportFailed", "ImportResult", "guess_format", "import_file", "read_file"]


def guess_format(path: Path) -> str:
    """From the extension, and for text files from the header: a FEC starts with JournalCode."""
    suffix = path.suffix.lower()
    if suffix in SPREADSHEETS:
        return "ods" if suffix == ".ods" else "xlsx"
    with path.open("rb") as fh:
        head = fh.read(200).lstrip(b"\xef\xbb\xbf").lstrip(b'"').lower()
    return "fec" if head.startswith(b"journalcode") else "csv"


def read_file(
    path: Path,
    *,
    format: str | None = None,
    mapping: Mapping | None = None,
    currency: str = "EUR",
    as_of: dt.date,
    progress: Progress | None = None,
) -> LedgerBatch:
    """The records a file holds, without touching the database."""
    if not path.is_file():
        raise ImportFailed([Problem(path.name, None, None, "no such file")])
    fmt = format or (mapping.format if mapping else None) or guess_format(path)
    if fmt not in FORMATS:
        raise ImportFailed([Problem(path.name, None, None, f"unknown format {fmt!r}")])
    if fmt == "fec":
        from relance.ledger.imports.fec import read_fec

        batch = read_fec(
            path, currency=currency,
            progress=(lambda done, total: progress("reading", done, total)) if progress else None,
        )  # fmt: skip
    else:
        table = read_table(
            path,
            encoding=mapping.encoding if mapping else "auto",
            delimiter=mapping.delimiter if mapping else "auto",
            sheet=mapping.sheet if mapping else None,
            header_row=mapping.header_row if mapping else 1,
        )
        mapping = mapping or default_mapping(table.header)
        batch = read_rows(table, mapping, default_currency=currency, as_of=as_of,
                          progress=progress)  # fmt: skip
        batch.format = fmt
    batch.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return batch


def import_file(
    organisation: Organisation,
    path: Path,
    *,
    format: str | None = None,
    mapping: Mapping | None = None,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    user_id: int | None = None,
) -> ImportResult:
    as_of = as_of or timezone.localdate()
    batch = read_file(
        path, format=format, mapping=mapping, currency=organisation.currency, as_of=as_of,
        progress=progress,
    )  # fmt: skip
    return apply_batch(
        organisation, batch, dry_run=dry_run, as_of=as_of, progress=progress, user_id=user_id
    )
