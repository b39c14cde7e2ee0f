"""Recording the virtual agent's sessions and turns (the consumer calls these off the loop)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from apps.common.changes import conversations_changed
from apps.conversations import selectors as conversations

from ..choices import SessionOutcome
from ..models import AgentSession, AgentTurn
from .dialog import Handoff


def session_start(
    *,
    session_id: str,
    call_sid: str,
    account_sid: str = "",
    from_number: str = "",
    to_number: str = "",
) -> AgentSession:
    """The session of a ``setup`` message, once: a repeated setup finds the same row."""
    session, _ = AgentSession.objects.get_or_create(
        session_id=session_id,
        defaults={
            "call_sid": call_sid,
            "account_sid": account_sid,
            "from_number": from_number,
            "to_number": to_number,
            "started_at": timezone.now(),
        },
    )
    return session


@dataclass(frozen=True)
class TurnRecord:
    """A finished turn as the consumer measured it."""

    index: int
    prompt: str
    reply: str
    prompted_at: datetime
    article_id: int | None = None
    article_title: str = ""
    first_token_ms: float | None = None
    first_helpful_ms: float | None = None
    tokens_sent: int = 0
    interrupted: bool = False
    heard: str = ""
    interrupted_after_ms: int | None = None
    handoff: bool = False
    closing: bool = False


def _call_changed(call_sid: str) -> None:
    """Insights' facts of the call's conversation read the session and its turns: mark them
    stale in this transaction. A conversation not known yet is refreshed when its Orchestrator
    events arrive, and reads the session then."""
    if call_sid:
        found = conversations.conversation_for_call(call_sid=call_sid)
        conversations_changed([found.pk if found else None])


def _ended_call_changed(session_id: int) -> None:
    """A turn recorded after its session ended (the handoff's own turn is stored after the
    ``end`` message) marks the facts stale; one recorded while the call goes on does not: the
    session's end marks them once, after its last turn, and no query is added to each turn on
    the sockets' database thread."""
    call_sid, ended_at = AgentSession.objects.values_list("call_sid", "ended_at").get(pk=session_id)
    if ended_at is not None:
        _call_changed(call_sid)


@transaction.atomic
def turn_record(*, session_id: int, turn: TurnRecord) -> AgentTurn:
    """Store a finished turn (once per index), and settle the previous turn's recovery: an
    interrupted turn recovered when the agent answered the caller's next turn."""
    row, _ = AgentTurn.objects.update_or_create(
        session_id=session_id,
        index=turn.index,
        defaults={
            "prompt": turn.prompt,
            "reply": turn.reply,
            "prompted_at": turn.prompted_at,
            "article_id": turn.article_id,
            "article_title": turn.article_title,
            "first_token_ms": turn.first_token_ms,
            "first_helpful_ms": turn.first_helpful_ms,
            "tokens_sent": turn.tokens_sent,
            "interrupted": turn.interrupted,
            "heard": turn.heard,
            "interrupted_after_ms": turn.interrupted_after_ms,
            "handoff": turn.handoff,
            "closing": turn.closing,
        },
    )
    if turn.first_token_ms is not None:
        AgentTurn.objects.filter(
            session_id=session_id, index__lt=turn.index, interrupted=True, recovered__isnull=True
        ).update(recovered=True)
    _ended_call_changed(session_id)
    return row


def session_note_digit(*, session_id: int, digit: str) -> None:
    AgentSession.objects.filter(pk=session_id).update(digits=Concat(F("digits"), Value(digit)))


@transaction.atomic
def session_note_error(*, session_id: int, description: str) -> None:
    session = AgentSession.objects.select_for_update().get(pk=session_id)
    session.errors = [*session.errors, description[:500]]
    session.save(update_fields=["errors", "updated_at"])


@transaction.atomic
def session_end(*, session_id: int, handoff: Handoff | None, sentiment: str, summary: str) -> bool:
    """Close a session: handed off (with why), contained, or abandoned (the caller hung up
    before any turn of theirs: nothing was asked, so nothing was contained). Only an open
    session closes (a second close, or a socket dropping after the handoff, changes nothing).
    Interrupted turns never answered afterwards did not recover."""
    fields: dict[str, object] = {"ended_at": timezone.now(), "sentiment": sentiment}
    if handoff is not None:
        fields |= {
            "outcome": SessionOutcome.HANDED_OFF,
            "handoff_reason_code": handoff.reason_code,
            "handoff_reason": handoff.reason,
            "summary": handoff.summary,
        }
    elif AgentTurn.objects.filter(session_id=session_id).exists():
        fields |= {"outcome": SessionOutcome.CONTAINED, "summary": summary}
    else:
        fields |= {"outcome": SessionOutcome.ABANDONED, "summary": summary}
    closed = AgentSession.objects.filter(pk=session_id, outcome=SessionOutcome.IN_PROGRESS).update(
        **fields
    )
    AgentTurn.objects.filter(
        session_id=session_id, interrupted=True, recovered__isnull=True
    ).update(recovered=False)
    _call_changed(AgentSession.objects.values_list("call_sid", flat=True).get(pk=session_id))
    return bool(closed)
