"""Panels that other apps add to the conversation page (and to any page showing a conversation).

The conversations app draws the transcript and the details; what other apps know about a
conversation (the intelligence app's insights; later, QA's review) comes in as panels. An app
registers a panel when it is ready (``AppConfig.ready``); every page that shows a conversation
renders the registered panels in order. The conversations app imports none of those apps.

A panel gives HTML for the main column and the side column, tags for the page's head (its
script), and marks on transcript lines (a badge per line, e.g. its sentiment). It may also
answer the page's ``?partial=<key>`` requests, which its script makes to refresh itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString

from apps.common.errors import NotFound

if TYPE_CHECKING:
    from .models import Communication, Conversation


@dataclass(frozen=True)
class LineMark:
    """A badge on one transcript line: ``kind`` says what it is ("Sentiment"), ``label`` its
    value; ``colour`` is a Bootstrap colour name."""

    kind: str
    label: str
    colour: str = "secondary"
    title: str = ""
    value: float | None = None  # a number behind the label (a sentiment score), for charts

    @property
    def slug(self) -> str:
        return self.kind.lower().replace(" ", "-")


@dataclass(frozen=True)
class Panel:
    """HTML is shown as given only when it is safe (``render_to_string``, ``format_html``);
    a plain string is escaped."""

    main: SafeString | str = ""
    aside: SafeString | str = ""
    head: SafeString | str = ""
    line_marks: Mapping[str, Sequence[LineMark]] = field(default_factory=dict)  # by twilio id


Render = Callable[[HttpRequest, "Conversation", Sequence["Communication"]], Panel]
Partial = Callable[[HttpRequest, "Conversation"], HttpResponse]


@dataclass(frozen=True)
class _Registered:
    key: str
    order: int
    render: Render
    partial: Partial | None


_PANELS: dict[str, _Registered] = {}


def register(key: str, render: Render, *, partial: Partial | None = None, order: int = 100) -> None:
    """Add (or replace) the panel ``key``; lower ``order`` comes first."""
    _PANELS[key] = _Registered(key=key, order=order, render=render, partial=partial)


def panels_for(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> list[Panel]:
    """Every registered panel for this conversation, in order."""
    return [
        entry.render(request, conversation, lines)
        for entry in sorted(_PANELS.values(), key=lambda entry: (entry.order, entry.key))
    ]


def line_marks(panels: Sequence[Panel]) -> dict[str, list[LineMark]]:
    """Every panel's marks, merged by line."""
    merged: dict[str, list[LineMark]] = {}
    for panel in panels:
        for twilio_id, marks in panel.line_marks.items():
            merged.setdefault(twilio_id, []).extend(marks)
    return merged


def partial(request: HttpRequest, conversation: Conversation, key: str) -> HttpResponse:
    """The answer to ``?partial=<key>``; NotFound for a key no panel answers."""
    entry = _PANELS.get(key)
    if entry is None or entry.partial is None:
        raise NotFound(f"No panel answers “{key}”.")
    return entry.partial(request, conversation)


def registered() -> list[str]:
    return sorted(_PANELS, key=lambda key: (_PANELS[key].order, key))


__all__ = ["LineMark", "Panel", "line_marks", "panels_for", "partial", "register", "registered"]
