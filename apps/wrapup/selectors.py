"""Reads of wrap-ups: what the wrap-up panel shows, and saved wrap-ups for the API (a CRM)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence

from .models import Wrapup

if TYPE_CHECKING:
    from apps.accounts.scoping import Person
    from apps.conversations.models import Conversation


@dataclass(frozen=True)
class WrapupState:
    """A conversation's wrap-up as a page shows it: the AI's proposal (as the agent first saw
    it once saved, else as of now), the agent's saved version if any, and the deadline."""

    ended_at: datetime | None
    due_at: datetime | None
    proposal: intelligence.WrapupProposal
    saved: Wrapup | None
    can_edit: bool  # the user is a human agent on the call
    outcomes: list[str]

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def overdue(self) -> bool:
        return self.due_at is not None and timezone.now() > self.due_at

    @property
    def ai(self) -> dict[str, str]:
        if self.saved is not None:
            return {
                "summary": self.saved.ai_summary,
                "topic": self.saved.ai_topic,
                "outcome": self.saved.ai_outcome,
            }
        return {
            "summary": self.proposal.summary,
            "topic": self.proposal.topic,
            "outcome": self.proposal.outcome.lower(),
        }

    @property
    def initial(self) -> dict[str, Any]:
        """What the form starts from: the agent's saved version, else the AI's proposal (an
        outcome the form does not offer is left for the agent to choose)."""
        if self.saved is not None:
            return {
                "summary": self.saved.summary,
                "topic": self.saved.topic,
                "outcome": self.saved.outcome,
                "revision": self.saved.revision,
                "ai_result": self.saved.ai_summary_result_id or "",
            }
        outcome = self.proposal.outcome.lower()
        return {
            "summary": self.proposal.summary,
            "topic": self.proposal.topic,
            "outcome": outcome if outcome in self.outcomes else "",
            "revision": 0,
            "ai_result": self.proposal.summary_result_id or "",
        }


def due_at(ended: datetime | None) -> datetime | None:
    return None if ended is None else ended + timedelta(seconds=settings.WRAPUP_SECONDS)


def wrapup_state(*, user: Person, conversation: Conversation) -> WrapupState:
    """``conversation`` is one the user may see (the page's own read)."""
    ended = conversations.ended_at(conversation=conversation)
    user_id = getattr(user, "pk", None)
    return WrapupState(
        ended_at=ended,
        due_at=due_at(ended),
        proposal=intelligence.wrapup_proposal(conversation_id=conversation.pk),
        saved=Wrapup.objects.filter(conversation_id=conversation.pk)
        .select_related("saved_by", "agent")
        .first(),
        can_edit=user_id is not None
        and conversations.agent_on_call(conversation=conversation, user_id=user_id) is not None,
        outcomes=list(settings.WRAPUP_OUTCOMES),
    )


def wrapup_list(*, user: Person) -> QuerySet[Wrapup]:
    """Saved wrap-ups of the conversations ``user`` may see, newest first."""
    return (
        Wrapup.objects.for_user(user)
        .select_related("conversation", "agent", "saved_by")
        .order_by("-saved_at", "-id")
    )


def wrapup_get(*, user: Person, conversation_id: int) -> Wrapup | None:
    return wrapup_list(user=user).filter(conversation_id=conversation_id).first()
