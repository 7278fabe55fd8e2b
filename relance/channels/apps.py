from __future__ import annotations

from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "relance.channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        try:
            from anymail.signals import tracking
        except ImportError:  # providers are optional: plain SMTP needs none
            return
        from relance.dunning.bounces import on_tracking_event

        tracking.connect(on_tracking_event, dispatch_uid="relance.dunning.bounces")
