"""Which timeline kinds are which webhook events, and what each event says.

The timeline (relance.ledger.timeline) is the one log every part of Relance writes; a
webhook event is a timeline event of one of the kinds below, told to the outside in the
shape docs/webhooks.md documents: ``{"id", "type", "timestamp", "data"}``, ``data`` with the
customer's reference, the invoice's number, amounts as exact decimal strings and dates in
ISO 8601.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from relance.dunning.models import Promise
from relance.ledger.models import Customer, Dispute, Invoice, TimelineEvent

# The timeline kinds each event type comes from.
TYPES: dict[str, tuple[str, ...]] = {
    "communication.sent": ("communication_sent",),
    "communication.failed": ("communication_failed", "email_bounced", "sms_failed"),
    "promise.made": ("promise_recorded",),
    "promise.kept": ("promise_kept",),
    "promise.broken": ("promise_broken",),
    "dispute.opened": ("dispute_opened",),
    "dispute.resolved": ("dispute_resolved",),
    "invoice.paid": ("invoice_paid",),
    "payment.online": ("online_payment",),
    "portal.action": ("portal_action",),
    "reply.received": ("reply_received",),
}
TYPE_OF_KIND: dict[str, str] = {kind: type_ for type_, kinds in TYPES.items() for kind in kinds}
TEST = "webhook.test"  # what `relance webhooks test` sends

LABELS: dict[str, Any] = {
    "communication.sent": _("Communication sent"),
    "communication.failed": _("Communication failed"),
    "promise.made": _("Promise made"),
    "promise.kept": _("Promise kept"),
    "promise.broken": _("Promise broken"),
    "dispute.opened": _("Dispute opened"),
    "dispute.resolved": _("Dispute resolved"),
    "invoice.paid": _("Invoice paid"),
    "payment.online": _("Online payment"),
    "portal.action": _("Portal action"),
    "reply.received": _("Reply received"),
}


def kinds_of(types: Iterable[str]) -> set[str]:
    """The timeline kinds of these event types (every kind when ``types`` is empty)."""
    wanted = list(types) or list(TYPES)
    return {kind for type_ in wanted for kind in TYPES.get(type_, ())}


def message_id(event_id: int) -> str:
    """The event's id, the same for every endpoint, retry and replay; derived from the
    timeline's row without telling how many rows there are."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"timeline:{event_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"evt_{digest[:26]}"


def envelope(message: str, type_: str, timestamp: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": message, "type": type_, "timestamp": timestamp, "data": data}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


class Payloads:
    """Builds the payloads of a batch of timeline events, loading what they name (their
    customers, invoices, promises and disputes) in one query each."""

    def __init__(self, organisation_id: int, events: Sequence[TimelineEvent]):
        self.customers = {
            c["pk"]: c
            for c in Customer.objects.filter(
                organisation_id=organisation_id, pk__in={e.customer_id for e in events}
            ).values("pk", "reference", "legal_name")
        }
        invoice_ids = {e.invoice_id for e in events if e.invoice_id}
        self.promises = self._rows(Promise, organisation_id, events, "promise")
        self.disputes = self._rows(Dispute, organisation_id, events, "dispute")
        invoice_ids |= {p.invoice_id for p in self.promises.values() if p.invoice_id}
        invoice_ids |= {d.invoice_id for d in self.disputes.values()}
        self.invoices = Invoice.objects.filter(
            organisation_id=organisation_id, pk__in=invoice_ids
        ).in_bulk()

    @staticmethod
    def _rows(model: Any, organisation_id: int, events: Sequence[TimelineEvent], key: str) -> Any:
        ids = {e.data.get(key) for e in events if isinstance(e.data.get(key), int)}
        return model.objects.filter(organisation_id=organisation_id, pk__in=ids).in_bulk()

    def invoice(self, pk: int | None) -> dict[str, Any] | None:
        invoice = self.invoices.get(pk) if pk else None
        if invoice is None:
            return None
        return {
            "number": invoice.number,
            "currency": invoice.currency,
            "amount": _money(invoice.amount),
            "balance": _money(invoice.balance),
            "issue_date": _day(invoice.issue_date),
            "due_date": _day(invoice.due_date),
            "settled_on": _day(invoice.settled_on),
        }

    def payload(self, event: TimelineEvent) -> dict[str, Any]:
        type_ = TYPE_OF_KIND[event.kind]
        customer: Any = self.customers.get(event.customer_id, {})
        facts = event.data or {}
        data: dict[str, Any] = {
            "customer": {
                "reference": customer.get("reference"),
                "name": customer.get("legal_name"),
            },
            "summary": event.summary,
        }
        invoice_id = event.invoice_id
        if type_.startswith("communication."):
            data["communication"] = {
                "id": facts.get("communication"),
                "channel": facts.get("channel")
                or (
                    "sms"
                    if event.kind == "sms_failed"
                    else "email"
                    if event.kind == "email_bounced"
                    else None
                ),
                "template": facts.get("template"),
                "invoices": facts.get("invoices", []),
                "reason": facts.get("reason") or facts.get("status"),
            }
        elif type_.startswith("promise."):
            promise = self.promises.get(facts.get("promise"))
            if promise is not None:
                invoice_id = invoice_id or promise.invoice_id
                data["promise"] = {
                    "id": promise.pk,
                    "promised_on": _day(promise.promised_on),
                    "amount": _money(promise.amount),
                    "status": promise.status,
                    "broken_on": _day(promise.broken_on),
                }
        elif type_.startswith("dispute."):
            dispute = self.disputes.get(facts.get("dispute"))
            if dispute is not None:
                invoice_id = invoice_id or dispute.invoice_id
                data["dispute"] = {
                    "id": dispute.pk,
                    "reason": dispute.reason,
                    "amount": _money(dispute.amount),
                    "opened_on": _day(dispute.opened_on),
                    "resolved_on": _day(dispute.resolved_on),
                    "outcome": dispute.outcome or None,
                    "resolution": dispute.resolution or None,
                }
        elif type_ != "invoice.paid":  # portal actions, replies, online payments: as written
            data["details"] = facts
        data["invoice"] = self.invoice(invoice_id)
        return envelope(message_id(event.pk), type_, event.at.isoformat(), data)
