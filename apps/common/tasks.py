"""Enqueueing a Celery task by its dotted path.

Services name the task they want run (``"apps.intelligence.tasks.webhook_deliver"``) instead of
importing the module that defines it: tasks import services, so an import the other way would
be a cycle. The module is imported when the task is first sent, which registers it with its
queue and options.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def task(path: str) -> Any:
    """The Celery task at ``path``."""
    return import_string(path)


def enqueue(path: str, *args: Any) -> bool:
    """Publish the task now, without retrying; False (logged) when the broker is unreachable,
    in which case the row it would work on waits for its sweeper."""
    try:
        task(path).apply_async(args=list(args), retry=False)
    except Exception:
        logger.warning("could not enqueue %s%r; its sweeper will", path, args, exc_info=True)
        return False
    return True
