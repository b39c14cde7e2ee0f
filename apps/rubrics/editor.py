"""The rubric editor's words for where things are: field labels, and the summary of errors at
the top of the page (each message with its place in words and a link to its field)."""

from __future__ import annotations

from typing import Any

# Every field the editor and the diff name, in page order (the diff lists changes in this order).
FIELD_LABELS = {
    "name": "Name",
    "description": "Description",
    "notes": "Notes",
    "weighting": "Weighting",
    "critical_mode": "Critical criteria",
    "weights": "Weights",
    "sections": "Sections",
    "key": "Key",
    "weight": "Weight",
    "criteria": "Criteria",
    "expected_action": "Expected action",
    "required_phrases": "Required phrases",
    "window_seconds": "Time window",
    "window_anchor": "Window starts at",
    "kind": "Kind",
    "na_allowed": "N/A allowed",
    "applies_to": "Applies to",
    "position": "Position",
    "section": "Section",
    "text": "Phrase",
    "tolerance": "Tolerance",
    "__all__": "Rubric",
}


def anchor(path: str) -> str:
    """The id of the field (or box) an error path is shown at, for the summary's links."""
    parts = path.split(".")
    if parts[0] == "weights":
        return "weights-total"
    if parts[0] != "sections":
        return "sections" if parts[0] == "__all__" else f"f-{parts[0]}"
    if len(parts) == 1:
        return "sections"
    i, rest = parts[1], parts[2:]
    if not rest:
        return f"section-{i}"
    if rest[0] != "criteria":
        return f"f-sections-{i}-{rest[0]}"
    if len(rest) == 1:
        return f"section-{i}-criteria"
    j, rest = rest[1], rest[2:]
    if not rest:
        return f"criterion-{i}-{j}"
    if rest[0] != "required_phrases":
        return f"f-sections-{i}-criteria-{j}-{rest[0]}"
    if len(rest) == 1:
        return f"criterion-{i}-{j}-phrases"
    field = rest[2] if len(rest) > 2 else "text"
    return f"f-sections-{i}-criteria-{j}-phrases-{rest[1]}-{field}"


def where(path: str, sections: list[Any]) -> list[str]:
    """Where an error path is, in words: ["Section 2 “Closing”", "Criterion 1", "Key"]."""

    def named(items: list[Any], index: int, label: str) -> str:
        item = items[index] if 0 <= index < len(items) else None
        name = item.get("name") if isinstance(item, dict) else None
        return f"{label} {index + 1}" + (
            f" “{name.strip()}”" if isinstance(name, str) and name.strip() else ""
        )

    parts = path.split(".")
    if parts[0] != "sections" or len(parts) == 1 or not parts[1].isdecimal():
        return [FIELD_LABELS.get(parts[0], parts[0])]
    i = int(parts[1])
    where = [named(sections, i, "Section")]
    rest = parts[2:]
    if len(rest) >= 2 and rest[0] == "criteria" and rest[1].isdecimal():
        section = sections[i] if i < len(sections) and isinstance(sections[i], dict) else {}
        criteria = section.get("criteria")
        where.append(
            named(criteria if isinstance(criteria, list) else [], int(rest[1]), "Criterion")
        )
        rest = rest[2:]
        if len(rest) >= 2 and rest[0] == "required_phrases" and rest[1].isdecimal():
            where.append(f"Phrase {int(rest[1]) + 1}")
            rest = rest[2:]
    if rest:
        where.append(FIELD_LABELS.get(rest[0], rest[0]))
    return where


def path_order(path: str) -> tuple[Any, ...]:
    """Page order: rubric fields first, then sections and their contents by index."""
    top = ["__all__", "name", "description", "notes", "weighting", "critical_mode", "weights"]
    parts = path.split(".")
    if parts[0] != "sections":
        return (0, top.index(parts[0]) if parts[0] in top else len(top))
    return (1, *(int(p) if p.isdecimal() else -1 for p in parts[1:]))


def error_summary(data: dict[str, Any], errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Every message with where it is and the id of its field, in page order."""
    found = data.get("sections")
    sections: list[Any] = found if isinstance(found, list) else []
    return [
        {"where": where(path, sections), "anchor": anchor(path), "message": message}
        for path in sorted(errors, key=path_order)
        for message in errors[path]
    ]
