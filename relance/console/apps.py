from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "relance.console"
