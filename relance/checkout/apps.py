from __future__ import annotations

from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    name = "relance.checkout"
    verbose_name = "Online payment"
