from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "relance.portal"
    verbose_name = "Debtor's portal"
