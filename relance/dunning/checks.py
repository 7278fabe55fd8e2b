"""System checks of the dunning app, run by ``relance check --deploy``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from relance.dunning import webhooks

MIN_PASSWORD = 16


def check_webhook_secret(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The providers' webhooks need their secret, in anymail's ``user:password`` form (the
    credentials of the URL given to the provider). Without one they answer 404: harmless
    with SMTP, but with a provider (an anymail e-mail backend) its bounces are lost."""
    if not webhooks.routed():
        return []
    configured = webhooks.secrets()
    if not configured and settings.EMAIL_BACKEND.startswith("anymail."):
        return [
            checks.Warning(
                "E-mail goes through a provider and its webhooks (/anymail/) are routed, "
                "but ANYMAIL_WEBHOOK_SECRET is not set: they refuse every delivery, so "
                "the provider's bounces are not recorded.",
                hint="Set ANYMAIL_WEBHOOK_SECRET=user:password (long random values) and give "
                "the provider https://user:password@your-host/anymail/<provider>/tracking/ "
                "(docs/deployment.md).",
                id="relance.webhooks.W001",
            )
        ]
    if any(":" not in secret for secret in configured):
        return [
            checks.Warning(
                "ANYMAIL_WEBHOOK_SECRET is not of the form user:password: no provider's "
                "request can match it, so every delivery is refused.",
                hint="Set ANYMAIL_WEBHOOK_SECRET=user:password (docs/deployment.md).",
                id="relance.webhooks.W002",
            )
        ]
    if any(len(secret.partition(":")[2]) < MIN_PASSWORD for secret in configured):
        return [
            checks.Warning(
                f"The password of ANYMAIL_WEBHOOK_SECRET is shorter than {MIN_PASSWORD} "
                "characters: it can be guessed.",
                hint="Generate one: python -c 'import secrets; print(secrets.token_urlsafe())'",
                id="relance.webhooks.W003",
            )
        ]
    return []
