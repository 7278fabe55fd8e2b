from django.apps import AppConfig


class DunningConfig(AppConfig):
    name = "relance.dunning"
    verbose_name = "Dunning"
