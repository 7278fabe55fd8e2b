"""Two-factor sign-in with a TOTP authenticator app (django-otp): who needs it, enrolling
and removing a device, checking a code, and what the trail records. The pages
(relance/console/two_factor.py), the admin site and `relance otp` all call these."""

from __future__ import annotations

import time
from base64 import b32encode
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import segno
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_noop

from relance.ledger.timeline import Text

if TYPE_CHECKING:
    from django_otp.plugins.otp_totp.models import TOTPDevice

# The password step's result, waiting for the code: user id, backend, next page, when.
PENDING_KEY = "relance_2fa_pending"
PENDING_SECONDS = 300


def is_admin(user: Any) -> bool:
    """Who RELANCE_REQUIRE_2FA_FOR_ADMINS concerns: staff (the admin site) and the
    administrators of an organisation."""
    from relance.accounts.models import Membership, Role

    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return Membership.objects.filter(user=user, role=Role.ADMIN).exists()


def required_for(user: Any) -> bool:
    return bool(settings.RELANCE_REQUIRE_2FA_FOR_ADMINS) and is_admin(user)


def device_of(user: Any) -> TOTPDevice | None:
    """The user's confirmed device: the one sign-in asks a code of."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not user.is_authenticated:
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(user: Any) -> TOTPDevice:
    """The device being enrolled (not confirmed yet), made on the first visit and kept
    until confirmed, so that reloading the page does not change the QR code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name="Relance", confirmed=False)


def secret(device: TOTPDevice, *, grouped: bool = False) -> str:
    """The key as authenticator apps ask for it when typed by hand (base32)."""
    key = b32encode(device.bin_key).decode()
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4)) if grouped else key


def qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// URI as an inline SVG (attributes only: nothing the CSP refuses)."""
    return str(segno.make(device.config_url, error="m").svg_inline(scale=5, light="#fff"))


def slowed_down(device: TOTPDevice) -> bool:
    """Whether the device waits after wrong codes before checking another."""
    return not device.verify_is_allowed()[0]


def check_code(device: TOTPDevice, code: str) -> bool:
    """Whether ``code`` is the device's current one; django-otp refuses a code already
    used and slows down guesses (each failure doubles the wait before the next try)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    code = "".join(code.split())
    if not (code.isascii() and code.isdigit() and len(code) == device.digits):
        device.throttle_increment()
        return False
    with transaction.atomic():  # one verification at a time per device
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        ok = bool(locked.verify_token(code))
    device.refresh_from_db()
    return ok


def confirm(device: TOTPDevice, code: str, *, request: HttpRequest | None = None) -> bool:
    """Enrolment's last step: the first code from the app turns the device on."""
    if not check_code(device, code):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record(
        device.user,
        "otp.enrolled",
        request=request,
        summary=Text(gettext_noop("authenticator app enrolled")),
    )
    return True


def enrol_now(user: Any) -> TOTPDevice:
    """`relance otp enrol`: a device confirmed at once, for an administrator to hand over.
    Refused (ValueError) when the user already has one."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if device_of(user) is not None:
        raise ValueError(
            f"{user.get_username()} already has a two-factor device; remove it first with "
            f"`relance otp remove {user.get_username()}`"
        )
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()  # an enrolment left unfinished
        device = TOTPDevice.objects.create(user=user, name="Relance", confirmed=True)
        record(
            user,
            "otp.enrolled",
            summary=Text(gettext_noop("authenticator app enrolled from the command line")),
        )
    return device


def remove(user: Any, *, request: HttpRequest | None = None) -> int:
    """Removes every TOTP device of the user (a lost phone); the number removed."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    with transaction.atomic():
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        if removed:
            record(
                user,
                "otp.removed",
                request=request,
                summary=Text(gettext_noop("authenticator app removed")),
            )
    return removed


def record(user: Any, action: str, *, request: HttpRequest | None = None, **kw: Any) -> None:
    """An event of the user's sign-in, written as every sign-in event is
    (``signin.record_for_account``): in the trail of each organisation they belong to."""
    from relance.accounts.signin import record_for_account

    record_for_account(user.get_username(), action, user=user, target=("user", user.pk),
                       request=request, **kw)  # fmt: skip


# The sign-in's second step.


def start_second_step(request: HttpRequest, user: Any, next_url: str) -> None:
    """The password was right: remember who, until the code is given."""
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
        "next": next_url,
        "at": time.time(),
    }


def pending(request: HttpRequest) -> tuple[Any, dict[str, Any]] | None:
    """The user waiting for the code step and what was remembered, unless it expired."""
    from django.contrib.auth import get_user_model

    data = request.session.get(PENDING_KEY)
    if not data or time.time() - data["at"] > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None
    user = get_user_model().objects.filter(pk=data["user"], is_active=True).first()
    return (user, data) if user is not None else None


def locked_out(request: HttpRequest, user: Any) -> bool:
    """Whether sign-in throttling (django-axes) refuses this account or address now: the
    code step obeys the same lock as the password step."""
    from axes.handlers.proxy import AxesProxyHandler

    return not AxesProxyHandler.is_allowed(request, {"username": user.get_username()})


def code_refused(request: HttpRequest, user: Any) -> None:
    """A wrong code counts as a failed sign-in: Django's signal, which throttling
    (django-axes) counts per account and address, and an event in the trail."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request
    )
    record(
        user,
        "signin.otp_failed",
        request=request,
        summary=Text(gettext_noop("wrong two-factor code")),
    )


# Enforcement.

EXEMPT_URL_NAMES = ("login", "logout", "two_factor", "two_factor_code", "set_language")


class TwoFactorMiddleware:
    """With RELANCE_REQUIRE_2FA_FOR_ADMINS on, an admin's session that no code verified
    reaches no page: without a device, the enrolment page; with one (a session opened
    before enrolling elsewhere), sign in again."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        if (
            settings.RELANCE_REQUIRE_2FA_FOR_ADMINS
            and user.is_authenticated
            and not user.is_verified()  # type: ignore[attr-defined]  # OTPMiddleware
            and request.path_info not in {reverse(name) for name in EXEMPT_URL_NAMES}
            and not request.path_info.startswith(settings.STATIC_URL)
            and is_admin(user)
        ):
            if device_of(user) is None:
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('two_factor')}?{query}")
            logout(request)
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)


def admin_allowed(request: HttpRequest) -> bool:
    """The admin site's extra condition: a session verified by a code whenever the user
    has a device (or must have one)."""
    user = request.user
    if user.is_verified():  # type: ignore[union-attr]  # set by OTPMiddleware
        return True
    return not required_for(user) and device_of(user) is None
