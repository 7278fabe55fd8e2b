from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class DunningConfig(AppConfig):
    name = "relance.dunning"
    verbose_name = "Dunning"

    def ready(self) -> None:
        from relance.dunning.checks import check_webhook_secret

        checks.register(check_webhook_secret, checks.Tags.security, deploy=True)
        from relance.lib import locks

        if _queued_run not in locks.spanning:  # a run on the queue holds its organisation
            locks.spanning.append(_queued_run)
        try:
            from anymail.signals import tracking
        except ImportError:  # providers are optional: plain SMTP needs none
            return
        tracking.connect(_tracking_event, dispatch_uid="relance.dunning.bounces")


# The receivers import their modules when called: every command starts without them (the
# e-mail channel and what it imports); the locks' check imports only the queue's model.


def _queued_run(slug: str) -> str | None:
    from relance.dunning.run_holder import holder

    return holder(slug)


def _tracking_event(sender: Any, **kwargs: Any) -> None:
    from relance.dunning.bounces import on_tracking_event

    on_tracking_event(sender, **kwargs)
