from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class DunningConfig(AppConfig):
    name = "relance.dunning"
    verbose_name = "Dunning"

    def ready(self) -> None:
        from relance.dunning.checks import check_webhook_secret

        checks.register(check_webhook_secret, checks.Tags.security, deploy=True)
        try:
            from anymail.signals import tracking
        except ImportError:  # providers are optional: plain SMTP needs none
            return
        from relance.dunning.bounces import on_tracking_event

        tracking.connect(on_tracking_event, dispatch_uid="relance.dunning.bounces")
