"""Customers, contacts, invoices, payments and allocations. Every write goes through the
import pipeline (``relance.api.writes``) or the customer file's services, never around
them: the balances stay right."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from relance.api import writes
from relance.api.auth import BULK, READ, WRITE
from relance.api.common import money, one, org_of, responses, user_id_of
from relance.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, page
from relance.api.problems import ApiProblem, item
from relance.api.schemas import (
    LINE,
    MAX_ID,
    AllocationIn,
    AllocationOut,
    BulkOut,
    ContactIn,
    ContactOut,
    ContactPatch,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    InvoiceBulkIn,
    InvoiceIn,
    InvoiceOut,
    InvoicePatch,
    PaymentBulkIn,
    PaymentIn,
    PaymentOut,
    PaymentPatch,
    page_of,
)
from relance.ledger import customer_file
from relance.ledger.imports.apply import ImportResult
from relance.ledger.models import Allocation, Contact, Customer, Invoice, Payment

router = Router()

IdPath = Path(..., ge=1, le=MAX_ID)
Cursor = Query(
    None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$", description="next_cursor of the previous page"
)
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
Ref = Query(None, max_length=96, pattern=LINE)
IdFilter = Query(None, ge=1, le=MAX_ID)
DueBefore = Query(None, description="due on or before")
DueAfter = Query(None, description="due on or after")
DatedBefore = Query(None, description="dated on or before")
DatedAfter = Query(None, description="dated on or after")
_ZERO = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=2))

CustomerPage = page_of("CustomerPage", CustomerOut)
ContactPage = page_of("ContactPage", ContactOut)
InvoicePage = page_of("InvoicePage", InvoiceOut)
PaymentPage = page_of("PaymentPage", PaymentOut)
AllocationPage = page_of("AllocationPage", AllocationOut)


# -- customers ------------------------------------------------------------------------------


def describe_customer(c: Customer) -> dict[str, Any]:
    return {
        "id": c.pk, "reference": c.reference, "legal_name": c.legal_name,
        "trade_name": c.trade_name, "siren": c.siren, "siret": c.siret,
        "vat_number": c.vat_number, "email": c.email, "phone": c.phone,
        "language": c.language, "country": c.country, "currency": c.currency,
        "payment_terms_days": c.payment_terms_days, "credit_limit": money(c.credit_limit),
        "risk_class": c.risk_class, "customer_since": c.customer_since, "notes": c.notes,
        "created_at": c.created_at, "updated_at": c.updated_at,
    }  # fmt: skip


@router.get("/customers", response=responses(CustomerPage), auth=READ, tags=["customers"])
def list_customers(
    request: HttpRequest,
    reference: str | None = Ref,
    risk_class: str | None = Query(None, pattern=r"^(low|medium|high)$"),
    updated_since: dt.datetime | None = None,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    """The customers, in id order; filter by account reference, risk class, last change."""
    rows = Customer.objects.filter(organisation=org_of(request))
    if reference:
        rows = rows.filter(reference=reference)
    if risk_class:
        rows = rows.filter(risk_class=risk_class)
    if updated_since:
        rows = rows.filter(updated_at__gte=updated_since)
    return page(rows, cursor, limit, describe_customer)


@router.get("/customers/{int:id}", response=responses(CustomerOut), auth=READ, tags=["customers"])
def get_customer(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    return describe_customer(one(Customer.objects, org_of(request), id, "customer"))


@router.post("/customers", response=responses(CustomerOut, 201), auth=WRITE, tags=["customers"])
def create_customer(request: HttpRequest, payload: CustomerIn) -> Status[dict[str, Any]]:
    """A new customer, checked as an import checks one (SIREN, SIRET, VAT number, e-mail)."""
    org = org_of(request)
    if Customer.objects.filter(organisation=org, reference=payload.reference).exists():
        raise ApiProblem(409, f"customer {payload.reference!r} exists: PATCH it",
                         [item("reference", "is taken")])  # fmt: skip
    ledger = writes.batch("API: new customer")
    fields = payload.model_dump(exclude_none=True, exclude={"reference"})
    ledger.customers[payload.reference] = writes.CustomerRecord(payload.reference, None, fields)
    writes.apply(org, ledger, what="customers", user_id=user_id_of(request))
    created = Customer.objects.get(organisation=org, reference=payload.reference)
    return Status(201, describe_customer(created))


NULLABLE_CUSTOMER = {"credit_limit", "customer_since"}


@router.patch(
    "/customers/{int:id}", response=responses(CustomerOut), auth=WRITE, tags=["customers"]
)
def update_customer(
    request: HttpRequest, payload: CustomerPatch, id: int = IdPath
) -> dict[str, Any]:
    """Change the fields given; ``null`` clears the credit limit or the date since when."""
    org = org_of(request)
    customer = one(Customer.objects, org, id, "customer")
    fields = {
        k: v
        for k, v in payload.model_dump(exclude_unset=True).items()
        if v is not None or k in NULLABLE_CUSTOMER
    }
    if fields:
        ledger = writes.batch(f"API: customer {customer.reference}")
        ledger.customers[customer.reference] = writes.CustomerRecord(
            customer.reference, None, fields
        )
        writes.apply(org, ledger, what="customers", user_id=user_id_of(request))
        customer.refresh_from_db()
    return describe_customer(customer)


# -- contacts -------------------------------------------------------------------------------


def describe_contact(c: Contact) -> dict[str, Any]:
    return {
        "id": c.pk, "customer_id": c.customer_id, "customer_reference": c.customer.reference,
        "name": c.name, "role": c.role, "email": c.email, "phone": c.phone,
        "preferred_channel": c.preferred_channel, "dunning_contact": c.is_primary,
    }  # fmt: skip


@router.get("/contacts", response=responses(ContactPage), auth=READ, tags=["contacts"])
def list_contacts(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = Contact.objects.filter(organisation=org_of(request)).select_related("customer")
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    return page(rows, cursor, limit, describe_contact)


@router.get("/contacts/{int:id}", response=responses(ContactOut), auth=READ, tags=["contacts"])
def get_contact(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    qs = Contact.objects.select_related("customer")
    return describe_contact(one(qs, org_of(request), id, "contact"))


@router.post("/contacts", response=responses(ContactOut, 201), auth=WRITE, tags=["contacts"])
def create_contact(request: HttpRequest, payload: ContactIn) -> Status[dict[str, Any]]:
    """A person at a customer; a dunning contact receives the reminders."""
    org = org_of(request)
    customer = one(
        Customer.objects.select_related("organisation"), org, payload.customer_id, "customer"
    )
    values = payload.model_dump(exclude={"customer_id"})
    try:
        contact = customer_file.add_contact(customer, user=key_user(request), **values)
    except customer_file.Refused as refusal:
        raise ApiProblem(422, str(refusal)) from None
    return Status(201, describe_contact(contact))


def key_user(request: HttpRequest) -> Any:
    from relance.api.auth import key_of

    return key_of(request).created_by


@router.patch("/contacts/{int:id}", response=responses(ContactOut), auth=WRITE, tags=["contacts"])
def update_contact(request: HttpRequest, payload: ContactPatch, id: int = IdPath) -> dict[str, Any]:
    """Change a contact's details (its name identifies it and stays)."""
    org = org_of(request)
    contact = one(Contact.objects.select_related("customer"), org, id, "contact")
    given = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    if given:
        ledger = writes.batch(f"API: contact {contact.pk}")
        ledger.contacts.append(
            writes.ContactRecord(
                customer=contact.customer.reference, name=contact.name,
                email=given.get("email", contact.email).strip().lower(),
                phone=given.get("phone", contact.phone),
                role=given.get("role", contact.role),
                preferred_channel=given.get("preferred_channel", contact.preferred_channel),
                is_primary=given.get("dunning_contact", contact.is_primary), row=None,
            )
        )  # fmt: skip
        writes.apply(org, ledger, what="contacts", user_id=user_id_of(request))
        contact.refresh_from_db()
    return describe_contact(contact)


# -- invoices -------------------------------------------------------------------------------


def describe_invoice(i: Invoice) -> dict[str, Any]:
    return {
        "id": i.pk, "number": i.number, "kind": i.kind, "customer_id": i.customer_id,
        "customer_reference": i.customer.reference, "issue_date": i.issue_date,
        "due_date": i.due_date, "currency": i.currency, "amount": money(i.amount),
        "amount_excl_tax": money(i.amount_excl_tax), "tax_amount": money(i.tax_amount),
        "balance": money(i.balance), "settled_on": i.settled_on,
        "status": "open" if i.balance > 0 else "settled", "po_reference": i.po_reference,
        "created_at": i.created_at, "updated_at": i.updated_at,
    }  # fmt: skip


@router.get("/invoices", response=responses(InvoicePage), auth=READ, tags=["invoices"])
def list_invoices(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    number: str | None = Ref,
    status: str | None = Query(None, pattern=r"^(open|settled)$"),
    due_before: dt.date | None = DueBefore,
    due_after: dt.date | None = DueAfter,
    updated_since: dt.datetime | None = None,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = Invoice.objects.filter(organisation=org_of(request)).select_related("customer")
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if number:
        rows = rows.filter(number=number)
    if status:
        rows = rows.filter(balance__gt=0) if status == "open" else rows.filter(balance__lte=0)
    if due_before:
        rows = rows.filter(due_date__lte=due_before)
    if due_after:
        rows = rows.filter(due_date__gte=due_after)
    if updated_since:
        rows = rows.filter(updated_at__gte=updated_since)
    return page(rows, cursor, limit, describe_invoice)


@router.get("/invoices/{int:id}", response=responses(InvoiceOut), auth=READ, tags=["invoices"])
def get_invoice(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    qs = Invoice.objects.select_related("customer")
    return describe_invoice(one(qs, org_of(request), id, "invoice"))


def _invoice_record(row: InvoiceIn, index: int | None) -> writes.InvoiceRecord:
    return writes.InvoiceRecord(
        number=row.number, customer=row.customer_reference, issue_date=row.issue_date,
        due_date=row.due_date, currency=row.currency, amount=row.amount,
        amount_excl_tax=row.amount_excl_tax, tax_amount=row.tax_amount, kind=row.kind,
        po_reference=row.po_reference, row=index,
    )  # fmt: skip


def _upsert_invoices(request: HttpRequest, rows: list[InvoiceIn], label: str) -> ImportResult:
    org = org_of(request)
    known = writes.known_customers(org, (r.customer_reference for r in rows))
    ledger = writes.batch(label)
    errors = []
    for index, row in enumerate(rows):
        if row.customer_reference not in known:
            errors.append(
                item("customer_reference", f"no customer {row.customer_reference!r}", index)
            )
            continue
        ledger.invoices.append(_invoice_record(row, index))
    ledger.rows_read = len(rows)
    return writes.apply(org, ledger, what="invoices", errors=errors, user_id=user_id_of(request))


@router.post("/invoices", response=responses(InvoiceOut, 201), auth=WRITE, tags=["invoices"])
def create_invoice(request: HttpRequest, payload: InvoiceIn) -> Status[dict[str, Any]]:
    org = org_of(request)
    if Invoice.objects.filter(organisation=org, number=payload.number).exists():
        raise ApiProblem(409, f"invoice {payload.number!r} exists: PATCH it or use /invoices/bulk",
                         [item("number", "is taken")])  # fmt: skip
    _upsert_invoices(request, [payload], "API: new invoice")
    created = Invoice.objects.select_related("customer").get(
        organisation=org, number=payload.number
    )
    return Status(201, describe_invoice(created))


@router.patch("/invoices/{int:id}", response=responses(InvoiceOut), auth=WRITE, tags=["invoices"])
def update_invoice(request: HttpRequest, payload: InvoicePatch, id: int = IdPath) -> dict[str, Any]:
    """Change the fields given; the balance follows a new amount."""
    org = org_of(request)
    invoice = one(Invoice.objects.select_related("customer"), org, id, "invoice")
    given = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    if given:
        merged = InvoiceIn(
            number=invoice.number,
            customer_reference=given.get("customer_reference", invoice.customer.reference),
            issue_date=given.get("issue_date", invoice.issue_date),
            due_date=given.get("due_date", invoice.due_date),
            currency=given.get("currency", invoice.currency),
            amount=given.get("amount", invoice.amount),
            amount_excl_tax=given.get("amount_excl_tax", invoice.amount_excl_tax),
            tax_amount=given.get("tax_amount", invoice.tax_amount),
            kind=given.get("kind", invoice.kind),
            po_reference=given.get("po_reference", invoice.po_reference),
        )
        if "amount" in given and not {"amount_excl_tax", "tax_amount"} & set(given):
            merged.amount_excl_tax = merged.tax_amount = None  # the new total says nothing of them
        _upsert_invoices(request, [merged], f"API: invoice {invoice.number}")
    return describe_invoice(Invoice.objects.select_related("customer").get(pk=invoice.pk))


def _counts(result: ImportResult, what: str, total: int) -> dict[str, Any]:
    created = result.counts.get(f"{what}_created", 0)
    updated = result.counts.get(f"{what}_updated", 0)
    return {"created": created, "updated": updated, "unchanged": total - created - updated,
            "import_run_id": result.run_id}  # fmt: skip


@router.post("/invoices/bulk", response=responses(BulkOut), auth=BULK, tags=["bulk"])
def bulk_invoices(request: HttpRequest, payload: InvoiceBulkIn) -> dict[str, Any]:
    """Create or update up to 5,000 invoices keyed by number, all or nothing: a refusal
    lists every row's error (its ``index``, ``field`` and ``message``)."""
    result = _upsert_invoices(request, payload.items, "API: bulk invoices")
    return _counts(result, "invoices", len(payload.items))


# -- payments -------------------------------------------------------------------------------


def _payments(organisation: Any) -> Any:
    return (
        Payment.objects.filter(organisation=organisation)
        .select_related("customer")
        .annotate(allocated_total=Coalesce(Sum("allocations__amount"), _ZERO))
    )


def describe_payment(p: Payment) -> dict[str, Any]:
    allocated = getattr(p, "allocated_total", Decimal(0))
    return {
        "id": p.pk, "reference": p.reference, "kind": p.kind, "customer_id": p.customer_id,
        "customer_reference": p.customer.reference, "date": p.date, "currency": p.currency,
        "amount": money(p.amount), "allocated": money(allocated),
        "unallocated": money(p.amount - allocated), "method": p.method, "memo": p.memo,
        "created_at": p.created_at,
    }  # fmt: skip


@router.get("/payments", response=responses(PaymentPage), auth=READ, tags=["payments"])
def list_payments(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    reference: str | None = Ref,
    date_after: dt.date | None = DatedAfter,
    date_before: dt.date | None = DatedBefore,
    created_since: dt.datetime | None = None,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = _payments(org_of(request))
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if reference:
        rows = rows.filter(reference=reference)
    if date_after:
        rows = rows.filter(date__gte=date_after)
    if date_before:
        rows = rows.filter(date__lte=date_before)
    if created_since:
        rows = rows.filter(created_at__gte=created_since)
    return page(rows, cursor, limit, describe_payment)


@router.get("/payments/{int:id}", response=responses(PaymentOut), auth=READ, tags=["payments"])
def get_payment(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    return describe_payment(one(_payments(org), org, id, "payment"))


def _upsert_payments(request: HttpRequest, rows: list[PaymentIn], label: str) -> ImportResult:
    org = org_of(request)
    known = writes.known_customers(org, (r.customer_reference for r in rows))
    ledger = writes.batch(label)
    errors = []
    for index, row in enumerate(rows):
        if row.customer_reference and row.customer_reference not in known:
            errors.append(
                item("customer_reference", f"no customer {row.customer_reference!r}", index)
            )
            continue
        ledger.payments.append(
            writes.PaymentRecord(
                reference=row.reference, customer=row.customer_reference, date=row.date,
                currency=row.currency, amount=row.amount, kind=row.kind, method=row.method,
                memo=row.memo, row=index,
            )
        )  # fmt: skip
        for allocation in row.allocations:
            ledger.allocations.append(
                writes.AllocationRecord(
                    payment=row.reference, invoice=allocation.invoice_number,
                    amount=allocation.amount, date=allocation.date or row.date, row=index,
                )
            )  # fmt: skip
    ledger.rows_read = len(rows)
    return writes.apply(org, ledger, what="payments", errors=errors, user_id=user_id_of(request))


@router.post("/payments", response=responses(PaymentOut, 201), auth=WRITE, tags=["payments"])
def create_payment(request: HttpRequest, payload: PaymentIn) -> Status[dict[str, Any]]:
    """A payment or credit note with the invoices it settles; their balances follow."""
    org = org_of(request)
    if Payment.objects.filter(organisation=org, reference=payload.reference).exists():
        raise ApiProblem(
            409, f"payment {payload.reference!r} exists: PATCH it or use /payments/bulk",
            [item("reference", "is taken")],
        )  # fmt: skip
    _upsert_payments(request, [payload], "API: new payment")
    return Status(201, describe_payment(_payments(org).get(reference=payload.reference)))


@router.patch("/payments/{int:id}", response=responses(PaymentOut), auth=WRITE, tags=["payments"])
def update_payment(request: HttpRequest, payload: PaymentPatch, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    payment = one(_payments(org), org, id, "payment")
    given = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    if given:
        ledger = writes.batch(f"API: payment {payment.reference}")
        ledger.payments.append(
            writes.PaymentRecord(
                reference=payment.reference, customer=payment.customer.reference,
                date=given.get("date", payment.date), currency=payment.currency,
                amount=given.get("amount", payment.amount), kind=payment.kind,
                method=given.get("method", payment.method), memo=given.get("memo", payment.memo),
                row=None,
            )
        )  # fmt: skip
        ledger.rows_read = 1
        writes.apply(org, ledger, what="payments", user_id=user_id_of(request))
    return describe_payment(_payments(org).get(pk=payment.pk))


@router.post("/payments/bulk", response=responses(BulkOut), auth=BULK, tags=["bulk"])
def bulk_payments(request: HttpRequest, payload: PaymentBulkIn) -> dict[str, Any]:
    """Create or update up to 5,000 payments and credit notes keyed by reference, with
    their allocations, all or nothing (as /invoices/bulk)."""
    result = _upsert_payments(request, payload.items, "API: bulk payments")
    return _counts(result, "payments", len(payload.items))


# -- allocations ----------------------------------------------------------------------------


def describe_allocation(a: Allocation) -> dict[str, Any]:
    return {
        "id": a.pk, "payment_id": a.payment_id, "payment_reference": a.payment.reference,
        "invoice_id": a.invoice_id, "invoice_number": a.invoice.number,
        "amount": money(a.amount), "currency": a.invoice.currency, "date": a.date,
    }  # fmt: skip


def _allocations(organisation: Any) -> Any:
    return Allocation.objects.filter(organisation=organisation).select_related("payment", "invoice")


@router.get("/allocations", response=responses(AllocationPage), auth=READ, tags=["allocations"])
def list_allocations(
    request: HttpRequest,
    payment_id: int | None = IdFilter,
    invoice_id: int | None = IdFilter,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = _allocations(org_of(request))
    if payment_id:
        rows = rows.filter(payment_id=payment_id)
    if invoice_id:
        rows = rows.filter(invoice_id=invoice_id)
    return page(rows, cursor, limit, describe_allocation)


@router.get(
    "/allocations/{int:id}", response=responses(AllocationOut), auth=READ, tags=["allocations"]
)
def get_allocation(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    return describe_allocation(one(_allocations(org), org, id, "allocation"))


@router.post(
    "/allocations", response=responses(AllocationOut, 201), auth=WRITE, tags=["allocations"]
)
def set_allocation(request: HttpRequest, payload: AllocationIn) -> Status[dict[str, Any]]:
    """Set the part of a payment set against an invoice (*lettrage*): created, or changed
    when the pair has one. Nothing may allocate more than the payment holds or the
    invoice owes."""
    org = org_of(request)
    payment = one(Payment.objects.select_related("customer"), org, payload.payment_id, "payment")
    invoice = one(Invoice.objects, org, payload.invoice_id, "invoice")
    ledger = writes.batch(f"API: allocation of {payment.reference}")
    # The payment as it is (unchanged), so that the pipeline checks its currency too.
    ledger.payments.append(
        writes.PaymentRecord(
            reference=payment.reference, customer=payment.customer.reference, date=payment.date,
            currency=payment.currency, amount=payment.amount, kind=payment.kind,
            method=payment.method, memo=payment.memo, row=None,
        )
    )  # fmt: skip
    ledger.allocations.append(
        writes.AllocationRecord(payment=payment.reference, invoice=invoice.number,
                                amount=payload.amount, date=payload.date or payment.date, row=None)
    )  # fmt: skip
    writes.apply(org, ledger, what="allocations", user_id=user_id_of(request))
    found = _allocations(org).get(payment=payment, invoice=invoice)
    return Status(201, describe_allocation(found))
