"""What every import format produces: plain records of customers, invoices, payments and
allocations, each remembering the file row it came from. ``relance.ledger.imports.apply``
compares them with the database and writes the difference in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import ItemsView, Iterator, KeysView, MutableMapping, Sequence, ValuesView
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any

from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located as precisely as we can."""

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        """In the active language, as the message was written: the import log keeps this
        line (relance.console.imports reads its parts back in either language)."""
        where = self.file
        if self.row is not None:
            where = _("%(where)s, row %(row)s") % {"where": where, "row": self.row}
        if self.field:
            where = _("%(where)s, field %(field)s") % {"where": where, "field": repr(self.field)}
        return _("%(where)s: %(message)s") % {"where": where, "message": self.message}


class ImportFailed(Exception):
    """The input cannot be imported; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class Problems:
    """Collects problems so that the user sees many at once, not one per attempt."""

    LIMIT = 50

    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []

    def add(self, row: int | None, field: str | None, message: str) -> None:
        if len(self.items) < self.LIMIT:
            self.items.append(Problem(self.file, row, field, message))

    def fail(self, row: int | None, field: str | None, message: str) -> ImportFailed:
        self.add(row, field, message)
        return ImportFailed(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportFailed(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(slots=True)  # millions of them: no dict each
class CustomerRecord:
    reference: str
    row: int | None = None
    # Only the fields the file provides; absent ones keep their value in the database.
    # Keys are Customer model field names; "address" holds a dict of billing address parts.
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)  # millions of them: no dict each
class ContactRecord:
    customer: str  # CustomerRecord.reference
    name: str  # with the customer, identifies the contact on re-import
    email: str = ""
    phone: str = ""
    role: str = ""
    preferred_channel: str = "email"
    is_primary: bool = False
    row: int | None = None


@dataclass(slots=True)  # millions of them: no dict each
class InvoiceRecord:
    number: str
    customer: str  # CustomerRecord.reference
    issue_date: dt.date
    due_date: dt.date | None  # None: issue date + the customer's payment terms
    currency: str
    amount: Decimal  # including tax
    amount_excl_tax: Decimal | None = None
    tax_amount: Decimal | None = None
    kind: str = "invoice"
    po_reference: str = ""
    disputed: bool | None = None  # None: the file says nothing about disputes
    row: int | None = None
    # The hash of the file row it was read from (mapping.row_fingerprint), kept with the
    # invoice so that the next import of the same row can skip it; None for other readers.
    fingerprint: int | None = None


@dataclass(slots=True)  # millions of them: no dict each
class PaymentRecord:
    reference: str
    customer: str
    date: dt.date
    currency: str
    amount: Decimal
    kind: str = "payment"
    method: str = ""
    memo: str = ""
    row: int | None = None


@dataclass(slots=True)  # millions of them: no dict each
class AllocationRecord:
    payment: str  # PaymentRecord.reference
    invoice: str  # InvoiceRecord.number
    amount: Decimal
    date: dt.date
    row: int | None = None


@dataclass
class LedgerBatch:
    """Everything one file says about the ledger of one organisation."""

    file: str
    format: str
    # Tags the rows this kind of file creates, so that a snapshot import only settles
    # items that came from the same kind of file.
    source: str
    customers: dict[str, CustomerRecord] = field(default_factory=dict)
    contacts: list[ContactRecord] = field(default_factory=list)
    invoices: list[InvoiceRecord] = field(default_factory=list)
    payments: list[PaymentRecord] = field(default_factory=list)
    allocations: list[AllocationRecord] = field(default_factory=list)
    # True when the file lists every open item of its source: open items of that source
    # missing from it were paid in the source system and are settled.
    snapshot: bool = False
    # Payment references of that source whose records must vanish (e.g. a synthetic
    # "paid in the source system" payment whose amount fell back to zero).
    obsolete_payments: set[str] = field(default_factory=set)
    rows_read: int = 0
    sha256: str = ""  # of the file, recorded with the import
    # What was read but left out, for the user to look at; the import goes on.
    warnings: list[Problem] = field(default_factory=list)
    # Bad values found while reading: the rows they were on are left out, and the import
    # goes on checking the rest so that every problem is reported in one pass.
    problems: list[Problem] = field(default_factory=list)
    # Invoices whose file row is the very row they were last imported from (same text, same
    # mapping): number -> row. They were neither parsed nor compared, and are unchanged.
    unchanged: Unchanged = field(default_factory=lambda: Unchanged())
    # What the user calls each field (their column's header), for problems found later.
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, target: str) -> str:
        return self.labels.get(target, target)

    def customer(self, reference: str, row: int | None = None) -> CustomerRecord:
        record = self.customers.get(reference)
        if record is None:
            record = self.customers[reference] = CustomerRecord(reference, row)
        return record


class Unchanged(MutableMapping[str, int]):
    """``LedgerBatch.unchanged``: invoice number -> row, as a dict. A re-import notes a
    million rows a block at a time (``note``): they are kept as noted, the numbers counted
    and iterated as they are, and put in the dict only when one is looked up (a row read
    twice, a snapshot's numbers: rare), not a million insertions on every re-import."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._noted: list[tuple[Sequence[str], Sequence[int]]] = []
        self._size = 0  # of the numbers noted

    def note(self, numbers: Sequence[str], rows: Sequence[int]) -> None:
        """Rows skipped as unchanged, and their invoices' ``numbers``: each the number of
        an invoice found once by its fingerprint, none here already."""
        self._noted.append((numbers, rows))
        self._size += len(numbers)

    def as_dict(self) -> dict[str, int]:
        """The dictionary itself (copied in C where a copy is asked for)."""
        for numbers, rows in self._noted:
            self._held.update(zip(numbers, rows, strict=True))
        self._noted, self._size = [], 0
        return self._held

    def __getitem__(self, number: str) -> int:
        return self.as_dict()[number]

    def __setitem__(self, number: str, row: int) -> None:
        self.as_dict()[number] = row

    def __delitem__(self, number: str) -> None:
        del self.as_dict()[number]

    def __contains__(self, number: object) -> bool:
        return number in self.as_dict()

    def __iter__(self) -> Iterator[str]:
        return chain(self._held, *(numbers for numbers, _ in self._noted))

    def __len__(self) -> int:
        return len(self._held) + self._size

    def keys(self) -> KeysView[str]:
        return self.as_dict().keys()

    def items(self) -> ItemsView[str, int]:
        return self.as_dict().items()

    def values(self) -> ValuesView[int]:
        return self.as_dict().values()

    def __eq__(self, other: object) -> bool:
        return self.as_dict() == (other.as_dict() if isinstance(other, Unchanged) else other)

    def __repr__(self) -> str:
        return f"Unchanged({self.as_dict()!r})"
