from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "relance.accounts"
    verbose_name = "Organisations and members"

    def ready(self) -> None:
        # The audit events of sign-ins (signal receivers).
        from relance.accounts import signin  # noqa: F401
