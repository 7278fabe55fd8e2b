from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "relance.ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from relance.ledger import summaries  # noqa: F401  (follows invoices saved one by one)
