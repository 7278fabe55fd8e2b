"""What the API reads and writes. Amounts are exact decimal strings ("1234.50") with their
currency, dates ISO 8601 (``YYYY-MM-DD``), times ISO 8601 with their offset."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field, StringConstraints, create_model

from relance.lib import controls
from relance.lib.dates import FIRST_DAY, LAST_DAY

MAX_ID = 2**63 - 1
# No control characters in one-line values; multi-line notes may hold line breaks but no
# NUL (relance.lib.controls: the imports' rule too).
LINE = controls.ONE_LINE
TEXT = controls.MULTI_LINE


def Line(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str, StringConstraints(max_length=max_length, min_length=min_length, pattern=LINE)
    ]


Note = Annotated[str, StringConstraints(max_length=10000, pattern=TEXT)]
Day = Annotated[dt.date, Field(ge=FIRST_DAY, le=LAST_DAY)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Amount = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Money = Annotated[str, Field(description="exact decimal amount", examples=["1234.50"])]


def page_of(name: str, item: type[Schema]) -> type[Schema]:
    """``{"items": [...], "next_cursor": "..." | null}``."""
    items: Any = list[item]  # type: ignore[valid-type]
    cursor: Any = str | None
    model: type[Schema] = create_model(
        name, __base__=Schema, items=(items, ...), next_cursor=(cursor, ...)
    )
    return model


# -- the ledger -------------------------------------------------------------------------


class CustomerOut(Schema):
    id: int
    reference: str
    legal_name: str
    trade_name: str
    siren: str
    siret: str
    vat_number: str
    email: str
    phone: str
    language: str
    country: str
    currency: str
    payment_terms_days: int
    credit_limit: Money | None
    risk_class: str
    customer_since: dt.date | None
    notes: str
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerFields(Schema):
    legal_name: Line(200, 1) | None = None  # type: ignore[valid-type]
    trade_name: Line(200) | None = None  # type: ignore[valid-type]
    siren: Line(9) | None = None  # type: ignore[valid-type]
    siret: Line(14) | None = None  # type: ignore[valid-type]
    vat_number: Line(20) | None = None  # type: ignore[valid-type]
    email: Line(254) | None = None  # type: ignore[valid-type]
    phone: Line(32) | None = None  # type: ignore[valid-type]
    language: Literal["fr", "en"] | None = None
    country: Line(2) | None = None  # type: ignore[valid-type]
    currency: Currency | None = None
    payment_terms_days: Annotated[int, Field(ge=0, le=365)] | None = None
    credit_limit: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)] | None = None
    risk_class: Literal["low", "medium", "high"] | None = None
    customer_since: Day | None = None
    notes: Note | None = None


class CustomerIn(CustomerFields):
    reference: Line(64, 1)  # type: ignore[valid-type]
    legal_name: Line(200, 1)  # type: ignore[valid-type]


class CustomerPatch(CustomerFields):
    pass


class ContactOut(Schema):
    id: int
    customer_id: int
    customer_reference: str
    name: str
    role: str
    email: str
    phone: str
    preferred_channel: str
    dunning_contact: bool


class ContactIn(Schema):
    customer_id: Id
    name: Line(200, 1)  # type: ignore[valid-type]
    role: Line(100) = ""  # type: ignore[valid-type]
    email: Line(254) = ""  # type: ignore[valid-type]
    phone: Line(32) = ""  # type: ignore[valid-type]
    preferred_channel: Literal["email", "sms", "letter", "phone"] = "email"
    dunning_contact: bool = False


class ContactPatch(Schema):
    role: Line(100) | None = None  # type: ignore[valid-type]
    email: Line(254) | None = None  # type: ignore[valid-type]
    phone: Line(32) | None = None  # type: ignore[valid-type]
    preferred_channel: Literal["email", "sms", "letter", "phone"] | None = None
    dunning_contact: bool | None = None


class InvoiceOut(Schema):
    id: int
    number: str
    kind: str
    customer_id: int
    customer_reference: str
    issue_date: dt.date
    due_date: dt.date
    currency: str
    amount: Money
    amount_excl_tax: Money | None
    tax_amount: Money | None
    balance: Money
    settled_on: dt.date | None
    status: Literal["open", "settled"]
    po_reference: str
    created_at: dt.datetime
    updated_at: dt.datetime


class InvoiceIn(Schema):
    """An invoice keyed by its number; without a due date, issue date + the customer's
    payment terms."""

    number: Line(64, 1)  # type: ignore[valid-type]
    customer_reference: Line(64, 1)  # type: ignore[valid-type]
    issue_date: Day
    due_date: Day | None = None
    currency: Currency
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
    amount_excl_tax: Annotated[Decimal, Field(max_digits=18, decimal_places=2)] | None = None
    tax_amount: Annotated[Decimal, Field(max_digits=18, decimal_places=2)] | None = None
    kind: Literal["invoice", "debit_note"] = "invoice"
    po_reference: Line(64) = ""  # type: ignore[valid-type]


class InvoicePatch(Schema):
    customer_reference: Line(64, 1) | None = None  # type: ignore[valid-type]
    issue_date: Day | None = None
    due_date: Day | None = None
    currency: Currency | None = None
    amount: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)] | None = None
    amount_excl_tax: Annotated[Decimal, Field(max_digits=18, decimal_places=2)] | None = None
    tax_amount: Annotated[Decimal, Field(max_digits=18, decimal_places=2)] | None = None
    kind: Literal["invoice", "debit_note"] | None = None
    po_reference: Line(64) | None = None  # type: ignore[valid-type]


class AllocationOut(Schema):
    id: int
    payment_id: int
    payment_reference: str
    invoice_id: int
    invoice_number: str
    amount: Money
    currency: str
    date: dt.date


class PaymentAllocationIn(Schema):
    invoice_number: Line(64, 1)  # type: ignore[valid-type]
    amount: Amount
    date: Day | None = None  # the payment's date by default


class PaymentOut(Schema):
    id: int
    reference: str
    kind: str
    customer_id: int
    customer_reference: str
    date: dt.date
    currency: str
    amount: Money
    allocated: Money
    unallocated: Money
    method: str
    memo: str
    created_at: dt.datetime


class PaymentIn(Schema):
    """A payment or credit note keyed by its reference, with what it settles. Without a
    customer, one whose RF reference (ISO 11649) it quotes."""

    reference: Line(96, 1)  # type: ignore[valid-type]
    customer_reference: Line(64) = ""  # type: ignore[valid-type]
    date: Day
    currency: Currency
    amount: Amount
    kind: Literal["payment", "credit_note", "write_off"] = "payment"
    method: Line(32) = ""  # type: ignore[valid-type]
    memo: Line(200) = ""  # type: ignore[valid-type]
    allocations: Annotated[list[PaymentAllocationIn], Field(max_length=1000)] = []


class PaymentPatch(Schema):
    date: Day | None = None
    amount: Amount | None = None
    method: Line(32) | None = None  # type: ignore[valid-type]
    memo: Line(200) | None = None  # type: ignore[valid-type]


class AllocationIn(Schema):
    """Set the part of a payment set against an invoice (creates or changes it)."""

    payment_id: Id
    invoice_id: Id
    amount: Amount
    date: Day | None = None


BULK_MAX = 5000


class InvoiceBulkIn(Schema):
    items: Annotated[list[InvoiceIn], Field(min_length=1, max_length=BULK_MAX)]


class PaymentBulkIn(Schema):
    items: Annotated[list[PaymentIn], Field(min_length=1, max_length=BULK_MAX)]


class BulkOut(Schema):
    created: int
    updated: int
    unchanged: int
    import_run_id: int | None


# -- what pauses dunning ------------------------------------------------------------------


class DisputeOut(Schema):
    id: int
    invoice_id: int
    invoice_number: str
    customer_id: int
    reason: str
    amount: Money | None
    currency: str
    note: str
    opened_on: dt.date
    resolved_on: dt.date | None
    resolution: str
    outcome: str
    status: Literal["open", "resolved"]
    group: str


class DisputeIn(Schema):
    invoice_id: Id
    reason: Literal[
        "price", "quantity", "quality", "not_received", "delivery", "administrative",
        "purchase_order", "address", "duplicate", "other",
    ] = "other"  # fmt: skip
    amount: Amount | None = None
    note: Note = ""
    opened_on: Day | None = None  # today by default


class CreditNoteIn(Schema):
    reference: Line(96, 1)  # type: ignore[valid-type]
    amount: Amount


class DisputeResolveIn(Schema):
    resolution: Note = ""
    outcome: Literal["", "credit_note", "rejected", "settled"] = ""
    resolved_on: Day | None = None
    credit_note: CreditNoteIn | None = None


class PromiseOut(Schema):
    id: int
    customer_id: int
    invoice_id: int | None
    promised_on: dt.date
    amount: Money | None
    grace_days: int
    status: str
    broken_on: dt.date | None
    note: str
    created_at: dt.datetime


class PromiseIn(Schema):
    customer_id: Id
    promised_on: Day
    invoice_id: Id | None = None
    amount: Amount | None = None
    grace_days: Annotated[int, Field(ge=0, le=30)] | None = None
    note: Note = ""


class CancelIn(Schema):
    note: Note = ""


class InstalmentOut(Schema):
    due_date: dt.date
    amount: Money
    paid_on: dt.date | None


class PlanOut(Schema):
    id: int
    customer_id: int
    status: str
    agreed_on: dt.date
    note: str
    invoice_ids: list[int]
    instalments: list[InstalmentOut]


class InstalmentIn(Schema):
    due_date: Day
    amount: Amount


class PlanIn(Schema):
    customer_id: Id
    invoice_ids: Annotated[list[Id], Field(min_length=1, max_length=500)]
    instalments: Annotated[list[InstalmentIn], Field(min_length=1, max_length=120)]
    agreed_on: Day | None = None
    note: Note = ""


# -- what happened --------------------------------------------------------------------------


class CommunicationOut(Schema):
    id: int
    customer_id: int
    channel: str
    purpose: str
    status: str
    run_date: dt.date
    send_on: dt.date
    template: str
    language: str
    recipient: str
    subject: str
    sent_at: dt.datetime | None
    invoice_ids: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskOut(Schema):
    id: int
    customer_id: int
    kind: str
    title: str
    due_on: dt.date
    status: str
    outcome: str
    communication_id: int | None
    created_at: dt.datetime
    closed_at: dt.datetime | None


class TaskIn(Schema):
    customer_id: Id
    title: Line(300, 1)  # type: ignore[valid-type]
    due_on: Day
    kind: Line(32, 1) = "manual"  # type: ignore[valid-type]


class TaskCloseIn(Schema):
    note: Note = ""


class RunOut(Schema):
    id: int
    run_date: dt.date | None
    at: dt.datetime
    customers: int
    items_considered: int
    counts: dict[str, int]


class EventOut(Schema):
    id: int
    customer_id: int
    invoice_id: int | None
    at: dt.datetime
    kind: str
    summary: str
    data: dict[str, Any]
