from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class DunningConfig(AppConfig):
    name = "relance.dunning"
    verbose_name = "Dunning"

    def ready(self) -> None:
        from relance.dunning.checks import check_webhook_secret

        checks.register(check_webhook_secret, checks.Tags.security, deploy=True)
        from relance.dunning import run_tasks
        from relance.lib import locks

        if run_tasks.holder not in locks.spanning:  # a run on the queue holds its organisation
            locks.spanning.append(run_tasks.holder)
        try:
            from anymail.signals import tracking
        except ImportError:  # providers are optional: plain SMTP needs none
            return
        from relance.dunning.bounces import on_tracking_event

        tracking.connect(on_tracking_event, dispatch_uid="relance.dunning.bounces")
