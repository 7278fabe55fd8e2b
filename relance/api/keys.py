"""API keys: create (the secret is shown once), list, revoke, and find the key a request
presents. The command ``relance apikey`` and the API's authentication call these.

A key reads ``rl_<prefix>_<secret>``: the prefix finds the row, the secret is compared by
its SHA-256 in constant time. Scopes (docs/api.md): ``read`` every GET, ``write`` the
single creates and updates, ``bulk`` the bulk upserts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.api.models import ApiKey
from relance.audit import trail
from relance.ledger.timeline import Text

SCOPES = ("read", "write", "bulk")
DEFAULT_SCOPES = ("read",)
TOKEN_START = "rl_"
PREFIX_BYTES = 6  # 12 hex digits
# last_used_at is written at most this often per key: not a write per request.
TOUCH_EVERY = dt.timedelta(minutes=1)
# A key made for a limited time lives 1 day to 10 years.
MAX_DAYS = 3660


class KeyRefused(ValueError):
    """The input cannot make or revoke a key; nothing was written."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: list[str] | tuple[str, ...]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise KeyRefused(f"unknown scope {', '.join(unknown)}: use {', '.join(SCOPES)}")
    if not scopes:
        raise KeyRefused(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in scopes]


def check_days(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise KeyRefused(f"a key lives 1 to {MAX_DAYS} days, not {days}")
    return days


@transaction.atomic
def create(
    organisation: Organisation,
    name: str,
    scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES,
    *,
    days: int | None = None,
    user: Any = None,
    request: Any = None,
) -> tuple[ApiKey, str]:
    """A new key and its token, ``rl_<prefix>_<secret>``: the only time the secret exists
    outside the caller's hands (only its hash is kept). With ``days``, the key is refused
    that many days after its creation; without, until it is revoked."""
    name = name.strip()
    if not name:
        raise KeyRefused("a key needs a name (what uses it)")
    if len(name) > ApiKey._meta.get_field("name").max_length:  # type: ignore[operator]
        raise KeyRefused("a key's name has at most 100 characters")
    ordered = check_scopes(list(scopes))
    lifetime = check_days(days)
    expires_at = timezone.now() + dt.timedelta(days=lifetime) if lifetime else None
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organisation=organisation, name=name, prefix=prefix, secret_hash=_digest(secret),
        scopes=ordered, created_by=user, expires_at=expires_at,
    )  # fmt: skip
    params = {"name": repr(name), "prefix": prefix, "scopes": ", ".join(ordered)}
    summary = (
        Text(gettext_noop("API key %(name)s (rl_%(prefix)s) with scopes %(scopes)s, until "
                          "%(until)s UTC"), {**params, "until": f"{expires_at:%Y-%m-%d %H:%M}"})
        if expires_at
        else Text(gettext_noop("API key %(name)s (rl_%(prefix)s) with scopes %(scopes)s"), params)
    )  # fmt: skip
    trail.record(organisation, "apikey.created", user=user, target=key, request=request,
                 summary=summary,
                 data={"name": name, "prefix": prefix, "scopes": ordered,
                       "expires_at": expires_at.isoformat() if expires_at else None})  # fmt: skip
    return key, f"{TOKEN_START}{prefix}_{secret}"


def keys_of(organisation: Organisation, *, revoked: bool = True) -> list[ApiKey]:
    keys = ApiKey.objects.filter(organisation=organisation).select_related("created_by")
    if not revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return list(keys.order_by("id"))


def find(organisation: Organisation, target: str) -> ApiKey:
    """A key of the organisation by its prefix (``rl_<prefix>`` also) or its id."""
    target = target.strip().removeprefix(TOKEN_START).split("_")[0]
    keys = ApiKey.objects.filter(organisation=organisation)
    key = keys.filter(prefix=target).first()
    if key is None and target.isdigit():
        key = keys.filter(pk=int(target)).first()
    if key is None:
        raise KeyRefused(f"no API key {target!r} in {organisation.slug}")
    return key


@transaction.atomic
def revoke(
    organisation: Organisation, target: str, *, user: Any = None, request: Any = None
) -> ApiKey:
    """Revoke a key at once: its next request is refused (401)."""
    key = find(organisation, target)
    if key.revoked_at is not None:
        raise KeyRefused(
            f"API key rl_{key.prefix} was already revoked on {key.revoked_at:%Y-%m-%d}"
        )
    key.revoked_at = timezone.now()
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=key.revoked_at)
    trail.record(organisation, "apikey.revoked", user=user, target=key, request=request,
                 summary=Text(gettext_noop("API key %(name)s (rl_%(prefix)s) revoked"),
                              {"name": repr(key.name), "prefix": key.prefix}),
                 data={"name": key.name, "prefix": key.prefix})  # fmt: skip
    return key


def authenticate(token: str) -> ApiKey | None:
    """The active key this token is, or None (unknown, malformed, wrong secret, revoked,
    expired).
    The secret's hash is compared in constant time; a prefix nobody has is hashed too, so
    that timing tells nothing about which prefixes exist."""
    body = token.strip()
    prefix, _, secret = body.removeprefix(TOKEN_START).partition("_")
    found = None
    if body.startswith(TOKEN_START) and prefix and secret and len(prefix) <= 16:
        found = (
            ApiKey.objects.select_related("organisation")
            .filter(prefix=prefix, revoked_at__isnull=True)
            .first()
        )
    expected = found.secret_hash if found else _digest("-")
    if not hmac.compare_digest(_digest(secret), expected) or found is None:
        return None
    if found.is_expired:
        return None
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at >= TOUCH_EVERY:
        ApiKey.objects.filter(pk=found.pk).update(last_used_at=now)
        found.last_used_at = now
    return found


def describe(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": f"{TOKEN_START}{key.prefix}",
        "scopes": list(key.scopes),
        "created_by": key.created_by.get_username() if key.created_by else None,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
    }
