"""Imports: files in (CSV, XLSX, ODS, FEC, e-invoices, life-cycle statuses, bank
statements), records out, applied in one transaction.

``import_file`` is the one entry point, for the CLI, the console and the API: it detects the
format (``guess_format``) and hands the file to its reader. A bank statement goes to the bank
import service (``relance.bank.services.import_statement``) and its result is that
service's (``BankImportResult``), reported as ``relance bank import`` reports it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.ledger.imports import archives, restream, stream
from relance.ledger.imports.apply import (
    ImportResult,
    apply_batch,
    known_fingerprints,
    record_refusal,
)
from relance.ledger.imports.mapping import Mapping, default_mapping, read_rows
from relance.ledger.imports.parsing import looks_binary, utf16_order
from relance.ledger.imports.records import ImportFailed, LedgerBatch, Problem
from relance.ledger.imports.tabular import SPREADSHEETS, read_table
from relance.lib.locks import organisation_lock
from relance.lib.perf import collector_paused, collector_spared

if TYPE_CHECKING:
    from relance.bank.exports import BankMapping
    from relance.bank.services import BankImportResult

FORMATS = ("csv", "xlsx", "ods", "fec", "einvoice", "statuses", "camt053", "bank-csv")
BANK_FORMATS = {"camt053": "camt053", "bank-csv": "csv"}  # ours -> relance.bank.services'
Progress = Callable[[str, int, int], None]
# The root elements of the XML documents Relance reads (local names).
_EINVOICE_ROOTS = frozenset({"CrossIndustryInvoice", "CrossIndustryDocument", "Invoice",
                             "CreditNote"})  # fmt: skip

__all__ = ["FORMATS", "ImportFailed", "ImportResult", "guess_format", "import_file", "read_file"]


def guess_format(path: Path) -> str:
    """From the extension, and for text files from the header: a FEC starts with JournalCode;
    an XML is told by its root element (a CAMT.053 bank statement, a CII or UBL e-invoice, a
    CDAR status message; any other XML is refused, ImportFailed naming the file); a folder, a
    ZIP or a PDF is e-invoices, a ZIP of CAMT.053 statements is bank statements; a CSV/JSON
    of invoice numbers and statuses is life-cycle statuses."""
    from relance.ledger.imports.einvoices import is_einvoice_input
    from relance.ledger.lifecycle import is_status_file

    if path.is_file():
        if (xml := _xml_format(path)) is not None:
            return xml
        if _is_camt_zip(path):
            return "camt053"
        if is_status_file(path):
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


def _xml_format(path: Path) -> str | None:
    """The format of an XML file by its root element, None for a file that is not XML (a
    broken XML is left to the e-invoice reader, which reports it per file)."""
    from relance.bank.camt import is_camt

    with path.open("rb") as fh:
        head = fh.read(4096)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<") or looks_binary(head):  # XML holds no NUL byte
        return None
    if is_camt(head):
        return "camt053"  # the CAMT reader refuses what is hostile or another message
    root = _root_element(path)
    if root is None:
        return "einvoice"
    namespace, name = root
    if name == "CrossDomainAcknowledgementAndResponse":
        return "statuses"
    if name in _EINVOICE_ROOTS:
        return "einvoice"
    if name == "Document" and ":camt." in namespace:
        kind = namespace.rsplit(":", 1)[-1]
        message = _("%(kind)s is not a bank statement Relance reads: give a camt.053") % {
            "kind": kind
        }
    else:
        message = _(
            "<%(name)s> is not an e-invoice (CII, UBL 2.1), a status message (CDAR) or a "
            "bank statement (CAMT.053)"
        ) % {"name": name}
    raise ImportFailed([Problem(path.name, None, None, message)])


def _root_element(path: Path) -> tuple[str, str] | None:
    """The namespace and local name of an XML file's root, read by a parser that fetches
    nothing and expands no entity, and stops at the root; None when it is not XML."""
    from lxml import etree

    try:
        for _event, element in etree.iterparse(
            str(path), events=("start",), resolve_entities=False, no_network=True,
            load_dtd=False, huge_tree=False,
        ):  # fmt: skip
            qname = etree.QName(element)
            return qname.namespace or "", qname.localname
    except (etree.XMLSyntaxError, OSError):
        return None
    return None


def _is_camt_zip(path: Path) -> bool:
    """A ZIP whose first file is a CAMT.053 statement (its other files are read as such)."""
    from relance.bank.camt import is_camt

    if path.suffix.lower() != ".zip" and not _starts_with(path, b"PK\x03\x04"):
        return False
    try:
        with archives.open_zip(path) as archive:
            first = next(iter(archives.members(archive)), None)
            return first is not None and is_camt(archives.head(archive, first, 4096))
    except archives.Unreadable:  # the e-invoice reader says what is wrong with it
        return False


def _starts_with(path: Path, magic: bytes) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(magic)) == magic


def read_file(
    path: Path,
    *,
    format: str | None = None,
    mapping: Mapping | None = None,
    currency: str = "EUR",
    as_of: dt.date,
    progress: Progress | None = None,
    known: dict[int, str] | None = None,
    sink: Callable[[LedgerBatch], None] | None = None,
    chunk: int = 20_000,
) -> LedgerBatch:
    """The records a file holds, without touching the database. With ``known`` (the
    ledger's ``known_fingerprints``), rows of invoices as last imported are not read. With
    ``sink``, a file of invoice rows is handed to it ``chunk`` rows at a time
    (``mapping.read_rows``)."""
    if not path.is_file():
        raise ImportFailed([Problem(path.name, None, None, _("no such file"))])
    fmt = _asked_format(format, mapping) or guess_format(path)
    if fmt not in FORMATS:
        raise ImportFailed(
            [Problem(path.name, None, None, _("unknown format %(format)s") % {"format": repr(fmt)})]
        )
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
            halves=bool(known),  # its second half skipped by another process (read_rows)
        )
        mapping = mapping or default_mapping(table.header)
        batch = read_rows(table, mapping, default_currency=currency, as_of=as_of,
                          progress=progress, known=known, sink=sink, chunk=chunk)  # fmt: skip
        batch.format = fmt
    batch.sha256 = file_sha256(path)
    return batch


def file_sha256(path: Path) -> str:
    """The SHA-256 the import log keeps of a file, read in blocks: never held whole."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


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
    bank_mapping: BankMapping | None = None,
) -> ImportResult | BankImportResult:
    """Read the file and apply it to the organisation's ledger, or refuse it whole; a refusal
    (unless a dry run) is recorded in the import log with its problems. It waits for a run or
    another import of the organisation, as the run does; a dry run waits for no one.

    A bank statement (``camt053``, or ``bank-csv`` with its ``bank_mapping``) goes to the
    bank import, which keeps its own record (the statement, its lines) and records itself
    in the import log, refusals too (``relance.bank.services.import_statement``)."""
    held = nullcontext() if dry_run else organisation_lock(organisation.slug, "import")
    try:
        detected = _asked_format(format, mapping) or guess_format(path)
    except ImportFailed as foreign:  # an XML of another kind
        if not dry_run:
            refused = _logged_file(path, "xml")
            with held:
                record_refusal(organisation, refused, foreign, timezone.now(), user_id)
        raise
    if detected in BANK_FORMATS:
        from relance.bank.services import import_statement

        return import_statement(
            organisation, path, format=BANK_FORMATS[detected], mapping=bank_mapping,
            as_of=as_of, user_id=user_id, dry_run=dry_run,
        )  # fmt: skip
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
    # What an import keeps for the whole file (records, numbers, the ledger's rows) is
    # spared the cycle collector's full walks, which grew with the file.
    with held, collector_spared():
        as_of = as_of or timezone.localdate()
        started = timezone.now()
        # A first import streamed; a re-import streamed unless the file is the batch path's.
        streamed = (
            stream.import_streamed if stream.streams(organisation, detected, mapping)
            else restream.reimport_streamed if restream.restreams(organisation, detected, mapping)
            else None
        )  # fmt: skip
        if streamed is not None:
            try:
                return streamed(organisation, stream.Asked(
                    path, format, mapping, dry_run, as_of, progress, user_id, started
                ))  # fmt: skip
            except stream.Unread as unread:
                if not dry_run:
                    _refuse_unread(organisation, path, format, mapping, unread.failure, started,
                                   user_id)  # fmt: skip
                raise unread.failure from None
            except stream.Unstreamable:
                pass  # rolled back: the file is applied whole, below
        try:
            # The ledger's fingerprints and the file's rows make no cycles: the collector's
            # walks of them are spared (perf.collector_paused).
            with collector_paused():
                batch = read_file(
                    path, format=format, mapping=mapping, currency=organisation.currency,
                    as_of=as_of, progress=progress, known=known_fingerprints(organisation),
                )  # fmt: skip
        except ImportFailed as failure:
            if not dry_run:
                _refuse_unread(organisation, path, format, mapping, failure, started, user_id)
            raise
        return apply_batch(
            organisation, batch, dry_run=dry_run, as_of=as_of, progress=progress, user_id=user_id
        )


def _refuse_unread(
    organisation: Organisation,
    path: Path,
    format: str | None,
    mapping: Mapping | None,
    failure: ImportFailed,
    started: dt.datetime,
    user_id: int | None,
) -> None:
    """The import log's record of a file that could not be read."""
    fmt = _asked_format(format, mapping)
    if not fmt and path.is_file():
        fmt = guess_format(path)
    record_refusal(organisation, _logged_file(path, fmt or ""), failure, started, user_id)


def _asked_format(format: str | None, mapping: Mapping | None) -> str | None:
    """The format the import was asked to read, or its mapping's (else it is guessed)."""
    return format or (mapping.format if mapping else None)


def _logged_file(path: Path, fmt: str) -> LedgerBatch:
    """The import log's record of a file, its records aside: its name, format and SHA-256."""
    logged = LedgerBatch(file=path.name, format=fmt, source="")
    if path.is_file():
        logged.sha256 = file_sha256(path)
    return logged


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
    record = _logged_file(path, "statuses")
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
