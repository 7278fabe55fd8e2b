from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "relance.channels"
    verbose_name = "Channels"
