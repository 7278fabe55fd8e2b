"""What an item is dunned for, read from the ledger: the one reading behind the run, the
send-time re-check, the messages and letters, the penalties, the console's customer page
and the portal (the rule itself is ``policy.amount_asked``).

An open dispute suspends its invoice, with or without a disputed amount (the engine's
contract), except a dispute "not approved" with an amount: the buyer approved the rest of
the invoice on the e-invoicing platform (status 206, design/law.md: "remind only the
approved amount"), so the invoice is not suspended but dunned for the approved part still
unpaid. A credit note for the part not approved, a later 205 (approved in full) or a
payment of everything resolves that dispute as any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

from django.db.models import QuerySet

from relance.dunning import policy
from relance.ledger.models import Dispute, DisputeReason, Invoice


class OpenDisputes(NamedTuple):
    suspending: set[int]  # invoice ids an open dispute suspends
    # The part not approved by the buyer, per invoice it limits (the largest when several).
    unapproved: dict[int, Decimal]


def suspends(reason: str, amount: Decimal | None) -> bool:
    """Whether an open dispute suspends its invoice: all but a "not approved" one with the
    amount not approved (without an amount, the buyer approved nothing known: it suspends)."""
    return reason != DisputeReason.NOT_APPROVED or amount is None


def split(rows: Iterable[tuple[int, str, Decimal | None]]) -> OpenDisputes:
    """The open disputes (invoice id, reason, amount) as dunning reads them."""
    suspending: set[int] = set()
    unapproved: dict[int, Decimal] = {}
    for invoice_id, reason, amount in rows:
        if suspends(reason, amount):
            suspending.add(invoice_id)
        else:
            assert amount is not None
            unapproved[invoice_id] = max(amount, unapproved.get(invoice_id, amount))
    return OpenDisputes(suspending, unapproved)


def open_disputes(disputes: QuerySet[Dispute]) -> OpenDisputes:
    """The open disputes among ``disputes`` (one query)."""
    return split(
        disputes.filter(resolved_on__isnull=True).values_list("invoice_id", "reason", "amount")
    )


def unapproved_of(invoice_ids: Iterable[int]) -> dict[int, Decimal]:
    """The part not approved of each of these invoices the buyer approved only in part."""
    return open_disputes(
        Dispute.objects.filter(
            invoice_id__in=sorted(set(invoice_ids)), reason=DisputeReason.NOT_APPROVED
        )
    ).unapproved


def asked(invoice: Invoice, unapproved: Mapping[int, Decimal], min_balance: Decimal) -> Decimal:
    """What ``invoice`` is dunned for (``policy.amount_asked``), given ``unapproved_of``."""
    return policy.amount_asked(invoice.balance, unapproved.get(invoice.pk), min_balance)
