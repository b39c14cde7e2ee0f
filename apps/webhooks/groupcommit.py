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
- after every commit that stored a new pending row, a wake-up of the ingest workers (a Redis
  ``SET NX``), by a waker thread so that the writer goes on to the next batch meanwhile; the
  tokens of batches committed while one wake-up is in flight, or in the ``WEBHOOK_WAKE_INTERVAL_MS``
  after it, share the next one (at moderate rates a batch is a row or two: one Redis round trip
  per request otherwise). A row is thus woken for at most that interval after its commit.

Rows without a key (refusals, kept for investigation) cannot be matched to RETURNING by key, so
the writer inserts them one by one with ``services.inbox_store`` in the same thread; they are rare.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Unpack, cast

import psycopg
from django.conf import settings
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
FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[],
            %b::text[], %s::int[], %b::text[], %s::bool[], %b::text[], %b::text[])
    AS row(source, key, event_type, account_sid, url, headers, content_type, body, body_size,
           body_sha256, signature_valid, status, error)
RETURNING id, source, idempotency_key
"""


@dataclass
class Pending:
    """One request's row, waiting for the batch that writes it."""

    row: services.InboxRow
    columns: tuple[Any, ...] = field(init=False)  # in _INSERT_MANY's unnest order
    # Held until the writer is done with this row: a bare lock, cheaper to make and to wait on
    # than a threading.Event (a Condition and a lock per wait) on every request.
    _done: threading.Lock = field(default_factory=threading.Lock, repr=False)
    result: services.Stored | None = None
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.columns = services.inbox_columns(self.row) if self.row else ()
        self._done.acquire()

    def wait(self, timeout: float) -> bool:
        return self._done.acquire(timeout=timeout)

    def finish(self) -> None:
        """Release the waiting request (once; the writer calls it once per row)."""
        self._done.release()


class GroupCommitter:
    """One per process; ``store(**row)`` takes ``services.InboxRow`` as ``inbox_store`` does."""

    def __init__(self, *, max_batch: int = MAX_BATCH, wake_interval: float | None = None) -> None:
        self.max_batch = max_batch
        # None: settings.WEBHOOK_WAKE_INTERVAL_MS, read when the waker thread starts.
        self.wake_interval = wake_interval
        self._sleep = time.sleep  # the waker's pause after a wake-up (tests hold it)
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Waking the workers (a Redis round trip) is the waker thread's: the writer hands it a
        # token after a commit that stored a new pending row and goes on to the next batch.
        self._wakes: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._waker: threading.Thread | None = None
        self._pid = 0
        self.batches = 0  # counters, for tests and the benchmark's curiosity
        self.rows = 0
        self.wakes = 0  # wake_workers calls made by the waker thread

    def store(self, **row: Unpack[services.InboxRow]) -> services.Stored:
        pending = Pending(row)
        self._ensure_writer()
        self._queue.put(pending)
        if not pending.wait(WAIT_SECONDS):
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
                    self._wakes = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="inbox-group-commit", daemon=True
                )
                self._thread.start()
                if self._waker is None or not self._waker.is_alive():
                    self._waker = threading.Thread(
                        target=self._wake_loop, args=(self._wakes,), name="inbox-wake", daemon=True
                    )
                    self._waker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the rows already queued, close the writer's connection and end its thread."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return
        self._queue.put(_STOP)
        thread.join(timeout)
        self._thread = None
        waker = self._waker
        if waker is not None and waker.is_alive():
            self._wakes.put(False)  # after any wake-up the writer asked for
            waker.join(timeout)
        self._waker = None

    def _wake_loop(self, wakes: queue.SimpleQueue[bool]) -> None:
        """One ``wake_workers`` for every token, or for all the tokens waiting at once: each
        call comes after the commits that asked for it, so no committed row misses a drain.
        After a call the thread waits the wake interval; the tokens of that time share the next."""
        interval = self.wake_interval
        if interval is None:
            interval = settings.WEBHOOK_WAKE_INTERVAL_MS / 1000
        while True:
            token = wakes.get()
            wanted, stopping = token, not token
            while True:
                try:
                    token = wakes.get_nowait()
                except queue.Empty:
                    break
                wanted, stopping = wanted or token, stopping or not token
            if wanted:
                services.wake_workers()  # never raises: the sweeper is the net
                self.wakes += 1
            if stopping:
                return
            if wanted and interval:
                self._sleep(interval)

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
                    pending.finish()
                if stopping:
                    return
                continue
            for pending in batch:
                pending.finish()
            if woke:
                self._wakes.put(True)  # after the answers, by the waker thread
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
            columns = [list(column) for column in zip(*(p.columns for p in first), strict=True)]
            connection.ensure_connection()
            # Server-side binding, prepared once: the statement is the same whatever the batch
            # size (arrays), so PostgreSQL plans it once per connection and the rows travel as
            # parameters instead of a literal rebuilt for every batch. The text arrays go in
            # binary (%b): as array literals every quote and backslash of every body would be
            # escaped in Python, on this thread, under the GIL (40x the CPU for 1 KB JSON bodies,
            # docs/benchmarks.md).
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(_INSERT_MANY, [now, now, *columns], prepare=True)
                inserted = {(source, key): pk for pk, source, key in cursor.fetchall()}
            for (source, key), pending in keyed.items():
                pk = inserted.get((source, key))
                pending.result = services.Stored(pk, pk is None)
                if pk is not None and _wants_wake(pending.row):
                    wake = True
            self.batches += 1
            self.rows += len(first)
        for pending in later:
            pending.result = services.Stored(None, True)
        for pending in keyless:
            row = pending.row.copy()
            row["wake"] = False  # the writer wakes the workers once, for the whole batch
            pending.result = services.inbox_store(**row)
            if pending.result.event_id and _wants_wake(pending.row):
                wake = True
        return wake


def _wants_wake(row: services.InboxRow) -> bool:
    return row.get("status", EventStatus.PENDING) == EventStatus.PENDING and row.get("wake", True)


_STOP = Pending(cast(services.InboxRow, {}))

_committer = GroupCommitter()


def committer() -> GroupCommitter:
    return _committer
