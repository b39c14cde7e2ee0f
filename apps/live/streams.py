"""Numbered live events of a conversation: published in the writer's transaction, sent after
commit, replayed on request.

``live_publish`` takes the conversation's next number with one ``INSERT ... ON CONFLICT DO
UPDATE ... RETURNING`` on its stream row, stores the event, and broadcasts it once the
transaction commits. The stream row stays locked until then, so numbers are handed out in commit
order and a rolled-back transaction gives its number back: a conversation's events are numbered
1, 2, 3... without gaps, in the order browsers may apply them. ``live_events_after`` answers a
browser that missed some (a gap in the numbers, a reconnect, a quiet socket checked now and
then); when the events it needs are gone (purged, or another epoch) it says so and the browser
reloads what it shows.

Imports no app (the kernel): the conversation is an id, the payload whatever the publisher
made of its change, small and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from .broadcast import broadcast, broadcast_many
from .groups import conversation_group
from .models import LiveEvent, LiveStream

_NEXT = """
WITH stream AS (
    INSERT INTO live_livestream (conversation_id, epoch, last_seq, floor_seq)
    VALUES (%(conversation)s, 1, 1, 1)
    ON CONFLICT (conversation_id) DO UPDATE SET last_seq = live_livestream.last_seq + 1
    RETURNING epoch, last_seq
)
INSERT INTO live_liveevent (conversation_id, seq, event, payload, created_at)
SELECT %(conversation)s, stream.last_seq, %(event)s, %(payload)s::jsonb, now() FROM stream
RETURNING seq, (SELECT epoch FROM stream)
"""


@dataclass(frozen=True)
class Published:
    conversation_id: int
    seq: int
    epoch: int


def live_publish(conversation_id: int, event: str, payload: dict[str, Any]) -> Published:
    """Store ``event`` as the conversation's next numbered event and send it to the
    conversation's group when the surrounding transaction commits."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _NEXT,
            {
                "conversation": conversation_id,
                "event": event,
                "payload": json.dumps(payload, cls=DjangoJSONEncoder),
            },
        )
        seq, epoch = cursor.fetchone()
    published = Published(conversation_id, seq, epoch)
    group = conversation_group(conversation_id)
    transaction.on_commit(lambda: broadcast(group, event, payload, seq=seq, epoch=epoch))
    return published


_NEXT_MANY = """
WITH item AS (
    SELECT (e.value ->> 0)::bigint AS conversation_id, e.value ->> 1 AS event,
           e.value -> 2 AS payload, e.n
      FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(value, n)
), taken AS (
    SELECT conversation_id, count(*) AS k FROM item GROUP BY conversation_id
), stream AS (
    INSERT INTO live_livestream (conversation_id, epoch, last_seq, floor_seq)
    SELECT conversation_id, 1, k, 1 FROM taken ORDER BY conversation_id
    ON CONFLICT (conversation_id) DO UPDATE
        SET last_seq = live_livestream.last_seq + EXCLUDED.last_seq
    RETURNING conversation_id, epoch, last_seq
), numbered AS (
    SELECT i.n, i.conversation_id, i.event, i.payload, s.epoch,
           s.last_seq - t.k + row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.n) AS seq
      FROM item i JOIN taken t USING (conversation_id) JOIN stream s USING (conversation_id)
), stored AS (
    INSERT INTO live_liveevent (conversation_id, seq, event, payload, created_at)
    SELECT conversation_id, seq, event, payload, now() FROM numbered ORDER BY n
)
SELECT seq, epoch FROM numbered ORDER BY n
"""


def live_publish_many(events: list[tuple[int, str, dict[str, Any]]]) -> list[Published]:
    """``live_publish`` for a batch of ``(conversation_id, event, payload)``, in one statement:
    each conversation's events take its next numbers in the order given (its stream row is
    locked until the transaction ends, in conversation order), and are sent in that order
    once the transaction commits."""
    if not events:
        return []
    # One JSON document rather than arrays: quoting each element costs more than the statement.
    document = json.dumps(events, cls=DjangoJSONEncoder)
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_MANY, {"events": document})
        numbers = cursor.fetchall()
    published = [
        Published(conversation, seq, epoch)
        for (conversation, _, _), (seq, epoch) in zip(events, numbers, strict=True)
    ]

    messages = [
        (conversation_group(conversation), event, payload, sent.seq, sent.epoch)
        for (conversation, event, payload), sent in zip(events, published, strict=True)
    ]
    transaction.on_commit(lambda: broadcast_many(messages))
    return published


@dataclass(frozen=True)
class Position:
    """Where a conversation's stream is: what a page rendered now has seen."""

    epoch: int
    seq: int


def live_position(conversation_id: int) -> Position:
    stream = LiveStream.objects.filter(conversation_id=conversation_id).first()
    return Position(stream.epoch, stream.last_seq) if stream else Position(1, 0)


@dataclass
class Catchup:
    epoch: int
    last_seq: int
    events: list[dict[str, Any]] = field(default_factory=list)
    has_more: bool = False
    # Why the events asked for cannot be replayed ("epoch", "purged"): reload instead.
    gone: str = ""


def live_events_after(
    conversation_id: int, *, after: int, epoch: int | None = None, limit: int | None = None
) -> Catchup:
    """The conversation's events numbered above ``after``, oldest first, at most ``limit``."""
    limit = limit or settings.LIVE_CATCHUP_LIMIT
    stream = LiveStream.objects.filter(conversation_id=conversation_id).first()
    if stream is None:
        # Nothing published yet: whatever the browser holds is from before any event.
        return Catchup(epoch=1, last_seq=0, gone="epoch" if epoch not in (None, 1) else "")
    if epoch is not None and epoch != stream.epoch:
        return Catchup(epoch=stream.epoch, last_seq=stream.last_seq, gone="epoch")
    if after + 1 < stream.floor_seq:
        return Catchup(epoch=stream.epoch, last_seq=stream.last_seq, gone="purged")
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in LiveEvent.objects.filter(conversation_id=conversation_id, seq__gt=after)
        .order_by("seq")
        .values("seq", "event", "payload")[: limit + 1]
    ]
    return Catchup(
        epoch=stream.epoch,
        last_seq=stream.last_seq,
        events=rows[:limit],
        has_more=len(rows) > limit,
    )


def live_purge(*, now: datetime | None = None) -> int:
    """Delete events older than ``LIVE_EVENT_RETENTION_HOURS`` and raise each stream's floor
    above them; returns how many were deleted."""
    before = (now or timezone.now()) - timedelta(hours=settings.LIVE_EVENT_RETENTION_HOURS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH gone AS (
                DELETE FROM live_liveevent WHERE created_at < %s RETURNING conversation_id, seq
            ), raised AS (
                UPDATE live_livestream s SET floor_seq = g.top + 1
                FROM (SELECT conversation_id, max(seq) AS top FROM gone GROUP BY conversation_id) g
                WHERE s.conversation_id = g.conversation_id AND s.floor_seq <= g.top
                RETURNING 1
            )
            SELECT count(*) FROM gone
            """,
            [before],
        )
        return int(cursor.fetchone()[0])


@transaction.atomic
def live_events_erase(*, conversation_ids: Iterable[int]) -> int:
    """Erasure (apps/privacy): delete every stored event of these conversations (lines, results
    and alerts carry their words) and raise each stream's floor above its last number, so a
    browser asking for them is told they are gone and reloads. Returns how many were deleted."""
    ids = list(conversation_ids)
    deleted = LiveEvent.objects.filter(conversation_id__in=ids).delete()[0]
    LiveStream.objects.filter(conversation_id__in=ids).update(floor_seq=F("last_seq") + 1)
    return deleted
