"""Group commit for the inbox: the rows of concurrent requests in one INSERT and one commit.

A commit waits for an fsync (about 3.5 ms on these machines). With one INSERT per request every
request pays for its own commit and PostgreSQL spends most of its CPU on per-statement work. Here
each request hands its row to one writer thread per process and waits; the writer takes every
row waiting, writes them with one ``INSERT … SELECT FROM unnest(…) RETURNING`` in autocommit
(one statement, one commit), and only then releases each request with its own outcome. While
that commit is in flight the next rows gather, so the batch grows with the load and a lone
request waits for no one. The inbox is partitioned by month, so there is no ON CONFLICT: a
trigger drops a row whose key any month holds, and RETURNING leaves it out, as a conflict would.

Guarantees, the same as ``services.inbox_store``:
- a request is answered only after its row is committed (or found already stored);
- two rows with the same (source, key) in one batch: the first is written, the others are
  answered as duplicates once it is committed; a key already in the table is a duplicate too;
- a database error fails every request of that batch (503, Twilio retries; nothing was written,
  the statement being atomic), and the next batch reconnects;
- one wake-up of the ingest workers per batch that stored a new pending row.

Rows without a key (refusals, kept for investigation) cannot be matched to RETURNING by key, so
the writer inserts them one by one with ``services.inbox_store`` in the same thread; they are rare.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.db import DatabaseError, OperationalError, connection
from django.db import Error as DjangoDbError
from django.utils import timezone

from . import services
from .choices import EventStatus

logger = logging.getLogger(__name__)

MAX_BATCH = 256
WAIT_SECONDS = 30.0  # past this a request gives up with 503; a late commit is a duplicate later

_INSERT_MANY = """
INSERT INTO webhooks_inboundevent
    (source, idempotency_key, event_type, account_sid, url, headers, content_type, body,
     body_size, body_sha256, signature_valid, status, attempts, error, result, received_at,
     available_at)
SELECT source, key, event_type, account_sid, url, headers::jsonb, content_type, body,
       body_size, body_sha256, signature_valid, status, 0, error, '{}', %s, %s
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::int[], %s::text[], %s::bool[], %s::text[], %s::text[])
    AS row(source, key, event_type, account_sid, url, headers, content_type, body, body_size,
           body_sha256, signature_valid, status, error)
RETURNING id, source, idempotency_key
"""

_COLUMNS = (
    "source",
    "key",
    "event_type",
    "account_sid",
    "url",
    "headers",
    "content_type",
    "body",
    "body_size",
    "body_sha256",
    "signature_valid",
    "status",
    "error",
)


@dataclass
class Pending:
    """One request's row, waiting for the batch that writes it."""

    row: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: services.Stored | None = None
    error: BaseException | None = None


class GroupCommitter:
    """One per process; ``store(**row)`` has ``services.inbox_store``'s signature."""

    def __init__(self, *, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.batches = 0  # counters, for tests and the benchmark's curiosity
        self.rows = 0

    def store(
        self,
        *,
        source: str,
        key: str | None,
        event_type: str,
        account_sid: str,
        url: str,
        headers: dict[str, str],
        content_type: str,
        body: str,
        body_size: int,
        signature_valid: bool,
        body_sha256: str = "",
        status: str = EventStatus.PENDING,
        error: str = "",
        wake: bool = True,
    ) -> services.Stored:
        pending = Pending(
            {
                "source": source,
                "key": key,
                "event_type": event_type[:64],
                "account_sid": account_sid[:64],
                "url": url,
                "headers": json.dumps(headers),
                "content_type": content_type[:120],
                "body": body,
                "body_size": body_size,
                "body_sha256": body_sha256,
                "signature_valid": signature_valid,
                "status": status,
                "error": error,
                "wake": wake,
            }
        )
        self._ensure_writer()
        self._queue.put(pending)
        if not pending.done.wait(WAIT_SECONDS):
            raise OperationalError("the inbox writer did not commit in time")
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    # ---- the writer -------------------------------------------------------------------------

    def _ensure_writer(self) -> None:
        # Started lazily and again after a fork: a thread does not survive into the child.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                if self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="inbox-group-commit", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the rows already queued, close the writer's connection and end its thread."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            with contextlib.suppress(DjangoDbError):
                connection.close()

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = any(pending is _STOP for pending in batch)
            batch = [pending for pending in batch if pending is not _STOP]
            if not batch and stopping:
                return
            try:
                woke = self.write(batch)
            except BaseException as exc:  # every waiter learns it; the writer carries on
                error: BaseException = exc
                if isinstance(exc, DjangoDbError):
                    # Reconnect for the next batch. A closed connection is an InterfaceError,
                    # not a DatabaseError: the waiters get the one that means 503, retry later.
                    with contextlib.suppress(DjangoDbError):  # closing a dead one may fail too
                        connection.close()
                    if not isinstance(exc, DatabaseError):
                        error = OperationalError(f"inbox connection lost: {exc}")
                else:
                    logger.exception("inbox group commit failed")
                for pending in batch:
                    if pending.result is None:
                        pending.error = error
                    pending.done.set()
                if stopping:
                    return
                continue
            for pending in batch:
                pending.done.set()
            if woke:
                services.wake_workers()  # after the answers: never raises, the sweeper is the net
            if stopping:
                return

    def write(self, batch: list[Pending]) -> bool:
        """Write a batch; fill in each one's result. True if a new pending row wants a drain."""
        keyed: dict[tuple[str, str], Pending] = {}
        first: list[Pending] = []
        later: list[Pending] = []  # a key seen earlier in this batch: a duplicate of that one
        keyless: list[Pending] = []
        for pending in batch:
            key = pending.row["key"]
            if key is None:
                keyless.append(pending)
            elif (pending.row["source"], key) in keyed:
                later.append(pending)
            else:
                keyed[(pending.row["source"], key)] = pending
                first.append(pending)
        wake = False
        if first:
            now = timezone.now()
            columns = [[p.row[name] for p in first] for name in _COLUMNS]
            connection.ensure_connection()
            # Server-side binding, prepared once: the statement is the same whatever the batch
            # size (arrays), so PostgreSQL plans it once per connection and the rows travel as
            # parameters instead of a literal rebuilt for every batch.
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(_INSERT_MANY, [now, now, *columns], prepare=True)
                inserted = {(source, key): pk for pk, source, key in cursor.fetchall()}
            for (source, key), pending in keyed.items():
                pk = inserted.get((source, key))
                pending.result = services.Stored(pk, pk is None)
                if pk is not None and pending.row["status"] == EventStatus.PENDING:
                    wake = wake or pending.row["wake"]
            self.batches += 1
            self.rows += len(first)
        for pending in later:
            pending.result = services.Stored(None, True)
        for pending in keyless:
            row = dict(pending.row)
            row["headers"] = json.loads(row["headers"])
            row_wake = row.pop("wake")
            pending.result = services.inbox_store(**row, wake=False)
            if pending.result.event_id and row["status"] == EventStatus.PENDING and row_wake:
                wake = True
        return wake


_STOP = Pending({})

_committer = GroupCommitter()


def committer() -> GroupCommitter:
    return _committer
