"""Writes of the floor: tiles kept current, alerts fired and acknowledged, tips sent.

Keeping tiles current: every writer below reports changed conversations
(``apps.common.changes``); ``floor_mark`` adds their ids to a Redis set once the writer commits
and wakes the floor worker (one message per burst, ``apps.common.wake``). ``floor_refresh``
takes the marked ids, checks the alert rules on them, and sends each conversation's tile to its
team's floor group and to the floor of everything (``tiles``: one message per group and
refresh), or ``gone`` when it is not live any more.
Silence and time windows pass without any write, so ``floor_sweep`` (beat, every
``FLOOR_SWEEP_SECONDS``) checks the alerts of every live conversation and sends the tiles whose
alerts changed. Floor messages are not numbered: a floor page reloads the whole snapshot when
its socket reconnects and every 30 s, so a lost message costs at most that.

Alerts: one row per (rule, conversation, key). A continuing condition (silence, a negative
streak) has an empty key and fires again after the rule's cooldown while it holds; an event
(a customer asking for a person, a window missed) has the line's or the criterion's key and
fires once, and no other key of the same rule fires on that conversation within the cooldown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.common.anonymise import ANONYMISED_TEXT
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.common.wake import Waker
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.intelligence import services as intelligence_services
from apps.live.broadcast import broadcast
from apps.live.streams import live_publish

from . import conditions, selectors
from .choices import AlertStatus
from .models import Alert, AlertRule, Tip

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.accounts.scoping import Person
    from apps.conversations.models import Conversation

logger = logging.getLogger(__name__)

DIRTY_KEY = "ccportal:floor:dirty"
# One refresh per half second at most, whatever the number of changes meanwhile: a tile a
# supervisor glances at does not need the transcript's pace, and each refresh costs the ingest
# worker some 30 ms of CPU (docs/benchmarks.md, "Live latency").
FLOOR_WAKER = Waker(
    key="ccportal:floor:wake",
    ttl_ms=500,
    task="apps.floor.tasks.refresh_floor",
    what="floor workers",
)
ALERT_EVENT = "alert"
# name, kind, threshold, severity, cooldown (s), raise a QA flag
DEFAULT_RULES = [
    ("Customer upset", "negative_streak", 3, "warning", 300, False),
    ("Critical step missed", "window_missed", 0, "critical", 600, True),
    ("Long silence", "silence", 20, "info", 120, False),
    ("Customer asks for a person", "asks_for_human", 0, "warning", 120, False),
]
TIP_EVENT = "tip"
TIP_MAX = 500

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5
        )
    return _client


def _mark_now(ids: Sequence[int]) -> None:
    try:
        _redis().sadd(DIRTY_KEY, *ids)
    except Exception as exc:  # Redis down: floors catch up from their next snapshot
        logger.warning("could not mark floor tiles (%s)", exc)
        return
    FLOOR_WAKER.wake()


def floor_mark(conversation_ids: Sequence[int]) -> None:
    """The listener of ``apps.common.changes``: once the writer commits, these conversations'
    tiles are due."""
    if not settings.FLOOR_ENABLED:
        return
    ids = list(conversation_ids)
    transaction.on_commit(lambda: _mark_now(ids))


def _take_marked(limit: int = 1000) -> list[int]:
    try:
        taken: list[bytes] = _redis().spop(DIRTY_KEY, limit) or []  # type: ignore[assignment]
    except Exception as exc:
        logger.warning("could not read the floor's marks (%s)", exc)
        return []
    return sorted({int(pk) for pk in taken})


# Alerts -------------------------------------------------------------------------------------


def _fire(
    rule: AlertRule,
    conversation_id: int,
    finding: conditions.Finding,
    known: dict[tuple[int, str], Alert],
    now: datetime,
) -> Alert | None:
    """Record one finding as an alert if dedup and cooldown allow; the alert when it fired."""
    cooldown = timedelta(seconds=rule.cooldown_seconds)
    mine = [a for (r, _k), a in known.items() if r == rule.pk]
    existing = known.get((rule.pk, finding.key))
    if existing is not None:
        if finding.key or now - existing.last_fired_at < cooldown:
            return None  # an event fires once; a continuing condition waits for its cooldown
        updated = Alert.objects.filter(pk=existing.pk, last_fired_at=existing.last_fired_at).update(
            last_fired_at=now,
            count=F("count") + 1,
            status=AlertStatus.OPEN,
            detail=finding.detail,
            updated_at=now,
        )
        if not updated:
            return None  # another worker fired it first
        existing.refresh_from_db()
        return existing
    if any(now - alert.last_fired_at < cooldown for alert in mine):
        return None  # the rule spoke about this conversation a moment ago
    alert, created = Alert.objects.get_or_create(
        rule=rule,
        conversation_id=conversation_id,
        key=finding.key,
        defaults={
            "severity": rule.severity,
            "title": rule.name[:200],
            "detail": finding.detail,
            "fired_at": now,
            "last_fired_at": now,
        },
    )
    if not created:
        return None
    if rule.raise_flag:
        flag = intelligence_services.flag_raise(
            conversation_id=conversation_id,
            reason=f"Live alert “{rule.name}”: {finding.title}. {finding.detail}".strip(),
        )
        Alert.objects.filter(pk=alert.pk).update(flag_id=flag.pk)
        alert.flag_id = flag.pk
    known[(rule.pk, finding.key)] = alert
    return alert


def alerts_check(
    conversation_ids: Iterable[int],
    *,
    now: datetime | None = None,
    rows: dict[int, conversations.FloorRow] | None = None,
    signals: dict[int, intelligence.FloorSignals] | None = None,
) -> list[Alert]:
    """Check every active rule on these conversations; the alerts that fired (new, or again
    after a cooldown). ``rows`` and ``signals``: what the caller already read of them."""
    ids = list(conversation_ids)
    now = now or timezone.now()
    rules = list(selectors.alert_rules(active_only=True))
    if not rules or not ids:
        return []
    rows = rows if rows is not None else conversations.floor_rows(ids=ids)
    if not rows:
        return []
    if signals is None:
        signals = intelligence.floor_signals(conversation_ids=list(rows))
    fired: list[Alert] = []
    with transaction.atomic():
        existing = Alert.objects.select_for_update().filter(
            conversation_id__in=list(rows), rule__in=rules
        )
        by_conversation: dict[int, dict[tuple[int, str], Alert]] = {}
        for alert in existing:
            by_conversation.setdefault(alert.conversation_id, {})[(alert.rule_id, alert.key)] = (
                alert
            )
        for pk, row in rows.items():
            known = by_conversation.setdefault(pk, {})
            for rule in rules:
                for finding in conditions.findings(
                    rule.kind,
                    threshold=rule.threshold,
                    phrases=list(rule.phrases),
                    now=now,
                    row=row,
                    signals=signals[pk],
                ):
                    new = _fire(rule, pk, finding, known, now)
                    if new is not None:
                        fired.append(new)
                        live_publish(pk, ALERT_EVENT, selectors.alert_json(new))
    return fired


@transaction.atomic
def alert_acknowledge(*, user: Person, alert_id: int) -> Alert:
    """A supervisor saw it: it leaves the floor's open alerts (it may fire again later)."""
    if not selectors.may_watch(user):
        raise PermissionDenied("Your role does not watch the floor.")
    alert = selectors.alert_list(user=user).select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise NotFound("No such alert among the calls you may see.")
    if alert.status == AlertStatus.OPEN:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_by = user  # type: ignore[assignment]
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "updated_at"])
        transaction.on_commit(lambda: _mark_now([alert.conversation_id]))
    return alert


# Tiles --------------------------------------------------------------------------------------


TILES_PER_MESSAGE = 50


def _send(tiles: list[dict[str, object]], gone: dict[int, int | None]) -> None:
    """One message per group and refresh (a batch of tiles), not one per tile: a watcher of a
    busy floor gets a few messages a second whatever the number of calls."""
    by_group: dict[str, list[dict[str, object]]] = {}
    for tile in tiles:
        for group in selectors.groups_of_tile(tile["team_id"]):  # type: ignore[arg-type]
            by_group.setdefault(group, []).append(tile)
    for group, batch in by_group.items():
        for start in range(0, len(batch), TILES_PER_MESSAGE):
            broadcast(group, "tiles", {"tiles": batch[start : start + TILES_PER_MESSAGE]})
    ended: dict[str, list[int]] = {}
    for pk, team_id in gone.items():
        for group in selectors.groups_of_tile(team_id):
            ended.setdefault(group, []).append(pk)
    for group, ids in ended.items():
        broadcast(group, "gone", {"ids": ids})


def floor_refresh(ids: Iterable[int] | None = None) -> int:
    """Send the tiles of the marked conversations (or of ``ids``); how many were sent."""
    wanted = list(ids) if ids is not None else _take_marked()
    if not wanted:
        return 0
    live = set(
        conversations.live_conversations_all(max_age_hours=settings.FLOOR_MAX_AGE_HOURS)
        .filter(pk__in=wanted)
        .values_list("pk", flat=True)
    )
    ids = sorted(live)
    rows = conversations.floor_rows(ids=ids)
    signals = intelligence.floor_signals(conversation_ids=ids)
    alerts_check(ids, rows=rows, signals=signals)
    tiles = selectors.floor_tiles(ids=ids, rows=rows, signals=signals)
    teams = conversations.team_ids_of(ids=[pk for pk in wanted if pk not in live])
    _send(tiles, teams)
    return len(tiles) + len(teams)


def floor_sweep() -> int:
    """Check the alerts of every live conversation (silence and windows pass without a write)
    and send the tiles whose alerts fired; how many."""
    ids = list(
        conversations.live_conversations_all(
            max_age_hours=settings.FLOOR_MAX_AGE_HOURS
        ).values_list("pk", flat=True)[: settings.FLOOR_MAX_TILES * 4]
    )
    fired = alerts_check(ids)  # reads every live call: silence and windows need no signals
    changed = sorted({alert.conversation_id for alert in fired})
    if changed:
        _send(selectors.floor_tiles(ids=changed), {})
    return len(changed)


# Tips ---------------------------------------------------------------------------------------


@transaction.atomic
def tip_send(*, user: User, conversation: Conversation, text: str) -> Tip:
    """A supervisor's private tip to the agent on ``conversation`` (one the user may see): it
    appears on the agent's assist view at once and stays on the conversation's record."""
    if not selectors.may_watch(user):
        raise PermissionDenied("Only supervisors, QA analysts and admins send tips.")
    text = " ".join(text.split())
    if not text:
        raise ValidationFailed({"text": ["Write the tip."]})
    if len(text) > TIP_MAX:
        raise ValidationFailed({"text": [f"At most {TIP_MAX} characters ({len(text)} now)."]})
    tip = Tip.objects.create(conversation=conversation, author=user, text=text)
    live_publish(conversation.pk, TIP_EVENT, selectors.tip_json(tip))
    return tip


def alert_rules_ensure() -> int:
    """The default alert rules (``migrations/0002``), once each by name; how many were made
    (the migration makes them; this puts back any deleted, e.g. for the demo)."""
    made = 0
    for name, kind, threshold, severity, cooldown, flag in DEFAULT_RULES:
        _, created = AlertRule.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "threshold": threshold,
                "severity": severity,
                "cooldown_seconds": cooldown,
                "raise_flag": flag,
            },
        )
        made += created
    return made


@transaction.atomic
def floor_erase(*, conversation_ids: Iterable[int]) -> dict[str, int]:
    """Erasure (apps/privacy): the details of alerts on these conversations (a phrase alert
    quotes the line) and supervisors' tips about them. Alerts keep their rule title and times.
    Returns rows changed per kind."""
    conversation_ids = list(conversation_ids)
    alerts = (
        Alert.objects.filter(conversation_id__in=conversation_ids)
        .exclude(detail="")
        .update(detail="")
    )
    tips = (
        Tip.objects.filter(conversation_id__in=conversation_ids)
        .exclude(text=ANONYMISED_TEXT)
        .update(text=ANONYMISED_TEXT)
    )
    return {"alerts": alerts, "tips": tips}
