"""Which knowledge article answers the caller's turn: lexical overlap and sentence similarity.

Pure (no I/O, no Django): the consumer builds a :class:`KnowledgeIndex` once per knowledge
refresh and every turn is ranked in memory against it.

Two signals per article, combined (:meth:`KnowledgeIndex.rank`):

- **Lexical** (the agent's first rule, kept as :func:`best_article`): the content words (light
  stemming) the turn shares with the article, title and tags counting twice. Exact, but blind
  to paraphrase: "my card got swallowed by the machine" shares one word with "Replacing a
  lost, stolen or damaged card".
- **Semantic**: the best cosine similarity between the turn and the article's units (its title
  with its tags, and each sentence of its body), with the offline WordLlama model
  (``apps.common.embeddings``, shared with the rubrics' semantic checks). The units' vectors are
  computed when the index is built, so a turn costs one embedding (about 0.05 ms) and one small
  matrix product.

``hybrid = semantic + LEXICAL_WEIGHT * min(1, lexical points / LEXICAL_FULL)``; the best
article answers when its hybrid score reaches ``HYBRID_THRESHOLD``, otherwise the agent hands off
("not in the knowledge base"). Weight and threshold were chosen on the tuning half of the
labelled requests only (``apps/demo/data/virtual_agent_requests.json``;
``bench/va_retrieval.py --tune`` prints the sweep, docs/virtual-agent.md the figures).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from apps.common import embeddings
from apps.intelligence.nlp.text import content_words, sentences

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

# The lexical rule: an article must share this many content words with the turn, one of them
# from its title or tags.
MIN_SHARED_WORDS = 2
ANSWER_SENTENCES = 2
# The hybrid score (tuned on the tuning half only: bench/va_retrieval.py --tune).
LEXICAL_FULL = 4  # lexical points (shared words, title and tags twice) that count in full
LEXICAL_WEIGHT = 0.2
HYBRID_THRESHOLD = 0.41


# "hi my name is linda brown i lost my card": the caller's name says nothing about the request,
# and in an averaged embedding two names weigh as much as "lost" and "card".
_INTRODUCTION_RE = re.compile(
    r"\b(?:my name is|my name's|this is)\s+(?:(?:also|uh|um)\s+)*[a-z]+(?:\s+[a-z]+)?"
    r"(?=\s+(?:and\s+|um\s+|uh\s+)?(?:i|i'd|i'm|i've|what|could|can)\b)"
    r"|\b(?:my name is|my name's)\s+[a-z]+(?:\s+[a-z]+)?\s*$",
    re.IGNORECASE,
)


def request_text(prompt: str) -> str:
    """What the turn asks, for the embedding: lowercased, a self-introduction left out."""
    return " ".join(_INTRODUCTION_RE.sub(" ", prompt.lower()).split())


class Article(Protocol):
    """A knowledge article as the lookup returns it (``knowledge.selectors.KnowledgeHit``)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def tags(self) -> tuple[str, ...]: ...


def _stem(word: str) -> str:
    word = word.strip("'")
    for suffix in ("ing", "es", "s", "ed"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    """The content words of ``text``, lightly stemmed."""
    return {_stem(word) for word in content_words(text)}


def _heading(article: Article) -> str:
    return article.title + " " + " ".join(article.tags)


def _lexical(asked: set[str], heading: set[str], body: set[str]) -> tuple[int, int, bool]:
    """(shared words, points, whether the lexical rule alone accepts the article)."""
    shared = asked & (heading | body)
    on_topic = asked & heading
    # A word of the title or tags must be among them: sharing only everyday words ("new",
    # "need", "account") with a body is no answer.
    accepted = bool(on_topic) and len(shared) >= MIN_SHARED_WORDS
    return len(shared), len(shared) + len(on_topic), accepted


def best_article(prompt: str, articles: Sequence[Article]) -> tuple[Article, int] | None:
    """The lexical rule alone (the baseline): the article sharing the most content words with
    ``prompt`` (title and tags count twice), with how many it shares; None when none shares
    ``MIN_SHARED_WORDS`` including one of its title or tags."""
    asked = stems(prompt)
    best: tuple[Article, int, int] | None = None
    for article in articles:
        shared, points, accepted = _lexical(asked, stems(_heading(article)), stems(article.body))
        if accepted and (best is None or points > best[2]):
            best = (article, shared, points)
    return None if best is None else (best[0], best[1])


@dataclass(frozen=True, slots=True)
class Match:
    """An article's scores for one turn."""

    article: Article
    hybrid: float
    semantic: float  # best cosine similarity of the turn with one of the article's units
    lexical_points: int
    lexical_accepted: bool  # the lexical rule alone would answer with it (if it ranked first)


@dataclass(frozen=True, slots=True)
class _Entry:
    article: Article
    heading: frozenset[str]
    body: frozenset[str]
    sentences: tuple[str, ...]
    sentence_stems: tuple[frozenset[str], ...]
    first_row: int  # its rows in the unit matrix: the heading, then each sentence
    rows: int


class KnowledgeIndex:
    """The published articles prepared for ranking: stems and unit vectors computed once.

    Build it with :meth:`build` when the knowledge is read (not per turn). Without the
    embedding model (a broken installation) it ranks by the lexical rule alone."""

    def __init__(
        self,
        articles: Sequence[Article],
        *,
        threshold: float = HYBRID_THRESHOLD,
        lexical_weight: float = LEXICAL_WEIGHT,
        semantic: bool = True,
    ) -> None:
        self.articles = list(articles)
        self.threshold = threshold
        self.lexical_weight = lexical_weight
        entries: list[_Entry] = []
        units: list[str] = []
        for article in self.articles:
            found = tuple(sentences(article.body))
            entries.append(
                _Entry(
                    article=article,
                    heading=frozenset(stems(_heading(article))),
                    body=frozenset(stems(article.body)),
                    sentences=found,
                    sentence_stems=tuple(frozenset(stems(s)) for s in found),
                    first_row=len(units),
                    rows=1 + len(found),
                )
            )
            units.append(f"{article.title}. {', '.join(article.tags)}".lower())
            units.extend(s.lower() for s in found)
        self._entries = entries
        self._matrix: np.ndarray | None = None
        if semantic and units:
            try:
                self._matrix = embeddings.embeddings(units)
            except embeddings.ModelUnavailable as exc:  # pragma: no cover - a dependency
                logger.warning("virtual agent: lexical retrieval only: %s", exc)

    @classmethod
    def build(cls, articles: Sequence[Article]) -> KnowledgeIndex:
        return cls(articles)

    @property
    def semantic(self) -> bool:
        return self._matrix is not None

    def _similarities(self, prompt: str) -> np.ndarray | None:
        if self._matrix is None or not prompt.strip():
            return None
        text = request_text(prompt) or prompt.strip().lower()
        return self._matrix @ embeddings.embedding(text)

    def rank(self, prompt: str) -> list[Match]:
        """Every article's scores for ``prompt``, best first (ties: the earlier article)."""
        asked = stems(prompt)
        similarity = self._similarities(prompt)
        matches: list[Match] = []
        for entry in self._entries:
            _, points, accepted = _lexical(asked, set(entry.heading), set(entry.body))
            semantic = 0.0
            if similarity is not None:
                rows = similarity[entry.first_row : entry.first_row + entry.rows]
                semantic = round(float(rows.max()), 4)
            lexical = min(1.0, points / LEXICAL_FULL)
            if similarity is None:
                # No model: the lexical rule decides alone (accepted articles only).
                hybrid = lexical if accepted else 0.0
            else:
                hybrid = round(semantic + self.lexical_weight * lexical, 4)
            matches.append(Match(entry.article, hybrid, semantic, points, accepted))
        order = sorted(range(len(matches)), key=lambda i: (-matches[i].hybrid, i))
        return [matches[i] for i in order]

    def best(self, prompt: str) -> Match | None:
        """The article that answers ``prompt``, or None: the agent hands off."""
        ranked = self.rank(prompt)
        if not ranked:
            return None
        top = ranked[0]
        if self._matrix is None:
            return top if top.lexical_accepted else None
        return top if top.hybrid >= self.threshold else None

    def answer(self, prompt: str, article: Article) -> str:
        """The ``ANSWER_SENTENCES`` sentences of ``article`` that best match ``prompt``, in
        their order: shared words first, then similarity."""
        entry = next((e for e in self._entries if e.article is article), None)
        if entry is None:
            return answer_from(prompt, article)
        asked = stems(prompt)
        similarity = self._similarities(prompt)

        def score(i: int) -> tuple[float, int]:
            close = 0.0 if similarity is None else float(similarity[entry.first_row + 1 + i])
            return (-(len(asked & entry.sentence_stems[i]) + close), i)

        ranked = sorted(range(len(entry.sentences)), key=score)
        return " ".join(entry.sentences[i] for i in sorted(ranked[:ANSWER_SENTENCES]))


def answer_from(prompt: str, article: Article) -> str:
    """The ``ANSWER_SENTENCES`` sentences of the article sharing most words with ``prompt``."""
    asked = stems(prompt)
    found = sentences(article.body)
    ranked = sorted(range(len(found)), key=lambda i: (-len(asked & stems(found[i])), i))
    return " ".join(found[i] for i in sorted(ranked[:ANSWER_SENTENCES]))
