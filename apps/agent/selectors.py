"""The virtual agent's scoreboard, from its sessions and turns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .choices import SessionOutcome
from .models import AgentSession, AgentTurn


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` 0..1); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil(n * share), at least the first
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Scoreboard:
    """Per conversation (its calls) or any set of sessions: latency per caller turn, the
    interruptions and whether the agent recovered, and how the sessions ended."""

    sessions: int = 0
    turns: int = 0
    first_token_p50_ms: float | None = None
    first_token_p95_ms: float | None = None
    first_helpful_p50_ms: float | None = None
    first_helpful_p95_ms: float | None = None
    interruptions: int = 0
    recovered: int = 0
    contained: int = 0
    handed_off: int = 0
    abandoned: int = 0
    task_success: int = 0  # sessions that succeeded (``session_task_success``)
    reasons: dict[str, int] = field(default_factory=dict)


def session_task_success(*, outcome: str, cited: bool, closing: bool) -> bool | None:
    """Task success of one session, stated simply (docs/virtual-agent.md): the agent contained
    the call, answered at least one turn from a knowledge article (it cited one; its title is
    kept if the article is deleted later), and the caller ended with thanks or goodbye. A
    handoff, for any reason, or a contained call without a cited answer or without that goodbye
    is not a success. None while the session is open, and for abandoned or failed sessions
    (nothing was asked, or the socket failed): they count neither way. Insights'
    ``va_task_success`` is the same rule in SQL (``apps/insights/sql.py``)."""
    if outcome == SessionOutcome.HANDED_OFF:
        return False
    if outcome == SessionOutcome.CONTAINED:
        return cited and closing
    return None


def scoreboard_for_calls(*, call_sids: Iterable[str]) -> Scoreboard:
    """The scoreboard of the agent's sessions on these calls (a conversation's ``call_sids``,
    which the caller may already see). Two queries."""
    sessions = list(
        AgentSession.objects.filter(call_sid__in=[sid for sid in call_sids if sid]).only(
            "pk", "outcome", "handoff_reason_code"
        )
    )
    if not sessions:
        return Scoreboard()
    turns = list(
        AgentTurn.objects.filter(session__in=[s.pk for s in sessions]).only(
            "session_id",
            "first_token_ms",
            "first_helpful_ms",
            "interrupted",
            "recovered",
            "article_title",
            "closing",
        )
    )
    cited = {t.session_id for t in turns if t.article_title}
    closing = {t.session_id for t in turns if t.closing}
    first = [t.first_token_ms for t in turns if t.first_token_ms is not None]
    helpful = [t.first_helpful_ms for t in turns if t.first_helpful_ms is not None]
    return Scoreboard(
        sessions=len(sessions),
        turns=len(turns),
        first_token_p50_ms=percentile(first, 0.5),
        first_token_p95_ms=percentile(first, 0.95),
        first_helpful_p50_ms=percentile(helpful, 0.5),
        first_helpful_p95_ms=percentile(helpful, 0.95),
        interruptions=sum(t.interrupted for t in turns),
        recovered=sum(t.recovered is True for t in turns),
        contained=sum(s.outcome == SessionOutcome.CONTAINED for s in sessions),
        handed_off=sum(s.outcome == SessionOutcome.HANDED_OFF for s in sessions),
        abandoned=sum(s.outcome == SessionOutcome.ABANDONED for s in sessions),
        task_success=sum(
            session_task_success(outcome=s.outcome, cited=s.pk in cited, closing=s.pk in closing)
            is True
            for s in sessions
        ),
        reasons=dict(Counter(s.handoff_reason_code for s in sessions if s.handoff_reason_code)),
    )
