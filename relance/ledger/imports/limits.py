"""What the ledger's columns hold, read from the models, checked on every import's records.

SQLite stores a 300-character name in a column of 200 and a 20-digit amount in a decimal of
18 digits; PostgreSQL refuses them with a database error. Checking the records against the
models' own ``max_length`` and ``max_digits`` before anything is written gives one set of
limits on both databases, and a refusal that names the row and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from operator import attrgetter, methodcaller
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext as _

from relance.accounts.services import check_currency, is_currency
from relance.ledger.imports.records import CustomerRecord, LedgerBatch
from relance.ledger.models import Address, Allocation, Contact, Customer, Invoice, Payment
from relance.lib import controls


def max_length(model: type[models.Model], name: str) -> int:
    field: Any = model._meta.get_field(name)
    return int(field.max_length)


def max_amount(model: type[models.Model], name: str) -> Decimal:
    """The first amount a DecimalField cannot hold: 10 ** (max_digits - decimal_places)."""
    field: Any = model._meta.get_field(name)
    return Decimal(10) ** (field.max_digits - field.decimal_places)


# (record attribute, target, model, model field) for each list of a batch.
_INVOICE_TEXT = (
    ("number", "invoice.number", Invoice, "number"),
    ("currency", "invoice.currency", Invoice, "currency"),
    ("po_reference", "invoice.po_reference", Invoice, "po_reference"),
)
_INVOICE_AMOUNTS = (
    ("amount", "invoice.amount", Invoice, "amount"),
    ("amount_excl_tax", "invoice.amount_excl_tax", Invoice, "amount_excl_tax"),
    ("tax_amount", "invoice.tax_amount", Invoice, "tax_amount"),
)
_PAYMENT_TEXT = (
    ("reference", "payment.reference", Payment, "reference"),
    ("currency", "payment.currency", Payment, "currency"),
    ("method", "payment.method", Payment, "method"),
    ("memo", "payment.memo", Payment, "memo"),
)
_PAYMENT_AMOUNTS = (("amount", "payment.amount", Payment, "amount"),)
_ALLOCATION_AMOUNTS = (("amount", "allocation.amount", Allocation, "amount"),)
_CONTACT_TEXT = (
    ("name", "contact.name", Contact, "name"),
    ("email", "contact.email", Contact, "email"),
    ("phone", "contact.phone", Contact, "phone"),
    ("role", "contact.role", Contact, "role"),
)


def check_limits(batch: LedgerBatch) -> Iterator[tuple[int | None, str, str]]:
    """(row, target, message) for every value of the batch its column cannot hold."""
    for kind in RECORD_KINDS:
        yield from check_records(kind, getattr(batch, kind))
    yield from check_customers(batch.customers.values())


RECORD_KINDS = ("invoices", "payments", "allocations", "contacts")  # a batch's lists
_LIMITS = {
    "invoices": (_INVOICE_TEXT, _INVOICE_AMOUNTS),
    "payments": (_PAYMENT_TEXT, _PAYMENT_AMOUNTS),
    "allocations": ((), _ALLOCATION_AMOUNTS),
    "contacts": (_CONTACT_TEXT, ()),
}


def record_targets(kind: str) -> tuple[str, ...]:
    """The targets check_records reports on for ``kind``, in the order it reports them."""
    texts, amounts = _LIMITS[kind]
    return tuple(target for _attribute, target, _model, _name in (*texts, *amounts))


def check_records(kind: str, records: list[Any]) -> Iterator[tuple[int | None, str, str]]:
    """check_limits for one list of a batch (``kind``: one of RECORD_KINDS)."""
    yield from _check(records, *_LIMITS[kind])
    if kind in ("invoices", "payments"):
        yield from _currencies(records, f"{kind[:-1]}.currency")


def _currencies(records: list[Any], target: str) -> Iterator[tuple[int | None, str, str]]:
    """An amount's currency is an ISO 4217 code, whatever gave it (a file's column, an
    e-invoice, the API): each code asked once."""
    codes = set(map(attrgetter("currency"), records))
    if all(is_currency(code) for code in codes):
        return
    for record in records:
        if not is_currency(record.currency):
            try:
                check_currency(record.currency)
            except ValueError as error:
                yield record.row, target, str(error)


def check_customers(records: Iterable[CustomerRecord]) -> Iterator[tuple[int | None, str, str]]:
    """check_limits for customer records."""
    records = list(records)
    if len(records) > _FEW and not _may_exceed(records):
        return
    for record in records:
        yield from _customer(record.row, "customer.reference", record.reference, Customer,
                             "reference")  # fmt: skip
        for name, value in record.fields.items():
            if name == "address":
                for part, text in value.items():
                    yield from _customer(record.row, f"customer.address.{part}", text,
                                         Address, part)  # fmt: skip
            elif isinstance(value, str | Decimal):
                yield from _customer(record.row, f"customer.{name}", value, Customer, name)


_FIELDS = attrgetter("fields")
_FEW = 100  # customers checked one by one as quickly as a field at a time


def _may_exceed(records: list[CustomerRecord]) -> bool:
    """False when no value of these customers is over its column's limit, found a field at
    a time in C (a re-import names every customer); True sends them one by one."""
    references = list(map(attrgetter("reference"), records))
    if max(map(len, references), default=0) > max_length(Customer, "reference"):
        return True
    if controls.found_in("".join(references)):
        return True
    fields = list(map(_FIELDS, records))
    addresses = [f["address"] for f in fields if "address" in f]
    groups: list[tuple[type[models.Model], str, list[dict[str, Any]]]]
    groups = [(Customer, name, fields) for name in set().union(*fields) - {"address"}]
    groups += [(Address, part, addresses) for part in set().union(*addresses)]
    try:
        for model, name, dicts in groups:
            field: Any = model._meta.get_field(name)
            if field.max_length:  # text: "" where a customer has none
                texts = list(map(methodcaller("get", name, ""), dicts))
                if max(map(len, texts)) > field.max_length:
                    return True
                if controls.found_in("".join(texts)):
                    return True
            elif isinstance(field, models.TextField):
                if controls.found_in("".join(map(methodcaller("get", name, ""), dicts)),
                                     multiline=True):  # fmt: skip
                    return True
            elif isinstance(field, models.DecimalField):
                values = map(methodcaller("get", name, Decimal(0)), dicts)
                if max(map(abs, values)) >= max_amount(model, name):
                    return True
    except (TypeError, FieldDoesNotExist):  # a value of another kind: looked at one by one
        return True
    return False


def _check(
    records: list[Any],
    texts: Iterable[tuple[str, str, type[models.Model], str]],
    amounts: Iterable[tuple[str, str, type[models.Model], str]],
) -> Iterator[tuple[int | None, str, str]]:
    # The common case costs one pass in C per attribute; rows are looked at one by one
    # only when some value is over the limit.
    for attribute, target, model, name in texts:
        limit = max_length(model, name)
        get: Callable[[Any], Any] = attrgetter(attribute)
        if max(map(len, map(get, records)), default=0) > limit:
            for record in records:
                if len(get(record)) > limit:
                    yield record.row, target, _too_long(get(record), limit)
        multiline = _multiline(model, name)
        if controls.found_in("".join(map(get, records)), multiline=multiline):
            for record in records:
                if found := controls.problem(get(record), multiline=multiline):
                    yield record.row, target, found
    for attribute, target, model, name in amounts:
        bound = max_amount(model, name)
        get = attrgetter(attribute)
        if max(map(abs, filter(None, map(get, records))), default=0) >= bound:  # None, 0 out
            for record in records:
                value = get(record)
                if value is not None and abs(value) >= bound:
                    yield record.row, target, too_large(value, bound)


def _customer(
    row: int | None, target: str, value: Any, model: type[models.Model], name: str
) -> Iterator[tuple[int | None, str, str]]:
    field: Any = model._meta.get_field(name)
    if isinstance(value, str) and field.max_length and len(value) > field.max_length:
        yield row, target, _too_long(value, field.max_length)
    elif isinstance(value, str) and (
        found := controls.problem(value, multiline=_multiline(model, name))
    ):
        yield row, target, found
    elif isinstance(value, Decimal) and abs(value) >= max_amount(model, name):
        yield row, target, too_large(value, max_amount(model, name))


def _too_long(value: str, limit: int) -> str:
    shown = value if len(value) <= 40 else value[:37] + "..."
    return _("%(value)s has %(length)s characters; Relance holds at most %(limit)s here") % {
        "value": repr(shown), "length": len(value), "limit": limit
    }  # fmt: skip


def _multiline(model: type[models.Model], name: str) -> bool:
    """Whether the field may hold line breaks (a TextField: notes), or is one line."""
    return isinstance(model._meta.get_field(name), models.TextField)


def too_large(value: Decimal, bound: Decimal) -> str:
    digits = len(str(int(bound))) - 1
    shown = f"{value:.2f}" if abs(value) < Decimal("1e40") else f"{value:.3E}"
    return _(
        "%(value)s is too large an amount: at most %(digits)s digits before the decimal point"
    ) % {"value": shown, "digits": digits}
