"""Telling the apps above that what is stored about some conversations changed.

The apps that hold a conversation's inputs (its events, participants and communications, the
language operators' results, flags, handoffs, QA reviews and disputes) sit below the apps that
derive figures from them (insights). Those cannot be imported from below, so the writers call
``conversations_changed`` inside their own transaction and whoever derives something registers a
listener in its ``AppConfig.ready``. A listener runs in the writer's transaction: it should only
record that work is due (a row in a table of its own) and defer anything slow to after commit,
so the record commits, or rolls back, with the change itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

Listener = Callable[[Sequence[int]], None]

_listeners: list[Listener] = []


def on_conversations_changed(listener: Listener) -> None:
    """Call ``listener(conversation_ids)`` whenever a writer reports a change (once per listener,
    however often it is registered)."""
    if listener not in _listeners:
        _listeners.append(listener)


def conversations_changed(ids: Iterable[int | None]) -> None:
    """Report that the stored data of these conversations changed (``None`` ids are skipped)."""
    wanted = sorted({pk for pk in ids if pk is not None})
    if not wanted:
        return
    for listener in _listeners:
        listener(wanted)
