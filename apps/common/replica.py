"""Reads from a PostgreSQL read replica, where a page asks for them (docs/scaling.md).

Nothing reads from the replica by default. A view opts in with ``@replica_reads``: inside it
(and inside the chunks of a streamed CSV it returns) the router sends ORM reads to the
``replica`` alias. Opting in per view keeps the decision next to the page that can live with a
second or so of lag (dashboards, exports, the audit and access-log lists); a global router that
guessed from the SQL would also route the reads that a write depends on.

Even inside an opted-in view a read goes to the primary when

* no replica is configured (``DATABASE_REPLICA_URL`` unset), or the request is not GET/HEAD;
* the browser wrote within ``DATABASE_REPLICA_PIN_SECONDS`` (read-your-writes: any POST, PUT,
  PATCH or DELETE answers with a short-lived cookie, :class:`ReplicaPinMiddleware`);
* the view itself has written (any statement other than SELECT on the primary) or is inside a
  transaction: what it reads next must see what it wrote;
* the model is one of who-you-are and what-you-may-see (sessions, users, teams, permissions):
  a user signed out or removed from a team a moment ago must not still pass on a stale copy;
* the replica is unreachable or lags by more than ``DATABASE_REPLICA_MAX_LAG_SECONDS`` (asked at
  most every few seconds per process): a page is slower on the primary rather than wrong or down.

Writes always go to the primary, and migrations never run on the replica (a streaming replica
gets the schema from the primary's WAL; it is read-only anyway).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"
PIN_COOKIE = "ccportal_primary"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Identity and access: always read from the primary (see the module's docstring).
PRIMARY_ONLY_APPS = frozenset({"sessions", "auth", "contenttypes", "accounts", "axes"})
HEALTH_EVERY_SECONDS = 5.0

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _Scope:
    """One opted-in view's reads; ``wrote`` turns to True at the first write it makes."""

    wrote: bool = False


_SCOPE: ContextVar[_Scope | None] = ContextVar("ccportal_replica_scope", default=None)


def replica_alias() -> str:
    """The replica's alias, or "" when none is configured (or tests turned it off)."""
    return getattr(settings, "READ_REPLICA", "")


def _in_transaction() -> bool:
    """True inside ``atomic()`` on the primary; a test case's own wrapping block does not count."""
    connection = connections[PRIMARY]
    return connection.in_atomic_block and any(
        not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


_health: dict[str, tuple[float, bool]] = {}


def replica_lag_seconds(alias: str = REPLICA) -> float:
    """How far the replica's replay is behind, in seconds (0 when it has replayed all it got;
    0 on a database that is not a standby, as the tests' separate replica database is)."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
            " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
            " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
            " END"
        )
        return float(cursor.fetchone()[0])


def replica_healthy(alias: str = REPLICA) -> bool:
    """Reachable and not lagging past the limit; cached per process for a few seconds."""
    now = time.monotonic()
    checked = _health.get(alias)
    if checked is not None and now - checked[0] < HEALTH_EVERY_SECONDS:
        return checked[1]
    try:
        lag = replica_lag_seconds(alias)
        healthy = lag <= settings.DATABASE_REPLICA_MAX_LAG_SECONDS
        if not healthy:
            logger.warning("replica lags by %.1f s: reading from the primary", lag)
    except DatabaseError:
        logger.warning("replica unreachable: reading from the primary", exc_info=True)
        healthy = False
    _health[alias] = (now, healthy)
    return healthy


def _watch_writes(scope: _Scope) -> Callable[..., Any]:
    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any):
        head = sql.lstrip()[:6].upper()
        if head != "SELECT" or "FOR UPDATE" in sql.upper():
            scope.wrote = True
        return execute(sql, params, many, context)

    return wrapper


def _stream_within(scope: _Scope, chunks: Iterable[Any]) -> Iterator[Any]:
    # A streamed body is produced after the view returned (under ASGI, chunk by chunk in
    # threads): enter the scope around each chunk rather than across the yields.
    iterator = iter(chunks)
    while True:
        token = _SCOPE.set(scope)
        try:
            with connections[PRIMARY].execute_wrapper(_watch_writes(scope)):
                chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _SCOPE.reset(token)
        yield chunk


def _wants_replica(request: HttpRequest) -> bool:
    return (
        bool(replica_alias())
        and request.method in SAFE_METHODS
        and PIN_COOKIE not in request.COOKIES
        and replica_healthy(replica_alias())
    )


def replica_reads(view: Callable[P, R]) -> Callable[P, R]:
    """Let ``view`` (a function view, or a class view's ``get``) read from the replica."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        request: Any = next(a for a in args if isinstance(a, HttpRequest) or hasattr(a, "_request"))
        scope = _Scope() if _wants_replica(request) else None
        token = _SCOPE.set(scope)
        try:
            if scope is None:
                response = view(*args, **kwargs)
            else:
                with connections[PRIMARY].execute_wrapper(_watch_writes(scope)):
                    response = view(*args, **kwargs)
        finally:
            _SCOPE.reset(token)
        if (
            scope is not None
            and isinstance(response, StreamingHttpResponse)
            and not response.is_async  # our exports stream from generators, not coroutines
        ):
            content = cast(Iterator[Any], response.streaming_content)
            response.streaming_content = _stream_within(scope, content)
        return response

    return wrapped


class ReplicaRouter:
    """Reads inside ``@replica_reads`` to the replica (unless unsafe); everything else to the
    primary. Inert without ``DATABASE_REPLICA_URL``."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        scope = _SCOPE.get()
        alias = replica_alias()
        if (
            scope is None
            or scope.wrote
            or not alias
            or model._meta.app_label in PRIMARY_ONLY_APPS
            or _in_transaction()
        ):
            return PRIMARY
        return alias

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        # Explicit: without it Django writes an instance back where it was read from.
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replica is a copy of the primary: a row read there may be linked to one here.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA, None}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if db == REPLICA:
            # The tests' replica is a separate, empty database that needs the schema;
            # tests/conftest.py says so. A real replica gets it from the primary's WAL.
            return _TEST_REPLICA_SCHEMA
        return None


_TEST_REPLICA_SCHEMA = False


def allow_schema_on_test_replica() -> None:
    """Called by the test harness only, before it creates the test databases."""
    global _TEST_REPLICA_SCHEMA
    _TEST_REPLICA_SCHEMA = True


class ReplicaPinMiddleware:
    """After a write (any unsafe method), this browser reads from the primary for
    ``DATABASE_REPLICA_PIN_SECONDS``: its next page shows what it just did."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if replica_alias() and request.method not in SAFE_METHODS:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.DATABASE_REPLICA_PIN_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
