from __future__ import annotations

from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "relance.replies"
    verbose_name = "Replies"

    def ready(self) -> None:
        try:
            from anymail.signals import inbound
        except ImportError:  # providers are optional: IMAP polling needs none
            return
        from relance.replies.intake import on_inbound

        # Every provider anymail supports hands its inbound messages here.
        inbound.connect(on_inbound, dispatch_uid="relance.replies.inbound")
