"""The inbox: store every delivery before acknowledging it, then process it exactly once.

Hot path (web): verify the signature, ``INSERT ... ON CONFLICT DO NOTHING`` keyed by the
idempotency key, and after commit wake the ingest workers. Waking costs one Redis ``SET NX``
per request instead of one Celery publish: a worker that starts draining deletes the flag first,
so every event committed before that is seen by the drain, and every event committed after it
sets the flag again and publishes a new wake-up. The database, not the broker, is the source of
truth: with Redis down, events are stored and acknowledged, and the beat sweeper finds them.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict, Unpack

from django.conf import settings
from django.db import DatabaseError, DataError, connection, transaction
from django.db.models import F, Q
from django.http import QueryDict
from django.utils import timezone

from apps.common.db import asynchronous_commit
from apps.common.wake import Waker
from apps.conversations import services as conversations

from . import selectors
from .choices import EventStatus, Source
from .handlers import intelligence, orchestrator, relay, voice
from .handlers.base import Outcome
from .models import InboundEvent
from .parsing import PayloadError

logger = logging.getLogger(__name__)

WAKE_KEY = "ccportal:ingest:wake"
WAKE_TTL_MS = 2000

HANDLERS: dict[str, Callable[[Any], Outcome]] = {
    Source.ORCHESTRATOR: orchestrator.handle,
    Source.INTELLIGENCE: intelligence.handle,
    Source.VOICE_STATUS: voice.handle,
    Source.RELAY_ACTION: relay.handle,
}
NATURAL_KEYS: dict[str, Callable[[Any], str | None]] = {
    Source.ORCHESTRATOR: orchestrator.natural_key,
    Source.INTELLIGENCE: intelligence.natural_key,
    Source.VOICE_STATUS: voice.natural_key,
    Source.RELAY_ACTION: relay.natural_key,
}
JSON_SOURCES = {Source.ORCHESTRATOR, Source.INTELLIGENCE}


@dataclass(frozen=True)
class Stored:
    event_id: int | None  # None: a duplicate of an event already stored
    duplicate: bool


def idempotency_key(*, source: str, token: str, payload: Any) -> str | None:
    if token:
        return f"token:{token}"[:255]
    key = NATURAL_KEYS[source](payload)
    return key[:255] if key else None


# No ON CONFLICT: the inbox is partitioned by month, and a trigger drops a row whose key was
# seen in any month (models.InboxKey); RETURNING then gives no row, as a conflict did.
_INSERT = """
INSERT INTO webhooks_inboundevent
    (source, idempotency_key, event_type, account_sid, url, headers, content_type, body,
     body_size, body_sha256, signature_valid, status, attempts, error, result, received_at,
     available_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, %s, '{}', %s, %s)
RETURNING id
"""


class InboxRow(TypedDict):
    """One delivery as the inbox keeps it: the keyword arguments of ``inbox_store``, of ingest's
    ``Store`` and of the group committer's ``store`` (one definition for the three)."""

    source: str
    key: str | None  # None: a refusal, kept for investigation, never a duplicate of another
    event_type: str
    account_sid: str
    url: str
    headers: dict[str, str]
    content_type: str
    body: str
    body_size: int
    signature_valid: bool
    body_sha256: NotRequired[str]  # "" if not given
    status: NotRequired[str]  # EventStatus.PENDING if not given
    error: NotRequired[str]  # "" if not given
    wake: NotRequired[bool]  # wake the workers after commit if new and pending; True if not given


def inbox_columns(row: InboxRow) -> tuple[Any, ...]:
    """The row's values in the order of the INSERT's columns (source ... error), cut to the
    columns' lengths; ``headers`` as JSON text."""
    return (
        row["source"],
        row["key"],
        row["event_type"][:64],
        row["account_sid"][:64],
        row["url"],
        json.dumps(row["headers"]),
        row["content_type"][:120],
        row["body"],
        row["body_size"],
        row.get("body_sha256", ""),
        row["signature_valid"],
        row.get("status", EventStatus.PENDING),
        row.get("error", ""),
    )


def inbox_store(**row: Unpack[InboxRow]) -> Stored:
    """Insert one delivery unless its key was seen; wake the workers after commit if new."""
    now = timezone.now()
    # One statement in autocommit: atomic by itself, and no BEGIN/COMMIT round trips. Inside an
    # outer transaction (tests, the relay view) on_commit still waits for that commit.
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [*inbox_columns(row), now, now])
        stored = cursor.fetchone()
    if (
        stored is not None
        and row.get("status", EventStatus.PENDING) == EventStatus.PENDING
        and row.get("wake", True)
    ):
        transaction.on_commit(wake_workers)
    if stored is None:
        return Stored(None, True)
    return Stored(stored[0], False)


# ---- waking the workers ---------------------------------------------------------------------


INGEST_WAKER = Waker(
    key=WAKE_KEY, ttl_ms=WAKE_TTL_MS, task="apps.webhooks.tasks.drain_inbox", what="ingest workers"
)


def wake_workers() -> None:
    """Ask for a drain unless one is already due. Never raises: the sweeper is the safety net."""
    INGEST_WAKER.wake()


def wake_flag_clear() -> None:
    INGEST_WAKER.clear()


# ---- processing -----------------------------------------------------------------------------


def payload_of(event: InboundEvent) -> Any:
    if event.source in JSON_SOURCES:
        # PostgreSQL cannot store U+0000 in text or jsonb: drop it from what senders escaped.
        return json.loads(event.body.replace("\\u0000", ""))
    return QueryDict(event.body).dict()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** max(attempts - 1, 0) * 5, 600))


def inbox_release_stale(*, now: datetime) -> int:
    """Put back in the queue the events claimed more than INGEST_CLAIM_TIMEOUT ago: the worker
    that claimed them vanished (killed, its machine lost) and will never settle them."""
    stale_before = now - timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT)
    return InboundEvent.objects.filter(
        status=EventStatus.PROCESSING, claimed_at__lt=stale_before
    ).update(status=EventStatus.PENDING, available_at=now)


def inbox_claim(*, limit: int) -> list[int]:
    """Hand out up to ``limit`` pending events; concurrent workers never get the same one.

    Stale claims are released here too, not only by the beat sweeper: under steady traffic
    every pool process of the ingest worker is draining, and the sweeper's task waits in the
    queue behind the drains until it expires. bench/faults.py saw a killed worker's events wait
    four minutes that way, until the traffic stopped. One UPDATE on a partial index, per batch.
    """
    now = timezone.now()
    inbox_release_stale(now=now)
    with transaction.atomic():
        ids = list(
            InboundEvent.objects.select_for_update(skip_locked=True)
            .filter(status=EventStatus.PENDING, available_at__lte=now)
            .order_by("available_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            InboundEvent.objects.filter(id__in=ids).update(
                status=EventStatus.PROCESSING, claimed_at=now, attempts=F("attempts") + 1
            )
    return ids


def inbox_event_process(*, event_id: int) -> str:
    """Process one claimed event; record the outcome. Returns the new status."""
    event = InboundEvent.objects.filter(pk=event_id, status=EventStatus.PROCESSING).first()
    if event is None:
        return "gone"
    try:
        with transaction.atomic():
            outcome: Outcome = HANDLERS[event.source](payload_of(event))
            _finish(event, status=outcome.status, result=outcome.detail)
        return outcome.status
    except (PayloadError, DataError) as exc:
        # DataError: a value the database cannot hold (too long, out of range, not text);
        # it comes from the payload, and a retry cannot help (found by tests/webhooks/test_fuzz).
        _finish(event, status=EventStatus.FAILED, error=f"{exc.__class__.__name__}: {exc}")
        return EventStatus.FAILED
    except Exception as exc:
        # Transient (database, network) or a bug: keep the event, retry later, give up after N.
        error = f"{exc.__class__.__name__}: {exc}\n{traceback.format_exc(limit=5)}"
        if isinstance(exc, DatabaseError) and not connection.in_atomic_block:
            # A dropped connection must not fail the rest of the batch too.
            connection.close_if_unusable_or_obsolete()
        if event.attempts >= settings.INGEST_MAX_ATTEMPTS:
            _finish(event, status=EventStatus.DEAD, error=error)
            logger.error(
                "inbound event %s is dead after %s attempts: %s", event.pk, event.attempts, exc
            )
            return EventStatus.DEAD
        InboundEvent.objects.filter(pk=event.pk, status=EventStatus.PROCESSING).update(
            status=EventStatus.PENDING,
            error=error,
            available_at=timezone.now() + backoff(event.attempts),
        )
        logger.warning(
            "inbound event %s failed (attempt %s), will retry: %s", event.pk, event.attempts, exc
        )
        return EventStatus.PENDING


def inbox_batch_process(*, event_ids: list[int]) -> dict[str, int]:
    """Process a claimed batch as sets: its Orchestrator events in one transaction, each table
    written a few statements at a time rather than once per event; returns the count per status.

    Every Orchestrator event is parsed first by the code that applies one
    (``orchestrator.parse_batchable``). Then the batch is applied in waves
    (``_batch_apply``): communications (``orchestrator.communications_handle``), conversation
    events (``conversations_handle``) and participant events (``participants_handle``) each
    together, as sets. A wave holds one kind of event per conversation (and per participant),
    so the order between kinds only matters within a conversation, and there the waves keep
    arrival order: the lines said before a conversation event are stored before it (its END
    rule covers them), a participant's placeholder conversation is made before the lines that
    follow it. Interleaved traffic of many calls makes a few waves per batch. Then every
    outcome is recorded in one UPDATE.

    An event the batch cannot parse, and the events of the other sources (voice status, rule
    results, relay actions), go one at a time through ``inbox_event_process`` once the batch
    has committed (calls and results after the conversations they belong to). If anything in the
    batch fails (a value the database refuses, a lock timeout, a deadlock, the database gone),
    its transaction rolls back and each of its events goes one at a time instead: that isolates a
    poisoned event and keeps the retry, backoff and dead-letter handling per event.
    """
    by_id = (
        InboundEvent.objects.filter(pk__in=event_ids, status=EventStatus.PROCESSING)
        .only("pk", "source", "body")
        .in_bulk()
    )
    events = [by_id[pk] for pk in event_ids if pk in by_id]
    batch: list[tuple[InboundEvent, Any, Any]] = []
    alone: list[InboundEvent] = []
    for event in events:
        if event.source != Source.ORCHESTRATOR:
            alone.append(event)
            continue
        try:
            payload = payload_of(event)
            batch.append((event, payload, orchestrator.parse_batchable(payload)))
        except Exception:  # the event's own processing records why (failed, or retried)
            alone.append(event)
    done: dict[str, int] = {}
    if batch:
        try:
            with transaction.atomic():
                settled = _batch_apply(batch)
        except Exception as exc:
            if isinstance(exc, DatabaseError) and not connection.in_atomic_block:
                connection.close_if_unusable_or_obsolete()
            logger.warning("ingest batch of %s events failed (%r): one at a time", len(events), exc)
            alone = events
        else:
            for status in settled:
                done[status] = done.get(status, 0) + 1
    for event in sorted(alone, key=events.index):
        status = inbox_event_process(event_id=event.pk)
        done[status] = done.get(status, 0) + 1
    return done


_WAVE_HANDLERS: dict[type, Callable[[list[Any]], list[Outcome]]] = {
    conversations.CommunicationInput: orchestrator.communications_handle,
    conversations.ConversationInput: orchestrator.conversations_handle,
    conversations.ParticipantInput: orchestrator.participants_handle,
}


def _wave_keys(payload: Any, item: Any) -> list[tuple[str, str]]:
    # What an event writes to: its conversation, and the participant it names (as the subject
    # of a participant event, or as a line's author: placeholder authors are participants too).
    keys = [("conversation", orchestrator.conversation_of(payload))]
    if isinstance(item, conversations.ParticipantInput):
        keys.append(("participant", item.twilio_id))
    elif isinstance(item, conversations.CommunicationInput) and item.author_participant_id:
        keys.append(("participant", item.author_participant_id))
    return keys


def _batch_apply(batch: list[tuple[InboundEvent, Any, Any]]) -> list[str]:
    if any(not isinstance(item, conversations.CommunicationInput) for _, _, item in batch):
        # Every conversation the batch touches, locked up front in one order: the waves lock
        # theirs as they go, and two batches doing that in different orders could deadlock.
        conversations.conversations_lock(
            twilio_ids=[orchestrator.conversation_of(payload) for _, payload, _ in batch]
        )
    outcomes: dict[int, tuple[InboundEvent, Outcome | None, str]] = {}
    wave: dict[type, list[tuple[int, InboundEvent, Any]]] = {}
    kinds: dict[tuple[str, str], type] = {}

    def apply_wave() -> None:
        for kind, entries in wave.items():
            applied = _WAVE_HANDLERS[kind]([item for _, _, item in entries])
            for (index, event, _), outcome in zip(entries, applied, strict=True):
                outcomes[index] = (event, outcome, "")
        wave.clear()
        kinds.clear()

    for index, (event, payload, item) in enumerate(batch):
        keys = _wave_keys(payload, item)
        kind = type(item)
        if any(kinds.get(key, kind) is not kind for key in keys):
            apply_wave()  # this event follows another kind of event of the same conversation
        if item is None:  # not applied as a set (an unknown event type): on its own
            try:
                with transaction.atomic():
                    outcomes[index] = (event, orchestrator.handle(payload), "")
            except (PayloadError, DataError) as exc:
                outcomes[index] = (event, None, f"{exc.__class__.__name__}: {exc}")
            continue
        wave.setdefault(kind, []).append((index, event, item))
        kinds.update(dict.fromkeys(keys, kind))
    apply_wave()
    settled = [outcomes[index] for index in sorted(outcomes)]
    _finish_many(settled)
    return [outcome.status if outcome else EventStatus.FAILED for _, outcome, _ in settled]


_FINISH_MANY = """
UPDATE webhooks_inboundevent e
   SET status = v.status, result = v.result, error = v.error, processed_at = %s
  FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, status text, result jsonb, error text)
 WHERE e.id = v.id AND e.status = %s
"""


def _finish_many(outcomes: list[tuple[InboundEvent, Outcome | None, str]]) -> None:
    """``_finish`` for a batch, in one statement (a failure has no outcome, and its error)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _FINISH_MANY,
            [
                timezone.now(),
                json.dumps(
                    [
                        {
                            "id": event.pk,
                            "status": outcome.status if outcome else EventStatus.FAILED,
                            "result": outcome.detail if outcome else {},
                            "error": error,
                        }
                        for event, outcome, error in outcomes
                    ]
                ),
                EventStatus.PROCESSING,
            ],
        )


def _finish(
    event: InboundEvent, *, status: str, result: dict[str, Any] | None = None, error: str = ""
) -> None:
    InboundEvent.objects.filter(pk=event.pk, status=EventStatus.PROCESSING).update(
        status=status, result=result or {}, error=error, processed_at=timezone.now()
    )


def inbox_event_settle(
    *, event_id: int, status: str, result: dict[str, Any] | None = None, error: str = ""
) -> bool:
    """Record the outcome of an event processed as it arrived (a relay action, which Twilio waits
    on). Only the delivery that stored it as PROCESSING settles it: a duplicate of an event
    already settled changes nothing. True if this call settled it."""
    return bool(
        InboundEvent.objects.filter(pk=event_id, status=EventStatus.PROCESSING).update(
            status=status,
            result=result or {},
            error=error,
            attempts=1,
            processed_at=timezone.now(),
        )
    )


def inbox_drain(
    *, batch_size: int | None = None, max_seconds: float = 50.0, linger_ms: int | None = None
) -> int:
    """Process pending events until none are left (or time is up, then ask for another drain).

    With a linger (``INGEST_LINGER_MS``), a claim that came back short of a batch means the
    workers keep up: the drain holds the wake flag, processes, waits the linger, clears the
    flag and claims again, so the events committed meanwhile make its next batch without a
    wake-up (a Celery message, a task, two claims) of their own. A full batch lingers not and
    holds not (a backlog: the next commit wakes another process, as before). The flag is
    cleared before every claim that follows a hold, so an event committed after that clear
    publishes a wake-up, and one committed before it is in that claim: no event waits for the
    sweeper.
    """
    wake_flag_clear()
    batch_size = batch_size or settings.INGEST_BATCH_SIZE
    linger = (settings.INGEST_LINGER_MS if linger_ms is None else linger_ms) / 1000
    deadline = time.monotonic() + max_seconds
    done = 0
    held = False
    try:
        with asynchronous_commit():
            while time.monotonic() < deadline:
                if held:
                    wake_flag_clear()
                    held = False
                ids = inbox_claim(limit=batch_size)
                if not ids:
                    return done
                if linger and len(ids) < batch_size:
                    INGEST_WAKER.hold()
                    held = True
                inbox_batch_process(event_ids=ids)
                done += len(ids)
                if held:
                    time.sleep(linger)
    finally:
        if held:  # time is up, or an error: the events committed during the hold need a drain
            wake_flag_clear()
            wake_workers()
    wake_workers()
    return done


def inbox_sweep() -> dict[str, int]:
    """Safety net run by beat: release claims of vanished workers and wake the drain."""
    released = inbox_release_stale(now=timezone.now())
    pending = InboundEvent.objects.filter(
        status=EventStatus.PENDING, available_at__lte=timezone.now()
    ).exists()
    # A flag left by a lost wake-up must not hold the drain back; one held by a lingering drain
    # is alive (it claims again within INGEST_LINGER_MS, and expires if that drain died).
    if pending and not INGEST_WAKER.held():
        wake_flag_clear()
        wake_workers()
    return {"released": released, "pending": int(pending)}


REPLAYABLE = Q(signature_valid=True) & ~Q(status=EventStatus.REJECTED)


def inbox_replay(
    *,
    ids: list[int] | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Put events back in the queue. Handlers are idempotent, so a replay is always safe."""
    events = InboundEvent.objects.filter(REPLAYABLE)
    if ids:
        events = events.filter(pk__in=ids)
    if status:
        events = events.filter(status=status)
    if since:
        events = events.filter(received_at__gte=since)
    if until:
        events = events.filter(received_at__lte=until)
    with transaction.atomic():
        count = events.exclude(status=EventStatus.PROCESSING).update(
            status=EventStatus.PENDING, available_at=timezone.now(), attempts=0, error=""
        )
        if count:
            transaction.on_commit(wake_workers)
    return count


def inbox_purge(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete settled events older than INBOX_RETENTION_DAYS: their raw bodies hold unredacted
    text and their effects are stored. Failed, dead and rejected events stay for investigation."""
    settled = selectors.inbox_purgeable(now=now)
    deleted = 0
    while True:  # in batches, so a first purge of a large inbox holds no long lock
        ids = list(settled.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += InboundEvent.objects.filter(pk__in=ids).delete()[0]


@transaction.atomic
def inbox_purge_batch(*, before: datetime, limit: int) -> int:
    """One batch of the inbox's retention (apps/privacy): settled events received before
    ``before``."""
    ids = list(selectors.inbox_settled_before(before=before).values_list("pk", flat=True)[:limit])
    return InboundEvent.objects.filter(pk__in=ids).delete()[0] if ids else 0


@transaction.atomic
def inbox_erase(*, ids: Iterable[int]) -> int:
    """Erasure (apps/privacy): delete these events, whatever their status (their raw bodies
    hold the customer's words and address). Returns how many were deleted."""
    return InboundEvent.objects.filter(pk__in=list(ids)).delete()[0]


def inbox_purge_rejected(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Delete requests refused before their signature was known good (kept without a body, for
    investigation) once older than WEBHOOK_REJECTED_RETENTION_DAYS. Rejected requests with a
    valid signature (malformed content from Twilio) follow no clock here: they are kept."""
    days = settings.WEBHOOK_REJECTED_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    refused = InboundEvent.objects.filter(
        status=EventStatus.REJECTED, signature_valid=False, received_at__lt=cutoff
    )
    deleted = 0
    while True:
        ids = list(refused.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += InboundEvent.objects.filter(pk__in=ids).delete()[0]
