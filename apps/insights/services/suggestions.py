"""How close a human agent's answer came to the next best response shown to them.

The measure: the share of the suggestion's content words (``apps.intelligence.nlp.text``: the
words that are neither function words nor fillers, lowercased, no stemming) that appear in the
agent's next communication after the customer's turn the suggestion answered. 1.0: the agent
said every content word of it (read it out, or close to it); 0.0: none. A suggestion without
content words has no closeness. It rewards using the suggestion's substance in any order and
ignores what the agent added; it cannot tell a paraphrase with other words from ignoring the
suggestion, so it reads as a lower bound of usefulness.

Scores are kept per suggestion (``SuggestionScore``) with the answer they were computed
against, and recomputed only when that answer changes (a late, earlier communication).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

from apps.intelligence.nlp.text import content_words

from .. import sql
from ..models import SuggestionScore


def closeness(suggestion: str, reply: str) -> float | None:
    """The share of ``suggestion``'s content words that ``reply`` contains (0..1)."""
    wanted = set(content_words(suggestion))
    if not wanted:
        return None
    said = set(content_words(reply))
    return round(len(wanted & said) / len(wanted), 4)


def suggestions_score(
    *, target: str, params: dict[str, Any], conversation_ids: Sequence[int] | None = None
) -> int:
    """Pair every suggestion of the target conversations with the human answer that followed
    and score the pairs that are new or changed. Returns how many were (re)scored."""
    with connection.cursor() as cursor:
        cursor.execute(sql.targeted(sql.SUGGESTION_PAIRS, target), params)
        rows = cursor.fetchall()
    fresh = [
        SuggestionScore(
            result_id=result_id,
            conversation_id=conversation_id,
            operator=operator,
            reply_id=reply_id,
            closeness=closeness(text or "", reply_text or ""),
        )
        for result_id, conversation_id, operator, text, reply_id, reply_text, scored_reply in rows
        if scored_reply != reply_id
    ]
    if fresh:
        SuggestionScore.objects.bulk_create(
            fresh,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["result_id"],
            update_fields=["conversation", "operator", "reply", "closeness"],
        )
    if conversation_ids is not None:
        # A suggestion whose answer is gone (now the AI's turn, or none) no longer counts.
        kept = [row[0] for row in rows]
        SuggestionScore.objects.filter(conversation_id__in=list(conversation_ids)).exclude(
            result_id__in=kept
        ).delete()
    return len(fresh)
