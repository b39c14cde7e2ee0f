"""Reads of the supervisor floor: a tile per live conversation, alerts, tips, alert rules.

A tile is plain JSON (what ``ws/floor/`` sends and ``/api/floor/`` answers): who is on the
call, since when, the customer's sentiment line by line, script adherence so far, open flags
and alerts, and a risk score the floor sorts by (documented in ``risk``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from apps.accounts.scoping import Reach, can_use, scope_for
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.live.groups import team_floor_group

from .choices import SEVERITY_RANK, AlertStatus, Severity
from .models import Alert, AlertRule, Tip

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

FLOOR_ALL_GROUP = "floor.all"  # admins and QA analysts: every team, and calls without one
SPARK_POINTS = 30  # the customer's last judged lines a tile draws


def may_watch(user: Person) -> bool:
    return can_use(user, "floor")


def floor_groups(user: Person) -> list[str]:
    """The floor groups a user's socket joins: every team they may see (a supervisor of two
    teams joins both), or the group of everything; none for anyone who may not watch."""
    if not may_watch(user):
        return []
    scope = scope_for(user)
    if scope.reach is Reach.EVERYTHING:
        return [FLOOR_ALL_GROUP]
    if scope.reach is Reach.TEAMS:
        return sorted(team_floor_group(team) for team in scope.team_ids)
    return []


def groups_of_tile(team_id: int | None) -> list[str]:
    """Where a conversation's tile is sent: its team's floor, and the floor of everything."""
    return [FLOOR_ALL_GROUP] + ([team_floor_group(team_id)] if team_id else [])


def live_ids(*, user: Person) -> list[int]:
    ids = conversations.live_conversations(
        user=user, max_age_hours=settings.FLOOR_MAX_AGE_HOURS
    ).values_list("pk", flat=True)
    return list(ids.order_by("-started_at")[: settings.FLOOR_MAX_TILES])


def open_alerts(*, conversation_ids: Iterable[int]) -> dict[int, list[Alert]]:
    found: dict[int, list[Alert]] = {}
    rows = Alert.objects.filter(
        conversation_id__in=list(conversation_ids), status=AlertStatus.OPEN
    ).order_by("-last_fired_at", "-id")
    for alert in rows:
        found.setdefault(alert.conversation_id, []).append(alert)
    return found


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "conversation": alert.conversation_id,
        "rule": alert.rule_id,
        "severity": alert.severity,
        "title": alert.title,
        "detail": alert.detail,
        "count": alert.count,
        "fired_at": alert.last_fired_at.isoformat(),
        "status": alert.status,
        "flag": alert.flag_id,
    }


def risk(*, alerts: list[Alert], signals: Any, negative_now: bool) -> int:
    """How much a call needs a supervisor's eye, to sort the floor: each open alert 20 per
    severity step (info 20, warning 40, critical 60), each missed criterion 10 (critical 25),
    each open flag 15, and 15 when the customer's latest judged line is negative."""
    score = sum(20 * SEVERITY_RANK.get(Severity(alert.severity), 1) for alert in alerts)
    score += 10 * (signals.missed - signals.critical_missed) + 25 * signals.critical_missed
    score += 15 * signals.flags
    return score + (15 if negative_now else 0)


def floor_tiles(
    *,
    ids: Iterable[int],
    rows: dict[int, conversations.FloorRow] | None = None,
    signals: dict[int, intelligence.FloorSignals] | None = None,
) -> list[dict[str, Any]]:
    """The tiles of these conversations (no scoping: the caller scoped ``ids``). Eight queries
    for any number; ``rows`` and ``signals``: what the caller already read of them."""
    wanted = list(ids)
    rows = rows if rows is not None else conversations.floor_rows(ids=wanted)
    if signals is None:
        signals = intelligence.floor_signals(conversation_ids=wanted)
    alerts = open_alerts(conversation_ids=wanted)
    tiles = []
    for pk in wanted:
        row = rows.get(pk)
        if row is None:
            continue
        signal = signals[pk]
        spark = [signal.tones[line] for line in row.customer_lines if line in signal.tones]
        spark = spark[-SPARK_POINTS:]
        here = alerts.get(pk, [])
        mix = (
            "HANDOFF" if row.has_ai and row.has_human
            else "AI" if row.has_ai
            else "HUMAN" if row.has_human
            else "NONE"
        )  # fmt: skip
        tiles.append(
            {
                "id": pk,
                "url": reverse("conversation-detail", args=[pk]),
                "team_id": row.team_id,
                "team": row.team,
                "agent": ", ".join(row.agents) or ("Virtual agent" if row.has_ai else "—"),
                "agent_ids": row.agent_ids,
                "customer": row.customer,
                "channel": row.channel,
                "mix": mix,
                "started_at": row.started_at.isoformat() if row.started_at else None,
                "last_line_at": row.last_line_at.isoformat() if row.last_line_at else None,
                "lines": row.lines,
                "sentiment": [round(value, 3) for value in spark],
                "sentiment_label": signal.customer_label,
                "adherence": {
                    "met": signal.met,
                    "pending": signal.pending,
                    "missed": signal.missed,
                    "windows": [w for w in signal.windows if w["state"] == "Pending"],
                },
                "flags": signal.flags,
                "alerts": [alert_json(alert) for alert in here],
                "risk": risk(
                    alerts=here, signals=signal, negative_now=bool(spark) and spark[-1] <= -0.05
                ),
            }
        )
    return tiles


def floor_snapshot(*, user: Person) -> list[dict[str, Any]]:
    """Every live conversation the user may watch, riskiest first, then longest running."""
    tiles = floor_tiles(ids=live_ids(user=user))
    tiles.sort(key=lambda tile: (-tile["risk"], tile["started_at"] or ""))
    return tiles


def alert_rules(*, active_only: bool = False) -> QuerySet[AlertRule]:
    rules = AlertRule.objects.all()
    return rules.filter(is_active=True) if active_only else rules


def alert_list(*, user: Person) -> QuerySet[Alert]:
    return Alert.objects.for_user(user).select_related("rule").order_by("-last_fired_at", "-id")


def tips_of(*, conversation_id: int) -> QuerySet[Tip]:
    return Tip.objects.filter(conversation_id=conversation_id).select_related("author")


def tip_json(tip: Tip) -> dict[str, Any]:
    author = tip.author
    return {
        "id": tip.pk,
        "conversation": tip.conversation_id,
        "text": tip.text,
        "author": (author.get_full_name() or author.username) if author else "A supervisor",
        "created_at": tip.created_at.isoformat(),
    }
