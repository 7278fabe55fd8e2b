"""Write a LedgerBatch to the database: compare it with what the organisation already has,
then create and update only the difference, in one transaction.

Re-importing the same file changes nothing: customers, contacts, invoices, payments and
allocations are matched by their natural keys (customer reference, contact name, invoice
number, payment reference, payment and invoice). A dry run computes the same plan and
writes nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import operator
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, cached_property
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from stdnum import iso11649

from relance.accounts.identity import customers_by_reference, references_in
from relance.accounts.models import Organisation
from relance.audit import trail
from relance.ledger import balances, timeline
from relance.ledger.imports import messages
from relance.ledger.imports.limits import check_limits
from relance.ledger.imports.records import (
    AllocationRecord,
    ImportFailed,
    InvoiceRecord,
    LedgerBatch,
    PaymentRecord,
    Problem,
    Problems,
)
from relance.ledger.models import (
    Address,
    AddressKind,
    Allocation,
    Contact,
    Customer,
    Dispute,
    ImportRun,
    Invoice,
    Payment,
    PaymentKind,
)
from relance.ledger.timeline import Text
from relance.ledger.validation import check_customer_fields
from relance.lib import bulk

Progress = Callable[[str, int, int], None]
BATCH = 2000
# Beyond this many keys, loading all of the organisation's rows of a kind costs less than
# looking the keys up, LOOKUP at a time (an IN list each).
FULL_LOAD = 100_000
LOOKUP = 5000
CLEARED = "no longer disputed in "  # the resolution of a dispute a file cleared
_CENT = Decimal("0.01")

CUSTOMER_FIELDS = (
    "legal_name", "trade_name", "siren", "siret", "vat_number", "email", "phone", "language",
    "country", "currency", "payment_terms_days", "credit_limit", "risk_class",
    "customer_since", "notes",
)  # fmt: skip
INVOICE_FIELDS = (
    "customer_id", "kind", "issue_date", "due_date", "due_date_derived", "currency", "amount",
    "amount_excl_tax", "tax_amount", "po_reference",
)  # fmt: skip
PAYMENT_FIELDS = ("customer_id", "kind", "date", "currency", "amount", "method", "memo")
# The columns of the rows an import creates, held as tuples until their insert.
NEW_INVOICE = ("organisation_id", "number", "balance", "settled_on", "source",
               "import_fingerprint", *INVOICE_FIELDS)  # fmt: skip
_NEW_INVOICE_CUSTOMER = NEW_INVOICE.index("customer_id")
_DERIVED = INVOICE_FIELDS.index("due_date_derived")
# The fields an invoice's update may write, in the order of its tuple (then its id).
_INVOICE_UPDATE = (*INVOICE_FIELDS, "import_fingerprint")
NEW_PAYMENT = ("organisation_id", "reference", "source", *PAYMENT_FIELDS)
_NEW_PAYMENT_CUSTOMER = NEW_PAYMENT.index("customer_id")
_PAYMENT_VALUES = operator.itemgetter(*PAYMENT_FIELDS)
NEW_ALLOCATION = ("organisation_id", "payment_id", "invoice_id", "amount", "date")
CONTACT_FIELDS = ("email", "phone", "role", "preferred_channel", "is_primary")
_CONTACT_VALUES = operator.itemgetter(*CONTACT_FIELDS)
# The fields of a billing address an import writes (a file may give some of them).
ADDRESS_FIELDS = ("line1", "line2", "postcode", "city", "country")


@dataclass
class ImportResult:
    file: str
    format: str
    dry_run: bool
    rows: int
    counts: Counter[str] = field(default_factory=Counter)
    # A readable sample of what changed (or would change), for the dry run and the console.
    changes: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    # What the file held but the import left out, for the user to look at.
    warnings: list[Problem] = field(default_factory=list)
    # The first records of the file as Relance reads them (the console's preview shows them
    # beside the file's own rows); not part of as_dict.
    sample: list[dict[str, Any]] = field(default_factory=list)
    # E-invoices: one report per file read (relance.ledger.imports.einvoices).
    files: list[dict[str, Any]] = field(default_factory=list)

    SAMPLE = 200

    def note(self, what: str, key: str, action: str, diff: dict[str, Any] | None = None) -> None:
        self.counts[f"{what}_{action}"] += 1
        if len(self.changes) < self.SAMPLE:
            change: dict[str, Any] = {"what": what, "key": key, "action": action}
            if diff:
                change["changes"] = {k: [str(a), str(b)] for k, (a, b) in diff.items()}
            self.changes.append(change)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "counts": dict(sorted(self.counts.items())),
            "changes": self.changes,
            "run_id": self.run_id,
            "warnings": [vars(warning) for warning in self.warnings],
            **({"files": self.files} if self.files else {}),
        }


def apply_batch(
    organisation: Organisation,
    batch: LedgerBatch,
    *,
    dry_run: bool = False,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    user_id: int | None = None,
) -> ImportResult:
    """Bring the organisation's ledger in line with the batch; raise ImportFailed (and write
    nothing but a failed ImportRun record) when the batch cannot be applied whole.

    Every problem is reported in one pass: the bad values found while reading, then what
    the batch and the ledger say about the rest (a batch with problems is checked as in a
    dry run, writing nothing)."""
    as_of = as_of or timezone.localdate()
    started = timezone.now()
    result = ImportResult(batch.file, batch.format, dry_run, batch.rows_read)
    result.warnings = list(batch.warnings)
    result.sample = read_sample(batch)
    applier = _Applier(organisation, batch, result, as_of, progress or _silent)
    logged(organisation, result, started, user_id, apply=lambda: applier.run(dry_run),
           batch=lambda: batch)  # fmt: skip
    return result


def logged(
    organisation: Organisation,
    result: ImportResult,
    started: dt.datetime,
    user_id: int | None,
    *,
    apply: Callable[[], None],
    batch: Callable[[], LedgerBatch],
) -> None:
    """Run ``apply`` in one transaction and keep the import log's record of ``batch()``:
    done with the work, or failed after the work's rollback (a dry run keeps none)."""
    try:
        with transaction.atomic():
            apply()
            if not result.dry_run:
                result.run_id = _record_run(
                    organisation, batch(), result, started, ImportRun.Status.DONE, "", user_id
                ).pk
    except ImportFailed as failure:
        if not result.dry_run:
            _record_run(
                organisation, batch(), result, started, ImportRun.Status.FAILED, str(failure),
                user_id,
            )  # fmt: skip
        raise


def record_refusal(
    organisation: Organisation,
    batch: LedgerBatch,
    failure: ImportFailed,
    started: dt.datetime,
    user_id: int | None = None,
) -> ImportRun:
    """The import log's record of a file refused before it reached the ledger."""
    result = ImportResult(batch.file, batch.format, False, batch.rows_read)
    return _record_run(
        organisation, batch, result, started, ImportRun.Status.FAILED, str(failure), user_id
    )


def record_run(
    organisation: Organisation,
    batch: LedgerBatch,
    result: ImportResult,
    started: dt.datetime,
    user_id: int | None = None,
) -> ImportRun:
    """The import log's record of an import done by another path than ``apply_batch``
    (life-cycle statuses), with its audit event."""
    return _record_run(organisation, batch, result, started, ImportRun.Status.DONE, "", user_id)


def known_fingerprints(organisation: Organisation) -> dict[int, str]:
    """Fingerprint -> number of the invoices whose file row a re-import may skip
    (``mapping.read_rows``): those imported from a row, with the due date the row gave (a
    derived one follows the customer's terms, which another row may change)."""
    known: dict[int, str] = {}
    with connection.cursor() as cursor:  # a million rows: the driver's tuples, no ORM rows
        cursor.execute(
            f"SELECT import_fingerprint, number FROM {Invoice._meta.db_table} WHERE "
            "organisation_id = %s AND import_fingerprint IS NOT NULL AND NOT due_date_derived",
            [organisation.pk],
        )
        # In parts: fetchall's million tuples at once were 57 MB more at the peak.
        while rows := cursor.fetchmany(50_000):
            known.update(rows)
    return known


def invoice_numbers(organisation_id: int) -> list[str]:
    """The organisation's invoice numbers, in no order. SQLite joins them in C and Python
    splits them (a million rows as tuples took twice the time), unless a number holds the
    separator itself."""
    table = Invoice._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"SELECT group_concat(number, char(0)), count(*) FROM {table}"
                " WHERE organisation_id = %s",
                [organisation_id],
            )
            text, count = cursor.fetchone()
            numbers = text.split("\x00") if text is not None else []
            if len(numbers) == count:
                return numbers
        cursor.execute(f"SELECT number FROM {table} WHERE organisation_id = %s", [organisation_id])
        return [number for (number,) in cursor.fetchall()]


def lookalikes_in_ledger(organisation_id: int, numbers: list[str]) -> dict[str, str]:
    """invoice_key -> a number of the ledger with that key, for the keys of ``numbers`` (new
    numbers, none in the ledger) that a number of the ledger has: read by key, not by
    reading every number. A number of printable ASCII without spaces has its lowercase as
    key: it is one of the key's spellings in case, looked up by the index of numbers; any
    other is in the partial index of odd numbers (``number__odd``). A key of many letters
    (more spellings than SPELLINGS) has every number of the ledger read instead."""
    keys = {invoice_key(number) for number in numbers}
    spellings: list[str] = []
    for key in keys:
        if not (key.isascii() and key.isprintable()):
            continue  # no plain number has this key: the odd ones are read below
        pieces = _LETTER.split(key)  # "fa-1" -> "", "f", "", "a", "-1"
        if 2 ** (len(pieces) // 2) > SPELLINGS:
            return _lookalikes_read_whole(organisation_id, numbers, keys)
        spellings += map("".join, itertools.product(*((p, p.upper()) if i % 2 else (p,)
                                                      for i, p in enumerate(pieces))))  # fmt: skip
    found: dict[str, str] = {}
    odd = Invoice.objects.filter(organisation_id=organisation_id, number__odd=True).order_by()
    for number in odd.values_list("number", flat=True).iterator():
        if (key := invoice_key(number)) in keys:
            found.setdefault(key, number)
    table = Invoice._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(spellings), LOOKUP):
            spelt, params = bulk.among("number", spellings[start : start + LOOKUP])
            cursor.execute(
                f"SELECT number FROM {table} WHERE organisation_id = %s AND {spelt}",
                [organisation_id, *params],
            )
            for (number,) in cursor.fetchall():
                found.setdefault(invoice_key(number), number)
    return found


def _lookalikes_read_whole(
    organisation_id: int, numbers: list[str], keys: set[str]
) -> dict[str, str]:
    ledger_numbers = invoice_numbers(organisation_id)
    if not ledger_numbers or not may_look_alike([*ledger_numbers, *numbers]):
        return {}
    return {key: number for number in ledger_numbers if (key := invoice_key(number)) in keys}


def created_keys(
    model: Any, key: str, organisation_id: int, before: int
) -> Iterator[tuple[str, int]]:
    """(key, id) of the organisation's rows of ``model`` above id ``before`` (those an
    import just created), read by id alone: given the organisation too, SQLite walked the
    organisation's index (a million rows) rather than the few new ids. Rows of another
    organisation (PostgreSQL's imports run side by side) are left out here."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {key}, id, organisation_id FROM {model._meta.db_table} WHERE id > %s",
            [before],
        )
        while rows := cursor.fetchmany(50_000):
            yield from ((k, pk) for k, pk, org in rows if org == organisation_id)


SAMPLE_RECORDS = 10  # the records of each kind a result's sample shows (read_sample)


def read_sample(batch: LedgerBatch, size: int = SAMPLE_RECORDS) -> list[dict[str, Any]]:
    """The first records of the batch in file order, as text: what each row was read as."""
    records: list[dict[str, Any]] = [
        {"row": r.row, "what": r.kind, "key": r.number, "customer": r.customer,
         "date": r.issue_date, "due_date": r.due_date, "amount": r.amount,
         "currency": r.currency}
        for r in batch.invoices[:size]
    ]  # fmt: skip
    records += [
        {"row": p.row, "what": p.kind, "key": p.reference, "customer": p.customer,
         "date": p.date, "due_date": None, "amount": p.amount, "currency": p.currency}
        for p in batch.payments[:size]
    ]  # fmt: skip
    if not records:
        records = [
            {"row": c.row, "what": "customer", "key": c.reference, "customer": c.reference,
             "date": None, "due_date": None, "amount": None, "currency": ""}
            for c in list(batch.customers.values())[:size]
        ]  # fmt: skip
    records.sort(key=lambda r: r["row"] or 0)
    return [
        {k: "" if v is None else v if isinstance(v, int) else str(v) for k, v in r.items()}
        for r in records[:size]
    ]


def _silent(stage: str, done: int, total: int) -> None:
    pass


def log_run(
    organisation: Organisation, *, file: str, format: str, sha256: str, status: str,
    counts: dict[str, int], error: str, started: dt.datetime, user_id: int | None,
) -> ImportRun:  # fmt: skip
    """The import log's record of one import, applied or refused, whatever its kind (ledger
    files here, bank statements in relance.bank.services); the audit event is the caller's."""
    return ImportRun.objects.create(
        organisation=organisation, file_name=file, format=format, sha256=sha256,
        status=status, counts=counts, error=error[:20000], started_at=started,
        finished_at=timezone.now(), user_id=user_id,
    )  # fmt: skip


def _record_run(
    organisation: Organisation,
    batch: LedgerBatch,
    result: ImportResult,
    started: dt.datetime,
    status: str,
    error: str,
    user_id: int | None,
) -> ImportRun:
    run = log_run(
        organisation, file=batch.file, format=batch.format, sha256=batch.sha256,
        status=status, counts=dict(result.counts), error=error, started=started,
        user_id=user_id,
    )  # fmt: skip
    # One event per import (applied or refused), never per row.
    done = status == ImportRun.Status.DONE
    counts = dict(sorted(result.counts.items()))
    said = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
    if not done:
        summary = Text(
            gettext_noop("%(file)s: %(error)s"), {"file": batch.file, "error": error[:300]}
        )
    elif said:  # the counts by their codes, as the trail's data has them
        summary = Text(gettext_noop("%(file)s: %(counts)s"), {"file": batch.file, "counts": said})
    else:
        summary = Text(gettext_noop("%(file)s: nothing changed"), {"file": batch.file})
    trail.record(organisation, "import.applied" if done else "import.refused", user_id=user_id,
                 target=run,
                 summary=summary,
                 data={"file": batch.file, "format": batch.format, "sha256": batch.sha256,
                       "rows": batch.rows_read, "counts": counts,
                       **({} if done else {"error": error[:2000]})})  # fmt: skip
    return run


def _changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (old[k], v) for k, v in new.items() if old.get(k) != v}


class _Applier:
    """One application of a batch. Each step loads what it compares against in one query."""

    def __init__(
        self,
        organisation: Organisation,
        batch: LedgerBatch,
        result: ImportResult,
        as_of: dt.date,
        progress: Progress,
    ):
        self.org = organisation
        self.batch = batch
        self.result = result
        self.as_of = as_of
        self.progress = progress
        self.problems = Problems(batch.file)
        self.problems.items = list(batch.problems[: Problems.LIMIT])
        self.customer_ids: dict[str, int] = {}
        self.customer_terms: dict[int, int] = {}
        self.invoice_ids: dict[str, int] = {}
        self.payment_ids: dict[str, int] = {}
        self.touched_invoices: set[int] = set()
        self.moved_invoices: list[dict[str, Any]] = []  # to another customer
        self.touched_customers: Counter[int] = Counter()
        self.dry_run = False
        self._next_fake_id = -1
        # Invoices this import creates have ids above it (or a dry run's negative ones).
        self.invoices_before = sys.maxsize

    def fake_id(self) -> int:
        """Stand-in primary keys for rows a dry run does not create."""
        self._next_fake_id -= 1
        return self._next_fake_id

    def run(self, dry_run: bool) -> None:
        rows = self.batch.rows_read
        self.progress("checking", 0, rows)
        self.check_batch()
        # With problems already, go on as a dry run: find the rest, write nothing.
        self.dry_run = dry_run = dry_run or bool(self.problems)
        self.progress("customers", 0, len(self.batch.customers))
        self.apply_customers()
        self.apply_contacts()
        self.apply_invoices()
        self.progress("payments", 0, len(self.batch.payments))
        self.apply_payments()
        self.apply_allocations()
        if self.batch.snapshot:
            self.settle_missing()
        self.problems.raise_if_any()
        if dry_run:
            return
        self.write_end(self.disputes_flagged(), {old["customer_id"] for old in self.moved_invoices})

    def write_end(self, disputed: dict[int, bool], moved_from: Iterable[int] = ()) -> None:
        """What an import writes last: the balances (customer balances follow every customer
        whose invoices came, changed or moved: ``moved_from``), the disputes the file flags
        (``disputed``: ``open_disputes``), the timeline."""
        self.progress("balances", 0, len(self.touched_invoices))
        balances.refresh(self.org.pk, self.touched_invoices, {*self.touched_customers, *moved_from})
        if disputed:
            self.open_disputes(disputed)
        self.write_timeline()

    # -- checks on the batch alone ------------------------------------------------------

    def check_batch(self) -> None:
        label = self.batch.label
        numbers: dict[str, int | None] = dict(self.batch.unchanged.as_dict())
        rows_twice(
            self.batch.invoices, _NUMBER, numbers, self.problems, label("invoice.number"),
            messages.number_twice, remember=False,
        )  # fmt: skip
        del numbers
        self.check_lookalike_numbers()
        rows_twice(
            self.batch.payments, _REFERENCE, {}, self.problems, label("payment.reference"),
            messages.reference_twice, remember=False,
        )  # fmt: skip
        ledger = self.ledger_customers
        for ref, record in self.batch.customers.items():
            stored = ledger.get(ref)
            if stored is not None and stored.items() >= record.fields.items():
                continue  # every value as the ledger holds it: checked when it was stored
            for name, message in check_customer_fields(record.fields, stored):
                self.problems.add(record.row, label(f"customer.{name}"), message)
        for row, target, message in check_limits(self.batch):
            self.problems.add(row, label(target), message)

    def check_lookalike_numbers(self) -> None:
        """Two numbers that differ only by case or spaces (``FA-001``, ``fa-001``, ``FA 001``)
        are refused: counted as two invoices they would count the debt twice, and merged
        they might be two invoices of a careless numbering. The user decides."""
        if not may_look_alike([*map(_NUMBER, self.batch.invoices), *self.batch.unchanged]):
            return
        numbers = [(inv.number, inv.row) for inv in self.batch.invoices]
        numbers += self.batch.unchanged.items()
        numbers.sort(key=lambda pair: pair[1] or 0)
        note_lookalikes(numbers, self.batch.label("invoice.number"), self.problems)

    def existing(
        self, model: Any, key: str, keys: Iterable[Any], fields: Iterable[str]
    ) -> Iterator[dict[str, Any]]:
        """The organisation's rows of ``model`` whose ``key`` is one of ``keys`` (and maybe
        others: all of them, when there are many keys), as dicts of ``fields``. A batch
        is compared with the rows it names, not with the whole ledger.

        Unordered (the model's ordering made SQLite read the rows by the index it sorts by:
        every payment of the organisation for each LOOKUP of references); keys that are the
        organisation's own row ids are looked up alone, since SQLite, given the organisation
        too, walks the organisation's index rather than the key's."""
        wanted = sorted(k for k in set(keys) if not isinstance(k, int) or k > 0)  # no fake ids
        # A first import looks for nothing: building IN lists of its keys cost more than
        # writing its rows.
        if not wanted or not model.objects.filter(organisation=self.org).exists():
            return
        names = list(fields)
        # Read by the driver (bulk.select): the ORM's dict per row cost more than the query.
        if len(wanted) > FULL_LOAD:
            for row in bulk.select(model, names, "organisation_id = %s", [self.org.pk]):
                yield dict(zip(names, row, strict=True))
            return
        column = model._meta.get_field(key).column
        by_id = key.endswith("_id")  # the organisation checked on each row read, not in SQL
        selected = [*names, "organisation_id"] if by_id else names
        for start in range(0, len(wanted), LOOKUP):
            where, params = bulk.among(column, wanted[start : start + LOOKUP])
            if not by_id:
                where, params = f"organisation_id = %s AND {where}", [self.org.pk, *params]
            for row in bulk.select(model, selected, where, params):
                if not by_id or row[-1] == self.org.pk:
                    yield dict(zip(names, row[: len(names)], strict=True))

    # -- customers ----------------------------------------------------------------------

    @cached_property
    def ledger_customers(self) -> dict[str, dict[str, Any]]:
        """The organisation's customers by reference, as dicts of their id, payment terms
        and the CUSTOMER_FIELDS the batch's customers give: what the checks and the
        comparison read (a re-import names every customer, and every column of each,
        dates and amounts converted, was most of its checks)."""
        given = set().union(*map(_FIELDS, self.batch.customers.values()))
        return stored_customers(self.org.pk, given)

    def apply_customers(self) -> None:
        # The last reader: the dicts go with this function (100,000 customers: 100 MB).
        existing = self.__dict__.pop("ledger_customers", None) or self.ledger_customers
        create: list[dict[str, Any]] = []
        update: list[tuple[Any, ...]] = []  # customer_update's tuples
        update_fields: set[str] = set()
        addresses: dict[str, dict[str, Any]] = {}
        aliases = self.unpadded_references(existing)
        self.attach_by_reference(existing, aliases)
        for ref in sorted(self.batch.customers):
            record = self.batch.customers[ref]
            old = existing.get(ref)
            if old is not None and old.items() >= record.fields.items():
                # As the ledger holds it (compared in C; an address is never held here): a
                # re-import names every customer, nearly all of them unchanged.
                self.customer_ids[ref] = old["id"]
                self.customer_terms[old["id"]] = old["payment_terms_days"]
                continue
            values = {k: v for k, v in record.fields.items() if k in CUSTOMER_FIELDS}
            if "address" in record.fields:
                addresses[ref] = record.fields["address"]
            old = existing.get(aliases.get(ref, ref))
            if ref in aliases:
                self.result.note("customers", ref, "matched", {"reference": (ref, aliases[ref])})
            if old is None:
                create.append(self.new_customer_row(ref, record.fields))
                self.result.note("customers", ref, "created")
                continue
            self.customer_ids[ref] = old["id"]
            self.customer_terms[old["id"]] = values.get(
                "payment_terms_days", old["payment_terms_days"]
            )
            self.compare_customer(ref, old, values, update, update_fields)
        for ref, old in existing.items():
            self.customer_ids.setdefault(ref, old["id"])
            self.customer_terms.setdefault(old["id"], old["payment_terms_days"])
        self.create_customers(create)
        if self.dry_run:
            return
        _write_changed(Customer, CUSTOMER_FIELDS, update, update_fields)
        self.apply_addresses(addresses)

    def new_customer_row(self, ref: str, fields: dict[str, Any]) -> dict[str, Any]:
        """The row of a customer created with the file's ``fields``: its name is its
        reference and its currency the organisation's unless the file says otherwise."""
        values = {k: v for k, v in fields.items() if k in CUSTOMER_FIELDS}
        values.setdefault("legal_name", ref)
        values.setdefault("currency", self.org.currency)
        return {"organisation_id": self.org.pk, "reference": ref, "source": self.batch.source,
                **values}  # fmt: skip

    def create_customers(self, create: list[dict[str, Any]]) -> None:
        """Insert these rows of new customers (stand-in ids in a dry run) and note their ids
        and payment terms."""
        default = customer_defaults()["payment_terms_days"]
        terms: dict[str, int] = {row["reference"]: row.get("payment_terms_days", default)
                                 for row in create}  # fmt: skip
        if self.dry_run:
            ids: Iterable[tuple[str, int]] = ((ref, self.fake_id()) for ref in terms)
        elif create:
            ids = self.written_since(Customer, "reference", bulk.create(Customer, create))
        else:
            return
        for ref, pk in ids:
            self.customer_ids[ref] = pk
            self.customer_terms[pk] = terms[ref]

    def written_since(self, model: Any, key: str, before: int) -> Iterator[tuple[str, int]]:
        """The key and id of the organisation's rows of ``model`` written since ``before``
        (their first id), found by id alone: the organisation's index would read all its
        rows again at each chunk (SQLite chose it)."""
        rows = model.objects.filter(pk__gt=before).values_list(key, "pk", "organisation_id")
        org_id = self.org.pk
        return ((k, pk) for k, pk, org in rows.iterator(chunk_size=50000) if org == org_id)

    def compare_customer(
        self,
        ref: str,
        old: dict[str, Any],
        values: dict[str, Any],
        update: list[tuple[Any, ...]],
        fields: set[str],
    ) -> None:
        """A ledger's customer the file says otherwise of: noted, its row added to
        ``update`` (customer_update's) and the fields that changed to ``fields``."""
        diff = _changed(old, values)
        if diff:
            update.append(customer_update(old["id"], values, old))
            fields.update(diff)
            self.result.note("customers", ref, "updated", diff)

    def attach_by_reference(self, existing: dict[str, Any], aliases: dict[str, str]) -> None:
        """Payments (transfers, not credit notes) of no customer, or of a customer neither
        in the ledger nor named by an invoice or contact of the file, that quote a
        customer's RF reference (ISO 11649) in their reference or memo are that customer's
        (``identity.customers_by_reference``, one query for the file). A valid RF reference
        nobody has is a problem of its row; the customer a file names otherwise stays."""
        named = {inv.customer for inv in self.batch.invoices}
        named.update(contact.customer for contact in self.batch.contacts)
        pending: list[tuple[PaymentRecord, list[tuple[str, str]]]] = []
        for rec in self.batch.payments:
            if rec.customer and (rec.customer in existing or rec.customer in aliases
                                 or rec.customer in named):  # fmt: skip
                continue
            if rec.kind != PaymentKind.PAYMENT:  # credit notes are not transfers
                if not rec.customer:
                    self.problems.add(
                        rec.row, self.batch.label("customer.reference"), _("is empty")
                    )
                continue
            quoted = [(target, found) for target, text in
                      (("payment.reference", rec.reference), ("payment.memo", rec.memo))
                      for found in references_in(text)]  # fmt: skip
            if quoted:
                pending.append((rec, quoted))
            elif not rec.customer:  # read without one: only a reader of ours does that
                self.problems.add(rec.row, self.batch.label("customer.reference"), _("is empty"))
        if not pending:
            return
        owners = customers_by_reference(
            self.org, {found for _rec, quoted in pending for _target, found in quoted}
        )
        unknown = set()
        for rec, quoted in pending:
            mine = [(t, f, owners[f]) for t, f in quoted if f in owners]
            if not mine:
                target, found = quoted[0]
                self.problems.add(
                    rec.row, self.batch.label(target),
                    _(
                        "%(reference)s is a valid payment reference (ISO 11649) but "
                        "no customer's: check it, or give the payment's customer"
                    )
                    % {"reference": iso11649.format(found)},
                )  # fmt: skip
                continue
            target, found, customers = mine[0]
            if len(customers) > 1:
                self.problems.add(
                    rec.row, self.batch.label(target),
                    _(
                        "%(reference)s is the payment reference of %(count)s customers "
                        "(%(customers)s): give the payment's customer"
                    )
                    % {
                        "reference": iso11649.format(found), "count": len(customers),
                        "customers": ", ".join(c.reference for c in customers),
                    },
                )  # fmt: skip
                continue
            if rec.customer:
                unknown.add(rec.customer)
            self.result.note(
                "payments", rec.reference, "recognised",
                {"customer": (rec.customer, customers[0].reference)},
            )  # fmt: skip
            rec.customer = customers[0].reference
        # A customer the file named only on payments now someone else's is not created.
        still = {rec.customer for rec in self.batch.payments} | named
        for ref in unknown - still:
            del self.batch.customers[ref]

    def unpadded_references(self, existing: dict[str, Any]) -> dict[str, str]:
        """File references a spreadsheet stripped of their leading zeros (``101``), mapped to
        the customer of the ledger they belong to (``00101``).

        An all-digit reference absent from the ledger is that customer when exactly one
        all-digit reference of the ledger has the same number; with several (``0101`` and
        ``00101``) the file is refused, naming them. Two references of the file with the
        same number are refused too."""
        label = self.batch.label("customer.reference")
        numeric = {r: int(r) for r in self.batch.customers if r.isdigit() and r.isascii()}
        if not numeric:
            return {}
        in_file: dict[int, str] = {}
        for ref, value in sorted(numeric.items()):
            if (other := in_file.setdefault(value, ref)) != ref:
                self.problems.add(
                    self.batch.customers[ref].row, label,
                    _(
                        "customer %(customer)s and customer %(other)s (row %(row)s) are the "
                        "same number: a spreadsheet dropped leading zeros? Format the column "
                        "as text"
                    )
                    % {
                        "customer": repr(ref), "other": repr(other),
                        "row": self.batch.customers[other].row,
                    },
                )  # fmt: skip
        missing = {value: ref for ref, value in numeric.items() if ref not in existing}
        if not missing:
            return {}
        in_ledger: dict[int, list[str]] = defaultdict(list)
        for ref in existing:
            if ref.isdigit() and ref.isascii() and int(ref) in missing:
                in_ledger[int(ref)].append(ref)
        aliases = {}
        for value, refs in in_ledger.items():
            ref = missing[value]
            if len(refs) == 1:
                aliases[ref] = refs[0]
            else:
                self.problems.add(
                    self.batch.customers[ref].row, label,
                    _(
                        "customer %(customer)s may be any of %(references)s (a spreadsheet "
                        "dropped leading zeros?): write the reference in full"
                    )
                    % {"customer": repr(ref), "references": ", ".join(sorted(refs))},
                )  # fmt: skip
        return aliases

    def apply_addresses(self, addresses: dict[str, dict[str, Any]]) -> None:
        if not addresses:
            return
        ids = {self.customer_ids[ref]: parts for ref, parts in addresses.items()}
        existing = {
            a.customer_id: a
            for a in Address.objects.filter(
                organisation=self.org, kind=AddressKind.BILLING, customer_id__in=list(ids)
            )
        }
        create: list[Address] = []
        update: list[tuple[Any, ...]] = []  # the new values of ADDRESS_FIELDS, then the id
        for customer_id, parts in ids.items():
            old = existing.get(customer_id)
            if old is None:
                create.append(
                    Address(organisation=self.org, customer_id=customer_id,
                            kind=AddressKind.BILLING, **parts)
                )  # fmt: skip
            elif any(getattr(old, k) != v for k, v in parts.items()):
                update.append((*(parts.get(k, getattr(old, k)) for k in ADDRESS_FIELDS), old.pk))
        Address.objects.bulk_create(create, batch_size=BATCH)
        _write_changed(Address, ADDRESS_FIELDS, update, ADDRESS_FIELDS)

    # -- contacts -----------------------------------------------------------------------

    def apply_contacts(self) -> None:
        if not self.batch.contacts:
            return
        existing = {
            (c["customer_id"], c["name"]): c
            for c in Contact.objects.filter(organisation=self.org).values(
                "id", "customer_id", "name", *CONTACT_FIELDS
            )
        }
        create: list[Contact] = []
        update: list[tuple[Any, ...]] = []  # the new values of CONTACT_FIELDS, then the id
        fields: set[str] = set()
        # A contact repeated on every row of its customer's invoices is one contact.
        unique = {(rec.customer, rec.name): rec for rec in self.batch.contacts}
        for rec in unique.values():
            customer_id = self.customer_ids[rec.customer]
            values = {
                "email": rec.email, "phone": rec.phone, "role": rec.role,
                "preferred_channel": rec.preferred_channel, "is_primary": rec.is_primary,
            }  # fmt: skip
            old = existing.get((customer_id, rec.name))
            key = f"{rec.customer}/{rec.name}"
            if old is None:
                create.append(
                    Contact(organisation=self.org, customer_id=customer_id, name=rec.name,
                            **values)
                )  # fmt: skip
                self.result.note("contacts", key, "created")
            elif diff := _changed(old, values):
                update.append((*_CONTACT_VALUES(values), old["id"]))
                fields.update(diff)
                self.result.note("contacts", key, "updated", diff)
        if not self.dry_run:
            Contact.objects.bulk_create(create, batch_size=BATCH)
            _write_changed(Contact, CONTACT_FIELDS, update, fields)

    # -- invoices -----------------------------------------------------------------------

    def invoice_values(self, rec: InvoiceRecord) -> dict[str, Any]:
        return dict(zip(INVOICE_FIELDS, self.invoice_row(rec), strict=True))

    def invoice_row(self, rec: InvoiceRecord) -> tuple[Any, ...]:
        """The values of INVOICE_FIELDS the file gives an invoice; its problems noted."""
        customer_id = self.customer_ids[rec.customer]
        excl, tax = rec.amount_excl_tax, rec.tax_amount
        if excl is not None and tax is None:
            tax = rec.amount - excl
        elif tax is not None and excl is None:
            excl = rec.amount - tax
        elif excl is not None and tax is not None and abs(excl + tax - rec.amount) > _CENT:
            self.problems.add(
                rec.row, "invoice.amount",
                _("amount %(amount)s is not the amount excl. tax %(excl)s plus the tax %(tax)s")
                % {"amount": rec.amount, "excl": excl, "tax": tax},
            )  # fmt: skip
        due = rec.due_date
        derived = due is None
        if due is None:
            due = rec.issue_date + dt.timedelta(days=self.customer_terms[customer_id])
        if due < rec.issue_date:
            self.problems.add(
                rec.row, "invoice.due_date",
                _("due date %(due)s is before the issue date %(issued)s")
                % {"due": due, "issued": rec.issue_date},
            )  # fmt: skip
        return (customer_id, rec.kind, rec.issue_date, due, derived, rec.currency, rec.amount,
                excl, tax, rec.po_reference)  # fmt: skip

    def apply_invoices(self) -> None:
        named: set[str] = set()  # none on a first import (a set of every number, for nothing)
        if Invoice.objects.filter(organisation=self.org).exists():
            named = {rec.number for rec in self.batch.invoices}
            named.update(rec.invoice for rec in self.batch.allocations)
        existing = {
            i["number"]: i
            for i in self.existing(
                Invoice, "number", named,
                ("id", "number", "balance", "source", "import_fingerprint", *INVOICE_FIELDS),
            )
        }  # fmt: skip
        self.existing_invoices = existing
        if self.batch.unchanged:
            self.result.counts["invoices_unchanged"] += len(self.batch.unchanged)
        refingerprint: list[tuple[int, int]] = []  # (fingerprint, id)
        # New invoices as tuples of NEW_INVOICE, written as they come (_Inserts): dicts held
        # until one insert at the end were most of a first import's memory.
        create = _Inserts(self.write_invoices)
        created: list[str] = []  # the first numbers, for the sample of changes
        invoice_tuple = operator.itemgetter(*INVOICE_FIELDS)
        org_id, source = self.org.pk, self.batch.source
        update: list[tuple[Any, ...]] = []  # the new values of _INVOICE_UPDATE, then the id
        fields: set[str] = set()
        total = len(self.batch.invoices)
        paid = self.paid_by_new_allocations()
        self.check_lookalikes_in_ledger(existing)
        for n, rec in enumerate(self.batch.invoices):
            if n % 5000 == 0:
                self.progress("invoices", n, total)
            values = self.invoice_values(rec)
            old = existing.get(rec.number)
            if old is None:
                # A new invoice's allocations are all in this file: its balance is known now.
                allocated, last = paid.get(rec.number, (Decimal(0), None))
                balance = rec.amount - allocated if allocated else rec.amount
                create.add((org_id, rec.number, balance, last if balance <= 0 else None,
                            source, rec.fingerprint, *invoice_tuple(values)))  # fmt: skip
                self.result.counts["invoices_created"] += 1
                if len(created) < ImportResult.SAMPLE:
                    created.append(rec.number)
                continue
            self.invoice_ids[rec.number] = old["id"]
            diff = _changed(old, values)
            if diff:
                update.append((*invoice_tuple(values), rec.fingerprint, old["id"]))
                fields.update(diff)
                fields.add("import_fingerprint")
                self.result.note("invoices", rec.number, "updated", diff)
                if "amount" in diff:
                    self.touched_invoices.add(old["id"])
                if "customer_id" in diff:
                    self.moved_invoices.append(old)
                self.touched_customers[values["customer_id"]] += 1
            else:
                self.result.counts["invoices_unchanged"] += 1
                if rec.fingerprint is not None and rec.fingerprint != old["import_fingerprint"]:
                    # Read from a row for the first time: the next import may skip it.
                    refingerprint.append((rec.fingerprint, old["id"]))
        for number, old in existing.items():
            self.invoice_ids.setdefault(number, old["id"])
        self.progress("invoices", total, total)
        create.flush()
        self.result.changes += [
            {"what": "invoices", "key": number, "action": "created"} for number in created
        ]
        if self.dry_run:
            return
        if create.before is not None:
            self.invoices_before = create.before
            self.invoice_ids.update(created_keys(Invoice, "number", self.org.pk, create.before))
        _write_changed(Invoice, _INVOICE_UPDATE, update, fields)
        _write_changed(Invoice, ("import_fingerprint",), refingerprint, {"import_fingerprint"})

    def write_invoices(self, rows: list[tuple[Any, ...]]) -> int | None:
        if self.dry_run:
            for invoice in rows:
                self.invoice_ids[invoice[1]] = self.fake_id()
            return None
        self.progress("writing invoices", len(rows), len(self.batch.invoices))
        self.touched_customers.update(invoice[_NEW_INVOICE_CUSTOMER] for invoice in rows)
        return bulk.create_tuples(Invoice, NEW_INVOICE, rows)

    def check_lookalikes_in_ledger(self, existing: dict[str, Any]) -> None:
        """A new invoice number that differs only by case or spaces from one of the ledger
        is refused (see check_lookalike_numbers)."""
        if all(r.number in existing for r in self.batch.invoices):
            return  # no new number (the same file again): the ledger's are not read
        new = {invoice_key(r.number): r for r in self.batch.invoices if r.number not in existing}
        ledger = lookalikes_in_ledger(self.org.pk, [rec.number for rec in new.values()])
        for key, rec in new.items():
            number = ledger.get(key)
            if number is not None:
                self.problems.add(
                    rec.row, self.batch.label("invoice.number"),
                    _(
                        "invoice number %(number)s differs only by case or spaces from "
                        "invoice %(other)s already in the ledger: write it as the ledger has it"
                    )
                    % {"number": repr(rec.number), "other": repr(number)},
                )  # fmt: skip

    def paid_by_new_allocations(self) -> dict[str, tuple[Decimal, dt.date | None]]:
        """What the file allocates to each invoice, and the last date, per invoice number."""
        paid: dict[str, tuple[Decimal, dt.date | None]] = {}
        for rec in self.batch.allocations:
            seen = paid.get(rec.invoice)
            # Most invoices have one: its amount as it is (not a new Decimal each).
            paid[rec.invoice] = (
                (rec.amount, rec.date) if seen is None
                else (seen[0] + rec.amount, max(rec.date, seen[1] or rec.date))
            )  # fmt: skip
        return paid

    # -- payments and credit notes --------------------------------------------------------

    def apply_payments(self) -> None:
        named: set[str] = set()  # none on a first import
        if Payment.objects.filter(organisation=self.org).exists():
            named = {rec.reference for rec in self.batch.payments}
            named.update(rec.payment for rec in self.batch.allocations)
            named.update(self.batch.obsolete_payments)
        existing = {
            p["reference"]: p
            for p in self.existing(
                Payment, "reference", named, ("id", "reference", *PAYMENT_FIELDS)
            )
        }
        self.payment_amounts: dict[str, Decimal] = {}
        self.kept_dates: dict[str, dt.date] = {}
        create = _Inserts(self.write_payments)
        org_id, source = self.org.pk, self.batch.source
        update: list[tuple[Any, ...]] = []  # the new values of PAYMENT_FIELDS, then the id
        fields: set[str] = set()
        for rec in self.batch.payments:
            customer_id = self.customer_ids.get(rec.customer)
            if customer_id is None:
                continue  # no customer (``attach_by_reference`` said why)
            self.payment_amounts[rec.reference] = rec.amount
            if rec.amount <= 0:
                self.problems.add(
                    rec.row, "payment.amount",
                    messages.not_positive(rec.amount),
                )  # fmt: skip
                continue
            old = existing.get(rec.reference)
            if old is None:
                create.add((org_id, rec.reference, source, customer_id, rec.kind, rec.date,
                            rec.currency, rec.amount, rec.method, rec.memo))  # fmt: skip
                self.result.counts["payments_created"] += 1
                continue
            values: dict[str, Any] = {
                "customer_id": customer_id, "kind": rec.kind, "date": rec.date,
                "currency": rec.currency, "amount": rec.amount, "method": rec.method,
                "memo": rec.memo,
            }  # fmt: skip
            if rec.kind == PaymentKind.SETTLEMENT and old["amount"] == rec.amount:
                # What the source system had matched keeps the date we first saw it.
                values["date"] = old["date"]
                self.kept_dates[rec.reference] = old["date"]
            self.payment_ids[rec.reference] = old["id"]
            if diff := _changed(old, values):
                update.append((*_PAYMENT_VALUES(values), old["id"]))
                fields.update(diff)
                self.result.note("payments", rec.reference, "updated", diff)
                self.touched_customers[values["customer_id"]] += 1
        for ref, old in existing.items():
            self.payment_ids.setdefault(ref, old["id"])
            self.payment_amounts.setdefault(ref, old["amount"])
        obsolete = [
            existing[ref]["id"] for ref in sorted(self.batch.obsolete_payments) if ref in existing
        ]
        for ref in sorted(self.batch.obsolete_payments):
            if ref in existing:
                self.result.note("payments", ref, "deleted")
                self.payment_amounts.pop(ref, None)
        create.flush()
        if self.dry_run:
            self.obsolete_payment_ids = set(obsolete)
            return
        if create.before is not None:
            self.payment_ids.update(created_keys(Payment, "reference", self.org.pk, create.before))
        _write_changed(Payment, PAYMENT_FIELDS, update, fields)
        if obsolete:
            self.touched_invoices.update(
                Allocation.objects.filter(payment_id__in=obsolete).values_list(
                    "invoice_id", flat=True
                )
            )
            Payment.objects.filter(organisation=self.org, pk__in=obsolete).delete()
        self.obsolete_payment_ids = set(obsolete)

    def write_payments(self, rows: list[tuple[Any, ...]]) -> int | None:
        if self.dry_run:
            for payment in rows:
                self.payment_ids[payment[1]] = self.fake_id()
            return None
        self.touched_customers.update(payment[_NEW_PAYMENT_CUSTOMER] for payment in rows)
        return bulk.create_tuples(Payment, NEW_PAYMENT, rows)

    # -- allocations (lettrage) ---------------------------------------------------------

    def apply_allocations(self) -> None:
        # What each payment and invoice the batch allocates (or changes) already has; on a
        # first import, nothing (their sets of ids were 200 MB at a million rows).
        loaded: dict[int, dict[str, Any]] = {}
        if Allocation.objects.filter(organisation=self.org).exists():
            payments = {self.payment_ids.get(rec.payment) for rec in self.batch.allocations}
            payments.update(self.payment_ids.get(rec.reference) for rec in self.batch.payments)
            invoices = {self.invoice_ids.get(rec.invoice) for rec in self.batch.allocations}
            invoices.update(self.invoice_ids.get(rec.number) for rec in self.batch.invoices)
            payments.discard(None)
            invoices.discard(None)
            fields = ("id", "payment_id", "invoice_id", "amount", "date")
            loaded = {a["id"]: a for a in self.existing(Allocation, "payment_id", payments, fields)}
            if len(payments) <= FULL_LOAD:
                loaded.update(
                    (a["id"], a) for a in self.existing(Allocation, "invoice_id", invoices, fields)
                )
            del payments, invoices
        existing = {
            (a["payment_id"], a["invoice_id"]): a
            for a in loaded.values()
            if a["payment_id"] not in self.obsolete_payment_ids
        }
        invoice_currency = {n: i["currency"] for n, i in self.existing_invoices.items()}
        invoice_currency.update((rec.number, rec.currency) for rec in self.batch.invoices)
        payment_currency = {p.reference: p.currency for p in self.batch.payments}
        create = _Inserts(self.write_allocations)
        update: list[tuple[Any, ...]] = []  # (amount, date, id)
        new_totals = {key: a["amount"] for key, a in existing.items()}
        for rec in self.batch.allocations:
            key = self.allocation_key(rec, payment_currency, invoice_currency)
            if key is None:
                continue
            pid, iid = key
            new_totals[key] = rec.amount
            date = self.kept_dates.get(rec.payment, rec.date)
            old = existing.get(key)
            if old is None:
                create.add((self.org.pk, pid, iid, rec.amount, date))
                self.result.counts["allocations_created"] += 1
                if 0 < iid <= self.invoices_before:  # new ones got their balance on insert
                    self.touched_invoices.add(iid)
            elif old["amount"] != rec.amount or old["date"] != date:
                update.append((rec.amount, date, old["id"]))
                self.result.counts["allocations_updated"] += 1
                self.touched_invoices.add(iid)
        del invoice_currency, payment_currency  # before the totals' own dicts
        self.check_allocation_totals(new_totals)
        create.flush()
        if not self.dry_run:
            _write_changed(Allocation, ("amount", "date"), update, {"amount", "date"})
        self.allocated = new_totals

    def allocation_key(
        self,
        rec: AllocationRecord,
        payment_currency: dict[str, str],
        invoice_currency: dict[str, str],
    ) -> tuple[int, int] | None:
        """The payment's and invoice's ids of an allocation of the file, or None when it
        allocates nothing: a problem when it names an unknown payment or invoice, or one in
        another currency; none when its amount is not positive."""
        pid = self.payment_ids.get(rec.payment)
        iid = self.invoice_ids.get(rec.invoice)
        if pid is None:
            self.problems.add(rec.row, "payment.reference", messages.no_payment(rec.payment))
            return None
        if iid is None:
            self.problems.add(rec.row, "invoice.number", messages.no_invoice(rec.invoice))
            return None
        currency = payment_currency.get(rec.payment)
        if currency and currency != invoice_currency.get(rec.invoice, currency):
            self.problems.add(
                rec.row, "payment.currency",
                messages.currencies_differ(rec.payment, currency, rec.invoice,
                                           invoice_currency[rec.invoice]),
            )  # fmt: skip
            return None
        if rec.amount <= 0:
            return None
        return pid, iid

    def write_allocations(self, rows: list[tuple[Any, ...]]) -> int | None:
        return None if self.dry_run else bulk.create_tuples(Allocation, NEW_ALLOCATION, rows)

    def check_allocation_totals(self, totals: dict[tuple[int, int], Decimal]) -> None:
        """Nothing may allocate more than a payment holds or more than an invoice owes."""
        for _order, row, target, message in self.allocation_excesses(totals):
            self.problems.add(row, target, message)

    def allocation_excesses(
        self, totals: dict[tuple[int, int], Decimal]
    ) -> Iterator[tuple[tuple[int, int], int | None, str, str]]:
        """check_allocation_totals' problems, in its order, each with its place in that
        order: (0, the payment's id) for a payment over-allocated, (1, the invoice's id)
        for an invoice over-paid; then row, target and message."""
        by_payment: dict[int, Decimal] = defaultdict(Decimal)
        by_invoice: dict[int, Decimal] = defaultdict(Decimal)
        for (pid, iid), amount in totals.items():
            by_payment[pid] += amount
            by_invoice[iid] += amount
        # Find the offenders first, keeping only them (a dict of every invoice's amount was
        # 200 MB at a million rows): naming them (and sorting them) is for the rare failure.
        payment_amount: dict[int, Decimal] = {}  # of the over-paid
        for ref, amount in self.payment_amounts.items():
            payment_id = self.payment_ids.get(ref)
            if payment_id is None:
                continue
            total = by_payment.get(payment_id)
            if total is not None and total > amount:
                payment_amount[payment_id] = amount
        over_paid = list(payment_amount)
        # An invoice outside the batch (reached through a payment's other allocations) keeps
        # its total: only those of the batch can become over-owed. The batch's amount of an
        # invoice wins over the ledger's (the last row of a number twice).
        amounts: dict[int, tuple[Decimal, int | None, str]] = {}  # of the over-owed
        for n, i in self.existing_invoices.items():
            total = by_invoice.get(i["id"])
            if total is not None and total > i["amount"]:
                amounts[i["id"]] = (i["amount"], None, n)
        for r in self.batch.invoices:
            iid = self.invoice_ids[r.number]
            total = by_invoice.get(iid)
            if total is not None and total > r.amount:
                amounts[iid] = (r.amount, r.row, r.number)
            else:
                amounts.pop(iid, None)
        over_owed = list(amounts)
        if over_paid:
            payment_ref = {v: k for k, v in self.payment_ids.items()}
            rows = {p.reference: p.row for p in self.batch.payments}
            for pid in sorted(over_paid):
                ref = payment_ref[pid]
                yield (
                    (0, pid), rows.get(ref), "payment.amount",
                    _("payment %(payment)s of %(amount)s is allocated %(allocated)s")
                    % {"payment": ref, "amount": payment_amount[pid], "allocated": by_payment[pid]},
                )  # fmt: skip
        for iid in sorted(over_owed):
            amount, row, number = amounts[iid]
            yield (
                (1, iid), row, "invoice.amount",
                _(
                    "invoice %(invoice)s of %(amount)s would receive %(received)s of payments "
                    "and credit notes"
                )
                % {"invoice": number, "amount": amount, "received": by_invoice[iid]},
            )  # fmt: skip

    # -- open items that vanished from a snapshot ---------------------------------------

    def settle_missing(self) -> None:
        """Open items of this source absent from a snapshot file were paid in the source
        system: record a settlement for their balance, dated the import's date."""
        present = {rec.number for rec in self.batch.invoices} | set(self.batch.unchanged)
        open_items = Invoice.objects.filter(
            organisation=self.org, source=self.batch.source, balance__gt=0
        ).values("id", "number", "customer_id", "currency", "balance")
        settle = sorted(
            (i["number"], i)
            for i in open_items.iterator(chunk_size=50000)
            if i["number"] not in present
        )
        payments = []
        for number, inv in settle:
            self.result.note("invoices", number, "settled")
            payments.append(
                Payment(organisation=self.org, customer_id=inv["customer_id"],
                        kind=PaymentKind.SETTLEMENT, reference=f"SETTLED:{number}",
                        date=self.as_of, currency=inv["currency"], amount=inv["balance"],
                        source=self.batch.source,
                        memo=f"absent from {self.batch.file}: paid in the source system")
            )  # fmt: skip
        if self.dry_run or not payments:
            return
        Payment.objects.bulk_create(payments, batch_size=BATCH)
        Allocation.objects.bulk_create(
            [
                Allocation(organisation=self.org, payment_id=p.pk, invoice_id=inv["id"],
                           amount=p.amount, date=self.as_of)
                for p, (_number, inv) in zip(payments, settle, strict=True)
            ],
            batch_size=BATCH,
        )  # fmt: skip
        self.touched_invoices.update(inv["id"] for _number, inv in settle)
        for _number, inv in settle:
            self.touched_customers[inv["customer_id"]] += 1

    # -- disputes -----------------------------------------------------------------------

    def disputes_flagged(self) -> dict[int, bool]:
        """The file's dispute flags (invoice id -> flag), where it gives one."""
        flagged = {r.number: r.disputed for r in self.batch.invoices if r.disputed is not None}
        return {self.invoice_ids[n]: d for n, d in flagged.items()}

    def open_disputes(self, ids: dict[int, bool]) -> None:
        """Open or clear the disputes of these invoices (id -> the file's flag)."""
        open_ids = set(
            Dispute.objects.filter(
                organisation=self.org, resolved_on__isnull=True, invoice_id__in=list(ids)
            ).values_list("invoice_id", flat=True)
        )
        # The file's flag is a state: a dispute opens when it turns on. An invoice whose
        # latest dispute from this source was closed otherwise than by a file clearing the
        # flag (by a person, or recorded closed because already paid) is still flagged
        # since then: not again.
        latest: dict[int, str] = {}
        for iid, resolution in (
            Dispute.objects.filter(
                organisation=self.org, invoice_id__in=list(ids), source=self.batch.source
            )
            .order_by("pk")
            .values_list("invoice_id", "resolution")
        ):
            latest[iid] = resolution
        known_ids = {
            iid for iid, resolution in latest.items() if not resolution.startswith(CLEARED)
        } | open_ids
        settled = dict(
            Invoice.objects.filter(pk__in=list(ids), balance__lte=0).values_list("pk", "settled_on")
        )
        create = []
        for iid, disputed in sorted(ids.items()):
            if disputed and iid not in known_ids:
                # A flag on an item already paid is history: record it, closed.
                closed = self.as_of if iid in settled else None
                create.append(
                    Dispute(organisation=self.org, invoice_id=iid, opened_on=self.as_of,
                            resolved_on=closed, source=self.batch.source,
                            note=f"flagged as disputed in {self.batch.file}",
                            resolution="settled before the import" if closed else "")
                )  # fmt: skip
                self.result.counts["disputes_opened"] += 1
        Dispute.objects.bulk_create(create, batch_size=BATCH)
        cleared = [iid for iid, disputed in ids.items() if not disputed and iid in open_ids]
        if cleared:
            resolved = Dispute.objects.filter(
                organisation=self.org,
                invoice_id__in=cleared,
                resolved_on__isnull=True,
                source=self.batch.source,
            ).update(resolved_on=self.as_of, resolution=f"{CLEARED}{self.batch.file}")
            self.result.counts["disputes_resolved"] += resolved

    # -- timeline -----------------------------------------------------------------------

    def write_timeline(self) -> None:
        """One event per customer the import touched, rather than one per row; written as
        the rows ``timeline.insert_rows`` takes (no dict merged, no JSON encoded per row),
        its summary in the organisation's language and kept for its readers'."""
        now = bulk.db_datetime(timezone.now())
        file = self.batch.file
        # {"file": ..., "format": ..., "items": count, "_text": ...} as json.dumps writes it
        head = json.dumps({"file": file, "format": self.batch.format})[:-1] + ', "items": '
        kept_as = f", {json.dumps(timeline.KEPT)}: "
        org_id = self.org.pk
        touched = sorted(self.touched_customers.items())
        message = gettext_noop("Import of %(file)s, items added or changed: %(count)s")
        texts = [Text(message, {"file": file, "count": count}) for _, count in touched]
        keep = timeline.KeptJson()
        timeline.insert_rows(
            (org_id, customer_id, now, "import", summary,
             f"{head}{count}{kept_as}{keep(text)}}}")  # a file's name and a count: kept
            for (customer_id, count), summary, text in zip(
                touched, timeline.summaries(self.org, texts), texts, strict=True
            )
        )  # fmt: skip


_NUMBER, _REFERENCE = operator.attrgetter("number"), operator.attrgetter("reference")
_ROW, _FIELDS = operator.attrgetter("row"), operator.attrgetter("fields")


def rows_twice(
    records: list[Any],
    key: Callable[[Any], str],
    seen: dict[str, int | None],
    problems: Problems,
    label: str,
    message: Callable[[str, int | None], str],
    *,
    first: dict[str, int | None] | None = None,
    remember: bool = True,
) -> list[str]:
    """A problem for each record whose key is in ``seen`` (key -> row: the keys of the rows
    before it), naming the other row; ``first`` keeps the first row of each key seen twice.
    The usual file has no key twice, found in C; only then are the rows walked. With
    ``remember``, ``seen`` holds every key of ``records`` afterwards (to check the next
    chunk against); without, it is left as is when no key is twice."""
    keys = list(map(key, records))
    if len(set(keys)) == len(keys) and seen.keys().isdisjoint(keys):
        if remember:
            seen.update(zip(keys, map(_ROW, records), strict=True))
        return keys
    for rec, k in zip(records, keys, strict=True):
        other = seen.get(k, ...)
        if other is not ...:
            problems.add(rec.row, label, message(k, other))
            if first is not None:
                first.setdefault(k, other)
        seen[k] = rec.row
    return keys


class _Inserts:
    """New rows of one model, handed to ``write`` FLUSH at a time as the batch is compared:
    a first import's million rows held until the end were most of its memory. ``before``
    is the first write's (the largest primary key before it: the new rows are above)."""

    FLUSH = 20_000

    def __init__(self, write: Callable[[list[tuple[Any, ...]]], int | None]):
        self.write = write
        self.rows: list[tuple[Any, ...]] = []
        self.before: int | None = None

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            before = self.write(self.rows)
            if self.before is None:
                self.before = before
            self.rows = []


def invoice_key(number: str) -> str:
    """What two spellings of one invoice number share: no case, no spaces."""
    return "".join(number.split()).casefold()


_SPACE, _LOWER, _UPPER = re.compile(r"\s"), re.compile("[a-z]"), re.compile("[A-Z]")
_LETTER = re.compile("([a-z])")
# The spellings in case of a new number's key looked up at most (2 ** its letters).
SPELLINGS = 64


def may_look_alike(numbers: list[str]) -> bool:
    """False when no two of these numbers can share an invoice_key: ASCII without spaces, in
    one case (the usual ERP numbering). A few passes in C instead of a key per number."""
    spellings = Spellings()
    spellings.see(numbers)
    return spellings.may_look_alike()


@dataclass
class Spellings:
    """What ``may_look_alike`` asks of numbers seen a list at a time (a streamed import's
    chunks): whether any is not ASCII or holds a space, any a lower-case letter, any an
    upper-case one."""

    odd: bool = False
    lower: bool = False
    upper: bool = False

    def see(self, numbers: Iterable[str]) -> None:
        if self.odd:
            return  # they may look alike whatever the others are
        text = "\x00".join(numbers)
        self.odd = not text.isascii() or bool(_SPACE.search(text))
        self.lower = self.lower or bool(_LOWER.search(text))
        self.upper = self.upper or bool(_UPPER.search(text))

    def may_look_alike(self) -> bool:
        return self.odd or (self.lower and self.upper)


def note_lookalikes(
    numbers: Iterable[tuple[str, int | None]], label: str, problems: Problems
) -> None:
    """A problem at the row of each number that shares its invoice_key with one before it
    among ``numbers`` (numbers and rows, in the order the user reads them)."""
    by_key: dict[str, tuple[str, int | None]] = {}
    for number, row in numbers:
        other, other_row = by_key.setdefault(invoice_key(number), (number, row))
        if other != number:
            problems.add(row, label, messages.lookalike_numbers(number, other, other_row))


def _write_changed(
    model: Any, names: Sequence[str], rows: list[tuple[Any, ...]], changed: Iterable[str]
) -> None:
    """Write the ``changed`` fields of rows given as tuples of every field of ``names`` (their
    new values) then the id, through ``bulk.update``: no model instance per row, and only
    the columns that changed somewhere (each indexed column written moves its index entry,
    each column written may fire a trigger)."""
    changed = set(changed)
    picked = [i for i, name in enumerate(names) if name in changed]
    if not rows or not picked:
        return
    meta = model._meta
    pick = operator.itemgetter(*picked, len(names))
    bulk.update(
        meta.db_table,
        [meta.get_field(names[i]).column for i in picked],
        ["id"],
        [tuple(map(bulk.plain, pick(row))) for row in rows],
    )


def stored_customers(organisation_id: int, given: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The organisation's customers by reference, as dicts of their id, reference, payment
    terms and the CUSTOMER_FIELDS in ``given``."""
    given = set(given)
    names = [name for name in CUSTOMER_FIELDS if name in given or name == "payment_terms_days"]
    # Unordered: sorted by name (the model's ordering) they cost a third more.
    customers = Customer.objects.filter(organisation_id=organisation_id).order_by()
    return {c["reference"]: c for c in customers.values("id", "reference", *names)}


def customer_update(pk: int, values: dict[str, Any], rest: dict[str, Any]) -> tuple[Any, ...]:
    """A customer's row for ``_write_changed(Customer, CUSTOMER_FIELDS, ...)``: the values of
    CUSTOMER_FIELDS the file gives, ``rest``'s for the others (the stored values, or
    ``customer_defaults()``), then the id: a field one customer leaves blank keeps its value
    while another's changes."""
    return (*(values[n] if n in values else rest.get(n) for n in CUSTOMER_FIELDS), pk)


@cache
def customer_defaults() -> dict[str, Any]:
    """The defaults of CUSTOMER_FIELDS, those of a customer created without them."""
    fields = Customer._meta.concrete_fields
    return {f.attname: f.get_default() for f in fields if f.attname in CUSTOMER_FIELDS}
