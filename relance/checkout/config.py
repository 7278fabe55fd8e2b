"""Which organisations pay online through Stripe, and with which keys.

Both the switch and the keys live in the environment, read by the settings
(``RELANCE_STRIPE``), never in the database: whoever may send a debtor's money to a Stripe
account must be whoever holds that account's keys (the operator), not an administrator in
the console. An organisation pays online when

- its slug is listed in ``RELANCE_STRIPE_ORGANISATIONS`` (comma-separated), and
- it has a secret key and a webhook signing secret: its own,
  ``RELANCE_STRIPE_SECRET_KEY_<SLUG>`` and ``RELANCE_STRIPE_WEBHOOK_SECRET_<SLUG>`` (the
  slug in capitals, ``-`` written ``_``), else the installation's
  ``RELANCE_STRIPE_SECRET_KEY`` and ``RELANCE_STRIPE_WEBHOOK_SECRET``. One of its own
  and one of the installation's are never mixed: they would be two accounts.

A webhook secret may be several, comma-separated, while Stripe rolls it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relance.accounts.models import Organisation

SECRET_KEY = "RELANCE_STRIPE_SECRET_KEY"
WEBHOOK_SECRET = "RELANCE_STRIPE_WEBHOOK_SECRET"
DEFAULT_API_BASE = "https://api.stripe.com"
# Stripe's secret keys (sk_) and restricted keys (rk_), test or live.
KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")


@dataclass(frozen=True)
class Account:
    """One organisation's Stripe account as Relance reaches it."""

    secret_key: str
    webhook_secrets: tuple[str, ...]
    api_base: str = DEFAULT_API_BASE
    timeout: float = 20
    own: bool = False  # keys of its own (``..._<SLUG>``), not the installation's

    @property
    def live(self) -> bool:
        return "_live_" in self.secret_key[:8]

    @property
    def key_looks_right(self) -> bool:
        return self.secret_key.startswith(KEY_PREFIXES)


def suffix(slug: str) -> str:
    """The end of an organisation's own variables: ``acme-sud`` → ``ACME_SUD``."""
    return slug.upper().replace("-", "_")


def accounts_from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The keys found in the environment, by suffix ("" for the installation's): what the
    settings keep as ``RELANCE_STRIPE["ACCOUNTS"]``."""
    accounts: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        for prefix, key in ((SECRET_KEY, "SECRET_KEY"), (WEBHOOK_SECRET, "WEBHOOK_SECRETS")):
            if name != prefix and not name.startswith(prefix + "_"):
                continue
            end = name[len(prefix) + 1 :]
            if key == "SECRET_KEY":
                accounts.setdefault(end, {})[key] = value.strip()
            else:
                secrets = [part.strip() for part in value.split(",") if part.strip()]
                accounts.setdefault(end, {})[key] = secrets
    return accounts


def stripe_settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(getattr(settings, "RELANCE_STRIPE", {}) or {})


def enabled(organisation: Organisation) -> bool:
    """The organisation is listed in ``RELANCE_STRIPE_ORGANISATIONS``."""
    return organisation.slug in set(stripe_settings().get("ORGANISATIONS") or ())


def account(organisation: Organisation) -> Account | None:
    """The organisation's Stripe account, or None when it does not pay online: not listed,
    or without a secret key (one that looks like Stripe's) or a webhook secret (its own,
    else the installation's). ``problems`` says which."""
    cfg = stripe_settings()
    if organisation.slug not in set(cfg.get("ORGANISATIONS") or ()):
        return None
    accounts: Mapping[str, Mapping[str, Any]] = cfg.get("ACCOUNTS") or {}
    own = accounts.get(suffix(organisation.slug)) or {}
    # Its own keys, both, or the installation's, both: never one of each (two accounts).
    keys = own if own else accounts.get("") or {}
    secret_key = keys.get("SECRET_KEY") or ""
    webhook_secrets = keys.get("WEBHOOK_SECRETS") or ()
    if not secret_key.startswith(KEY_PREFIXES) or not webhook_secrets:
        return None
    return Account(
        secret_key=secret_key,
        webhook_secrets=tuple(webhook_secrets),
        api_base=str(cfg.get("API_BASE") or DEFAULT_API_BASE).rstrip("/"),
        timeout=float(cfg.get("TIMEOUT") or 20),
        own=bool(own),
    )


def problems(organisation: Organisation) -> list[str]:
    """What keeps the organisation from paying online, said for the operator (never a
    secret's value); empty when it does."""
    cfg = stripe_settings()
    end = suffix(organisation.slug)
    found: list[str] = []
    if organisation.slug not in set(cfg.get("ORGANISATIONS") or ()):
        found.append(f"{organisation.slug} is not listed in RELANCE_STRIPE_ORGANISATIONS")
    accounts: Mapping[str, Mapping[str, Any]] = cfg.get("ACCOUNTS") or {}
    own = accounts.get(end) or {}
    keys = own if own else accounts.get("") or {}

    def variable(name: str) -> str:
        return f"{name}_{end}" if own else f"{name} (or {name}_{end})"

    if not keys.get("SECRET_KEY"):
        found.append(f"no secret key: set {variable(SECRET_KEY)}")
    elif not str(keys["SECRET_KEY"]).startswith(KEY_PREFIXES):
        found.append("the secret key is not a Stripe secret key (sk_... or rk_...)")
    if not keys.get("WEBHOOK_SECRETS"):
        found.append(f"no webhook signing secret: set {variable(WEBHOOK_SECRET)}")
    return found
