"""What Stripe's webhook events do, once their signature is checked (``views``).

- ``checkout.session.completed`` with ``payment_status`` ``paid`` (a card): the payment is
  recorded. With ``unpaid`` (a payment method that settles later, a SEPA debit): the session
  waits, ``processing``, for
- ``checkout.session.async_payment_succeeded``: the payment is recorded; or
  ``checkout.session.async_payment_failed``: the session failed, nothing is recorded.
- ``checkout.session.expired``: the debtor never paid.

Recording a payment goes through the ledger's own path (``relance.ledger.payments.record``):
the money is allocated to the session's invoices, oldest first, each up to what it still owes
now; what is left (an invoice paid meanwhile by transfer) stays on the payment unallocated,
for a person to match or refund. Then the customer's timeline (``online_payment``) and the
audit trail.

Each event is handled once: its id is stored (``ProviderEvent``) in the transaction of what
it did, so that Stripe's retries and replays change nothing, and a crash midway leaves the
event to be handled again when Stripe retries it. A session is looked up within the
organisation whose endpoint received the event: another organisation's session is unknown.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_money
from relance.checkout import stripe
from relance.checkout.models import CheckoutInvoice, CheckoutSession, ProviderEvent, Status
from relance.ledger import payments, timeline
from relance.ledger.models import Invoice, Payment
from relance.ledger.timeline import Text

log = logging.getLogger(__name__)

ACTOR = "webhook:stripe"
COMPLETED = "checkout.session.completed"
SUCCEEDED = "checkout.session.async_payment_succeeded"
FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
HANDLED = {COMPLETED, SUCCEEDED, FAILED, EXPIRED}


def handle(
    organisation: Organisation, event: dict[str, Any], request: HttpRequest | None = None
) -> str:
    """Apply a verified event of the organisation's endpoint once; what it did, in a word
    (``paid``, ``processing``, ``failed``, ``expired``, ``duplicate``, ``ignored``, ...).
    Events of other types (an endpoint subscribed to more) are answered and not kept."""
    if event["type"] not in HANDLED:
        return "ignored"
    with transaction.atomic():
        try:
            with transaction.atomic():
                seen = ProviderEvent.objects.create(
                    organisation=organisation, provider="stripe", event_id=event["id"][:255],
                    type=event["type"][:100], outcome="",
                )  # fmt: skip
        except IntegrityError:
            return "duplicate"
        outcome = _apply(organisation, event, request)
        seen.outcome = outcome
        seen.save(update_fields=["outcome"])
    return outcome


def _apply(organisation: Organisation, event: dict[str, Any], request: HttpRequest | None) -> str:
    kind = event["type"]
    obj = event["data"]["object"]
    if kind not in HANDLED or obj.get("object") != "checkout.session":
        return "ignored"
    session = (
        CheckoutSession.objects.select_for_update()
        .filter(organisation=organisation, provider="stripe", provider_id=str(obj.get("id")))
        .select_related("customer")
        .first()
    )
    if session is None:
        # A session Relance did not make (the account sells elsewhere too), or another
        # organisation's: nothing of this organisation to change.
        log.info("Stripe event %s for an unknown session %s", event["id"], obj.get("id"))
        return "unknown_session"
    if session.status == Status.PAID:
        return "already_paid"
    if kind == EXPIRED:
        if session.status in (Status.PENDING, Status.OPEN):
            session.status = Status.EXPIRED
            session.save(update_fields=["status"])
            return "expired"
        return "ignored"
    if kind == FAILED:
        session.status = Status.FAILED
        session.save(update_fields=["status"])
        trail.record(organisation, "checkout.failed", actor=ACTOR, target=session,
                     summary=Text(gettext_noop("The online payment of %(customer)s failed "
                                               "(%(amount)s)"),
                                  {"customer": session.customer.reference,
                                   "amount": lazy_money(session.amount, session.currency)}),
                     data={"provider_id": session.provider_id, "event": event["id"]},
                     request=request)  # fmt: skip
        return "failed"
    if kind == COMPLETED and obj.get("payment_status") != "paid":
        session.status = Status.PROCESSING
        session.save(update_fields=["status"])
        return "processing"
    return _paid(organisation, session, event, request)


def _paid(
    organisation: Organisation,
    session: CheckoutSession,
    event: dict[str, Any],
    request: HttpRequest | None,
) -> str:
    obj = event["data"]["object"]
    currency = str(obj.get("currency") or "").upper()
    total = obj.get("amount_total")
    if currency != session.currency or not isinstance(total, int) or total <= 0:
        # Not what was asked: a person looks (nothing is guessed into the ledger).
        trail.record(organisation, "checkout.mismatch", actor=ACTOR, target=session,
                     summary=Text(gettext_noop("Stripe reported %(total)s %(currency)s (minor "
                                               "units) for a session of %(amount)s: not "
                                               "recorded"),
                                  {"total": str(total), "currency": currency or "?",
                                   "amount": lazy_money(session.amount, session.currency)}),
                     data={"provider_id": session.provider_id, "event": event["id"]},
                     request=request)  # fmt: skip
        return "mismatch"
    amount = stripe.from_minor_units(total, currency)
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):  # expanded
        intent = intent.get("id")
    reference = str(intent or session.provider_id)[:96]
    on = _date(organisation, event)
    links = list(
        CheckoutInvoice.objects.filter(session=session)
        .order_by("position")
        .values_list("invoice_id", flat=True)
    )
    existing = Payment.objects.filter(organisation=organisation, reference=reference).first()
    if existing is not None:
        # Recorded already (by an import of the account's payouts): matched, not doubled.
        allocations: list[tuple[int, Decimal]] = []
        payment, outcome = existing, "already_recorded"
    else:
        payment, allocations = payments.record(
            organisation.pk, session.customer_id, reference=reference, date=on,
            currency=currency, amount=amount, invoice_ids=links, method="stripe",
            memo=f"Stripe Checkout {session.provider_id}"[:200], source="stripe",
        )  # fmt: skip
        outcome = "paid"
    session.status, session.payment, session.paid_at = Status.PAID, payment, timezone.now()
    session.save(update_fields=["status", "payment", "paid_at"])
    if outcome == "paid":
        _write_timeline(organisation, session, payment, allocations, event)
    allocated = sum((part for _, part in allocations), Decimal("0.00"))
    trail.record(organisation, "checkout.paid", actor=ACTOR, target=payment,
                 summary=Text(gettext_noop("%(customer)s paid %(amount)s online (%(reference)s), "
                                           "%(allocated)s allocated"),
                              {"customer": session.customer.reference,
                               "amount": lazy_money(amount, currency), "reference": reference,
                               "allocated": lazy_money(allocated, currency)}),
                 data={"provider_id": session.provider_id, "event": event["id"],
                       "reference": reference, "amount": amount, "currency": currency,
                       "allocated": allocated, "unallocated": amount - allocated,
                       "outcome": outcome},
                 request=request)  # fmt: skip
    return outcome


def _write_timeline(
    organisation: Organisation,
    session: CheckoutSession,
    payment: Payment,
    allocations: list[tuple[int, Decimal]],
    event: dict[str, Any],
) -> None:
    numbers = dict(
        Invoice.objects.filter(pk__in=[pk for pk, _ in allocations]).values_list("pk", "number")
    )
    allocated = sum((part for _, part in allocations), Decimal("0.00"))
    unallocated = payment.amount - allocated
    params = {
        "amount": lazy_money(payment.amount, payment.currency),
        "invoices": ", ".join(numbers[pk] for pk, _ in allocations) or "-",
    }
    if unallocated > 0:
        params["unallocated"] = lazy_money(unallocated, payment.currency)
        summary = Text(
            gettext_noop("Paid %(amount)s online for %(invoices)s, %(unallocated)s unallocated"),
            params,
        )
    else:
        summary = Text(gettext_noop("Paid %(amount)s online for %(invoices)s"), params)
    timeline.record(
        organisation, session.customer_id, "online_payment", summary,
        data={"provider": "stripe", "session": session.pk, "provider_id": session.provider_id,
              "event": event["id"], "payment": payment.pk, "reference": payment.reference,
              "amount": payment.amount, "currency": payment.currency,
              "allocations": [{"invoice": numbers[pk], "amount": str(part)}
                              for pk, part in allocations],
              "unallocated": unallocated},
        invoice_id=allocations[0][0] if len(allocations) == 1 else None,
    )  # fmt: skip


def _date(organisation: Organisation, event: dict[str, Any]) -> dt.date:
    """The day Stripe confirmed the payment (the event's creation), in the organisation's
    time zone; today when the event carries no time."""
    try:
        zone = ZoneInfo(organisation.timezone)
    except (ValueError, KeyError):
        zone = ZoneInfo("Europe/Paris")
    created = event.get("created")
    at = dt.datetime.fromtimestamp(created, tz=dt.UTC) if isinstance(created, int) else None
    return timezone.localtime(at or timezone.now(), zone).date()
