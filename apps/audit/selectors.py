"""Reading the audit trail: events across every event table, newest first, with what each
change did (the snapshot compared with the previous snapshot of the same object).

A page costs a fixed number of queries whatever its size: the count, the page (one UNION ALL
over the event tables, filters applied in each branch so each can use its time index), the
snapshots of the page's events with their predecessors (one UNION ALL), and the actors' names.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import CharField, QuerySet, Value
from django.db.models.functions import Cast
from django.utils import timezone

from .tracked import BY_SLUG, TRACKED, Tracked

ACTIONS = {"insert": "Created", "update": "Changed", "delete": "Deleted"}


@dataclass(frozen=True)
class EventFilters:
    """What the global page (and its CSV and API) narrows to; empty means no narrowing."""

    kinds: tuple[str, ...] = ()  # Tracked slugs
    actor_id: int | None = None
    since: date | None = None  # from the start of this day (the portal's time zone)
    until: date | None = None  # to the end of this day
    object_id: int | None = None
    reason: str = ""  # words in the reason given
    action: str = ""  # insert, update or delete


@dataclass(frozen=True)
class Change:
    field: str  # in words
    column: str
    before: Any
    after: Any


@dataclass
class Event:
    """One change: who, when, what, and the fields it changed (before -> after)."""

    kind: str
    pgh_id: int
    at: datetime
    action: str  # insert, update, delete
    object_id: str
    context: dict[str, Any]
    changes: list[Change] = field(default_factory=list)
    actor_name: str = ""

    @property
    def tracked(self) -> Tracked:
        return BY_SLUG[self.kind]

    @property
    def title(self) -> str:
        return self.tracked.title

    @property
    def action_label(self) -> str:
        return ACTIONS.get(self.action, self.action)

    @property
    def actor_id(self) -> int | None:
        user = self.context.get("user")
        return user if isinstance(user, int) else None

    @property
    def reason(self) -> str:
        return str(self.context.get("reason") or "")

    @property
    def source(self) -> str:
        """Where the change came from: "POST /qa/…", "task apps.qa.tasks…", "command …"."""
        ctx = self.context
        if ctx.get("url"):
            return f"{ctx.get('method', '')} {ctx['url']}".strip()
        if ctx.get("task"):
            return f"task {ctx['task']}"
        if ctx.get("command"):
            return f"command {ctx['command']}"
        return ""


def _branch(tracked: Tracked, filters: EventFilters, where: dict[str, Any]) -> QuerySet[Any]:
    rows = tracked.events.objects.filter(**where)
    if filters.actor_id is not None:
        rows = rows.filter(pgh_context__user=filters.actor_id)
    if filters.since is not None:
        start = timezone.make_aware(datetime.combine(filters.since, time.min))
        rows = rows.filter(pgh_created_at__gte=start)
    if filters.until is not None:
        end = timezone.make_aware(datetime.combine(filters.until + timedelta(days=1), time.min))
        rows = rows.filter(pgh_created_at__lt=end)
    if filters.reason:
        rows = rows.filter(pgh_context__reason__icontains=filters.reason)
    if filters.action:
        rows = rows.filter(pgh_label=filters.action)
    return rows.annotate(
        audit_kind=Value(tracked.slug, output_field=CharField()),
        audit_object=Cast("pgh_obj_id", CharField()),
    ).values("audit_kind", "pgh_id", "pgh_created_at", "pgh_label", "audit_object", "pgh_context")


def _union(branches: Sequence[QuerySet[Any]]) -> QuerySet[Any]:
    first, *rest = branches
    return first.union(*rest, all=True).order_by("-pgh_created_at", "-pgh_id", "audit_kind")


def events(filters: EventFilters) -> QuerySet[Any]:
    """The events ``filters`` select, newest first, as rows (``event_rows`` makes them
    ``Event``s with their changes)."""
    kinds = [BY_SLUG[k] for k in filters.kinds] or list(TRACKED)
    where = {} if filters.object_id is None else {"pgh_obj_id": filters.object_id}
    return _union([_branch(t, filters, where) for t in kinds])


def object_events(tracked: Tracked, pk: int) -> QuerySet[Any]:
    """The events of one object and of the rows that belong to it (``Tracked.parts``)."""
    none = EventFilters()
    branches = [_branch(tracked, none, {"pgh_obj_id": pk})]
    branches += [_branch(BY_SLUG[slug], none, {column: pk}) for slug, column in tracked.parts]
    return _union(branches)


def _snapshots(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], tuple[Any, Any]]:
    """(kind, pgh_id) -> (snapshot, previous snapshot of the same object or None): one query."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        by_kind[row["audit_kind"]].append(row["pgh_id"])
    if not by_kind:
        return {}
    parts: list[str] = []
    params: list[Any] = []
    for kind, ids in by_kind.items():
        table = connection.ops.quote_name(BY_SLUG[kind].table)
        parts.append(
            f"SELECT %s, e.pgh_id, to_jsonb(e), (SELECT to_jsonb(p) FROM {table} p"
            " WHERE p.pgh_obj_id = e.pgh_obj_id AND p.pgh_id < e.pgh_id"
            f" ORDER BY p.pgh_id DESC LIMIT 1) FROM {table} e WHERE e.pgh_id = ANY(%s)"
        )
        params += [kind, ids]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        found = cursor.fetchall()
    return {(kind, pk): (_json(data), _json(prev)) for kind, pk, data, prev in found}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _changes(tracked: Tracked, action: str, data: Any, prev: Any) -> list[Change]:
    labels = tracked.labels()
    data = {k: v for k, v in (data or {}).items() if not k.startswith("pgh_")}
    changes = []
    for column, value in data.items():
        if action == "delete":
            before, after = value, None
        elif action == "update" and prev is not None:
            before, after = prev.get(column), value
            if before == after:
                continue
        else:
            before, after = None, value
        if action == "insert" and value in (None, "", [], {}):
            continue
        changes.append(Change(labels.get(column, column), column, before, after))
    return changes


def event_rows(rows: Iterable[dict[str, Any]]) -> list[Event]:
    """``Event``s for rows of ``events``/``object_events``: their changes and actors' names."""
    rows = list(rows)
    snapshots = _snapshots(rows)
    out = []
    for row in rows:
        data, prev = snapshots.get((row["audit_kind"], row["pgh_id"]), (None, None))
        context = _json(row["pgh_context"]) or {}
        event = Event(
            kind=row["audit_kind"],
            pgh_id=row["pgh_id"],
            at=row["pgh_created_at"],
            action=row["pgh_label"],
            object_id=row["audit_object"] or "",
            context=context if isinstance(context, dict) else {},
        )
        event.changes = _changes(event.tracked, event.action, data, prev)
        out.append(event)
    actor_ids = {e.actor_id for e in out if e.actor_id is not None}
    if actor_ids:
        names = dict(
            get_user_model().objects.filter(pk__in=actor_ids).values_list("pk", "username")
        )
        for event in out:
            if event.actor_id is not None:
                event.actor_name = names.get(event.actor_id, f"user #{event.actor_id}")
    return out


def user_id_named(username: str) -> int | None:
    """The id of the user called ``username`` (any case), for the actor filter."""
    return (
        get_user_model()
        .objects.filter(username__iexact=username.strip())
        .values_list("pk", flat=True)
        .first()
    )


CSV_HEADER = [
    "time",
    "kind",
    "object_id",
    "action",
    "actor_id",
    "actor",
    "source",
    "reason",
    "changes",
]


def csv_rows(filters: EventFilters, *, batch: int = 500) -> Iterator[list[str]]:
    """The filtered events as CSV rows (a header first), read in batches: memory stays flat."""
    yield CSV_HEADER
    rows = events(filters)
    offset = 0
    while True:
        chunk = list(rows[offset : offset + batch])
        if not chunk:
            return
        for event in event_rows(chunk):
            changes = {c.column: [c.before, c.after] for c in event.changes}
            yield [
                event.at.isoformat(),
                event.kind,
                event.object_id,
                event.action,
                "" if event.actor_id is None else str(event.actor_id),
                event.actor_name,
                event.source,
                event.reason,
                json.dumps(changes, sort_keys=True, default=str),
            ]
        offset += batch


def events_older_count(*, before: datetime) -> int:
    """How many events, in all the trail's tables, are older than ``before`` (retention)."""
    return sum(
        tracked.events.objects.filter(pgh_created_at__lt=before).count() for tracked in TRACKED
    )
