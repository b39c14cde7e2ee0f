"""The preview page's check of one conversation against a rubric version, as the operators would
judge it (``checks``), laid out by section, with who said each line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import checks
from .structure import RubricStructure


def conversation_checked(
    structure: RubricStructure, conversation: Any, timeline: Sequence[Any]
) -> dict[str, Any]:
    """What the preview shows of ``conversation`` (its ``timeline`` of communications)."""
    lines = [_line(communication, conversation) for communication in timeline]
    agent_type = checks.agent_type_of(p.type for p in conversation.participants.all())
    results = checks.check_conversation(structure, lines, participant_type=agent_type)
    return {
        "conversation": conversation,
        "agent_type": agent_type,
        "line_count": len(lines),
        "sections": _results_by_section(structure, results),
        "counts": _counts(results),
        "speakers": {communication.pk: _speaker(communication) for communication in timeline},
    }


def _line(communication: Any, conversation: Any) -> checks.Line:
    offset = communication.offset_ms
    if offset is None and conversation.started_at is not None:
        offset = int((communication.occurred_at - conversation.started_at).total_seconds() * 1000)
    author_type = communication.author.type if communication.author is not None else None
    return checks.Line(communication.pk, author_type, offset, communication.text)


def _speaker(communication: Any) -> str:
    author = communication.author
    if author is not None:
        return author.name or communication.author_address or author.get_type_display()
    return communication.author_address or "Unknown speaker"


def _results_by_section(structure: Any, results: list[checks.CriterionCheck]) -> list[Any]:
    by_key = {r.key: r for r in results}
    return [
        {"section": section, "results": [by_key[c.key] for c in section.criteria]}
        for section in structure.sections
    ]


def _counts(results: list[checks.CriterionCheck]) -> dict[str, int]:
    counts = {"MET": 0, "NOT_MET": 0, "NA": 0}
    for result in results:
        counts[result.outcome] += 1
    return counts
