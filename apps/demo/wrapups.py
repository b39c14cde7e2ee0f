"""Wrap-ups in the demo: the agents with a login (Linda, the `agent` login) saved the wrap-up of
their past calls, so the conversation page shows the AI's version beside the agent's and
insights has an edit share to show.

Saved through the real service as the agent. What the agent changed is made up, the same way
on every load (by the conversation's id): most keep the AI's summary, some add the next step,
some correct the outcome, a few write their own note. Only the save times are then moved back to
a minute or two after each call (one UPDATE, as a data migration would do), so they are not all
"late". Idempotent: a call with a wrap-up is left alone.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

from django.db import transaction
from django.db.models import F

from apps.accounts.models import User
from apps.common.errors import ApplicationError
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.wrapup import services as wrapups
from apps.wrapup.models import Wrapup

NEXT_STEPS = [
    "The new card arrives in 5 to 7 business days.",
    "Told the customer to call back if the payment does not show by Friday.",
    "Sent a confirmation by text message.",
]


def _agent_version(pk: int, summary: str, topic: str, outcome: str) -> tuple[str, str, str]:
    roll = zlib.crc32(str(pk).encode()) % 20
    if roll < 9 or not summary:  # kept as the AI wrote it
        return summary or f"Customer called about {topic or 'their account'}.", topic, outcome
    if roll < 16:  # added the next step
        return f"{summary} {NEXT_STEPS[roll % len(NEXT_STEPS)]}", topic, outcome
    if roll < 18:  # corrected the outcome
        return summary, topic, "follow-up" if outcome != "follow-up" else "resolved"
    return (  # wrote their own note
        f"Customer called about {topic or 'their account'}. Handled on the call; nothing left.",
        topic,
        outcome,
    )


def demo_wrapups_load() -> int:
    """The wrap-ups of the logins' closed calls; how many were saved."""
    saved = 0
    for user in User.objects.filter(agent_profile__isnull=False, is_active=True):
        for conversation in conversations.conversation_list(user=user).filter(status="CLOSED"):
            if Wrapup.objects.filter(conversation_id=conversation.pk).exists():
                continue
            full = conversations.conversation_get(user=user, pk=conversation.pk)
            proposal = intelligence.wrapup_proposal(conversation_id=full.pk)
            outcome = proposal.outcome.lower()
            outcome = outcome if outcome in ("resolved", "follow-up", "escalated") else "resolved"
            summary, topic, outcome = _agent_version(
                full.pk, proposal.summary, proposal.topic, outcome
            )
            try:
                with transaction.atomic():
                    wrapups.wrapup_save(
                        user=user,
                        conversation=full,
                        summary=summary,
                        topic=topic,
                        outcome=outcome,
                        ai_summary_result_id=proposal.summary_result_id,
                    )
            except ApplicationError:
                continue  # not the agent on it after all, or the call has not ended
            saved += 1
    # Saved a minute or two after each call, as an agent at work would.
    Wrapup.objects.filter(saved_at__gt=F("due_at")).update(
        saved_at=F("due_at") - timedelta(seconds=45), late=False
    )
    return saved
