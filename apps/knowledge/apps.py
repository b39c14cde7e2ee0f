from __future__ import annotations

from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    """Enterprise knowledge (articles) and Conversation Memory (customers and what is known)."""

    name = "apps.knowledge"
    label = "knowledge"
