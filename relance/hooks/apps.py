from __future__ import annotations

from django.apps import AppConfig


class HooksConfig(AppConfig):
    name = "relance.hooks"
    label = "hooks"
    verbose_name = "Webhooks out"
