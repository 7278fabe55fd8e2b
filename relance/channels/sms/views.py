"""Vonage's webhooks: delivery receipts and inbound texts (STOP).

Both answer 404 until ``VONAGE_SIGNATURE_SECRET`` is set (``webhooks.closed_unless``, as
the e-mail providers' webhooks), and 403 to a request whose ``sig`` is missing or wrong or
whose ``timestamp`` is not fresh (``vonage.check_signature``, compared in constant time):
a forged receipt could otherwise mark numbers invalid, a forged STOP silence a debtor.
Vonage sends them as GET query parameters, a POST form or a POST JSON body, as set in its
dashboard; all three are read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from relance.audit import trail
from relance.channels.models import OptOutSource
from relance.channels.sms import optout, receipts, vonage
from relance.dunning.webhooks import closed_unless
from relance.ledger.timeline import Text

log = logging.getLogger(__name__)


def _configured() -> bool:
    return bool(vonage.config().signature_secret)


def signed_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    return csrf_exempt(
        require_http_methods(["GET", "POST"])(
            closed_unless(_configured, "VONAGE_SIGNATURE_SECRET")(view)
        )
    )


class Unreadable(ValueError):
    pass


def parameters(request: HttpRequest) -> dict[str, str]:
    if request.method == "GET":
        return {key: request.GET.get(key, "") for key in request.GET}
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as error:
            raise Unreadable(str(error)) from None
        if not isinstance(body, dict):
            raise Unreadable("not a JSON object")
        return {str(key): "" if value is None else str(value) for key, value in body.items()}
    return {key: request.POST.get(key, "") for key in request.POST}


def _checked(request: HttpRequest) -> dict[str, str] | HttpResponse:
    try:
        params = parameters(request)
    except Unreadable:
        return HttpResponseBadRequest()
    cfg = vonage.config()
    problem = vonage.check_signature(
        params,
        cfg.signature_secret,
        cfg.signature_method,
        max_age=int(getattr(settings, "RELANCE_SMS_WEBHOOK_MAX_AGE", 300)),
    )
    if problem:
        log.warning("Vonage webhook %s refused: %s", request.path, problem)
        trail.record(None, "webhook.refused", actor="webhook:vonage", summary=Text(problem),
                     data={"path": request.path}, request=request)  # fmt: skip
        return HttpResponseForbidden()
    return params


@signed_only
def receipt(request: HttpRequest) -> HttpResponse:
    """A delivery receipt: recorded once per outcome and number (``receipts``)."""
    params = _checked(request)
    if isinstance(params, HttpResponse):
        return params
    receipts.record_receipt(params)
    return HttpResponse(status=204)  # anything 2xx: Vonage stops resending it


@signed_only
def inbound(request: HttpRequest) -> HttpResponse:
    """A text sent to our number: STOP (or its French words) opts the sender out of every
    organisation's texts sent from that number; START lifts that."""
    params = _checked(request)
    if isinstance(params, HttpResponse):
        return params
    word = optout.stop_word(params.get("text", ""), params.get("keyword", ""))
    number = "+" + params.get("msisdn", "").lstrip("+")
    try:
        if word == "stop":
            optout.opt_out(None, number, source=OptOutSource.INBOUND, actor="webhook:vonage",
                           note=params.get("text", "")[:200])  # fmt: skip
        elif word == "start":
            optout.opt_in(None, number, actor="webhook:vonage")
    except optout.Refused as error:
        log.info("inbound text from an unreadable number %s: %s", number, error)
    return HttpResponse(status=204)
