"""Imports: files in (CSV, XLSX, ODS, FEC, e-invoices), records out, applied in one transaction.

``import_file`` is the one entry point, for the CLI, the console and the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from django.utils import timezone

from relance.accounts.models import Organisation
from relance.ledger.imports.apply import (
    ImportResult,
    apply_batch,
    known_fingerprints,
    record_refusal,
)
from relance.ledger.imports.mapping import Mapping, default_mapping, read_rows
from relance.ledger.imports.parsing import utf16_order
from relance.ledger.imports.records import ImportFailed, LedgerBatch, Problem
from relance.ledger.imports.tabular import SPREADSHEETS, read_table
from relance.lib.locks import organisation_lock

FORMATS = ("csv", "xlsx", "ods", "fec", "einvoice", "statuses")
Progress = Callable[[str, int, int], None]

__all__ = ["FORMATS", "ImportFailed", "ImportResult", "guess_format", "import_file", "read_file"]


def guess_format(path: Path) -> str:
    """From the extension, and for text files from the header: a FEC starts with JournalCode;
    a folder, a ZIP, a PDF or an XML is e-invoices, a CDAR message or a CSV/JSON of invoice
    numbers and statuses is life-cycle statuses."""
    from relance.ledger.imports.einvoices import is_einvoice_input
    from relance.ledger.lifecycle import is_status_file

    if path.is_file() and is_status_file(path):
        return "statuses"
    if path.exists() and is_einvoice_input(path):
        return "einvoice"
    suffix = path.suffix.lower()
    if suffix in SPREADSHEETS:
        return "ods" if suffix == ".ods" else "xlsx"
    with path.open("rb") as fh:
        head = fh.read(200)
    if order := utf16_order(head) or ("utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else None):
        text = head[: len(head) // 2 * 2].decode(order, errors="replace")
    else:
        text = head.decode("latin-1")
    text = text.lstrip("\ufeff\xef\xbb\xbf").lstrip('"').lower()
    return "fec" if text.startswith("journalcode") else "csv"


def read_file(
    path: Path,
    *,
    format: str | None = None,
    mapping: Mapping | None = None,
    currency: str = "EUR",
    as_of: dt.date,
    progress: Progress | None = None,
    known: dict[int, str] | None = None,
) -> LedgerBatch:
    """The records a file holds, without touching the database. With ``known`` (the
    ledger's ``known_fingerprints``), rows of invoices as last imported are not read."""
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
                          progress=progress, known=known)  # fmt: skip
        batch.format = fmt
    with path.open("rb") as fh:  # in blocks: the file is not held whole
        batch.sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
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
    """Read the file and apply it to the organisation's ledger, or refuse it whole; a refusal
    (unless a dry run) is recorded in the import log with its problems. It waits for a run or
    another import of the organisation, as the run does; a dry run waits for no one."""
    held = nullcontext() if dry_run else organisation_lock(organisation.slug, "import")
    detected = format or (mapping.format if mapping else None) or guess_format(path)
    if detected == "statuses":
        return _import_statuses(organisation, path, dry_run=dry_run, user_id=user_id,
                                held=held)  # fmt: skip
    if detected == "einvoice":
        from relance.ledger.imports.einvoices import import_einvoices

        with held:
            return import_einvoices(
                organisation, path, dry_run=dry_run, as_of=as_of, progress=progress,
                user_id=user_id,
            )  # fmt: skip
    with held:
        as_of = as_of or timezone.localdate()
        started = timezone.now()
        try:
            batch = read_file(
                path, format=format, mapping=mapping, currency=organisation.currency, as_of=as_of,
                progress=progress, known=known_fingerprints(organisation),
            )  # fmt: skip
        except ImportFailed as failure:
            if not dry_run:
                fmt = format or (mapping.format if mapping else None)
                if not fmt and path.is_file():
                    fmt = guess_format(path)
                refused = LedgerBatch(file=path.name, format=fmt or "", source="")
                if path.is_file():
                    refused.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
                record_refusal(organisation, refused, failure, started, user_id)
            raise
        return apply_batch(
            organisation, batch, dry_run=dry_run, as_of=as_of, progress=progress, user_id=user_id
        )


def _import_statuses(
    organisation: Organisation,
    path: Path,
    *,
    dry_run: bool,
    user_id: int | None,
    held: AbstractContextManager[object],
) -> ImportResult:
    """A life-cycle status file (relance.ledger.lifecycle), kept in the import log and the
    audit trail as any import."""
    from relance.ledger.imports.apply import record_run
    from relance.ledger.lifecycle import import_statuses

    started = timezone.now()
    record = LedgerBatch(file=path.name, format="statuses", source="")
    if path.is_file():
        record.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with held:
        try:
            reports = import_statuses(organisation, path, dry_run=dry_run, user_id=user_id)
        except ImportFailed as failure:
            if not dry_run:
                record_refusal(organisation, record, failure, started, user_id)
            raise
        result = ImportResult(path.name, "statuses", dry_run, len(reports))
        result.counts.update(f"statuses_{r['result'].replace(' ', '_')}" for r in reports)
        result.files = reports
        if not dry_run:
            record.rows_read = len(reports)
            result.run_id = record_run(organisation, record, result, started, user_id).pk
    return result
