"""Reads of erasure requests (admins only, like every privacy page)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.common.errors import NotFound, PermissionDenied

from .models import ErasureRequest
from .services import may_manage


def erasure_list(*, user: Any) -> QuerySet[ErasureRequest]:
    if not may_manage(user):
        raise PermissionDenied("Only admins may see erasure requests.")
    return ErasureRequest.objects.select_related("requested_by")


def erasure_get(*, user: Any, pk: int) -> ErasureRequest:
    request = erasure_list(user=user).filter(pk=pk).first()
    if request is None:
        raise NotFound("No such erasure request.")
    return request


def erasure_progress(request: ErasureRequest) -> dict[str, Any]:
    """What the page and the API show of a request: never the targets' ids."""
    from .services import STEPS

    names = [name for name, _ in STEPS]
    found = {key: len(value) for key, value in (request.targets or {}).items()}
    return {
        "steps_total": len(names),
        "steps_done": len([n for n in request.steps_done if n in names]),
        "found": found,
    }
