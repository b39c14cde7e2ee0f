"""Semantic checks for criteria without required phrases: offline sentence similarity.

A criterion such as "asks for the task's details" or "confirms the outcome" has no fixed
wording, so ``checks`` cannot look for a phrase. This module compares the criterion's own text
with what the agent said, using a static embedding model that ships inside a PyPI wheel
(WordLlama ``l2_supercat``, 256 dimensions, 16 MB of weights in ``wordllama``; nothing is
downloaded at run time: downloads are disabled when the model is loaded; one model per process,
loaded by ``apps.common.embeddings`` and shared with the virtual agent). Static embeddings are
token vectors averaged per sentence: deterministic, about 35k sentences/s on one core, no torch.
The choice and its figures are in ``docs/operator-quality.md``.

Rules (:func:`judge`):

1. **Prototypes.** The criterion's ``expected_action`` and ``description`` are split into short
   statements: every quoted example ("Your password reset link has been sent to your phone")
   and every clause of an enumeration (split on ``;``, ``:``, commas, "or", "e.g."). A sentence
   that starts with "N/A" is not a prototype: it is the criterion's N/A rule (rule 5).
2. **Lines.** Every agent line that is speech, with the spans that already met another
   criterion's required phrase blanked out (``checks`` passes them): a greeting or "is there
   anything else" is not evidence of a confirmation just because it sits in the same line.
   Lines with fewer than :data:`MIN_WORDS` words left ("okay", "um") are not judged.
3. **Speech act.** When ``expected_action`` starts with "Ask", only questions count; with "Say",
   "State", "Tell", "Confirm" or "Give", only statements (lines without a question word such
   as what/which/can you...): a transcript has no question marks, and static embeddings do
   not tell "what is the transfer amount" from "the transfer amount is ...".
4. **Score.** The best cosine similarity (0-1) between a line and a prototype; MET when it
   reaches the criterion's threshold (per criterion, given by the caller; else the embedder's
   default: :data:`DEFAULT_THRESHOLD` for WordLlama). The evidence is that line, its score and
   the prototype.
5. **N/A.** Only for a criterion that allows N/A (``na_allowed``): when no line reaches the
   threshold and a *caller* line is similar to the criterion's N/A sentence (at least the
   embedder's N/A threshold, :data:`NA_THRESHOLD` for WordLlama; e.g. "N/A when the task needs
   none (branch hours)" against "what are the local branch hours"), or when nobody said
   anything to judge. Otherwise NOT_MET.

Known limit: the perturbed test set (``apps.demo.perturbations``) removes questions with a
question-word pattern like the one of rule 3, so its recall for "details never asked" measures
rules 4 and 5 on what is left, not how well questions are found.

The thresholds were tuned on the tuning half of the demo calls only
(``apps/demo/data/heldout_split.json``; ``bench/eval_operators.py --tune`` prints the sweep).

**Embedders.** The model sits behind :class:`Embedder` (sentences in, unit vectors out, plus
the two thresholds that only mean something on that model's scale). :class:`WordLlamaEmbedder`
is the default and the only one shipped; :func:`use_embedder` swaps it for the whole process
(the benchmark compares all-MiniLM-L6-v2 this way from ``bench/embedders.py``, so the project
never imports torch).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from apps.common.embeddings import (  # the model's one home is common (shared with the agent)
    MODEL_NAME,
    ModelUnavailable,
    model,
)

from .structure import CriterionSpec

if TYPE_CHECKING:
    import numpy as np

# Tuned on the tuning half only (``bench/eval_operators.py --tune``; the reasons for each choice
# are in docs/operator-quality.md section 0.4): "confirms the outcome" 0.26, also the default;
# "asks for the task's details" 0.18 (apps.demo.thresholds); N/A 0.30 between other
# calls (at most 0.24) and branch-hours callers (0.377, 0.412; one at 0.109).
DEFAULT_THRESHOLD = 0.26
NA_THRESHOLD = 0.30
# Per criterion, an operator's ``semantic_thresholds`` parameter gives others (the demo rubric's
# tuned ones are in apps/demo/thresholds.py, which the demo seeds its operator with).
MIN_WORDS = 2

_QUOTED = re.compile(r"[\"\u201c]([^\"\u201d]{3,})[\"\u201d]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CLAUSE = re.compile(r"\s*(?:;|:|,|\be\.g\.|\bor\b|\band\b(?= the)|\(|\))\s*")
_NON_SPEECH = re.compile(r"\[[^\]]*\]|<[^>]*>")
_WORD = re.compile(r"[a-z0-9']+")
_QUESTION = re.compile(
    r"\b(?:what|which|when|where|who|whose|why|how|can you|could you|would you|will you|"
    r"do you|did you|are you|is it|is that|may i)\b"
)
_ASKS = re.compile(r"^\s*ask\b", re.IGNORECASE)
_SAYS = re.compile(r"^\s*(?:say|state|tell|confirm|give)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SemanticMatch:
    """The agent line closest to the criterion, with its similarity and the prototype."""

    score: float  # cosine similarity, 0-1, three decimal places
    line: Any = None  # checks.Line
    text: str = ""  # the line's text as judged (other criteria's phrases blanked)
    prototype: str = ""


@dataclass(frozen=True, slots=True)
class SemanticJudgement:
    outcome: str  # Outcome value
    reason: str
    threshold: float
    best: SemanticMatch | None = None
    na_evidence: SemanticMatch | None = None  # the caller line that matched the N/A rule


class Embedder(Protocol):
    """A sentence embedding model, loaded when constructed.

    ``encode`` returns one row per text, each of unit length (cosine similarity is then a dot
    product). The thresholds belong to the model, not to this module: cosine scores of two
    models are on different scales (a WordLlama 0.26 is not a MiniLM 0.26), so an embedder
    carries the default MET threshold and the N/A-rule threshold tuned for it. Per-criterion
    thresholds from an operator's parameters still take precedence over the default."""

    name: str
    default_threshold: float
    na_threshold: float

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class WordLlamaEmbedder:
    """WordLlama ``l2_supercat`` from the installed wheel (never fetched); the default."""

    name = MODEL_NAME
    default_threshold = DEFAULT_THRESHOLD
    na_threshold = NA_THRESHOLD

    def __init__(self) -> None:
        # The one WordLlama of the process (apps.common.embeddings), shared with the virtual
        # agent's retrieval; raises ModelUnavailable when its package or files are missing.
        self.model = model()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.embed(list(texts), norm=True)


_embedder_lock = threading.Lock()
_embedder: Embedder | None = None


def embedder() -> Embedder:
    """The embedder of this process: WordLlama, loaded once, unless :func:`use_embedder` set
    another. Raises :class:`ModelUnavailable` when the default's package is missing."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                _embedder = WordLlamaEmbedder()
    return _embedder


def use_embedder(new: Embedder | None) -> Embedder | None:
    """Judge with ``new`` from now on, in this whole process (``None``: WordLlama, loaded when
    next needed); returns the one it replaces (``None`` if none was loaded yet), to put back.
    The per-text caches are emptied: their scores were the old model's. Meant for a process's
    start (a benchmark, a test), not for a worker that is judging."""
    global _embedder
    with _embedder_lock:
        previous, _embedder = _embedder, new
        _embedding.cache_clear()
        _prototype_matrix.cache_clear()
        _line_score.cache_clear()
    return previous


def available() -> bool:
    try:
        embedder()
    except ModelUnavailable:
        return False
    return True


# Small on purpose, as apps.common.embeddings explains: ``_line_score`` in front answers most of
# a live check's lookups (docs/benchmarks.md, "The operators' memory").
@lru_cache(maxsize=1024)
def _embedding(text: str) -> np.ndarray:
    return embedder().encode([text])[0]


def embeddings(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of ``texts`` (rows), cached per text: live checks see the same lines often."""
    import numpy as np

    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack([_embedding(text) for text in texts])


@lru_cache(maxsize=32_768)
def speech_text(text: str) -> str:
    """``text`` lowercased, without transcription tags and punctuation, whitespace collapsed."""
    return " ".join(_WORD.findall(_NON_SPEECH.sub(" ", text.lower())))


@lru_cache(maxsize=1024)
def _prototypes(expected_action: str, description: str) -> tuple[tuple[str, ...], str]:
    prototypes: list[str] = []
    na_rule = ""
    for source in (expected_action, description):
        for quoted in _QUOTED.findall(source):
            prototypes.append(speech_text(quoted))
        unquoted = _QUOTED.sub(" ", source)
        for sentence in _SENTENCE.split(unquoted):
            if sentence.strip().lower().startswith("n/a"):
                na_rule = na_rule or speech_text(sentence.split(" ", 1)[-1])
                continue
            for clause in _CLAUSE.split(sentence):
                words = speech_text(clause)
                if len(words.split()) >= MIN_WORDS:
                    prototypes.append(words)
    seen: dict[str, None] = dict.fromkeys(p for p in prototypes if p)
    return tuple(seen), na_rule


def prototypes_of(criterion: CriterionSpec) -> tuple[str, ...]:
    """The statements a line is compared with (rule 1)."""
    return _prototypes(criterion.expected_action, criterion.description)[0]


def na_rule_of(criterion: CriterionSpec) -> str:
    """The criterion's N/A sentence without "N/A", or "" (rule 5)."""
    return _prototypes(criterion.expected_action, criterion.description)[1]


def is_checkable(criterion: CriterionSpec) -> bool:
    """Whether the criterion's text gives anything to compare with."""
    return bool(prototypes_of(criterion))


def speech_act_of(criterion: CriterionSpec) -> str | None:
    """ "question", "statement" or None (any line), from the expected action's first verb."""
    if _ASKS.match(criterion.expected_action):
        return "question"
    if _SAYS.match(criterion.expected_action):
        return "statement"
    return None


@lru_cache(maxsize=32_768)
def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def best_match(
    prototypes: Sequence[str], candidates: Iterable[tuple[Any, str]]
) -> SemanticMatch | None:
    """The (line, text) of ``candidates`` most similar to any prototype; the earliest of equals."""
    if not prototypes:
        return None
    key = tuple(prototypes)
    best: tuple[float, int, Any, str] | None = None
    for line, text in candidates:
        if len(text.split()) < MIN_WORDS:
            continue
        score, column = _line_score(text, key)
        if best is None or score > best[0]:
            best = (score, column, line, text)
    if best is None:
        return None
    score, column, line, text = best
    return SemanticMatch(score=score, line=line, text=text, prototype=prototypes[column])


@lru_cache(maxsize=1024)
def _prototype_matrix(prototypes: tuple[str, ...]) -> np.ndarray:
    return embeddings(prototypes).T


@lru_cache(maxsize=65_536)
def _line_score(text: str, prototypes: tuple[str, ...]) -> tuple[float, int]:
    """The best similarity of ``text`` to ``prototypes`` (three decimal places) and its column.

    Cached: a live conversation is re-checked after every communication with the same lines."""
    similarity = _embedding(text) @ _prototype_matrix(prototypes)
    column = int(similarity.argmax())
    return round(float(similarity[column]), 3), column


def judge(
    criterion: CriterionSpec,
    agent_lines: Sequence[tuple[Any, str]],
    caller_lines: Sequence[tuple[Any, str]],
    *,
    threshold: float | None = None,
    met: str,
    not_met: str,
    na: str,
) -> SemanticJudgement:
    """Rules 3 to 5 over ``agent_lines`` / ``caller_lines`` given as (line, text to judge).

    The outcome values are passed in so this module needs no Django import."""
    current = embedder()
    limit = current.default_threshold if threshold is None else threshold
    act = speech_act_of(criterion)
    if act is not None:
        agent_lines = [
            (line, text) for line, text in agent_lines if is_question(text) == (act == "question")
        ]
    best = best_match(prototypes_of(criterion), agent_lines)
    if best is not None and best.score >= limit:
        return SemanticJudgement(met, "similar_line", limit, best)
    if criterion.na_allowed:
        if not agent_lines and not caller_lines:
            return SemanticJudgement(na, "nothing_to_judge", limit)
        rule = na_rule_of(criterion)
        na_match = best_match((rule,), caller_lines) if rule else None
        if na_match is not None and na_match.score >= current.na_threshold:
            return SemanticJudgement(na, "na_rule", limit, best, na_match)
    return SemanticJudgement(not_met, "no_similar_line", limit, best)


def thresholds_from(parameters: Mapping[str, Any] | None) -> dict[str, float]:
    """Per-criterion thresholds from an operator's parameters (``semantic_thresholds``:
    ``{criterion key: 0-1}``); anything else is ignored."""
    raw = (parameters or {}).get("semantic_thresholds")
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(key): float(value)
        for key, value in raw.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
    }
