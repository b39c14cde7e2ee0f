"""Pages of the intelligence app: knowledge and memory (urls_knowledge), operators and rules
(urls_rules)."""

from __future__ import annotations

from .urls_knowledge import urlpatterns as knowledge_urls
from .urls_rules import urlpatterns as rules_urls

urlpatterns = [*knowledge_urls, *rules_urls]
