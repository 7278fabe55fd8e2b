"""A dispute on several invoices of one customer at once (a delivery that went wrong
affects every invoice of it): one Dispute per invoice, each opened by
``pauses.open_dispute`` (its pause, its timeline event, its audit event), sharing a
``group`` so that they read, and can be followed, as one."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction

from relance.dunning import pauses
from relance.ledger.models import Customer, Dispute, DisputeReason, Invoice


class Refused(ValueError):
    """The disputes cannot be opened as asked; nothing was written."""


@transaction.atomic
def open_disputes(
    customer: Customer,
    invoices: Sequence[Invoice],
    *,
    reason: str,
    on: dt.date,
    amount: Decimal | None = None,
    note: str = "",
    user_id: int | None = None,
) -> list[Dispute]:
    """Open a dispute on each of ``invoices`` (the customer's, open). A disputed amount is
    only for a dispute on one invoice."""
    if not invoices:
        raise Refused("choose at least one invoice")
    if reason not in DisputeReason.values:
        raise Refused(f"unknown reason {reason!r}: one of {', '.join(DisputeReason.values)}")
    if len({i.pk for i in invoices}) != len(invoices):
        raise Refused("an invoice is named twice")
    for invoice in invoices:
        if invoice.customer_id != customer.pk:
            raise Refused(f"invoice {invoice.number} is not {customer.reference}'s")
        if invoice.balance <= 0:
            raise Refused(f"invoice {invoice.number} is paid: there is nothing to dispute")
    if amount is not None and len(invoices) > 1:
        raise Refused("a disputed amount is for a dispute on one invoice")
    group = uuid.uuid4().hex[:12] if len(invoices) > 1 else ""
    disputes = []
    for invoice in sorted(invoices, key=lambda i: (i.due_date, i.number)):
        invoice.customer = customer  # the timeline event is written on it
        try:
            dispute = pauses.open_dispute(
                invoice, reason=reason, on=on, amount=amount, note=note, user_id=user_id
            )
        except pauses.PauseError as exc:
            raise Refused(f"invoice {invoice.number}: {exc}") from None
        disputes.append(dispute)
    if group:
        Dispute.objects.filter(pk__in=[d.pk for d in disputes]).update(group=group)
        for dispute in disputes:
            dispute.group = group
    return disputes
