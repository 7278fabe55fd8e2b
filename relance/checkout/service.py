"""What the portal calls: ``available`` (show "Pay online"?) and ``start`` (the provider's
page to send the debtor to).

``start`` records the session before asking Stripe (record, then send): a debtor who pays on
a page whose answer was lost is still found back by the webhook, through the session's
Idempotency-Key retried once and the session id Stripe returns. The call to Stripe is made
outside any transaction: a slow provider never holds the database's write lock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext, gettext_noop, ngettext

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_money
from relance.checkout import config, stripe
from relance.checkout.models import CheckoutInvoice, CheckoutSession, Status
from relance.dunning import owed
from relance.ledger.models import Customer, Invoice
from relance.ledger.timeline import Text

# Stripe takes up to 100 line items in payment mode; beyond, one line for them all.
LINE_ITEMS = 100
STRIPE_LOCALES = {"fr", "en"}  # the customer languages Relance has, both known to Stripe


class CheckoutError(Exception):
    """No checkout page could be made; the message says why (for the log and the portal's
    generic error, never shown verbatim to the debtor)."""


class Unavailable(CheckoutError):
    """The organisation does not pay online (``available`` is false)."""


def available(organisation: Organisation) -> bool:
    """The organisation takes payments online: Stripe is enabled for it, with its keys."""
    return config.account(organisation) is not None


def start(
    organisation: Organisation,
    customer: Customer,
    invoice_ids: Iterable[int],
    *,
    success_url: str,
    cancel_url: str,
) -> str:
    """The address of Stripe's Checkout page where ``customer`` pays what ``invoice_ids``
    still owe (what each is dunned for, ``owed.asked``, in their one currency).
    CheckoutError when it cannot be: not available, an invoice that is not an open one of
    this customer, several currencies, nothing approved to pay, or Stripe refusing."""
    account = config.account(organisation)
    if account is None:
        raise Unavailable(f"{organisation.slug} does not take payments online")
    if customer.organisation_id != organisation.pk:
        raise CheckoutError("the customer is not the organisation's")
    invoices = _open_invoices(organisation, customer, invoice_ids)
    # What each is dunned for (owed.asked): a partly approved invoice, its approved part.
    unapproved = owed.unapproved_of(invoice.pk for invoice in invoices)
    asked = {i.pk: owed.asked(i, unapproved, organisation.min_balance) for i in invoices}
    invoices = [invoice for invoice in invoices if asked[invoice.pk] > 0]
    if not invoices:
        raise CheckoutError("nothing to pay: the buyer approved nothing still owed")
    currency = invoices[0].currency
    amount = sum((asked[invoice.pk] for invoice in invoices), Decimal("0.00"))
    try:
        stripe.minor_units(amount, currency)
    except ValueError as error:
        raise CheckoutError(str(error)) from None
    with transaction.atomic():
        session = CheckoutSession.objects.create(
            organisation=organisation, customer=customer, provider="stripe",
            idempotency_key=uuid.uuid4().hex, amount=amount, currency=currency,
        )  # fmt: skip
        CheckoutInvoice.objects.bulk_create(
            CheckoutInvoice(organisation=organisation, session=session, invoice=invoice,
                            amount=asked[invoice.pk], position=position)
            for position, invoice in enumerate(invoices)
        )  # fmt: skip
    request = _request(organisation, customer, session, invoices, asked, success_url, cancel_url)
    try:
        answer = stripe.Client(account).create_session(
            stripe.session_form(request), session.idempotency_key
        )
    except stripe.StripeError as error:
        session.status, session.error = Status.ERROR, str(error)[:300]
        session.save(update_fields=["status", "error"])
        trail.record(organisation, "checkout.refused", actor="portal", target=session,
                     summary=Text(gettext_noop("Stripe made no checkout page for %(customer)s: "
                                               "%(error)s"),
                                  {"customer": customer.reference, "error": str(error)}),
                     data={"customer": customer.reference, "amount": amount,
                           "currency": currency})  # fmt: skip
        raise CheckoutError(str(error)) from None
    session.provider_id, session.url, session.status = answer["id"], answer["url"], Status.OPEN
    expires = answer.get("expires_at")
    if isinstance(expires, int):
        session.expires_at = dt.datetime.fromtimestamp(expires, tz=dt.UTC)
    session.save(update_fields=["provider_id", "url", "status", "expires_at"])
    trail.record(organisation, "checkout.started", actor="portal", target=session,
                 summary=Text(gettext_noop("%(customer)s went to pay %(amount)s online"),
                              {"customer": customer.reference,
                               "amount": lazy_money(amount, currency)}),
                 data={"customer": customer.reference, "provider_id": session.provider_id,
                       "invoices": [invoice.number for invoice in invoices],
                       "amount": amount, "currency": currency})  # fmt: skip
    return session.url


def _open_invoices(
    organisation: Organisation, customer: Customer, invoice_ids: Iterable[int]
) -> list[Invoice]:
    try:
        ids = {int(pk) for pk in invoice_ids}
    except (TypeError, ValueError):
        raise CheckoutError("invoice ids are numbers") from None
    if not ids:
        raise CheckoutError("no invoice to pay")
    invoices = list(
        Invoice.objects.filter(
            organisation=organisation, customer=customer, pk__in=ids, balance__gt=0
        ).order_by("due_date", "number", "pk")
    )
    if len(invoices) != len(ids):
        raise CheckoutError("an invoice is not an open invoice of this customer")
    if len({invoice.currency for invoice in invoices}) > 1:
        raise CheckoutError("the invoices are in several currencies: one payment each")
    return invoices


def _request(
    organisation: Organisation,
    customer: Customer,
    session: CheckoutSession,
    invoices: list[Invoice],
    asked: dict[int, Decimal],
    success_url: str,
    cancel_url: str,
) -> stripe.SessionRequest:
    numbers = [invoice.number for invoice in invoices]
    with translation.override(customer.language):
        if len(invoices) <= LINE_ITEMS:
            items = [
                stripe.LineItem(gettext("Invoice %(number)s") % {"number": invoice.number},
                                asked[invoice.pk])
                for invoice in invoices
            ]  # fmt: skip
        else:
            name = ngettext("%(count)d invoice", "%(count)d invoices", len(invoices)) % {
                "count": len(invoices)
            }
            items = [stripe.LineItem(name, session.amount)]
    email = customer.email or (
        customer.contacts.filter(is_primary=True).exclude(email="").values_list("email", flat=True)
    ).first() or ""  # fmt: skip
    return stripe.SessionRequest(
        currency=session.currency,
        items=items,
        success_url=success_url,
        cancel_url=cancel_url,
        reference=f"relance-{session.pk}",
        metadata={
            "relance_session": str(session.pk),
            "organisation": organisation.slug,
            "customer": customer.reference,
            "invoices": ",".join(numbers),
        },
        customer_email=email,
        locale=customer.language if customer.language in STRIPE_LOCALES else "auto",
        description=f"{organisation.name}: {', '.join(numbers)}",
    )
