"""Importing e-invoices (Factur-X / ZUGFeRD PDF, CII, UBL): one file, a folder or a ZIP.

Each file is read by ``relance.ledger.einvoice`` into the pipeline's records; every file
that can be imported goes in one batch through ``apply_batch`` (the same checks, one
transaction, balances by the one code). A file that cannot be read, whose seller is not the
organisation, or that the ledger refuses (say a due date before the issue date once the
customer's terms give it) is reported and left out whole: the others are imported. When no
file is left, the import is refused as any other.

Files are read one at a time and only what an invoice needs is kept: a ZIP of Factur-X PDFs
can hold more than memory should, so each PDF waits in a temporary folder until it is
attached.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.files.base import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.ledger import einvoice
from relance.ledger.imports import archives
from relance.ledger.imports.apply import ImportResult, apply_batch, record_refusal
from relance.ledger.imports.records import ImportFailed, LedgerBatch, Problem
from relance.ledger.models import Allocation, Attachment, AttachmentKind, Customer, Invoice

FORMAT = "einvoice"
SOURCE = "einvoice"
MAX_FILES = archives.MAX_ENTRIES  # in one folder or ZIP
_SUFFIXES = (".pdf", ".xml")
_TABULAR = frozenset({".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"})
Progress = Callable[[str, int, int], None]
Reader = Callable[[], bytes]  # a file's bytes; _Refused says why they cannot be read


class _Refused(Exception):
    """A file of the folder or ZIP that is not read; the message says why."""


def is_einvoice_input(path: Path) -> bool:
    """A folder, a ZIP, a PDF or an XML: what ``relance import`` gives this reader."""
    if path.is_dir():
        return True
    suffix = path.suffix.lower()
    if suffix in (".zip", *_SUFFIXES):
        return True
    if suffix in _TABULAR:
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or einvoice.looks_like_einvoice(path.name, head)


@dataclass
class _File:
    name: str
    invoice: einvoice.EInvoice | None = None
    has_pdf: bool = False  # the invoice came as a PDF (this file's, or a duplicate's)
    pdf: Path | None = None  # that PDF, kept aside until attached (none in a dry run)
    customer: str = ""  # the customer's reference
    customer_name: str = ""  # its legal name, as the ledger has it or as it will be created
    new_customer: bool = False
    status: str = "imported"
    problems: list[str] = field(default_factory=list)
    same_as: str = ""
    sha256: str = ""
    pdf_name: str = ""  # the file that brought the PDF (a duplicate's, maybe)
    credits: tuple[str, Decimal] | None = None  # a credit note's invoice, and how much

    def refuse(self, message: str) -> None:
        self.status = "refused"
        self.problems.append(message)

    def report(self, dry_run: bool, derived: dict[str, tuple[dt.date, bool]]) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.name, "status": self.status}
        if dry_run and self.status == "imported":
            out["status"] = "would import"
        inv = self.invoice
        if inv is not None:
            due, is_derived = derived.get(inv.number, (inv.due_date, inv.due_date is None))
            out.update(
                number=inv.number,
                kind="credit_note" if inv.is_credit_note else "invoice",
                syntax=inv.syntax,
                customer=self.customer,
                customer_name=self.customer_name,
                customer_created=self.new_customer,
                issue_date=inv.issue_date.isoformat(),
                due_date=due.isoformat() if due and not inv.is_credit_note else None,
                due_date_derived=is_derived and not inv.is_credit_note,
                currency=inv.currency,
                amount=str(inv.total),
                amount_due=str(inv.amount_due),
                attached=self.has_pdf and not inv.is_credit_note,
            )
            if self.credits:
                out["credits"] = {"invoice": self.credits[0], "amount": str(self.credits[1])}
        if self.same_as:
            out["same_as"] = self.same_as
        out["problems"] = self.problems
        return out


@contextmanager
def opened(path: Path) -> Iterator[list[tuple[str, Reader]]]:
    """The files of a folder (recursively, hidden ones left out), a ZIP, or the file itself,
    in name order, each with how to read it (one at a time, when its turn comes);
    ImportFailed when the folder or the ZIP itself is refused."""
    if path.is_dir():
        names = sorted(
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )  # fmt: skip
        if len(names) > MAX_FILES:
            raise ImportFailed([Problem(path.name, None, None, _too_many())])
        yield [(str(p.relative_to(path)), _in_folder(p)) for p in names]
    elif zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
        with _zip_members(path) as members:  # a .zip that is none is refused as such
            yield members
    else:
        yield [(path.name, path.read_bytes)]


def _in_folder(path: Path) -> Reader:
    def read() -> bytes:
        size = path.stat().st_size
        if size > einvoice.MAX_BYTES:
            raise _Refused(_("%(size)s bytes is too large for an invoice") % {"size": f"{size:,}"})
        return path.read_bytes()

    return read


@contextmanager
def _zip_members(path: Path) -> Iterator[list[tuple[str, Reader]]]:
    try:
        archive = archives.open_zip(path)
    except archives.Unreadable as error:
        raise ImportFailed([Problem(path.name, None, None, str(error))]) from None
    with archive:
        try:
            members = archives.members(archive)
        except archives.Unreadable as error:
            raise ImportFailed([Problem(path.name, None, None, str(error))]) from None
        yield [(member.filename, _in_zip(archive, member)) for member in members]


def _in_zip(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> Reader:
    def read() -> bytes:
        try:
            archives.refuse_inner_zip(archive, member)
            return archives.read(archive, member, einvoice.MAX_BYTES)
        except archives.TooLarge:
            raise _Refused(_("too large for an invoice")) from None
        except archives.Unreadable as error:
            raise _Refused(str(error)) from None

    return read


def _numbers_equal(a: einvoice.EInvoice, b: einvoice.EInvoice) -> bool:
    keys = ("type_code", "issue_date", "due_date", "currency", "total", "amount_due")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def import_einvoices(
    organisation: Organisation,
    path: Path,
    *,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    user_id: int | None = None,
) -> ImportResult:
    """Import the e-invoices of a file, folder or ZIP; the result lists every file with its
    status (imported, refused with its problems, or the same invoice as another file)."""
    as_of = as_of or timezone.localdate()
    started = timezone.now()
    with tempfile.TemporaryDirectory(prefix="relance-einvoices-") as aside:
        try:
            if not path.exists():
                raise ImportFailed([Problem(path.name, None, None, _("no such file"))])
            with opened(path) as sources:
                files = _read(organisation, sources, progress, None if dry_run else Path(aside))
        except ImportFailed as unreadable:
            if not dry_run:
                refused = LedgerBatch(file=path.name, format=FORMAT, source=SOURCE)
                record_refusal(organisation, refused, unreadable, started, user_id)
            raise
        return _apply(organisation, path, files, dry_run, as_of, progress, user_id, started)


def _apply(
    organisation: Organisation,
    path: Path,
    files: list[_File],
    dry_run: bool,
    as_of: dt.date,
    progress: Progress | None,
    user_id: int | None,
    started: dt.datetime,
) -> ImportResult:
    """The files read in one batch, those the ledger refuses left out one by one."""
    _assign_customers(organisation, files)
    _credit_targets(organisation, files)
    while True:
        batch = _batch(path, files)
        if not batch.invoices and not batch.payments:
            failure = ImportFailed(
                [Problem(f.name, None, None, m) for f in files for m in f.problems]
                or [Problem(path.name, None, None, _("no file to import"))]
            )
            if not dry_run:
                batch.sha256 = _digest(files)
                record_refusal(organisation, batch, failure, started, user_id)
            raise failure
        try:
            # Applied in a savepoint: a file the ledger refuses is left out whole (its
            # attempt, and the import log's record of it, rolled back) and the rest is
            # applied again.
            with transaction.atomic():
                result = apply_batch(
                    organisation, batch, dry_run=dry_run, as_of=as_of, progress=progress,
                    user_id=user_id,
                )  # fmt: skip
                if not dry_run:
                    _attach(organisation, files)
        except ImportFailed as failure:
            if _leave_out(files, failure.problems):
                continue
            if not dry_run:
                record_refusal(organisation, batch, failure, started, user_id)
            raise
        break
    due_dates = _due_dates(organisation, files)
    result.files = [f.report(dry_run, due_dates) for f in files]
    result.counts["files_refused"] = sum(f.status == "refused" for f in files)
    return result


def _read(
    organisation: Organisation,
    sources: list[tuple[str, Reader]],
    progress: Progress | None,
    aside: Path | None,
) -> list[_File]:
    """Each file read in turn (see ``_read_one``), the same invoice twice found."""
    files: list[_File] = []
    seen: dict[str, _File] = {}
    for n, (name, read) in enumerate(sources, 1):
        if progress:
            progress("reading", n, len(sources))
        item = _File(name)
        files.append(item)
        _read_one(organisation, item, read, aside and aside / f"{n}.pdf")
        inv = item.invoice
        if inv is None or item.status == "refused":
            continue
        first = seen.get(inv.number)
        if first is None:
            seen[inv.number] = item
        elif _numbers_equal(first.invoice, inv):  # type: ignore[arg-type]
            # The same invoice twice (its PDF and its XML, say): imported once, and the PDF
            # kept whichever file brought it.
            item.status, item.same_as = "duplicate", first.name
            if item.has_pdf and not first.has_pdf:
                first.has_pdf, first.pdf, first.pdf_name = True, item.pdf, item.pdf_name
                item.has_pdf, item.pdf = False, None
        else:
            item.refuse(
                _("invoice number %(number)s is also in %(file)s, with other values")
                % {"number": inv.number, "file": first.name}
            )
    return files


def _read_one(organisation: Organisation, item: _File, read: Reader, aside: Path | None) -> None:
    """The file's invoice, or why it is refused; its PDF written to ``aside`` (None: a dry
    run keeps none). Its bytes are let go on return, before the next file is read."""
    try:
        data = read()
    except _Refused as refusal:
        item.refuse(str(refusal))
        return
    item.sha256 = hashlib.sha256(data).hexdigest()
    try:
        item.invoice, pdf = einvoice.read_document(data, item.name)
    except einvoice.NotAnInvoice as failure:
        for where, message in failure.problems:
            item.refuse(_field_said(where, message))
        return
    finally:
        # pypdf's reader of a PDF lives in reference cycles, holding copies of the file:
        # let go now, not a few files later.
        gc.collect(1)
    inv = item.invoice
    if why := einvoice.seller_problem(
        inv, organisation.siren, organisation.vat_number,
        (organisation.legal_name, organisation.name),
    ):  # fmt: skip
        item.refuse(why)
        return
    if pdf is not None:
        item.has_pdf, item.pdf_name = True, item.name
        if aside is not None:
            aside.write_bytes(pdf)
            item.pdf = aside


def _assign_customers(organisation: Organisation, files: list[_File]) -> None:
    known = [
        einvoice.KnownCustomer(*row)
        for row in Customer.objects.filter(organisation=organisation).values_list(
            "reference", "legal_name", "siren", "siret", "vat_number"
        )
    ]
    taken = {c.reference for c in known}
    for item in files:
        if item.status != "imported" or item.invoice is None:
            continue
        buyer = item.invoice.buyer
        match = einvoice.match_buyer(buyer, known)
        if match is not None:
            item.customer, item.customer_name = match.reference, match.legal_name or match.reference
            continue
        reference = einvoice.new_reference(buyer, taken)
        taken.add(reference)
        # The next files of the same buyer find it as if it were in the ledger already.
        known.append(
            einvoice.KnownCustomer(reference, buyer.name, buyer.siren, buyer.siret, buyer.vat)
        )
        item.customer, item.new_customer = reference, True
        item.customer_name = (buyer.name or reference)[:200]  # as add_to_batch creates it


def _credit_targets(organisation: Organisation, files: list[_File]) -> None:
    """Allocate each credit note to the invoice it corrects (BT-25) when that invoice is the
    same customer's, in the same currency, in the ledger or in this import: up to what the
    invoice owes (the ledger's balance, this credit note's own allocation put back, else
    the amount due the file says); the rest stays a credit of the customer."""
    notes = [
        f for f in files
        if f.status == "imported" and f.invoice and f.invoice.is_credit_note
        and f.invoice.preceding
    ]  # fmt: skip
    if not notes:
        return
    wanted = {f.invoice.preceding for f in notes if f.invoice}
    owed: dict[str, tuple[str, str, Decimal]] = {}  # number: (customer, currency, owed)
    for f in files:
        inv = f.invoice
        if f.status == "imported" and inv and not inv.is_credit_note and inv.number in wanted:
            owed[inv.number] = (f.customer, inv.currency, inv.amount_due)
    ledger = Invoice.objects.filter(organisation=organisation, number__in=wanted)
    put_back: dict[tuple[str, str], Decimal] = {}
    for reference, number, amount in Allocation.objects.filter(
        organisation=organisation, invoice__in=ledger,
        payment__reference__in=[f.invoice.number for f in notes if f.invoice],
    ).values_list("payment__reference", "invoice__number", "amount"):  # fmt: skip
        put_back[(reference, number)] = amount
    ledger_rows = ledger.values_list("number", "customer__reference", "currency", "balance")
    for number, customer, currency, balance in ledger_rows:
        owed[number] = (customer, currency, balance)
    for f in notes:
        inv = f.invoice
        assert inv is not None
        target = owed.get(inv.preceding)
        if target is None or target[0] != f.customer or target[1] != inv.currency:
            continue
        available = target[2] + put_back.get((inv.number, inv.preceding), Decimal(0))
        amount = min(inv.total, available)
        if amount > 0:
            f.credits = (inv.preceding, amount)
            owed[inv.preceding] = (target[0], target[1], available - amount)


def _batch(path: Path, files: list[_File]) -> LedgerBatch:
    batch = LedgerBatch(file=path.name, format=FORMAT, source=SOURCE)
    created: set[str] = set()
    for row, item in enumerate(files, 1):
        if item.status != "imported" or item.invoice is None:
            continue
        new = item.new_customer and item.customer not in created
        created.add(item.customer)
        einvoice.add_to_batch(batch, item.invoice, item.customer, row, new, item.credits)
    batch.rows_read = len(files)
    batch.sha256 = _digest(files)
    return batch


def _too_many() -> str:
    return _("more than %(limit)s files") % {"limit": f"{MAX_FILES:,}"}


def _field_said(field: str | None, message: str) -> str:
    """A problem of a file's field, as its report lists it."""
    return _("%(field)s: %(message)s") % {"field": field, "message": message} if field else message


def _leave_out(files: list[_File], problems: list[Problem]) -> bool:
    """Refuse the files the ledger's problems name (by their row, the file's rank); False
    when a problem names no file (then the whole import is refused)."""
    if any(p.row is None or not 1 <= p.row <= len(files) for p in problems):
        return False
    for p in problems:
        item = files[p.row - 1]  # type: ignore[operator]
        item.refuse(_field_said(p.field, p.message))
    # A customer the refused file was creating is created by the next file of the same
    # buyer, if any (``_batch`` gives its fields to the first file left).
    return True


def _attach(organisation: Organisation, files: list[_File]) -> None:
    """Keep each imported PDF as its invoice's attachment (once, whatever re-imports),
    copied from where it was put aside."""
    pdfs = {
        f.invoice.number: f
        for f in files
        if f.status == "imported" and f.pdf and f.invoice and not f.invoice.is_credit_note
    }
    if not pdfs:
        return
    invoices = Invoice.objects.filter(organisation=organisation, number__in=list(pdfs))
    have = set(
        Attachment.objects.filter(organisation=organisation, invoice__in=invoices).values_list(
            "invoice_id", "sha256"
        )
    )
    for invoice in invoices:
        item = pdfs[invoice.number]
        assert item.pdf is not None
        with item.pdf.open("rb") as pdf:
            digest = hashlib.file_digest(pdf, "sha256").hexdigest()
            if (invoice.pk, digest) in have:
                continue
            pdf.seek(0)
            name = archives.base_name(item.pdf_name)[:200] or "invoice.pdf"
            attachment = Attachment(
                organisation=organisation, invoice=invoice, kind=AttachmentKind.INVOICE_PDF,
                name=name, sha256=digest,
            )  # fmt: skip
            attachment.file.save(name, File(pdf, name=name), save=True)


def _due_dates(organisation: Organisation, files: list[_File]) -> dict[str, tuple[dt.date, bool]]:
    """The due date each imported invoice has (the customer's terms when the file gave
    none), for the report."""
    out: dict[str, tuple[dt.date, bool]] = {}
    terms = dict(
        Customer.objects.filter(organisation=organisation).values_list(
            "reference", "payment_terms_days"
        )
    )
    for item in files:
        inv = item.invoice
        if inv is None or item.status != "imported":
            continue
        if inv.due_date is not None:
            out[inv.number] = (inv.due_date, False)
        else:
            days = terms.get(item.customer, 30)
            out[inv.number] = (inv.issue_date + dt.timedelta(days=days), True)
    return out


def _digest(files: list[_File]) -> str:
    """Of the files read, in order: the same folder or ZIP again gives the same digest."""
    digest = hashlib.sha256()
    for item in files:
        digest.update(item.name.encode() + b"\0" + item.sha256.encode())
    return digest.hexdigest()
