"""The balance of an item is its amount less what is allocated to it. This module is the one
place that recomputes the stored copy, set-based, after allocations change."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Case, DecimalField, F, Max, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce

from relance.ledger.models import Allocation, Invoice

CHUNK = 5000
_ZERO = Value(Decimal("0.00"), output_field=DecimalField(max_digits=18, decimal_places=2))


def refresh(organisation_id: int, invoice_ids: Iterable[int]) -> None:
    """Recompute ``balance`` and ``settled_on`` of the given invoices from their allocations.

    ``settled_on`` is the date of the last allocation once nothing is left to pay.
    """
    ids = sorted(set(invoice_ids))
    allocations = Allocation.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
    allocated = Subquery(allocations.annotate(total=Sum("amount")).values("total"))
    last_date = Subquery(allocations.annotate(last=Max("date")).values("last"))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        Invoice.objects.filter(organisation_id=organisation_id, pk__in=chunk).update(
            balance=F("amount") - Coalesce(allocated, _ZERO)
        )
        Invoice.objects.filter(organisation_id=organisation_id, pk__in=chunk).update(
            settled_on=Case(When(balance__lte=0, then=last_date), default=None)
        )
