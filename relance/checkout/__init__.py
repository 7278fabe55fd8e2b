"""Paying online: a payment provider's checkout behind the portal's "Pay online" button, and
the provider's signed webhook that records the payment in the ledger (docs/payments-online.md).

One provider is implemented, Stripe Checkout (``stripe``), through its HTTP API. The portal
calls ``service.available`` and ``service.start``; the webhook (``views.stripe_webhook``)
records what Stripe confirms.
"""
