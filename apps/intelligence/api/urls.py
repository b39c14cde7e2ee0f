"""API routes of the intelligence app."""

from __future__ import annotations

from .urls_knowledge import urlpatterns as knowledge_urls
from .urls_rules import urlpatterns as rules_urls

urlpatterns = [*knowledge_urls, *rules_urls]
