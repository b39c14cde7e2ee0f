"""Presentation helpers for rubric pages: badges, labels, diff values, check outcomes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from ..checks import (
    REASON_AGENT_SILENT,
    REASON_NA_RULE,
    REASON_NO_CHECK,
    REASON_NO_SIMILAR_LINE,
    REASON_NOT_FOR_PARTICIPANT,
    REASON_NOTHING_TO_JUDGE,
    REASON_PHRASE_MISSING,
    REASON_PHRASES_FOUND,
    REASON_SILENT_IN_WINDOW,
    REASON_SIMILAR_LINE,
    REASON_SPOKE_IN_WINDOW,
    CriterionCheck,
)
from ..choices import (
    AppliesTo,
    AuditAction,
    CriterionKind,
    CriticalMode,
    Outcome,
    VersionStatus,
    Weighting,
    WindowAnchor,
)
from ..editor import FIELD_LABELS
from ..structure import format_decimal

register = template.Library()

_VERSION_BADGES: dict[str, str] = {
    VersionStatus.DRAFT: "text-bg-warning",
    VersionStatus.PUBLISHED: "text-bg-success",
    VersionStatus.RETIRED: "text-bg-secondary",
}
_VERSION_ICONS: dict[str, str] = {
    VersionStatus.DRAFT: "bi-pencil",
    VersionStatus.PUBLISHED: "bi-check-circle",
    VersionStatus.RETIRED: "bi-archive",
}
_AUDIT_BADGES: dict[str, str] = {
    AuditAction.CREATE: "text-bg-primary",
    AuditAction.EDIT: "text-bg-light border",
    AuditAction.IMPORT: "text-bg-info",
    AuditAction.PUBLISH: "text-bg-success",
    AuditAction.RETIRE: "text-bg-secondary",
    AuditAction.NEW_VERSION: "text-bg-warning",
    AuditAction.DELETE_DRAFT: "text-bg-danger",
}
_KIND_BADGES: dict[str, str] = {
    CriterionKind.SCORED: "badge-kind-scored",
    CriterionKind.CRITICAL: "badge-kind-critical",
    CriterionKind.INFORMATIONAL: "badge-kind-info",
}
_OUTCOMES: dict[str, tuple[str, str, str]] = {
    Outcome.MET: ("text-bg-success", "bi-check-circle-fill", "Met"),
    Outcome.NOT_MET: ("text-bg-danger", "bi-x-circle-fill", "Not met"),
    Outcome.NA: ("text-bg-light border", "bi-dash-circle", "N/A"),
}
_CHOICES: dict[str, dict[str, str]] = {
    "weighting": dict(Weighting.choices),
    "critical_mode": dict(CriticalMode.choices),
    "kind": dict(CriterionKind.choices),
    "applies_to": dict(AppliesTo.choices),
    "window_anchor": dict(WindowAnchor.choices),
}


@register.filter
def version_badge(status: str) -> str:
    return _VERSION_BADGES.get(status, "text-bg-light")


@register.filter
def version_icon(status: str) -> str:
    return _VERSION_ICONS.get(status, "bi-circle")


@register.filter
def audit_badge(action: str) -> str:
    return _AUDIT_BADGES.get(action, "text-bg-light border")


@register.filter
def kind_badge(kind: str) -> str:
    return _KIND_BADGES.get(kind, "badge-kind-scored")


@register.filter
def choice_label(value: Any, field: str) -> str:
    return _CHOICES.get(field, {}).get(value, value or "—")


@register.filter
def field_label(field: str) -> str:
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())


@register.filter
def weight(value: Any) -> str:
    """``Decimal("40.00")`` -> ``40``; None -> an em dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Decimal):
        return format_decimal(value)
    return str(value)


@register.filter
def diff_value(value: Any, field: str) -> str:
    """A before/after value of a diff, as people read it."""
    if value is None or value == "" or value == []:
        return "—"
    if field in _CHOICES:
        return _CHOICES[field].get(value, str(value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field == "required_phrases" and isinstance(value, list):
        return "; ".join(
            f"“{p.get('text', '')}” (≥{p.get('tolerance', '')}%)" if isinstance(p, dict) else str(p)
            for p in value
        )
    if field == "window_seconds":
        return f"{value} s"
    if field == "position" and isinstance(value, int):
        return f"#{value + 1}"
    if field == "weight":
        return f"{value}%"
    return str(value)


@register.filter
def snapshot_fields(change: dict[str, Any]) -> list[tuple[str, Any]]:
    """The fields of an added or removed item worth showing, in form order: not its key or
    name (shown already), not the empty ones, and no window anchor without a window."""
    item = change.get("after", change.get("before"))
    if not isinstance(item, dict):
        return []
    hidden = {"key", "name", "criteria"}
    if item.get("window_seconds") in (None, ""):
        hidden.add("window_anchor")
    order = list(FIELD_LABELS)
    return sorted(
        (
            (name, value)
            for name, value in item.items()
            if name not in hidden and value not in (None, "", False, [])
        ),
        key=lambda pair: order.index(pair[0]) if pair[0] in order else len(order),
    )


@register.filter
def clock(ms: int | None) -> str:
    """Milliseconds from the start as ``m:ss``; unknown -> an em dash."""
    if ms is None:
        return "—"
    seconds = max(int(ms) // 1000, 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.filter
def outcome_badge(outcome: str) -> str:
    return _OUTCOMES.get(outcome, _OUTCOMES[Outcome.NA])[0]


@register.filter
def outcome_icon(outcome: str) -> str:
    return _OUTCOMES.get(outcome, _OUTCOMES[Outcome.NA])[1]


@register.filter
def outcome_label(outcome: str) -> str:
    return _OUTCOMES.get(outcome, _OUTCOMES[Outcome.NA])[2]


@register.filter
def reason(check: CriterionCheck) -> str:
    """Why a preview check came out as it did, in a sentence."""
    c = check.criterion
    window = ""
    if c.window_seconds is not None:
        anchor = (
            "the agent's first turn"
            if c.window_anchor == WindowAnchor.AGENT_FIRST_TURN
            else "the start"
        )
        window = f" within {c.window_seconds} s of {anchor}"
    phrases = len(c.required_phrases)
    return {
        REASON_PHRASES_FOUND: f"The agent said {_phrases(phrases)}{window}.",
        REASON_PHRASE_MISSING: (
            f"{'The phrase was' if phrases == 1 else 'Not every phrase was'} not said{window} "
            "closely enough."
        ),
        REASON_SPOKE_IN_WINDOW: f"The agent spoke{window}.",
        REASON_SILENT_IN_WINDOW: f"The agent did not speak{window}.",
        REASON_AGENT_SILENT: "The agent never spoke, so the time window has no start.",
        REASON_NO_CHECK: (
            "No required phrase or time window: an evaluator or the language model decides."
        ),
        REASON_NOT_FOR_PARTICIPANT: (
            f"Applies to {_CHOICES['applies_to'].get(c.applies_to, c.applies_to)} only."
        ),
        REASON_SIMILAR_LINE: "An agent line is close in meaning to the expected action.",
        REASON_NO_SIMILAR_LINE: "No agent line is close enough in meaning to the expected action.",
        REASON_NA_RULE: "The caller's request matches the criterion's N/A rule.",
        REASON_NOTHING_TO_JUDGE: "Nothing was said to judge.",
    }.get(check.reason, "")


def _phrases(count: int) -> str:
    return {1: "the phrase", 2: "both phrases"}.get(count, f"all {count} phrases")


@register.filter
def window_text(criterion: Any) -> str:
    """ "Within 30 s of the agent's first turn" for a criterion spec; empty without a window."""
    if criterion.window_seconds is None:
        return ""
    anchor = (
        "the agent's first turn"
        if criterion.window_anchor == WindowAnchor.AGENT_FIRST_TURN
        else "the conversation start"
    )
    return f"Within {criterion.window_seconds} s of {anchor}"


@register.filter
def lookup(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


@register.simple_tag
def audit_summary(entry: Any) -> str:
    """One line about an audit entry (EDIT and IMPORT also show their diff)."""
    changes = entry.changes or {}
    number = changes.get("number", entry.version_number)
    action = entry.action
    if action == AuditAction.CREATE:
        return f"Created “{changes.get('name', '')}” with draft {number}."
    if action == AuditAction.PUBLISH:
        retired = changes.get("retired")
        tail = f"; version {retired} retired" if retired else ""
        return f"Published version {number}{tail}."
    if action == AuditAction.RETIRE:
        by = changes.get("replaced_by")
        return f"Retired version {number}" + (f", replaced by version {by}." if by else ".")
    if action == AuditAction.NEW_VERSION:
        based = changes.get("based_on")
        return f"Started draft {number}" + (f" from version {based}." if based else " (empty).")
    if action == AuditAction.DELETE_DRAFT:
        snapshot = changes.get("snapshot") or {}
        sections = snapshot.get("sections") or []
        criteria = sum(len(s.get("criteria") or []) for s in sections)
        return (
            f"Discarded draft {number} ({len(sections)} section{'s' if len(sections) != 1 else ''}"
            f", {criteria} criteri{'a' if criteria != 1 else 'on'})."
        )
    diff = changes.get("diff") or []
    source = changes.get("source")
    verb = "Imported into" if action == AuditAction.IMPORT else "Edited"
    tail = f" from {source}" if isinstance(source, str) and source else ""
    count = f"{len(diff)} change{'s' if len(diff) != 1 else ''}"
    return f"{verb} draft {entry.version_number}{tail}: {count}."
