"""The audit trail's context outside requests: a Celery task's name, a command's name.

Requests are tagged by ``apps.audit.middleware``; these tag the rest, so an event written by a
beat task or by ``manage.py load_demo`` says so instead of having no context at all.
"""

from __future__ import annotations

import contextlib
from typing import Any

# Long-running servers: each request they serve tags its own context.
_SERVERS = {"runserver", "runworker"}

_task_contexts: dict[str, Any] = {}


def command_context(argv: list[str]) -> contextlib.AbstractContextManager[Any]:
    """The context of ``manage.py <command>``: ``{"command": name}``."""
    name = argv[1] if len(argv) > 1 else ""
    if not name or name.startswith("-") or name in _SERVERS:
        return contextlib.nullcontext()
    from apps.common.audit import audit_context

    return audit_context(command=name)


def task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """Celery's task_prerun: open the context ``{"task": name}`` for the task's run."""
    from apps.common.audit import audit_context

    context = audit_context(task=getattr(task, "name", str(task)))
    context.__enter__()
    _task_contexts[task_id or ""] = context


def task_finished(task_id: str | None = None, **_: Any) -> None:
    """Celery's task_postrun (also after a failure): close the task's context."""
    context = _task_contexts.pop(task_id or "", None)
    if context is not None:
        context.__exit__(None, None, None)
