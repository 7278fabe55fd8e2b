"""Money received, written to the ledger the way the imports and the dispute outcomes write
it: a ``Payment``, its ``Allocation`` rows against invoices, then ``balances.refresh`` (the
one place that recomputes stored balances and customer summaries), in one transaction.

``spread`` decides, as a pure function, how an amount covers invoices in a given order, each
at most what it still owes; what it leaves over stays on the payment, unallocated (cash on
account, seen in the aged balance's "unallocated credits"), never lost nor forced onto an
invoice already paid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction

from relance.ledger import balances
from relance.ledger.models import Allocation, Invoice, Payment, PaymentKind

ZERO = Decimal("0.00")


def spread(amount: Decimal, owed: Sequence[tuple[int, Decimal]]) -> list[tuple[int, Decimal]]:
    """``amount`` allocated to the items ``owed`` ((id, balance), in the order given), each
    at most its balance; items owing nothing get nothing."""
    left = amount
    allocations: list[tuple[int, Decimal]] = []
    for item_id, balance in owed:
        if left <= 0:
            break
        part = min(left, balance)
        if part > 0:
            allocations.append((item_id, part))
            left -= part
    return allocations


@transaction.atomic
def record(
    organisation_id: int,
    customer_id: int,
    *,
    reference: str,
    date: dt.date,
    currency: str,
    amount: Decimal,
    invoice_ids: Sequence[int],
    method: str = "",
    memo: str = "",
    source: str = "",
) -> tuple[Payment, list[tuple[int, Decimal]]]:
    """A payment of the customer, allocated to ``invoice_ids`` in that order (only the
    customer's invoices in the payment's currency, each up to its balance now); the rest
    unallocated. The payment and its allocations ((invoice id, amount))."""
    invoices = Invoice.objects.filter(
        organisation_id=organisation_id, customer_id=customer_id, currency=currency,
        pk__in=list(invoice_ids),
    ).select_for_update()  # fmt: skip
    owed = dict(invoices.values_list("pk", "balance"))
    allocations = spread(amount, [(pk, owed[pk]) for pk in invoice_ids if pk in owed])
    payment = Payment.objects.create(
        organisation_id=organisation_id, customer_id=customer_id, kind=PaymentKind.PAYMENT,
        reference=reference, date=date, currency=currency, amount=amount, method=method,
        memo=memo, source=source,
    )  # fmt: skip
    Allocation.objects.bulk_create(
        Allocation(organisation_id=organisation_id, payment=payment, invoice_id=invoice_id,
                   amount=part, date=date)
        for invoice_id, part in allocations
    )  # fmt: skip
    balances.refresh(organisation_id, [pk for pk, _ in allocations], [customer_id])
    return payment, allocations
