from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relance.accounts"
    verbose_name = "Organisations and members"
