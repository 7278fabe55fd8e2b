"""Sign-in: the audit events of sign-ins and lockouts, and the page a locked-out client sees.

Throttling itself is django-axes' (settings: AXES_*). Its receivers run before these
(``axes`` comes first in INSTALLED_APPS), so a failure that locks is already flagged on
the request when ``user_login_failed`` reaches us: it is recorded once, as a lockout.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models import Max, Q
from django.dispatch import receiver
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Membership
from relance.audit import trail
from relance.ledger.timeline import Text

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def username_of(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str | None:
    """The name a sign-in counts against (AXES_USERNAME_CALLABLE): logins are lower-case
    e-mail addresses, so ``Alice@…`` and ``alice@…`` share one counter."""
    name = (credentials or {}).get("username")
    if name is None and request is not None:
        name = request.POST.get("username")
    return str(name).strip().lower() if name is not None else None


def organisation_of(username: str | None) -> int | None:
    """The account's organisation when it has exactly one, else None (unknown or several).
    Password resets use it: a reset request is counted per client address in the trail, so
    it is written once."""
    ids = organisations_of(username)
    return ids[0] if len(ids) == 1 else None


def organisations_of(username: str | None) -> list[int | None]:
    """Every organisation the account belongs to; ``[None]`` for an unknown login or an
    account of no organisation (the admin site shows those events)."""
    if not username:
        return [None]
    ids = Membership.objects.filter(user__username=username).values_list(
        "organisation_id", flat=True
    )
    return list(ids.order_by("organisation_id")) or [None]


def record_for_account(username: str | None, action: str, **event: Any) -> None:
    """The one way sign-in events are written (password, lockouts, unlocks, two-factor):
    one event in the trail of each organisation the account belongs to, so that each
    organisation's administrators see every sign-in of its members, whether they belong to
    one organisation or several; outside any organisation for an unknown login."""
    for organisation in organisations_of(username):
        trail.record(organisation, action, **event)


@receiver(user_logged_in, dispatch_uid="relance.signin.succeeded")
def signed_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    username = user.get_username()
    record_for_account(
        username,
        "signin.succeeded",
        user=user,
        target=user,
        summary=Text(gettext_noop("signed in as %(username)s"), {"username": username}),
        request=request,
    )


@receiver(user_login_failed, dispatch_uid="relance.signin.failed")
def sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None and getattr(request, "axes_locked_out", False):
        return  # recorded as signin.locked_out
    if sender == "relance.accounts.two_factor":
        return  # a wrong code: recorded there as signin.otp_failed
    # Only the name: Django has already masked the password in ``credentials``.
    username = username_of(request, credentials) or ""
    record_for_account(
        username,
        "signin.failed",
        actor="anonymous",
        summary=Text(gettext_noop("failed sign-in as %(username)s"), {"username": username}),
        data={"username": username},
        request=request,
    )


@receiver(user_locked_out, dispatch_uid="relance.signin.locked_out")
def locked(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str | None, **kw: Any
) -> None:
    retry_at = retry_time(username, ip_address)
    record_for_account(
        username,
        "signin.locked_out",
        actor="anonymous",
        summary=Text(
            gettext_noop("sign-in refused, locked out: %(username)s from %(ip)s"),
            {"username": username, "ip": ip_address},
        ),
        data={
            "username": username or "",
            "ip": ip_address or "",
            "failure_limit": get_failure_limit(request, None),
            "retry_at": retry_at.isoformat() if retry_at else None,
        },
        request=request,
    )


def retry_time(username: str | None, ip_address: str | None) -> dt.datetime | None:
    """When the lock on this account or address ends: the cool-off after the last failure
    counted against either (a failure during the lock starts the cool-off again)."""
    cool_off = get_cool_off()
    if cool_off is None:
        return None
    latest = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=ip_address)
    ).aggregate(latest=Max("attempt_time"))["latest"]
    return (latest or timezone.now()) + cool_off


def locked_out(
    request: HttpRequest, original: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The lockout page (AXES_LOCKOUT_CALLABLE): 429, when to retry, a way to reset."""
    retry_at = retry_time(
        username_of(request, credentials), getattr(request, "axes_ip_address", None)
    )
    seconds = max(0, math.ceil((retry_at - timezone.now()).total_seconds())) if retry_at else None
    response = render(
        request,
        "registration/locked_out.html",
        {"retry_at": retry_at, "minutes": math.ceil(seconds / 60) if seconds else None},
        status=429,
    )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
