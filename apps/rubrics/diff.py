"""What changed between two versions' contents, by key, ready for JSON and for the UI.

``structure_diff(old, new)`` compares two dicts in the cleaned editable format (see
``apps.rubrics.validation``) and returns a list of changes, in this order: rubric fields, version
fields, then sections and criteria in the new version's order (removed ones after them)::

    {"action": "changed", "target": "rubric", "fields": {"name": {"before": …, "after": …}}}
    {"action": "changed", "target": "version", "fields": {"weighting": {…}, "notes": {…}}}
    {"action": "added", "target": "section", "key": "closing", "name": "Closing",
     "after": {section fields, without criteria}}
    {"action": "removed", "target": "section", "key": "small_talk", "name": "…",
     "before": {…}}
    {"action": "changed", "target": "section", "key": "opening", "name": "Opening",
     "fields": {"weight": {"before": "40", "after": "30"}}}
    {"action": "added" | "removed" | "changed", "target": "criterion", "key": "greeting",
     "section": "opening", "name": "…", "after" | "before" | "fields": …}

Sections and criteria are matched by key, so a renamed key reads as one removed and one added.
A criterion that moved to another section is "changed" with a ``section`` field (before/after
section keys). ``position`` appears in ``fields`` only for items that really moved relative to
the others (inserting an item at the top does not mark every later item as moved). Weights are
strings ("50", "33.3"); every value is JSON-ready.
"""

from __future__ import annotations

from typing import Any

from .structure import CRITERION_FIELDS as ALL_CRITERION_FIELDS
from .structure import jsonable

Change = dict[str, Any]

RUBRIC_FIELDS = ("name", "description")
VERSION_FIELDS = ("weighting", "critical_mode", "notes")
SECTION_FIELDS = ("name", "description", "weight")
CRITERION_FIELDS = tuple(name for name in ALL_CRITERION_FIELDS if name != "key")  # matched by key


def structure_diff(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """The changes that turn ``old`` into ``new`` (both cleaned editable data)."""
    old, new = jsonable(old), jsonable(new)
    changes: list[Change] = []
    for target, names in (("rubric", RUBRIC_FIELDS), ("version", VERSION_FIELDS)):
        # Rubric fields missing from either side mean "not given", not "emptied".
        fields = _field_changes(old, new, [n for n in names if n in old and n in new])
        if fields:
            changes.append({"action": "changed", "target": target, "fields": fields})

    old_sections = {s["key"]: s for s in old.get("sections", [])}
    new_sections = {s["key"]: s for s in new.get("sections", [])}
    section_moved = _moved(list(old_sections), list(new_sections))
    old_criteria = _criteria_by_key(old)
    new_criteria = _criteria_by_key(new)
    criterion_moved: set[str] = set()
    for section_key in new_sections:
        before = [k for k, (s, _, _) in old_criteria.items() if s == section_key]
        after = [k for k, (s, _, _) in new_criteria.items() if s == section_key]
        criterion_moved |= _moved(before, after)

    for position, (key, section) in enumerate(new_sections.items()):
        if key not in old_sections:
            changes.append(_added("section", key, _without_criteria(section)))
        else:
            old_position = list(old_sections).index(key)
            fields = _field_changes(old_sections[key], section, SECTION_FIELDS)
            if key in section_moved:
                fields["position"] = {"before": old_position, "after": position}
            if fields:
                changes.append(_changed("section", key, section["name"], fields))
        for c_position, criterion in enumerate(section.get("criteria", [])):
            c_key = criterion["key"]
            if c_key not in old_criteria:
                changes.append(_added("criterion", c_key, criterion, section=key))
                continue
            old_section, old_c_position, old_criterion = old_criteria[c_key]
            fields = _field_changes(old_criterion, criterion, CRITERION_FIELDS)
            if old_section != key:
                fields["section"] = {"before": old_section, "after": key}
            if old_section != key or c_key in criterion_moved:
                fields["position"] = {"before": old_c_position, "after": c_position}
            if fields:
                changes.append(_changed("criterion", c_key, criterion["name"], fields, section=key))

    for key, section in old_sections.items():
        if key not in new_sections:
            changes.append(_removed("section", key, _without_criteria(section)))
    for c_key, (section_key, _, criterion) in old_criteria.items():
        if c_key not in new_criteria:
            changes.append(_removed("criterion", c_key, criterion, section=section_key))
    return changes


def _criteria_by_key(data: dict[str, Any]) -> dict[str, tuple[str, int, dict[str, Any]]]:
    """``{criterion key: (section key, position in section, criterion)}`` in display order."""
    return {
        c["key"]: (s["key"], position, c)
        for s in data.get("sections", [])
        for position, c in enumerate(s.get("criteria", []))
    }


def _field_changes(
    old: dict[str, Any], new: dict[str, Any], names: Any
) -> dict[str, dict[str, Any]]:
    return {
        name: {"before": old.get(name), "after": new.get(name)}
        for name in names
        if old.get(name) != new.get(name)
    }


def _moved(before: list[str], after: list[str]) -> set[str]:
    """Keys in both lists whose relative order changed: those outside a longest common order."""
    common = [k for k in before if k in set(after)]
    new_index = {k: i for i, k in enumerate(after)}
    sequence = [new_index[k] for k in common]
    # Longest increasing subsequence (patience sorting, O(n log n)) of new positions.
    tails: list[int] = []
    tail_at: list[int] = []
    parent = [-1] * len(sequence)
    for i, value in enumerate(sequence):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if tails[mid] < value:
                lo = mid + 1
            else:
                hi = mid
        parent[i] = tail_at[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(value)
            tail_at.append(i)
        else:
            tails[lo] = value
            tail_at[lo] = i
    keep: set[str] = set()
    i = tail_at[-1] if tail_at else -1
    while i != -1:
        keep.add(common[i])
        i = parent[i]
    return {k for k in common if k not in keep}


def _without_criteria(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k != "criteria"}


def _added(target: str, key: str, item: dict[str, Any], *, section: str | None = None) -> Change:
    change: Change = {"action": "added", "target": target, "key": key, "name": item.get("name")}
    if section is not None:
        change["section"] = section
    change["after"] = item
    return change


def _removed(target: str, key: str, item: dict[str, Any], *, section: str | None = None) -> Change:
    change: Change = {"action": "removed", "target": target, "key": key, "name": item.get("name")}
    if section is not None:
        change["section"] = section
    change["before"] = item
    return change


def _changed(
    target: str,
    key: str,
    name: str,
    fields: dict[str, dict[str, Any]],
    *,
    section: str | None = None,
) -> Change:
    change: Change = {"action": "changed", "target": target, "key": key, "name": name}
    if section is not None:
        change["section"] = section
    change["fields"] = fields
    return change
