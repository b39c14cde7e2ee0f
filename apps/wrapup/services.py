"""Saving a wrap-up: the agent's version beside the AI's proposal, and how much they changed.

Only a human agent on the call saves its wrap-up, once the call has ended. The first save keeps
the AI's proposal as the agent saw it (the summary result the form was filled from, and the
AI's topic and outcome then); later saves change the agent's version only, each guarded by the
revision the agent edited, so two tabs cannot overwrite each other unseen. A save after the
deadline (``WRAPUP_SECONDS`` after the call) is kept and marked late. Insights hears of every
save (``conversations_changed``) and the pages showing the conversation get a live event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.common.changes import conversations_changed
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.live.streams import live_publish

from . import selectors
from .changes import wrapup_changes
from .models import Wrapup

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.conversations.models import Conversation

WRAPUP_EVENT = "wrapup"


def _clean(summary: str, topic: str, outcome: str) -> tuple[str, str, str]:
    summary, topic, outcome = summary.strip(), " ".join(topic.split()), outcome.strip().lower()
    errors: dict[str, list[str]] = {}
    if not summary:
        errors["summary"] = ["Write what the call was about and what happens next."]
    elif len(summary) > settings.WRAPUP_SUMMARY_MAX:
        errors["summary"] = [
            f"At most {settings.WRAPUP_SUMMARY_MAX:,} characters (this is {len(summary):,})."
        ]
    if len(topic) > 200:
        errors["topic"] = ["At most 200 characters."]
    if outcome not in settings.WRAPUP_OUTCOMES:
        choices = ", ".join(settings.WRAPUP_OUTCOMES)
        errors["outcome"] = [f"Choose how the call ended: {choices}."]
    if errors:
        raise ValidationFailed(errors)
    return summary, topic, outcome


@transaction.atomic
def wrapup_save(
    *,
    user: User,
    conversation: Conversation,
    summary: str,
    topic: str,
    outcome: str,
    revision: int = 0,
    ai_summary_result_id: int | None = None,
) -> Wrapup:
    """Save the agent's wrap-up of ``conversation`` (one the user may see). ``revision`` is the
    one the agent edited (0: the AI's proposal, nothing saved yet)."""
    agent = conversations.agent_on_call(conversation=conversation, user_id=user.pk)
    if agent is None:
        raise PermissionDenied("Only the agent who took this call saves its wrap-up.")
    ended = conversations.ended_at(conversation=conversation)
    if ended is None:
        raise Conflict("The call is still going: wrap-up opens when it ends.")
    summary, topic, outcome = _clean(summary, topic, outcome)
    now = timezone.now()
    due = selectors.due_at(ended)
    wrapup = Wrapup.objects.select_for_update().filter(conversation_id=conversation.pk).first()
    if wrapup is None:
        if revision:
            raise Conflict("This wrap-up is not saved yet: reload to start from the AI's notes.")
        proposal = intelligence.wrapup_proposal(conversation_id=conversation.pk)
        ai_summary, ai_result = proposal.summary, proposal.summary_result_id
        if ai_summary_result_id is not None:
            # The summary the agent's form was filled from, though the AI may have a newer one.
            seen = intelligence.summary_text(
                result_id=ai_summary_result_id, conversation_id=conversation.pk
            )
            if seen is not None:
                ai_summary, ai_result = seen, ai_summary_result_id
        wrapup = Wrapup(
            conversation=conversation,
            ai_summary=ai_summary,
            ai_summary_result_id=ai_result,
            ai_topic=proposal.topic,
            ai_outcome=proposal.outcome.lower()[:40],
            revision=1,
        )
    elif revision != wrapup.revision:
        raise Conflict(
            f"Saved meanwhile (now revision {wrapup.revision}, you edited {revision}): "
            "reload to see it, then save again.",
            extra={"revision": wrapup.revision},
        )
    else:
        wrapup.revision += 1
    changes = wrapup_changes(
        ai=(wrapup.ai_summary, wrapup.ai_topic, wrapup.ai_outcome),
        agent=(summary, topic, outcome),
    )
    wrapup.summary, wrapup.topic, wrapup.outcome = summary, topic, outcome
    wrapup.summary_distance = changes.summary_distance
    wrapup.summary_change = changes.summary_change
    wrapup.fields_changed = changes.fields
    wrapup.agent = agent
    wrapup.saved_by = user
    wrapup.saved_at = now
    wrapup.due_at = due
    wrapup.late = due is not None and now > due
    try:
        with transaction.atomic():
            wrapup.save()
    except IntegrityError:  # another tab saved the first version at the same moment
        raise Conflict("Saved meanwhile in another window: reload to see it.") from None
    conversations_changed([conversation.pk])
    live_publish(
        conversation.pk,
        WRAPUP_EVENT,
        {
            "revision": wrapup.revision,
            "outcome": wrapup.outcome,
            "topic": wrapup.topic,
            "summary_change": wrapup.summary_change,
            "fields_changed": wrapup.fields_changed,
            "late": wrapup.late,
        },
    )
    return wrapup


@transaction.atomic
def wrapups_erase(*, conversation_ids: Iterable[int]) -> int:
    """Erasure (apps/privacy): the summaries (the AI's and the agent's) of these conversations'
    wrap-ups. Topic, outcome and how much the agent changed stay: insights counts them. Returns
    how many changed; a second call none."""
    return (
        Wrapup.objects.filter(conversation_id__in=list(conversation_ids))
        .exclude(ai_summary="", summary="")
        .update(ai_summary="", summary="")
    )
