"""What the supervisor floor shows of the language operators, for many conversations at once:
each one's customer sentiment line by line (a sparkline), its script adherence so far (met /
pending / missed, and pending criteria whose time window has passed), and its open flags.

Three queries whatever the number of conversations; unexpected result shapes are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q

from ..choices import FlagStatus, OperatorKind, ResultStatus
from ..models import Flag, OperatorResult
from .insights import (
    _CRITERIA,
    _UNKNOWN_CRITERION,
    CRITERION_REASONS,
    _article_url,
    _tone,
)


@dataclass
class FloorSignals:
    tones: dict[str, float] = field(default_factory=dict)  # line twilio id -> score (-1..1)
    labels: dict[str, str] = field(default_factory=dict)  # line twilio id -> label
    customer_label: str = ""
    met: int = 0
    pending: int = 0
    missed: int = 0
    critical_missed: int = 0
    # Criteria with a time window, pending or failed: when each closes, in ms from the start.
    windows: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sentiment(signals: FloorSignals, data: dict[str, Any]) -> None:
    for item in data.get("communications") or []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        score = _number(item.get("score"))
        label = str(item["label"]) if isinstance(item.get("label"), str) else ""
        if score is None and label:
            score = {"positive": 0.5, "negative": -0.5}.get(label.lower(), 0.0)
        if score is not None:
            signals.tones[item["id"]] = max(-1.0, min(1.0, score))
            signals.labels[item["id"]] = label.lower()
    customer = data.get("customer")
    if isinstance(customer, dict) and isinstance(customer.get("label"), str):
        signals.customer_label = customer["label"].lower()
    elif isinstance(data.get("label"), str):
        signals.customer_label = data["label"].lower()


def _adherence(signals: FloorSignals, data: dict[str, Any]) -> None:
    met = pending = missed = critical = 0
    windows = []
    for category in data.get("categories") or []:
        if not isinstance(category, dict):
            continue
        for criterion in category.get("criteria") or []:
            if not isinstance(criterion, dict):
                continue
            state = criterion.get("criteria_met")
            is_critical = criterion.get("kind") == "CRITICAL" or criterion.get("critical") is True
            if state == "Succeeded":
                met += 1
            elif state == "Failed":
                missed += 1
                critical += is_critical
            elif state == "Pending":
                pending += 1
            window = criterion.get("window")
            end = _number(window.get("end_ms")) if isinstance(window, dict) else None
            if end is not None and state in ("Pending", "Failed"):
                windows.append(
                    {
                        "state": state,
                        "key": str(criterion.get("criteria_key") or "")[:120],
                        "name": str(criterion.get("name") or criterion.get("criteria_name") or "")[
                            :200
                        ],
                        "end_ms": int(end),
                        "critical": is_critical,
                    }
                )
    signals.met, signals.pending, signals.missed = met, pending, missed
    signals.critical_missed, signals.windows = critical, windows


_SENTIMENT_BY_NAME = Q(definition__isnull=True, operator_name__icontains="sentiment")
_ADHERENCE_BY_NAME = Q(definition__isnull=True, operator_name__icontains="adherence")


def floor_signals(*, conversation_ids: Iterable[int]) -> dict[int, FloorSignals]:
    """Two reads of results, each of only the parts of the JSON a tile needs (a busy floor
    refreshes tens of calls a second, and a call has hundreds of results with evidence)."""
    ids = list(conversation_ids)
    found: dict[int, FloorSignals] = {pk: FloorSignals() for pk in ids}
    ok = OperatorResult.objects.filter(conversation_id__in=ids, status=ResultStatus.OK)
    # Sentiment: every result, oldest first (each execution scores the lines of its window).
    sentiments = (
        ok.filter(Q(definition__operator__kind=OperatorKind.SENTIMENT) | _SENTIMENT_BY_NAME)
        .order_by("conversation_id", "date_created", "id")
        .values_list(
            "conversation_id", "result__communications", "result__customer", "result__label"
        )
    )
    for pk, lines, customer, label in sentiments:
        _sentiment(found[pk], {"communications": lines, "customer": customer, "label": label})
    # Adherence: the newest result of each conversation stands.
    latest = (
        ok.filter(Q(definition__operator__kind=OperatorKind.SCRIPT_ADHERENCE) | _ADHERENCE_BY_NAME)
        .order_by("conversation_id", "-date_created", "-id")
        .distinct("conversation_id")
        .values_list("conversation_id", "result__categories")
    )
    for pk, categories in latest:
        if isinstance(categories, list):
            _adherence(found[pk], {"categories": categories})
    flags = (
        Flag.objects.filter(conversation_id__in=ids, status=FlagStatus.OPEN)
        .values("conversation_id")
        .annotate(n=Count("id"))
    )
    for row in flags:
        found[row["conversation_id"]].flags = row["n"]
    return found


# What an "insights" live event carries -------------------------------------------------------

EVENT_LINES_MAX = 60
EVENT_TEXT_MAX = 2000


def _tone_json(value: Any) -> dict[str, Any] | None:
    tone = _tone(value)
    if tone is None:
        return None
    return {"label": tone.label, "score": tone.score, "colour": tone.colour, "title": tone.title}


def _criterion_json(criterion: dict[str, Any]) -> dict[str, Any] | None:
    key = criterion.get("criteria_key")
    if not isinstance(key, str) or not key:
        return None
    met = str(criterion["criteria_met"]) if isinstance(criterion.get("criteria_met"), str) else ""
    label, colour, icon = _CRITERIA.get(met, _UNKNOWN_CRITERION)
    reason = str(criterion["reason"]) if isinstance(criterion.get("reason"), str) else ""
    return {
        "key": key[:120],
        "met": met,
        "status": label,
        "colour": colour,
        "icon": icon,
        "reason": CRITERION_REASONS.get(reason, reason)[:500],
    }


def event_digest(outputs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """What changed, from an execution's outputs (``(operator kind, result)`` pairs), small and
    JSON, so a page applies it without asking: each line's sentiment and the customer's, the
    checklist's criteria, the summary, the newest suggestion. Unexpected shapes are left out."""
    digest: dict[str, Any] = {}
    for kind, data in outputs:
        if not isinstance(data, dict):
            continue
        if kind == OperatorKind.SENTIMENT:
            lines = []
            for item in (data.get("communications") or [])[-EVENT_LINES_MAX:]:
                tone = _tone_json(item) if isinstance(item, dict) else None
                if tone is not None and isinstance(item.get("id"), str):
                    lines.append({"id": item["id"], **tone})
            digest["sentiment"] = {
                "overall": _tone_json(data),
                "customer": _tone_json(data.get("customer")),
                "lines": lines,
            }
        elif kind == OperatorKind.SCRIPT_ADHERENCE:
            criteria = [
                found
                for category in data.get("categories") or []
                if isinstance(category, dict)
                for criterion in category.get("criteria") or []
                if isinstance(criterion, dict) and (found := _criterion_json(criterion))
            ]
            score = _number(data.get("score"))
            digest["adherence"] = {"score": score, "criteria": criteria}
        elif kind == OperatorKind.SUMMARY and isinstance(data.get("text"), str):
            final = data.get("final")
            digest["summary"] = {
                "text": data["text"][:EVENT_TEXT_MAX],
                "final": final if isinstance(final, bool) else None,
            }
        elif kind == OperatorKind.NEXT_BEST_RESPONSE:
            text = data.get("text")
            if isinstance(text, str) and text.strip():
                found = data.get("article")
                article: dict[str, Any] = found if isinstance(found, dict) else {}
                digest["suggestion"] = {
                    "text": text[:EVENT_TEXT_MAX],
                    "article_title": str(article.get("title") or "")[:200],
                    "article_url": _article_url(article.get("id")),
                }
    return digest
