"""The context of every row change a request makes: who, where, how."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from pghistory.middleware import HistoryMiddleware


class AuditContextMiddleware(HistoryMiddleware):
    """pghistory's middleware (the user's id, the path; it follows DRF's token sign-in, which
    sets the user later, in the view) with the HTTP method too."""

    def get_context(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_context(request), "method": request.method}
