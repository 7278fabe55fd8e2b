"""Stripe's webhook, one endpoint per organisation (``/checkout/stripe/<slug>/webhook/``):
the organisation's signing secret checks the signature, and only its sessions are looked at.

404 while the organisation does not pay online (nothing to say about it); 400, writing
nothing, to a request whose ``Stripe-Signature`` is missing, wrong or stale, or whose body is
not a Stripe event (Stripe shows the failure in its dashboard); 200 once handled, or when
already handled (a retry or a replay changes nothing). A server error makes Stripe retry.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from relance.accounts.models import Organisation
from relance.checkout import config, events, stripe

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = Organisation.objects.filter(slug=slug).first()
    account = config.account(organisation) if organisation is not None else None
    if organisation is None or account is None:
        return HttpResponse(status=404)
    try:
        event = stripe.verify(
            request.body,
            request.headers.get("Stripe-Signature", ""),
            account.webhook_secrets,
            now=time.time(),
        )
    except stripe.SignatureError as error:
        log.warning("Stripe webhook of %s refused: %s", slug, error)
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    outcome = events.handle(organisation, event, request)
    return JsonResponse({"received": True, "outcome": outcome})
