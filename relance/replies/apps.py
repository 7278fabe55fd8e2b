from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "relance.replies"
    verbose_name = "Replies"

    def ready(self) -> None:
        try:
            from anymail.signals import inbound
        except ImportError:  # providers are optional: IMAP polling needs none
            return
        # Every provider anymail supports hands its inbound messages here.
        inbound.connect(_inbound, dispatch_uid="relance.replies.inbound")


def _inbound(sender: Any, **kwargs: Any) -> None:
    """``intake.on_inbound``, imported when a message comes: commands start without it."""
    from relance.replies.intake import on_inbound

    on_inbound(sender, **kwargs)
