from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .scoping import FEATURES, can_use
from .selectors import notification_unread_count


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "nav": {feature: can_use(user, feature) for feature in FEATURES},
        # Counted only when a page shows the bell (signed in), once per page.
        "unread_notifications": SimpleLazyObject(lambda: notification_unread_count(user=user)),
    }
