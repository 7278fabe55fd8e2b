"""Writes of customers, contacts, invoices, payments and allocations go through the import
pipeline (``relance.ledger.imports.apply.apply_batch``): the same checks, the same
set-based writes, the same balance code, all or nothing. A single create is a batch of
one; a bulk upsert a batch of many (keyed by invoice number and payment reference)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from relance.accounts.models import Organisation
from relance.api.problems import ApiProblem, item
from relance.ledger.imports.apply import ImportResult, apply_batch
from relance.ledger.imports.records import (
    AllocationRecord,
    ContactRecord,
    CustomerRecord,
    ImportFailed,
    InvoiceRecord,
    LedgerBatch,
    PaymentRecord,
)
from relance.ledger.models import Customer

SOURCE = "api"
# The names the import pipeline gives fields, as the API names them.
_FIELDS = {
    "customer.reference": "customer_reference",
    "invoice.number": "number",
    "payment.reference": "reference",
}


def _field(name: str | None, what: str) -> str:
    if not name:
        return "body"
    if what == "payments" and name.startswith("invoice."):
        return "allocations"
    return _FIELDS.get(name, name.rpartition(".")[2])


def batch(label: str) -> LedgerBatch:
    return LedgerBatch(file=label, format="api", source=SOURCE)


def known_customers(organisation: Organisation, references: Iterable[str]) -> set[str]:
    wanted = {ref for ref in references if ref}
    return set(
        Customer.objects.filter(organisation=organisation, reference__in=wanted).values_list(
            "reference", flat=True
        )
    )


def apply(
    organisation: Organisation,
    ledger: LedgerBatch,
    *,
    what: str,
    errors: list[dict[str, Any]] | None = None,
    user_id: int | None = None,
) -> ImportResult:
    """Apply the batch whole or raise a 422 problem listing every row's error (``errors``
    found beforehand by the caller included); nothing is written then."""
    errors = list(errors or [])
    if errors:
        # Let the pipeline find the rest in one pass, writing nothing.
        try:
            apply_batch(organisation, ledger, dry_run=True, user_id=user_id)
        except ImportFailed as failure:
            errors += [item(_field(p.field, what), p.message, p.row) for p in failure.problems]
        raise ApiProblem(422, f"nothing was written: {len(errors)} error(s)", _sorted(errors))
    try:
        return apply_batch(organisation, ledger, user_id=user_id)
    except ImportFailed as failure:
        found = [item(_field(p.field, what), p.message, p.row) for p in failure.problems]
        raise ApiProblem(
            422, f"nothing was written: {len(found)} error(s)", _sorted(found)
        ) from None


def _sorted(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(errors, key=lambda e: (e["index"] is None, e["index"] or 0))


__all__ = [
    "AllocationRecord", "ContactRecord", "CustomerRecord", "InvoiceRecord", "PaymentRecord",
    "apply", "batch", "known_customers",
]  # fmt: skip
