"""The providers' webhooks (django-anymail under ``/anymail/``): closed until their secret
is configured.

Anymail checks HTTP basic auth against ``ANYMAIL["WEBHOOK_SECRET"]`` only when one is set;
without it a webhook accepts any POST (and a forged bounce marks an address invalid). Here
every anymail route answers 404, with nothing parsed nor written, until a secret exists;
with one, anymail's own check applies (400 on missing or wrong credentials), plus the
provider's signature where anymail verifies one (Mailgun, Mandrill, SendGrid, Postal...).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import URLPattern

log = logging.getLogger(__name__)


def secrets() -> list[str]:
    """The configured ``user:password`` pairs, read as anymail reads them (a string or a
    list, in ``ANYMAIL["WEBHOOK_SECRET"]`` or ``ANYMAIL_WEBHOOK_SECRET``)."""
    from anymail.utils import get_anymail_setting

    value = get_anymail_setting("webhook_secret", default=[])
    values = [value] if isinstance(value, str) else list(value or [])
    return [secret for secret in values if secret]


def closed_unless(
    configured: Callable[[], bool], setting: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A view decorator: 404 before anything runs while ``configured()`` is false (the
    webhook's secret, named ``setting`` in the log, is not set)."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not configured():
                log.warning("webhook %s refused: %s is not set", request.path, setting)
                return HttpResponseNotFound()
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def closed_without_secret(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The view, answering 404 before anything runs while no secret is configured."""
    return closed_unless(lambda: bool(secrets()), "ANYMAIL_WEBHOOK_SECRET")(view)


def urlpatterns() -> list[URLPattern]:
    """Anymail's URL patterns, each view behind ``closed_without_secret``."""
    from anymail import urls

    # Only plain patterns are kept: anything else would escape the guard (fail closed).
    return [
        URLPattern(p.pattern, closed_without_secret(p.callback), p.default_args, p.name)
        for p in urls.urlpatterns
        if isinstance(p, URLPattern)
    ]


def routed() -> bool:
    """Whether the root URLconf routes anymail's webhooks."""
    from django.urls import get_resolver

    return "anymail" in get_resolver().namespace_dict
