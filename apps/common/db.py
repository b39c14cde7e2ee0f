"""Database helpers shared by the workers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection


@contextmanager
def asynchronous_commit() -> Iterator[None]:
    """Commits inside need not wait for the disk (``synchronous_commit = off``).

    For work that can be redone from a durable record: if PostgreSQL crashes before flushing,
    the record is still there (an inbox row, a PENDING or RUNNING rule execution) and a sweeper
    hands the work out again; the handlers are idempotent. Saves one fsync (~3.5 ms here) per
    commit. Inside an open transaction (a test's) the session is left alone.
    """
    if connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            pass


def asynchronous_commit_local() -> None:
    """``synchronous_commit = off`` for the current transaction only (see above); one query."""
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
