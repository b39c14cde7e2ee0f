from django.apps import AppConfig


class RelayConfig(AppConfig):
    name = "apps.relay"
    label = "relay"
    verbose_name = "ConversationRelay handoffs"
