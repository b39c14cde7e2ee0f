"""Admin-defined classifiers and extractors of the embedded kind: phrases, keywords, regexes.

An administrator defines a custom operator as JSON parameters; nothing here trains or downloads
anything. Two shapes:

Classifier (``validate_classifier``, ``classify``)::

    {"labels": [{"label": "cancel", "phrases": ["cancel my account"], "keywords": ["cancel"],
                 "regex": ["close (?:my|the) account"]}, ...],
     "default_label": "other",     # when no label has any evidence
     "tolerance": 85,              # 0-100, fuzzy threshold for phrases (default 85)
     "speaker": "customer"}        # "customer" | "agent" | "any" (default "any")

Extractor (``validate_extractor``, ``extract``)::

    {"patterns": [{"label": "amount", "regex": "\\d+ dollars"},
                  {"label": "product", "keywords": ["credit card", "debit card"]}],
     "speaker": "any"}

Matching rules:

- phrases are fuzzy: rapidfuzz ``partial_ratio`` of the phrase against the line, both
  lowercased, must reach the tolerance. ``partial_ratio`` aligns the shorter string inside the
  longer one, so a line shorter than the phrase ("card" against "replace my card") would score
  100; such lines are compared whole with ``ratio`` instead.
- keywords match as whole words (case-insensitive; spaces inside a keyword match any white
  space), regexes case-insensitively.
- Tags such as ``[noise]`` never match: lines are matched with tags blanked out, keeping
  offsets, so spans index into the original line text.
- A classifier's evidence for a label is the sum of its match scores (keyword and regex
  matches 1, phrase matches their similarity 0-1); most evidence wins, ties go to the label
  defined first.
- An extractor regex with a group named ``value`` extracts that group ("order (?P<value>\\d+)"),
  otherwise the whole match.

Validation reports every problem with the path of the field ("labels[1].regex[0]: ...") so the
admin form can show them all at once. Unknown fields inside a label or pattern are errors,
because a misspelt "keyword" would otherwise be dropped silently; unknown top-level fields are
allowed, because the operator's parameters also carry settings of other layers (such as
"remember"). ``classify`` and ``extract`` raise
``PatternError`` on invalid parameters and cache compiled rules per distinct parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeGuard

from rapidfuzz import fuzz

from apps.intelligence.nlp.text import AGENT_ROLES, CUSTOMER_ROLES, mask_noise

__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_PATTERN_LENGTH",
    "SPEAKERS",
    "Classification",
    "Entity",
    "LabelMatch",
    "PatternError",
    "classify",
    "extract",
    "validate_classifier",
    "validate_extractor",
]

SPEAKERS = ("customer", "agent", "any")
DEFAULT_TOLERANCE = 85
DEFAULT_SPEAKER = "any"
# Python's re has no time limit: long admin-written patterns are where catastrophic
# backtracking hides, and no sensible rule needs more.
MAX_PATTERN_LENGTH = 500

_LABEL_FIELDS = ("label", "phrases", "keywords", "regex")
_EXTRACTOR_PATTERN_FIELDS = ("label", "regex", "keywords")
_SPACE_RE = re.compile(r"\s+")


class PatternError(ValueError):
    """Invalid operator parameters. ``errors`` holds every message, each naming its field."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """One piece of evidence for a label."""

    label: str
    line_index: int
    text: str  # the matched text of the line
    span: tuple[int, int]  # offsets into the line's text
    score: float  # 1.0 for keywords and regexes, the similarity 0..1 for phrases
    rule: str  # what matched: "phrase:cancel my account", "keyword:refund", "regex:..."


@dataclass(frozen=True, slots=True)
class Classification:
    """The winning label and all the evidence found, for every label, in transcript order."""

    label: str
    matches: tuple[LabelMatch, ...]
    evidence: tuple[tuple[str, float], ...] = ()  # (label, summed scores), definition order


@dataclass(frozen=True, slots=True)
class Entity:
    """One extracted value; ``begin``/``end`` are offsets into the line's text."""

    text: str
    label: str
    line_index: int
    begin: int
    end: int


# --- validation -------------------------------------------------------------------------------


def validate_classifier(parameters: dict[str, Any]) -> list[str]:
    """Every problem with classifier ``parameters``, each naming its field; [] when valid."""
    if not isinstance(parameters, dict):
        return ["parameters: must be an object"]
    errors: list[str] = []
    labels = parameters.get("labels")
    if labels is None:
        errors.append("labels: required")
    elif not isinstance(labels, list):
        errors.append("labels: must be a list")
    elif not labels:
        errors.append("labels: needs at least one label")
    else:
        seen: set[str] = set()
        for index, entry in enumerate(labels):
            path = f"labels[{index}]"
            if not isinstance(entry, dict):
                errors.append(f"{path}: must be an object")
                continue
            errors += _unknown_fields(entry, _LABEL_FIELDS, path)
            label = entry.get("label")
            if not _is_text(label):
                errors.append(f"{path}.label: must be a non-empty string")
            elif label.strip() in seen:
                errors.append(f"{path}.label: duplicate label {label.strip()!r}")
            else:
                seen.add(label.strip())
            rules = 0
            for field in ("phrases", "keywords", "regex"):
                if field in entry:
                    errors += _check_strings(
                        entry[field], f"{path}.{field}", regex=field == "regex"
                    )
                    if isinstance(entry[field], list):
                        rules += len(entry[field])
            if not rules:
                errors.append(f"{path}: needs at least one phrase, keyword or regex")
    if "default_label" not in parameters:
        errors.append("default_label: required")
    elif not _is_text(parameters["default_label"]):
        errors.append("default_label: must be a non-empty string")
    if "tolerance" in parameters:
        tolerance = parameters["tolerance"]
        if isinstance(tolerance, bool) or not isinstance(tolerance, int):
            errors.append("tolerance: must be an integer from 0 to 100")
        elif not 0 <= tolerance <= 100:
            errors.append(f"tolerance: must be from 0 to 100, not {tolerance}")
    errors += _check_speaker(parameters)
    return errors


def validate_extractor(parameters: dict[str, Any]) -> list[str]:
    """Every problem with extractor ``parameters``, each naming its field; [] when valid."""
    if not isinstance(parameters, dict):
        return ["parameters: must be an object"]
    errors: list[str] = []
    patterns = parameters.get("patterns")
    if patterns is None:
        errors.append("patterns: required")
    elif not isinstance(patterns, list):
        errors.append("patterns: must be a list")
    elif not patterns:
        errors.append("patterns: needs at least one pattern")
    else:
        for index, entry in enumerate(patterns):
            path = f"patterns[{index}]"
            if not isinstance(entry, dict):
                errors.append(f"{path}: must be an object")
                continue
            errors += _unknown_fields(entry, _EXTRACTOR_PATTERN_FIELDS, path)
            if not _is_text(entry.get("label")):
                errors.append(f"{path}.label: must be a non-empty string")
            has_regex, has_keywords = "regex" in entry, "keywords" in entry
            if has_regex and has_keywords:
                errors.append(f"{path}: give either regex or keywords, not both")
            elif has_regex:
                errors += _check_regex(entry["regex"], f"{path}.regex")
            elif has_keywords:
                errors += _check_strings(entry["keywords"], f"{path}.keywords", regex=False)
                if entry["keywords"] == []:
                    errors.append(f"{path}.keywords: needs at least one keyword")
            else:
                errors.append(f"{path}: needs a regex or keywords")
    errors += _check_speaker(parameters)
    return errors


def _unknown_fields(entry: dict[str, Any], known: Sequence[str], path: str) -> list[str]:
    return [
        f"{path}.{key}: unknown field (expected one of {', '.join(known)})"
        for key in entry
        if key not in known
    ]


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value.strip())


def _check_strings(values: object, path: str, *, regex: bool) -> list[str]:
    if not isinstance(values, list):
        return [f"{path}: must be a list of strings"]
    errors: list[str] = []
    for index, value in enumerate(values):
        if regex:
            errors += _check_regex(value, f"{path}[{index}]")
        elif not _is_text(value):
            errors.append(f"{path}[{index}]: must be a non-empty string")
        elif len(value) > MAX_PATTERN_LENGTH:
            errors.append(f"{path}[{index}]: longer than {MAX_PATTERN_LENGTH} characters")
    return errors


def _check_regex(value: object, path: str) -> list[str]:
    if not _is_text(value):
        return [f"{path}: must be a non-empty string"]
    if len(value) > MAX_PATTERN_LENGTH:
        return [f"{path}: longer than {MAX_PATTERN_LENGTH} characters"]
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as error:
        return [f"{path}: {error}"]
    if compiled.fullmatch(""):
        # It would match between any two characters: evidence everywhere.
        return [f"{path}: matches empty text"]
    return []


def _check_speaker(parameters: dict[str, Any]) -> list[str]:
    speaker = parameters.get("speaker", DEFAULT_SPEAKER)
    if speaker not in SPEAKERS:
        return [f"speaker: must be one of {', '.join(SPEAKERS)}, not {speaker!r}"]
    return []


# --- compiled rules -----------------------------------------------------------------------------

# A compiled rule: (masked line, its lowercase) -> [(begin, end, score, rule name)].
_Finder = Callable[[str, str], list[tuple[int, int, float, str]]]


@dataclass(frozen=True, slots=True)
class _Classifier:
    labels: tuple[str, ...]
    finders: tuple[tuple[_Finder, ...], ...]  # per label, in definition order
    default_label: str
    speaker: str


@dataclass(frozen=True, slots=True)
class _Extractor:
    rules: tuple[tuple[str, re.Pattern[str]], ...]  # (label, pattern), definition order
    speaker: str


def _cache_key(parameters: object) -> str:
    try:
        return json.dumps(parameters, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise PatternError([f"parameters: not JSON ({error})"]) from error


# Per communication the same operator runs again: validating and compiling once per distinct
# parameters (keyed by their canonical JSON) keeps the hot path to matching alone.
@lru_cache(maxsize=256)
def _compiled_classifier(key: str) -> _Classifier:
    parameters = json.loads(key)
    errors = validate_classifier(parameters)
    if errors:
        raise PatternError(errors)
    tolerance = parameters.get("tolerance", DEFAULT_TOLERANCE)
    labels: list[str] = []
    finders: list[tuple[_Finder, ...]] = []
    for entry in parameters["labels"]:
        labels.append(entry["label"].strip())
        label_finders: list[_Finder] = [
            _phrase_finder(phrase, tolerance) for phrase in entry.get("phrases", [])
        ]
        if entry.get("keywords"):
            label_finders.append(_keyword_finder(entry["keywords"]))
        label_finders += [_regex_finder(pattern) for pattern in entry.get("regex", [])]
        finders.append(tuple(label_finders))
    return _Classifier(
        labels=tuple(labels),
        finders=tuple(finders),
        default_label=parameters["default_label"],
        speaker=parameters.get("speaker", DEFAULT_SPEAKER),
    )


@lru_cache(maxsize=256)
def _compiled_extractor(key: str) -> _Extractor:
    parameters = json.loads(key)
    errors = validate_extractor(parameters)
    if errors:
        raise PatternError(errors)
    rules: list[tuple[str, re.Pattern[str]]] = []
    for entry in parameters["patterns"]:
        if "regex" in entry:
            pattern = re.compile(entry["regex"], re.IGNORECASE)
        else:
            pattern = _keywords_pattern(entry["keywords"])
        rules.append((entry["label"].strip(), pattern))
    return _Extractor(rules=tuple(rules), speaker=parameters.get("speaker", DEFAULT_SPEAKER))


def _phrase_finder(phrase: str, tolerance: int) -> _Finder:
    wanted = _SPACE_RE.sub(" ", phrase.strip().lower())
    rule = f"phrase:{phrase.strip()}"

    def find(line: str, lowered: str) -> list[tuple[int, int, float, str]]:
        stripped = lowered.strip()
        if not stripped:
            return []
        if len(stripped) >= len(wanted):
            alignment = fuzz.partial_ratio_alignment(wanted, lowered, score_cutoff=tolerance)
            if alignment is None or alignment.score <= 0:
                return []
            begin, end = _to_word_edges(line, alignment.dest_start, alignment.dest_end)
            return [(begin, end, round(alignment.score / 100, 4), rule)]
        score = fuzz.ratio(wanted, stripped, score_cutoff=tolerance)
        if not score:
            return []
        begin = len(lowered) - len(lowered.lstrip())
        return [(begin, begin + len(stripped), round(score / 100, 4), rule)]

    return find


def _keywords_pattern(keywords: Sequence[str]) -> re.Pattern[str]:
    # Longest first, so that "credit card" wins over "credit" at the same place.
    alternatives = sorted({_SPACE_RE.sub(" ", k.strip()) for k in keywords}, key=len, reverse=True)
    body = "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in alternatives)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def _keyword_finder(keywords: Sequence[str]) -> _Finder:
    pattern = _keywords_pattern(keywords)

    def find(line: str, lowered: str) -> list[tuple[int, int, float, str]]:
        return [
            (m.start(), m.end(), 1.0, f"keyword:{_SPACE_RE.sub(' ', m.group()).lower()}")
            for m in pattern.finditer(line)
        ]

    return find


def _regex_finder(source: str) -> _Finder:
    pattern = re.compile(source, re.IGNORECASE)
    rule = f"regex:{source}"

    def find(line: str, lowered: str) -> list[tuple[int, int, float, str]]:
        return [(m.start(), m.end(), 1.0, rule) for m in pattern.finditer(line) if m.group()]

    return find


def _to_word_edges(line: str, begin: int, end: int) -> tuple[int, int]:
    """Widen a fuzzy alignment that cut a word in half to the whole word, for display."""
    while begin > 0 and line[begin - 1].isalnum() and line[begin].isalnum():
        begin -= 1
    while end < len(line) and line[end - 1].isalnum() and line[end].isalnum():
        end += 1
    return begin, end


def _speaks(role: str, speaker: str) -> bool:
    if speaker == "customer":
        return role in CUSTOMER_ROLES
    if speaker == "agent":
        return role in AGENT_ROLES
    return True


# --- matching -----------------------------------------------------------------------------------


def classify(lines: Sequence[tuple[str, str]], parameters: dict[str, Any]) -> Classification:
    """The label of a conversation (``lines`` are ``(role, text)``) by its evidence.

    Raises ``PatternError`` when ``parameters`` are invalid (see ``validate_classifier``).
    """
    classifier = _compiled_classifier(_cache_key(parameters))
    found: list[tuple[int, int, int, LabelMatch]] = []  # sort key first: line, begin, label
    evidence = [0.0] * len(classifier.labels)
    for line_index, (role, text) in enumerate(lines):
        if not _speaks(role, classifier.speaker):
            continue
        masked = mask_noise(text)
        lowered = masked.lower()
        if len(lowered) != len(masked):  # a rare letter whose lowercase is longer: keep offsets
            lowered = masked
        for label_index, label_finders in enumerate(classifier.finders):
            for finder in label_finders:
                for begin, end, score, rule in finder(masked, lowered):
                    evidence[label_index] += score
                    match = LabelMatch(
                        label=classifier.labels[label_index],
                        line_index=line_index,
                        text=masked[begin:end].strip(),
                        span=(begin, end),
                        score=score,
                        rule=rule,
                    )
                    found.append((line_index, begin, label_index, match))
    found.sort(key=lambda item: item[:3])
    best = max(range(len(evidence)), key=lambda index: (evidence[index], -index))
    label = classifier.labels[best] if evidence[best] > 0 else classifier.default_label
    return Classification(
        label=label,
        matches=tuple(item[3] for item in found),
        evidence=tuple(zip(classifier.labels, (round(e, 4) for e in evidence), strict=True)),
    )


def extract(lines: Sequence[tuple[str, str]], parameters: dict[str, Any]) -> list[Entity]:
    """Every value the patterns find in ``lines`` (``(role, text)``), in transcript order.

    Deduplicated by label and lowercased text: the first occurrence stays. Raises
    ``PatternError`` when ``parameters`` are invalid (see ``validate_extractor``).
    """
    extractor = _compiled_extractor(_cache_key(parameters))
    found: list[tuple[int, int, int, Entity]] = []
    for line_index, (role, text) in enumerate(lines):
        if not _speaks(role, extractor.speaker):
            continue
        masked = mask_noise(text)
        for rule_index, (label, pattern) in enumerate(extractor.rules):
            for match in pattern.finditer(masked):
                group = "value" if "value" in pattern.groupindex else 0
                begin, end = match.span(group)
                value = masked[begin:end] if begin >= 0 else ""
                # Trim white space picked up at the edges, keeping the offsets true.
                begin += len(value) - len(value.lstrip())
                value = value.strip()
                if not value:
                    continue
                entity = Entity(value, label, line_index, begin, begin + len(value))
                found.append((line_index, begin, rule_index, entity))
    found.sort(key=lambda item: item[:3])
    seen: set[tuple[str, str]] = set()
    entities: list[Entity] = []
    for *_, entity in found:
        key = (entity.label, entity.text.lower())
        if key not in seen:
            seen.add(key)
            entities.append(entity)
    return entities
