from __future__ import annotations

from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "relance.channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        from relance.channels import registry

        registry.load()  # the channel modules register their transports
