from django.apps import AppConfig


class BankConfig(AppConfig):
    name = "relance.bank"
    verbose_name = "Bank"
