from __future__ import annotations

from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "relance.channels"
    label = "channels"
    verbose_name = "Channels"

    def ready(self) -> None:
        # The registry follows the RELANCE_CHANNELS setting; the channel modules register
        # their transports on its first use (registry.load): commands that send nothing
        # start without them.
        from relance.channels import registry  # noqa: F401
