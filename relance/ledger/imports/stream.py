"""A first import streamed: the file's rows are read, checked and written a chunk at a time
(``mapping.read_rows`` hands them over every CHUNK rows), then dropped, so that memory does
not grow with the records of the file.

It takes over from ``apply._Applier`` where the ledger is empty and the file holds invoice
rows: nothing to compare with, and each row's payment and allocation name the row's own
invoice. Across chunks it keeps only what the whole file is checked against (the invoice
numbers and payment references seen, with their rows; the customers; the contacts), the
counts, the sample and the problems. The guarantees are ``apply_batch``'s: one transaction,
every problem of the whole file reported at once (after the first, it goes on checking and
writes nothing more; the transaction rolls back at the end), the same counts, changes and
sample in a dry run, the same import log, audit trail, balances and timeline.

A file with an invoice number or payment reference read in two chunks is refused (a key
twice is a problem), but the batch path's rows of one key meet in its whole-file steps (the
last row's ids and amounts win; an allocation of the first row counted against the last
row's invoice), which a chunk cannot see. The first reading, on finding such a key, only
collects the keys of the rest of the file (``Repeated``, rolled back); the file is then
read again as a dry run holding back the rows of those keys (``Held``: in an invoice file a
row's payment and allocation name its own invoice, so those rows are a whole of their
own), which the end applies together, as apply_batch would, their problems put in row order
among the chunks'. Memory grows with the rows of those keys only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from relance.accounts.models import Organisation
from relance.ledger.imports import messages
from relance.ledger.imports.apply import (
    _DERIVED,
    CUSTOMER_FIELDS,
    INVOICE_FIELDS,
    NEW_ALLOCATION,
    SAMPLE_RECORDS,
    ImportResult,
    Progress,
    Spellings,
    _Applier,
    _silent,
    _write_changed,
    customer_defaults,
    customer_update,
    logged,
    note_lookalikes,
    read_sample,
    rows_twice,
)
from relance.ledger.imports.limits import (
    RECORD_KINDS,
    check_customers,
    check_records,
    max_length,
    record_targets,
)
from relance.ledger.imports.mapping import Mapping
from relance.ledger.imports.records import (
    ContactRecord,
    CustomerRecord,
    ImportFailed,
    LedgerBatch,
    Problem,
    Problems,
)
from relance.ledger.models import Allocation, Customer, Invoice, Payment
from relance.ledger.validation import check_customer_fields
from relance.lib import bulk
from relance.lib.perf import collector_paused

CHUNK = 20_000  # rows read, checked and written at a time
TABLES = ("csv", "xlsx", "ods")  # the formats mapping.read_rows reads
# Where each kind of problem stands in the list the user sees: the order apply_batch finds
# them in, whatever chunk each was found in (check_limits: a field at a time).
STAGES = (
    "reading", "numbers", "lookalikes", "references", "customers",
    *(f"limits.{target}" for kind in RECORD_KINDS for target in record_targets(kind)),
    "limits.customers", "unpadded", "invoices", "payments", "allocations", "totals",
)  # fmt: skip
REFERENCE_LENGTH = max_length(Customer, "reference")
_CUSTOMER = INVOICE_FIELDS.index("customer_id")
_NUMBER, _REFERENCE = operator.attrgetter("number"), operator.attrgetter("reference")
_ORDER = operator.itemgetter(0)
# The stages the held-back rows add to at the end (their problems put in row order).
_HELD_STAGES = ("invoices", "payments", "allocations")


def row_or_0(problem: Problem) -> int:
    return problem.row or 0


def placeholder_customer(org: Organisation, reference: str, source: str) -> dict[str, Any]:
    """The row of a new customer whose values are wrong for now: its reference alone (the
    end of the import checks the file's last word on it, and writes that)."""
    return {"organisation_id": org.pk, "reference": reference, "source": source,
            "legal_name": reference[:200], "currency": org.currency}  # fmt: skip


class Unstreamable(Exception):
    """The file is one a streamed import leaves to the batch path (see restream's
    docstring): raised inside the import's transaction, which rolls back, for
    ``import_file`` to apply the file whole."""


@dataclass
class Held:
    """The invoice numbers and payment references read in two chunks."""

    numbers: set[str] = field(default_factory=set)
    references: set[str] = field(default_factory=set)


class Repeated(Unstreamable):
    """A first reading found keys in two chunks (``Held``): the file is read again holding
    their rows back."""

    def __init__(self, held: Held):
        self.held = held


class Unread(Exception):
    """The file could not be read (``ImportFailed`` from the reader): nothing was applied."""

    def __init__(self, failure: ImportFailed):
        self.failure = failure


def invoice_table(fmt: str, mapping: Mapping | None) -> bool:
    """Whether the file is a table of invoice rows: what a streamed import reads."""
    return fmt in TABLES and mapping is not None and mapping.record == "invoice"


def streams(organisation: Organisation, fmt: str, mapping: Mapping | None) -> bool:
    """Whether an import of this file into this ledger goes the streamed way: a table of
    invoice rows into a ledger with no customer, invoice or payment yet (into one that has
    some: ``restream.restreams``)."""
    return invoice_table(fmt, mapping) and not any(
        model.objects.filter(organisation=organisation).exists()
        for model in (Customer, Invoice, Payment)
    )


@dataclass(frozen=True)
class Asked:
    """One file's import as ``import_file`` was asked it, for a streamed import."""

    path: Path
    format: str | None
    mapping: Mapping | None
    dry_run: bool
    as_of: dt.date
    progress: Progress | None
    user_id: int | None
    started: dt.datetime

    def result(self) -> ImportResult:
        return ImportResult(self.path.name, "", self.dry_run, 0)


def import_streamed(organisation: Organisation, asked: Asked) -> ImportResult:
    """``import_file`` for a first import (``streams``): raise Unread when the file cannot
    be read, ImportFailed (recorded in the import log unless a dry run) when it cannot be
    applied whole. A file with keys in two chunks is read twice (the module's docstring)."""

    def reading(held: Held | None) -> ImportResult:
        result = asked.result()
        streamer = _Streamer(organisation, asked.path.name, result, asked.as_of,
                             asked.progress or _silent, asked.dry_run, held=held)  # fmt: skip
        read_streamed(organisation, asked, streamer, result, chunk=CHUNK)
        return result

    try:
        return reading(None)
    except Repeated as repeated:  # rolled back
        held = repeated.held
    return reading(held)  # the first reading let go


def read_streamed(
    organisation: Organisation,
    asked: Asked,
    streamer: Staged,
    result: ImportResult,
    *,
    chunk: int,
    known: Callable[[Organisation], dict[int, str]] | None = None,
) -> None:
    """Read the file into ``streamer`` a chunk at a time (its ``take``, then its ``finish``)
    in the import's one logged transaction; raise Unread when the file cannot be read. A
    re-import gives the ledger's fingerprints (``known``, read in the transaction) and reads
    with the collector paused (its rows and fingerprints make no cycles)."""
    from relance.ledger.imports import read_file

    def apply() -> None:
        try:
            with collector_paused() if known else contextlib.nullcontext():
                batch = read_file(
                    asked.path, format=asked.format, mapping=asked.mapping,
                    currency=organisation.currency, as_of=asked.as_of, progress=asked.progress,
                    sink=streamer.take, chunk=chunk, known=known(organisation) if known else None,
                )  # fmt: skip
        except ImportFailed as failure:
            raise Unread(failure) from None
        streamer.finish(batch)

    # The file's one batch, handed over chunk by chunk (read_file returns it too).
    logged(organisation, result, asked.started, asked.user_id, apply=apply,
           batch=lambda: streamer.batch)  # fmt: skip


class Staged(_Applier):
    """An ``_Applier`` that meets its batch a chunk at a time and keeps the problems found
    by stage (STAGES), to give them at the end in the order ``apply_batch`` finds them."""

    def __init__(
        self,
        organisation: Organisation,
        file: str,
        result: ImportResult,
        as_of: dt.date,
        progress: Progress,
        dry_run: bool,
    ):
        super().__init__(organisation, LedgerBatch(file, "", ""), result, as_of, progress)
        # A dry run as asked, or since a problem (``refuse_if_failing``).
        self.asked_dry = self.dry_run = dry_run
        self.stages = {stage: Problems(file) for stage in STAGES}
        # The first excesses of allocations (allocation_excesses), in apply_batch's order.
        self.excesses: list[tuple[tuple[int, int], Problem]] = []
        # A customer reference too long for its column: the final checks will say so (a
        # reference does not change), nothing more is written.
        self.doomed = False
        self.spellings = Spellings()  # what the invoice numbers read are written with
        self.sampled = LedgerBatch(file, "", "")  # the file's first records (``sample``)

    def take(self, chunk: LedgerBatch) -> None:
        """One chunk of the file as read (``read_file``'s sink): checked, then written."""
        raise NotImplementedError

    def finish(self, batch: LedgerBatch) -> None:
        """The file read: what only the whole file decides, then the last writes."""
        raise NotImplementedError

    def sample(self, chunk: LedgerBatch) -> None:
        """The chunk's first invoices and payments while the file's sample wants more."""
        for kind in ("invoices", "payments"):
            kept = getattr(self.sampled, kind)
            kept += getattr(chunk, kind)[: max(0, SAMPLE_RECORDS - len(kept))]

    def note_reading(self, batch: LedgerBatch) -> None:
        """The whole file read (``batch``): the result's format, rows, warnings and sample,
        the reading's problems."""
        self.batch = batch
        self.result.format, self.result.rows = batch.format, batch.rows_read
        self.result.warnings = list(batch.warnings)
        self.sampled.customers = dict(itertools.islice(batch.customers.items(), SAMPLE_RECORDS))
        self.result.sample = read_sample(self.sampled)
        self.stages["reading"].items = list(batch.problems[: Problems.LIMIT])

    def stage(self, name: str) -> Problems:
        self.problems = self.stages[name]
        return self.problems

    def failing(self) -> bool:
        return self.doomed or any(stage.items for stage in self.stages.values())

    def refuse_if_failing(self) -> None:
        """After a problem, go on as a dry run: find the rest, write nothing more (the
        transaction rolls back)."""
        self.dry_run = self.dry_run or self.failing()

    def nothing_to_write(self) -> bool:
        """At the end: ImportFailed with every problem in order; else whether the import
        writes nothing more (a dry run asked)."""
        self.in_order().raise_if_any()
        # A chunk goes on as a dry run only after a problem, which stays to the end.
        if self.dry_run and not self.asked_dry:
            raise RuntimeError("a streamed import went on as a dry run without a problem")
        return self.dry_run

    def check_allocation_totals(self, totals: dict[tuple[int, int], Decimal]) -> None:
        """This chunk's excesses among the others', by the ids apply_batch sorts them by
        (a dry run's stand-in ids, negative, in the order it gives them too)."""
        self.excesses += (
            (order, Problem(self.batch.file, row, target, message))
            for order, row, target, message in self.allocation_excesses(totals)
        )
        self.excesses.sort(key=_ORDER)
        del self.excesses[Problems.LIMIT :]

    def in_order(self) -> Problems:
        """The problems of every stage, in the order of STAGES: the list the user sees."""
        self.stages["totals"].items = [problem for _order, problem in self.excesses]
        problems = Problems(self.batch.file)
        problems.items = [p for stage in STAGES for p in self.stages[stage].items]
        del problems.items[Problems.LIMIT :]
        return problems


class _Streamer(Staged):
    """``_Applier``'s first import, a chunk at a time: ``take`` each chunk, then ``finish``.
    Ids of invoices and payments are kept for the chunk only (its allocations name its own
    rows); customers, contacts and addresses are the whole file's. With ``held`` (keys read
    in two chunks: the file is refused), a dry run whose rows of those keys wait for the end
    (``hold_back``, ``apply_held``)."""

    def __init__(
        self,
        organisation: Organisation,
        file: str,
        result: ImportResult,
        as_of: dt.date,
        progress: Progress,
        dry_run: bool,
        *,
        held: Held | None = None,
    ):
        super().__init__(organisation, file, result, as_of, progress, dry_run)
        self.held = held
        self.held_rows = LedgerBatch(file, "", "")  # the records of the held keys' rows
        self.repeated: Held | None = None  # found in two chunks: only collecting keys since
        if held is not None:
            self.dry_run = True  # refused: the batch path's stand-in ids, nothing written
        self.numbers: dict[str, int | None] = {}  # every invoice number -> its last row
        self.first_rows: dict[str, int | None] = {}  # of the numbers seen twice
        self.twice_rows: dict[str, list[int | None]] = defaultdict(list)  # their rows
        self.references: dict[str, int | None] = {}  # every payment reference -> its row
        self.written: dict[str, dict[str, Any]] = {}  # customer -> the values inserted
        self.contacts: dict[tuple[str, str], ContactRecord] = {}
        self.derived: dict[int, set[int]] = defaultdict(set)  # customer -> terms used
        self.disputed: dict[int, bool] = {}  # invoice id -> the file's flag
        self.created: list[str] = []  # the first invoice numbers, for the sample of changes
        self.existing_invoices: dict[str, dict[str, Any]] = {}
        self.kept_dates: dict[str, dt.date] = {}
        self.obsolete_payment_ids: set[int] = set()

    def failing(self) -> bool:
        return bool(self.batch.problems) or super().failing()

    # -- one chunk ----------------------------------------------------------------------

    def take(self, chunk: LedgerBatch) -> None:
        self.batch = chunk
        if self.repeated is not None:
            self.collect_keys()
            return
        self.sample(chunk)
        self.progress("checking", 0, 0)
        self.check_chunk()
        if self.repeated is not None:
            return
        new = list(itertools.islice(chunk.customers.values(), len(self.written), None))
        create = [self.new_customer(record) for record in new]
        self.refuse_if_failing()
        self.progress("customers", len(self.written), len(chunk.customers))
        self.write_customers(create)
        if self.held is not None:
            self.hold_back()
        self.progress("invoices", len(self.numbers), len(self.numbers))
        self.stream_invoices()
        self.progress("payments", 0, len(chunk.payments))
        self.stream_payments()
        self.stream_allocations()
        for rec in chunk.contacts:  # one contact per customer and name, the last row's
            self.contacts[(rec.customer, rec.name)] = rec

    def check_chunk(self) -> None:
        """The whole file's checks of check_batch, on this chunk against the others'."""
        chunk, label = self.batch, self.batch.label
        if not (
            self.numbers.keys().isdisjoint(map(_NUMBER, chunk.invoices))
            and self.references.keys().isdisjoint(map(_REFERENCE, chunk.payments))
        ):
            if self.held is None:  # a key of an earlier chunk: the rest's keys collected
                self.repeated = Held()
                self.collect_keys()
                return
            if not (
                self.numbers.keys() & set(map(_NUMBER, chunk.invoices)) <= self.held.numbers
                and self.references.keys() & set(map(_REFERENCE, chunk.payments))
                <= self.held.references
            ):
                raise Unstreamable  # not the keys the first reading found (never seen)
        twice = len(self.first_rows)
        numbers = rows_twice(
            chunk.invoices, _NUMBER, self.numbers, self.stages["numbers"],
            label("invoice.number"), messages.number_twice, first=self.first_rows,
        )  # fmt: skip
        if len(self.first_rows) > twice:
            self.note_twice()
        self.spellings.see(numbers)  # what may_look_alike asks, of every chunk's numbers
        rows_twice(
            chunk.payments, _REFERENCE, self.references, self.stages["references"],
            label("payment.reference"), messages.reference_twice,
        )  # fmt: skip
        for kind in RECORD_KINDS:
            for row, target, message in check_records(kind, getattr(chunk, kind)):
                self.stages[f"limits.{target}"].add(row, label(target), message)

    def note_twice(self) -> None:
        """Every row of the numbers twice in this chunk alone, as check_lookalike_numbers
        reads them (a held number's rows are held)."""
        held = self.held.numbers if self.held is not None else set()
        new = self.first_rows.keys() - self.twice_rows.keys() - held
        for rec in self.batch.invoices:
            if rec.number in new:
                self.twice_rows[rec.number].append(rec.row)

    def collect_keys(self) -> None:
        """The keys of this chunk read in an earlier one too (``Repeated`` at the end)."""
        assert self.repeated is not None
        numbers = list(map(_NUMBER, self.batch.invoices))
        references = list(map(_REFERENCE, self.batch.payments))
        self.repeated.numbers.update(n for n in numbers if n in self.numbers)
        self.repeated.references.update(r for r in references if r in self.references)
        self.numbers.update(dict.fromkeys(numbers))
        self.references.update(dict.fromkeys(references))

    def hold_back(self) -> None:
        """This chunk's rows of the held keys kept for the end (``apply_held``), out of it."""
        assert self.held is not None
        chunk, numbers, references = self.batch, self.held.numbers, self.held.references
        rows = {rec.row for rec in chunk.invoices if rec.number in numbers}
        rows.update(rec.row for rec in chunk.payments if rec.reference in references)
        if not rows:
            return
        for kind in ("invoices", "payments", "allocations"):
            records: list[Any] = getattr(chunk, kind)
            getattr(self.held_rows, kind).extend(rec for rec in records if rec.row in rows)
            setattr(chunk, kind, [rec for rec in records if rec.row not in rows])

    def apply_held(self, batch: LedgerBatch) -> None:
        """The held rows applied together (a dry run) as apply_batch meets them, with the
        batch's labels; their problems put in row order among the chunks', as apply_batch
        finds them (the first LIMIT of each stage)."""
        held = self.held_rows
        batch.invoices, batch.payments, batch.allocations = (
            held.invoices, held.payments, held.allocations
        )  # fmt: skip
        self.batch = batch
        chunks = {name: self.stages[name] for name in _HELD_STAGES}
        self.stages.update((name, Problems(batch.file)) for name in _HELD_STAGES)
        self.stream_invoices()
        self.stream_payments()
        self.stream_allocations()
        for name, problems in chunks.items():
            found = [*problems.items, *self.stages[name].items]
            problems.items = sorted(found, key=row_or_0)[: Problems.LIMIT]
            self.stages[name] = problems
        batch.invoices, batch.payments, batch.allocations = [], [], []

    def allocation_excesses(
        self, totals: dict[tuple[int, int], Decimal]
    ) -> Iterator[tuple[tuple[int, int], int | None, str, str]]:
        """With held rows (every id a stand-in), each excess in apply_batch's order by its
        row: the stand-in ids it sorts by go down the file's rows (a key's last row's)."""
        for order, row, target, message in super().allocation_excesses(totals):
            if self.held is not None:
                order = (order[0], -(row or 0))
            yield order, row, target, message

    def new_customer(self, record: CustomerRecord) -> dict[str, Any]:
        """The row of a customer first seen in this chunk, as the file has said of it so
        far; only its reference when a value is wrong for now (``finish`` checks the file's
        last word on it, and writes it)."""
        wrong = list(check_customer_fields(record.fields))  # normalises what is right
        if not wrong and not any(check_customers([record])):
            return self.customer_row(record)
        self.doomed = self.doomed or len(record.reference) > REFERENCE_LENGTH
        return placeholder_customer(self.org, record.reference, self.batch.source)

    def write_customers(self, create: list[dict[str, Any]]) -> None:
        """The customers first seen in this chunk (``finish`` brings them to the file's
        last word)."""
        for values in create:
            self.written[values["reference"]] = values
        self.create_customers(create)

    def customer_row(self, record: CustomerRecord) -> dict[str, Any]:
        return self.new_customer_row(record.reference, record.fields)

    def stream_invoices(self) -> None:
        chunk = self.batch
        self.invoice_ids = {}
        self.stage("invoices")
        paid = self.paid_by_new_allocations()
        org_id, source = self.org.pk, chunk.source
        rows = []
        for rec in chunk.invoices:
            values = self.invoice_row(rec)
            if values[_DERIVED]:
                customer_id = values[_CUSTOMER]
                self.derived[customer_id].add(self.customer_terms[customer_id])
            allocated, last = paid.get(rec.number, (Decimal(0), None))
            balance = rec.amount - allocated if allocated else rec.amount
            rows.append((org_id, rec.number, balance, last if balance <= 0 else None,
                         source, rec.fingerprint, *values))  # fmt: skip
            if len(self.created) < ImportResult.SAMPLE:
                self.created.append(rec.number)
        self.result.counts["invoices_created"] += len(rows)
        before = self.write_invoices(rows) if rows else None
        if before is not None:
            self.invoices_before = min(self.invoices_before, before)
            self.invoice_ids.update(self.written_since(Invoice, "number", before))
        for rec in chunk.invoices:
            if rec.disputed is not None:
                self.disputed[self.invoice_ids[rec.number]] = rec.disputed

    def stream_payments(self) -> None:
        chunk = self.batch
        self.payment_ids, self.payment_amounts = {}, {}
        problems = self.stage("payments")
        org_id, source = self.org.pk, chunk.source
        rows = []
        for rec in chunk.payments:
            customer_id = self.customer_ids.get(rec.customer)
            if customer_id is None:
                continue
            self.payment_amounts[rec.reference] = rec.amount
            if rec.amount <= 0:
                problems.add(rec.row, "payment.amount", messages.not_positive(rec.amount))
                continue
            rows.append((org_id, rec.reference, source, customer_id, rec.kind, rec.date,
                         rec.currency, rec.amount, rec.method, rec.memo))  # fmt: skip
        self.result.counts["payments_created"] += len(rows)
        before = self.write_payments(rows) if rows else None
        if before is not None:
            self.payment_ids.update(self.written_since(Payment, "reference", before))

    def stream_allocations(self) -> None:
        chunk = self.batch
        self.stage("allocations")
        invoice_currency = {rec.number: rec.currency for rec in chunk.invoices}
        payment_currency = {p.reference: p.currency for p in chunk.payments}
        totals: dict[tuple[int, int], Decimal] = {}
        rows = []
        org_id = self.org.pk
        for rec in chunk.allocations:
            key = self.allocation_key(rec, payment_currency, invoice_currency)
            if key is None:
                continue
            totals[key] = rec.amount
            rows.append((org_id, *key, rec.amount, rec.date))
        self.result.counts["allocations_created"] += len(rows)
        self.stage("totals")
        self.check_allocation_totals(totals)
        if rows and not self.dry_run:
            bulk.create_tuples(Allocation, NEW_ALLOCATION, rows)

    # -- the whole file -----------------------------------------------------------------

    def finish(self, batch: LedgerBatch) -> None:
        """The whole file's checks and writes, once every chunk is in; raise ImportFailed
        with every problem found (Repeated, after a first reading that found keys in two
        chunks)."""
        if self.repeated is not None:
            self.numbers, self.references = {}, {}  # not held through the second reading
            raise Repeated(self.repeated)
        if self.held is not None:
            self.apply_held(batch)
        self.note_reading(batch)
        self.check_lookalikes()
        for record in batch.customers.values():
            if self.customer_row(record) == self.written[record.reference]:
                # As its chunk wrote it: checked then (or holding no value to check), and
                # the identifiers' check digits were most of a first import's customer work.
                continue
            for name, message in check_customer_fields(record.fields):
                self.stages["customers"].add(record.row, batch.label(f"customer.{name}"), message)
        for row, target, message in check_customers(batch.customers.values()):
            self.stages["limits.customers"].add(row, batch.label(target), message)
        self.stage("unpadded")
        self.unpadded_references({})
        self.refuse_if_failing()
        for ref in sorted(batch.customers):
            self.result.note("customers", ref, "created")
        self.finish_customers()
        batch.contacts = list(self.contacts.values())
        self.apply_contacts()
        self.result.changes += [
            {"what": "invoices", "key": number, "action": "created"} for number in self.created
        ]
        if self.held is not None and not self.failing():
            raise Unstreamable  # never: a key twice is a problem
        if self.nothing_to_write():
            return
        self.write_end(self.disputed)

    def check_lookalikes(self) -> None:
        """check_lookalike_numbers on the numbers of every chunk (each row of a number
        twice)."""
        if not self.spellings.may_look_alike():
            return
        problems, twice = self.stages["lookalikes"], self.twice_rows
        held = self.held.numbers if self.held is not None else set()
        # In the order of their first rows; a number twice, at each of its rows.
        numbers = [(n, row) for n, row in self.numbers.items() if n not in twice and n not in held]
        if twice or held:
            numbers += ((n, row) for n, rows in twice.items() for row in rows)
            numbers += ((rec.number, rec.row) for rec in self.held_rows.invoices)
            numbers.sort(key=lambda pair: pair[1] or 0)
        note_lookalikes(numbers, self.batch.label("invoice.number"), problems)

    def finish_customers(self) -> None:
        """Customers as the file's last row of each says (the chunks wrote the first), their
        billing addresses, and the due dates derived from terms a later row changed."""
        if self.dry_run:
            return
        update: list[tuple[Any, ...]] = []  # customer_update's tuples
        fields: set[str] = set()
        addresses: dict[str, dict[str, Any]] = {}
        for ref in sorted(self.batch.customers):
            record = self.batch.customers[ref]
            if "address" in record.fields:
                addresses[ref] = record.fields["address"]
            values, old = self.customer_row(record), self.written[ref]
            if values != old:
                changed = {k for k in values.keys() | old.keys() if values.get(k) != old.get(k)}
                update.append(customer_update(self.customer_ids[ref], values, customer_defaults()))
                fields.update(changed)
                terms = values.get("payment_terms_days", 30)
                self.customer_terms[self.customer_ids[ref]] = terms
        _write_changed(Customer, CUSTOMER_FIELDS, update, fields)
        self.apply_addresses(addresses)
        redated = []
        for customer_id, used in self.derived.items():
            terms = self.customer_terms[customer_id]
            if used == {terms}:
                continue
            derived = Invoice.objects.filter(
                organisation=self.org, customer_id=customer_id, due_date_derived=True
            ).values_list("pk", "issue_date")
            redated += [(issued + dt.timedelta(days=terms), pk) for pk, issued in derived]
        _write_changed(Invoice, ("due_date",), redated, {"due_date"})
