"""Keeping each conversation's facts current.

Writers below mark a conversation stale in their own transaction (``facts_mark_stale``, the
listener of ``apps.common.changes``); after commit one wake-up message asks a worker to drain.
A refresh claims stale marks with ``SKIP LOCKED`` (two workers never take the same mark), takes
an advisory lock per conversation in id order (a slower worker never writes older values over
newer ones: under READ COMMITTED each statement after the lock sees what the previous holder
committed) and recomputes the facts with ``sql.FACTS_LOGGED``, which logs the buckets a changed
fact left and entered. A crash rolls the claim back and the marks are claimed again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from apps.common.db import asynchronous_commit_local
from apps.common.wake import Waker
from apps.conversations.choices import ConversationStatus

from .. import sql
from .suggestions import suggestions_score

INSIGHTS_WAKER = Waker(
    key="ccportal:insights:wake",
    ttl_ms=1000,
    task="apps.insights.tasks.refresh_insights",
    what="insights workers",
)

_INT4 = 2_147_483_647
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FACTS_FOR_IDS = sql.targeted(sql.FACTS_LOGGED, sql.TARGET_IDS)


def statement_params(**extra: Any) -> dict[str, Any]:
    """The settings every fact statement reads, plus ``extra`` (ids, or a range)."""
    return {
        "tz": settings.TIME_ZONE,
        "topic_ops": list(settings.INSIGHTS_TOPIC_OPERATORS),
        "outcome_ops": list(settings.INSIGHTS_OUTCOME_OPERATORS),
        "success": list(settings.INSIGHTS_SUCCESS_OUTCOMES),
        "followed": settings.INSIGHTS_SUGGESTION_FOLLOWED,
        "sentiment_band": SENTIMENT_BAND,
        "since": _EPOCH,
        **extra,
    }


# A customer's sentiment moved when its delta leaves this band (VADER's own neutral band).
SENTIMENT_BAND = 0.05


def facts_mark_stale(conversation_ids: Sequence[int]) -> None:
    """Record that these conversations' facts are out of date, in the caller's transaction,
    and wake a worker once it commits."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO insights_staleconversation (conversation_id, marked_at) "
            "SELECT unnest(%s::bigint[]), now()",
            [list(conversation_ids)],
        )
    transaction.on_commit(INSIGHTS_WAKER.wake)


def lock_all_shared(cursor: Any) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", sql.LOCK_ALL)


def facts_refresh(conversation_ids: Sequence[int]) -> None:
    """Recompute the facts of these conversations now, in the caller's transaction (which
    should be short: it holds the conversations' locks until it ends)."""
    ids = sorted(set(conversation_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        lock_all_shared(cursor)
        # In id order (the array is sorted and unnest keeps its order): no deadlocks.
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, (id %% %s)::int)) FROM unnest(%s::bigint[]) id",
            [sql.LOCK_FACT, _INT4, ids],
        )
        params = statement_params(ids=ids, months=conversation_months(cursor, ids))
        with joins_as_written(cursor):
            suggestions_score(target=sql.TARGET_IDS, params=params, conversation_ids=ids)
            cursor.execute(FACTS_FOR_IDS, params)


@contextmanager
def joins_as_written(cursor: Any) -> Iterator[None]:
    """Plan the statements inside with their joins in the order written (``join_collapse_limit``
    1, for this transaction; the previous value is put back after them).

    The refresh's statements are planned on every call (client-side parameters) and planning
    cost more than running them: 15-25 ms for the facts of one conversation, most of it
    searching join orders over the inlined CTEs. Written in order (the target conversations
    first, then what hangs off each), they need no search; issue 17 has the figures. An error
    inside leaves the setting to the rollback."""
    cursor.execute(
        "SELECT current_setting('join_collapse_limit'),"
        " set_config('join_collapse_limit', '1', true)"
    )
    (previous, _) = cursor.fetchone()
    yield
    cursor.execute("SELECT set_config('join_collapse_limit', %s, true)", [previous])


def conversation_months(cursor: Any, ids: Sequence[int]) -> list[date]:
    """The months whose partitions hold these conversations' communications and results (the
    first of the UTC month of each one's creation: ``apps.conversations.fields.month_of``)."""
    cursor.execute(
        "SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')::date"
        " FROM conversations_conversation WHERE id = ANY(%s) ORDER BY 1",
        [list(ids)],
    )
    return [row[0] for row in cursor.fetchall()]


@transaction.atomic
def facts_refresh_stale(*, limit: int | None = None) -> int:
    """Claim up to ``limit`` stale marks and refresh their conversations; returns how many
    conversations were refreshed (0: nothing was stale)."""
    asynchronous_commit_local()  # the marks come back if this commit is lost
    settle = settings.INSIGHTS_ACTIVE_SETTLE_SECONDS
    with connection.cursor() as cursor:
        if not settle:
            cursor.execute(
                "DELETE FROM insights_staleconversation WHERE id IN ("
                " SELECT id FROM insights_staleconversation ORDER BY id LIMIT %s"
                " FOR UPDATE SKIP LOCKED) RETURNING conversation_id",
                [limit or settings.INSIGHTS_BATCH],
            )
            ids = sorted({row[0] for row in cursor.fetchall()})
        else:
            ids = _claim_settled(cursor, settle=settle, limit=limit or settings.INSIGHTS_BATCH)
    facts_refresh(ids)
    return len(ids)


def _claim_settled(cursor: Any, *, settle: int, limit: int) -> list[int]:
    """Claim the marks of conversations that are due: closed (or gone) ones at once, one in
    progress once its oldest mark is ``settle`` seconds old; then every other mark of the same
    conversations, so one refresh answers them all (a mark a writer commits after this is left
    for the next refresh). Marks another worker holds are skipped, never waited for.

    A mark is due if old enough or if its conversation is not in progress (closed, or gone):
    ``NOT IN`` the conversations in progress, one hashed set per claim (a few thousand ids).
    A join to each mark's conversation instead cost three buffers per mark on every claim,
    most of them finding nothing due (issue 17, "Where PostgreSQL's CPU goes per event")."""
    cursor.execute(
        """
        WITH due AS (
            DELETE FROM insights_staleconversation WHERE id IN (
                SELECT s.id FROM insights_staleconversation s
                 WHERE s.marked_at < now() - make_interval(secs => %s)
                    OR s.conversation_id NOT IN (
                        SELECT c.id FROM conversations_conversation c WHERE c.status = %s)
                 ORDER BY s.id LIMIT %s
                   FOR UPDATE SKIP LOCKED)
            RETURNING conversation_id
        )
        SELECT DISTINCT conversation_id FROM due
        """,
        [settle, ConversationStatus.ACTIVE, limit],
    )
    ids = sorted(row[0] for row in cursor.fetchall())
    if ids:
        cursor.execute(
            "DELETE FROM insights_staleconversation WHERE id IN ("
            " SELECT id FROM insights_staleconversation WHERE conversation_id = ANY(%s)"
            " FOR UPDATE SKIP LOCKED)",
            [ids],
        )
    return ids
