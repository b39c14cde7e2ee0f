"""The reason a service was given, recorded with every row change it makes (apps/audit).

The audit trail's triggers copy each changed row with the context of the statement (pghistory):
the request's user, URL and method, or a task's or command's name. A service that takes a reason
(a dispute, a revision, a publish note) adds it with this decorator; the apps below ``audit``
use pghistory as a library and never import ``apps.audit``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import pghistory
import pghistory.runtime
from django.db import connection

F = TypeVar("F", bound=Callable[..., Any])


def audit_reason(reason: str | Callable[[dict[str, Any]], str] = "reason") -> Callable[[F], F]:
    """Record a reason with the changes the decorated service makes: the keyword argument named
    ``reason`` or what ``reason(kwargs)`` returns. An empty reason adds nothing.

    Inside a request (or a task, a command) the reason joins that context for the call's
    duration; outside one the call gets a context of its own.
    """

    def decorator(fn: F) -> F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = kwargs.get(reason, "") if isinstance(reason, str) else reason(kwargs)
            text = str(given or "").strip()
            if not text:
                return fn(*args, **kwargs)
            # The context's metadata is read at each statement: the reason is on the changes
            # made inside the call only, and an outer reason (or none) comes back after it.
            with audit_context() as context:
                metadata = context.metadata
                had, outer = "reason" in metadata, metadata.get("reason")
                metadata["reason"] = text
                try:
                    return fn(*args, **kwargs)
                finally:
                    if had:
                        metadata["reason"] = outer
                    else:
                        metadata.pop("reason", None)

        return cast(F, wrapper)

    return decorator


_CLEAR = (
    "SELECT set_config('pghistory.context_id', '', true),"
    " set_config('pghistory.context_metadata', '', true)"
)


class audit_context:
    """``pghistory.context(**metadata)`` that, when it is the outermost, also clears what it
    left in the transaction: pghistory sets the context with ``set_config(..., true)``, which
    lasts to the end of the transaction, so a write after the context in the same transaction
    (a task run inside a test's or a request's transaction) would carry it."""

    def __init__(self, **metadata: Any) -> None:
        self._context = pghistory.context(**metadata)
        self._outermost = False

    def __enter__(self) -> Any:
        self._outermost = not hasattr(pghistory.runtime._tracker, "value")
        return self._context.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)
        if self._outermost and connection.in_atomic_block and not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute(_CLEAR)
