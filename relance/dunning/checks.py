"""System checks of the dunning app, run by ``relance check --deploy``."""

from __future__ import annotations

from typing import Any

from django.core import checks

from relance.dunning import webhooks


def check_webhook_secret(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The providers' webhooks are routed: they need their secret, in anymail's
    ``user:password`` form (the credentials of the URL given to the provider)."""
    if not webhooks.routed():
        return []
    configured = webhooks.secrets()
    if not configured:
        return [
            checks.Warning(
                "The e-mail providers' webhooks (/anymail/) are routed but "
                "ANYMAIL_WEBHOOK_SECRET is not set: they refuse every delivery, so "
                "bounces are not recorded.",
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
    return []
