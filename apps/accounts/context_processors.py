from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .scoping import FEATURES, can_use


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"nav": {feature: can_use(user, feature) for feature in FEATURES}}
