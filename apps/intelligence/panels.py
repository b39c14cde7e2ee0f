"""The intelligence app's panel on pages that show a conversation (``apps.conversations.panels``).

Insights in the side column (live: its script refreshes them after each "insights" event),
every operator result under the transcript, and each line's sentiment as a mark on the line.
Registered in ``IntelligenceConfig.ready``; the QA review page shows the same panel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from apps.conversations.panels import LineMark, Panel

from . import selectors

if TYPE_CHECKING:
    from apps.conversations.models import Communication, Conversation


def _marks(insights: dict[str, Any]) -> dict[str, list[LineMark]]:
    return {
        twilio_id: [
            LineMark(
                kind="Sentiment",
                label=tone.label,
                colour=tone.colour,
                title=tone.title,
                value=tone.score,
            )
        ]
        for twilio_id, tone in insights["line_sentiment"].items()
    }


def insights_panel(
    request: HttpRequest, conversation: Conversation, lines: Sequence[Communication]
) -> Panel:
    insights = selectors.conversation_insights(conversation=conversation, lines=lines)
    context = {"conversation": conversation, "insights": insights}
    return Panel(
        head=render_to_string("intelligence/_panel_head.html", request=request),
        aside=render_to_string("intelligence/_panel_aside.html", context, request=request),
        main=render_to_string("intelligence/_insights_results.html", context, request=request),
        line_marks=_marks(insights),
    )


def insights_partial(request: HttpRequest, conversation: Conversation) -> HttpResponse:
    """What the live script fetches (``?partial=insights``): the panel's regions, and every
    line's marks as JSON for the transcript badges."""
    insights = selectors.conversation_insights(conversation=conversation)
    marks = {
        twilio_id: [{**asdict(mark), "slug": mark.slug} for mark in line]
        for twilio_id, line in _marks(insights).items()
    }
    context = {"conversation": conversation, "insights": insights, "line_marks": marks}
    return render(request, "intelligence/_insights_live.html", context)
