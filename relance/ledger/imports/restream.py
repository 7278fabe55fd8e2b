"""A re-import streamed: a table of invoice rows into a ledger that is not empty is read a
chunk at a time (``mapping.read_rows`` hands over about CHUNK rows read, the unchanged ones
skipped by fingerprint), each chunk compared with the ledger and applied by ``_Applier``'s
own steps (invoices, payments, allocations), then dropped: memory does not grow with the
rows that changed (a mapping renamed, a column added: every row read again).

Across chunks it keeps what the whole file is checked against (the invoice numbers and
payment references read, with their rows; the skipped numbers; the customers as the file's
rows say; the contacts), what the end needs (the touched invoices and customers, the
disputes' flags) and the first changes of each kind, in the order ``apply_batch`` gives them.
At the end: the customers as the file's last row of each says (created ones were written
with what their first chunk said), contacts, addresses, open items settled (a snapshot),
balances, disputes, timeline; one transaction, the same import log and audit.

A file with problems (read, checked or found applying) is refused here as ``apply_batch``
refuses it: every problem at once, in its order (each kept in its stage, the stages joined
at the end: ``stream.STAGES``), the same counts in the import log, nothing written (after
the first problem it goes on as a dry run; the transaction rolls back).

Left to the batch path (``Unstreamable``: what was written is rolled back, and
``import_file`` applies the file whole as before), so that the results stay exactly
``apply_batch``'s:

- an invoice number or payment reference read in two chunks (twice within a chunk, or
  read and skipped as unchanged, is refused here): the batch path's rows of one number
  meet in its whole-file steps (the last row's ids, amounts and obsolete payments win; an
  allocation of the first row counted against the last row's invoice), which a chunk
  cannot see. A first import reads the file again holding those rows back (``stream``'s
  docstring); a re-import does not, its held rows would meet the ledger's (the ledger's
  ids, unchanged rows, obsolete payments, open items settled) in steps not checked so;
- numbers that may look alike (not ASCII, spaces, or both cases among the file's and, when
  the file brings new ones, the ledger's numbers);
- all-digit customer references a spreadsheet may have unpadded (``unpadded_references``
  finds an alias);
- a payment whose customer the batch path would look for by its RF reference
  (``attach_by_reference``);
- a customer whose payment terms, as the file's last row says, are not those its invoices
  without a due date were dated by in an earlier chunk.
"""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections import defaultdict
from itertools import compress, repeat
from operator import attrgetter
from typing import Any

from relance.accounts.models import Organisation
from relance.ledger.imports import messages
from relance.ledger.imports.apply import (
    _DERIVED,
    CUSTOMER_FIELDS,
    ImportResult,
    Progress,
    _silent,
    _write_changed,
    customer_defaults,
    customer_update,
    known_fingerprints,
    rows_twice,
    stored_customers,
)
from relance.ledger.imports.limits import RECORD_KINDS, check_customers, check_records
from relance.ledger.imports.mapping import Mapping
from relance.ledger.imports.records import (
    ContactRecord,
    InvoiceRecord,
    LedgerBatch,
    Problem,
    Problems,
)
from relance.ledger.imports.stream import (
    _CUSTOMER,
    _NUMBER,
    _REFERENCE,
    CHUNK,
    REFERENCE_LENGTH,
    Asked,
    Staged,
    Unstreamable,
    invoice_table,
    placeholder_customer,
    read_streamed,
    row_or_0,
)
from relance.ledger.models import Customer, PaymentKind
from relance.ledger.validation import check_customer_fields
from relance.lib.perf import left_to_exit, sqlite_setting

# SQLite's page cache while a re-import writes (KiB): the pages it changes in a ledger of a
# million invoices (their indexes, payments, allocations, events) outgrow the default 64 MiB,
# and each page spilled before the commit is written twice and read back.
WRITE_CACHE_KIB = 256 * 1024


def restreams(organisation: Organisation, fmt: str, mapping: Mapping | None) -> bool:
    """Whether a re-import of this file tries the streamed way: a table of invoice rows
    (into a ledger that is not empty: ``stream.streams`` takes an empty one)."""
    return invoice_table(fmt, mapping)


def reimport_streamed(organisation: Organisation, asked: Asked) -> ImportResult:
    """``import_file`` for a re-import (``restreams``): raise Unread when the file cannot be
    read, Unstreamable (nothing written, nothing logged) when it is the batch path's,
    ImportFailed (recorded in the import log unless a dry run) when it cannot be applied
    whole."""
    result = asked.result()
    streamer = _Restreamer(organisation, asked.path.name, result, asked.as_of,
                           asked.progress or _silent, asked.dry_run)  # fmt: skip
    with sqlite_setting("cache_size", -WRITE_CACHE_KIB):
        read_streamed(organisation, asked, streamer, result, chunk=CHUNK,
                      known=known_fingerprints)  # fmt: skip
    left_to_exit(streamer)  # the file's rows and the ledger's: a command need not free them
    return result


def _keep(result: ImportResult, change: dict[str, Any]) -> None:
    """A change noted elsewhere, kept as ``ImportResult.note`` would (counts apart)."""
    if len(result.changes) < ImportResult.SAMPLE:
        result.changes.append(change)


class _Restreamer(Staged):
    """``_Applier``'s re-import, a chunk at a time: ``take`` each chunk, then ``finish``.
    Each chunk's steps note their changes in a result of the chunk's (``scratch``), sorted
    here into the batch path's order; ids of invoices and payments are the chunk's."""

    def __init__(
        self,
        organisation: Organisation,
        file: str,
        result: ImportResult,
        as_of: dt.date,
        progress: Progress,
        dry_run: bool,
    ):
        super().__init__(organisation, file, result, as_of, progress, dry_run)
        self.final = result
        self.ledger: dict[str, dict[str, Any]] | None = None  # customers, by reference
        self.seen_customers = 0  # of the reader's customers (in the order first named)
        self.written: dict[str, dict[str, Any]] = {}  # customer created -> values inserted
        self.derived: dict[int, set[int]] = defaultdict(set)  # customer -> terms used
        # Every invoice number read -> its last row (the first, of those twice in a chunk),
        # the hash of every payment reference: what a key in two chunks is found by (a
        # hash twice by chance only sends the file to the batch path).
        self.numbers: dict[str, int | None] = {}
        self.first_numbers: dict[str, int | None] = {}
        self.references: set[int] = set()
        self.obsolete_seen: set[str] = set()
        self.contacts: dict[tuple[str, str], ContactRecord] = {}
        self.disputed: dict[int, bool] = {}  # invoice id -> the file's flag
        self.moved_from: set[int] = set()
        # The first changes of each kind, in file order (deleted payments: all, sorted).
        self.updated: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.payment_changes: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []

    # -- one chunk ----------------------------------------------------------------------

    def take(self, handed: LedgerBatch) -> None:
        self.stages["reading"].items = list(handed.problems[: Problems.LIMIT])
        chunk = LedgerBatch(handed.file, handed.format, handed.source, snapshot=handed.snapshot,
                            labels=handed.labels)  # fmt: skip
        chunk.invoices, chunk.payments = handed.invoices, handed.payments
        chunk.allocations, chunk.contacts = handed.allocations, handed.contacts
        chunk.customers = handed.customers  # the whole file's so far
        chunk.obsolete_payments = handed.obsolete_payments - self.obsolete_seen
        self.obsolete_seen |= chunk.obsolete_payments
        self.batch = chunk
        self.sample(chunk)
        self.progress("checking", 0, 0)
        self.check_chunk()
        self.refuse_if_failing()
        self.chunk_customers()
        self.refuse_if_failing()
        scratch = self.result = ImportResult(chunk.file, "", self.dry_run, 0)
        self.invoice_ids, self.payment_ids = {}, {}
        before = self.invoices_before
        self.stage("invoices")
        self.apply_invoices()
        self.invoices_before = min(before, self.invoices_before)
        self.moved_from.update(old["customer_id"] for old in self.moved_invoices)
        self.moved_invoices = []
        self.progress("payments", 0, len(chunk.payments))
        self.stage("payments")
        self.apply_payments()
        self.stage("allocations")
        self.apply_allocations()
        for rec in chunk.invoices:
            if rec.disputed is not None:
                self.disputed[self.invoice_ids[rec.number]] = rec.disputed
        for contact in chunk.contacts:  # one per customer and name, the last row's
            self.contacts[(contact.customer, contact.name)] = contact
        self.result = self.final
        self.final.counts.update(scratch.counts)
        for change in scratch.changes:
            if change["what"] == "invoices":
                kept = self.created if change["action"] == "created" else self.updated
            else:
                kept = self.deleted if change["action"] == "deleted" else self.payment_changes
            if kept is self.deleted or len(kept) < ImportResult.SAMPLE:
                kept.append(change)

    def check_chunk(self) -> None:
        """What check_batch would find of this chunk, against the others' (a number read
        that is an unchanged row's too: ``finish``); a payment attach_by_reference would
        look at is the batch path's."""
        chunk, label = self.batch, self.batch.label
        numbers = list(map(_NUMBER, chunk.invoices))
        self.spellings.see(numbers)  # what may_look_alike asks, of every chunk's numbers
        hashes = [hash(rec.reference) for rec in chunk.payments]
        if not (self.numbers.keys().isdisjoint(numbers) and self.references.isdisjoint(hashes)):
            raise Unstreamable  # a key of an earlier chunk
        self.references.update(hashes)
        rows_twice(
            chunk.invoices, _NUMBER, self.numbers, self.stages["numbers"],
            label("invoice.number"), messages.number_twice, first=self.first_numbers,
        )  # fmt: skip
        rows_twice(
            chunk.payments, _REFERENCE, {}, self.stages["references"],
            label("payment.reference"), messages.reference_twice,
        )  # fmt: skip
        for kind in RECORD_KINDS:
            for row, target, message in check_records(kind, getattr(chunk, kind)):
                self.stages[f"limits.{target}"].add(row, label(target), message)
        ledger = self.ledger_customers_all()
        named = {rec.customer for rec in chunk.invoices}
        named.update(contact.customer for contact in chunk.contacts)
        for rec in chunk.payments:
            if not rec.customer or (
                rec.kind == PaymentKind.PAYMENT
                and rec.customer not in ledger
                and rec.customer not in named
            ):
                raise Unstreamable  # attach_by_reference's

    def ledger_customers_all(self) -> dict[str, dict[str, Any]]:
        """The organisation's customers by reference with every field the file may give:
        what each chunk's terms and the end's comparison read (loaded once)."""
        if self.ledger is None:
            given = [name for name in CUSTOMER_FIELDS if f"customer.{name}" in self.batch.labels]
            self.ledger = stored_customers(self.org.pk, given)
            for ref, old in self.ledger.items():
                self.customer_ids[ref] = old["id"]
                self.customer_terms[old["id"]] = old["payment_terms_days"]
        return self.ledger

    def chunk_customers(self) -> None:
        """The customers first named in this chunk created as the file has said of them so
        far (``finish`` brings them to its last word); every customer's terms as said so
        far, for the due dates derived in this chunk."""
        customers, ledger = self.batch.customers, self.ledger_customers_all()
        create = []
        for ref in itertools.islice(customers, self.seen_customers, None):
            if ref in ledger:
                continue
            record = customers[ref]
            if list(check_customer_fields(record.fields)) or any(check_customers([record])):
                # Wrong for now: a later row may right it (``finish`` checks its last word).
                self.doomed = self.doomed or len(ref) > REFERENCE_LENGTH
                create.append(placeholder_customer(self.org, ref, self.batch.source))
                continue
            create.append(self.new_customer_row(ref, record.fields))
        self.seen_customers = len(customers)
        self.refuse_if_failing()
        for values in create:
            self.written[values["reference"]] = values
        self.create_customers(create)
        for ref in {rec.customer for rec in self.batch.invoices}:
            said = customers[ref].fields.get("payment_terms_days")
            if said is not None:
                self.customer_terms[self.customer_ids[ref]] = said

    def invoice_row(self, rec: InvoiceRecord) -> tuple[Any, ...]:
        row = super().invoice_row(rec)
        if row[_DERIVED]:  # dated by the terms said so far: checked against the last word
            self.derived[row[_CUSTOMER]].add(self.customer_terms[row[_CUSTOMER]])
        return row

    # -- the whole file -----------------------------------------------------------------

    def finish(self, batch: LedgerBatch) -> None:
        """The whole file's checks, the customers and what the end of apply_batch does."""
        self.result = self.final
        self.note_reading(batch)
        self.numbers_also_unchanged()
        self.check_lookalikes()
        ledger = self.ledger_customers_all()
        as_stored = self.as_stored(ledger)
        problems = self.stages["customers"]
        for ref, record in batch.customers.items():
            if ref in as_stored:
                continue  # check_batch's shortcut
            for name, message in check_customer_fields(record.fields, ledger.get(ref)):
                problems.add(record.row, batch.label(f"customer.{name}"), message)
        for row, target, message in check_customers(batch.customers.values()):
            self.stages["limits.customers"].add(row, batch.label(target), message)
        self.stage("unpadded")
        if self.unpadded_references(ledger):
            raise Unstreamable
        self.refuse_if_failing()
        self.finish_customers(as_stored)
        batch.contacts = list(self.contacts.values())
        self.apply_contacts()
        if batch.unchanged:
            self.result.counts["invoices_unchanged"] += len(batch.unchanged)
        for change in self.updated:
            _keep(self.result, change)
        self.result.changes += self.created[: ImportResult.SAMPLE]
        for change in self.payment_changes:
            _keep(self.result, change)
        for change in sorted(self.deleted, key=lambda change: change["key"]):
            _keep(self.result, change)
        if batch.snapshot:
            batch.unchanged.update(dict.fromkeys(self.numbers, 0))  # the numbers present
            self.numbers = {}
            self.settle_missing()
        if self.nothing_to_write():
            return
        self.write_end(self.disputed, self.moved_from)

    def numbers_also_unchanged(self) -> None:
        """check_batch's numbers twice that no chunk could find: a number read that is an
        unchanged row's too (the batch path checks the rows read against those first), at
        its first row read; the numbers' problems in row order, as the batch path's."""
        unchanged = self.batch.unchanged
        if self.numbers.keys().isdisjoint(unchanged):
            return
        label = self.batch.label("invoice.number")
        found = [
            Problem(self.batch.file, self.first_numbers.get(number, self.numbers[number]),
                    label, messages.number_twice(number, unchanged[number]))
            for number in self.numbers.keys() & unchanged.keys()
        ]  # fmt: skip
        stage = self.stages["numbers"]
        stage.items = sorted([*stage.items, *found], key=row_or_0)[: Problems.LIMIT]

    def check_lookalikes_in_ledger(self, existing: dict[str, Any]) -> None:
        """A new number that looks like one of the ledger's (or of an earlier chunk's, in
        the ledger now) is the batch path's."""
        kept, self.problems = self.problems, Problems(self.batch.file)
        super().check_lookalikes_in_ledger(existing)
        if self.problems:
            raise Unstreamable
        self.problems = kept

    def check_lookalikes(self) -> None:
        """check_lookalike_numbers, as a question: may any two numbers of the file (read or
        skipped) look alike? Then the batch path says which. (Each chunk's new numbers were
        looked up among the ledger's by check_lookalikes_in_ledger: a problem found there
        sends the file to the batch path too.)"""
        self.spellings.see(self.batch.unchanged)
        if self.spellings.may_look_alike():
            raise Unstreamable

    def as_stored(self, ledger: dict[str, dict[str, Any]]) -> set[str]:
        """The customers of the file whose every value the ledger holds as its last word
        says, compared in C (a hundred thousand customers)."""
        refs = list(self.batch.customers)
        said = map(dict.items, map(attrgetter("fields"), self.batch.customers.values()))
        held = map(dict.items, map(ledger.get, refs, repeat({})))
        return set(compress(refs, map(operator.ge, held, said))) & ledger.keys()

    def finish_customers(self, as_stored: set[str]) -> None:
        """apply_customers on the file's last word of each customer: those of the ledger
        compared with it (but ``as_stored``, which it holds as said), those created brought
        to it; their addresses."""
        ledger = self.ledger_customers_all()
        update: list[tuple[Any, ...]] = []  # customer_update's tuples
        fields: set[str] = set()
        addresses: dict[str, dict[str, Any]] = {}
        if self.derived:
            for ref in as_stored:  # terms as the ledger holds them (apply_customers')
                self.check_terms(self.customer_ids[ref], ledger[ref]["payment_terms_days"])
        for ref in sorted(self.batch.customers.keys() - as_stored):
            record = self.batch.customers[ref]
            customer_id = self.customer_ids[ref]
            old = ledger.get(ref)
            if old is not None:
                values = {k: v for k, v in record.fields.items() if k in CUSTOMER_FIELDS}
                if "address" in record.fields:
                    addresses[ref] = record.fields["address"]
                terms = values.get("payment_terms_days", old["payment_terms_days"])
                self.compare_customer(ref, old, values, update, fields)
            else:
                if "address" in record.fields:
                    addresses[ref] = record.fields["address"]
                self.result.note("customers", ref, "created")
                row, written = self.new_customer_row(ref, record.fields), self.written[ref]
                if row != written:  # as created from the last word: the defaults elsewhere
                    update.append(customer_update(customer_id, row, customer_defaults()))
                    fields.update(k for k in row.keys() | written.keys()
                                  if row.get(k) != written.get(k))  # fmt: skip
                terms = row.get("payment_terms_days", self.customer_terms[customer_id])
            self.check_terms(customer_id, terms)
        if self.dry_run:
            return
        _write_changed(Customer, CUSTOMER_FIELDS, update, fields)
        self.apply_addresses(addresses)

    def check_terms(self, customer_id: int, terms: Any) -> None:
        """Due dates derived from terms a later row changed are the batch path's."""
        used = self.derived.get(customer_id)
        if used is not None and used != {terms}:
            raise Unstreamable
