from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "relance.ledger"
    verbose_name = "Ledger"
