"""The virtual agent's retrieval, measured: lexical (the first rule) vs semantic vs hybrid.

    python bench/va_retrieval.py [--tune] [--show-misses]

Offline and pure (no database, no portal): the demo knowledge articles
(``apps/demo/data/knowledge.json``) and the labelled caller requests
(``apps/demo/data/virtual_agent_requests.json``: the Harper Valley callers' first requests and
written paraphrases / questions the knowledge base does not answer; each labelled with the
article that answers it or null). Per split and method:

- **decision accuracy**: the agent does the right thing (answers with the labelled article, or
  hands off when the label is null), over all requests;
- **top-1 accuracy** over the answerable requests: it answers with the labelled article;
- **handoff-when-none precision / recall**: of the handoffs, the share whose request has no
  article; of the requests with no article, the share handed off.

``--tune`` sweeps the hybrid's lexical weight and threshold on the tuning split only and prints
the best settings; the figures to report are the test split's with the settings in
``apps/agent/services/retrieval.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.agent.services import retrieval  # noqa: E402
from apps.agent.services.retrieval import KnowledgeIndex, best_article  # noqa: E402
from apps.common import embeddings  # noqa: E402

DATA = ROOT / "apps" / "demo" / "data"


@dataclass(frozen=True)
class Doc:
    id: int
    title: str
    body: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Scores:
    n: int
    decided: int  # right decision (article or handoff)
    answerable: int
    top1: int
    handoffs: int
    handoffs_right: int  # handed off and the label is null
    none: int

    def line(self, name: str) -> str:
        def share(part: int, whole: int) -> str:
            return f"{part / whole:6.1%} ({part}/{whole})" if whole else "     - (0/0)"

        return (
            f"  {name:<22} decision {share(self.decided, self.n)}  "
            f"top-1 {share(self.top1, self.answerable)}  "
            f"handoff precision {share(self.handoffs_right, self.handoffs)}  "
            f"recall {share(self.handoffs_right, self.none)}"
        )


Predict = Callable[[str], "str | None"]


def articles() -> list[Doc]:
    raw = json.loads((DATA / "knowledge.json").read_text())["articles"]
    return [
        Doc(id=n, title=a["title"], body=a["body"], tags=tuple(a.get("tags") or ()))
        for n, a in enumerate(raw, start=1)
    ]


def requests() -> list[dict]:
    return json.loads((DATA / "virtual_agent_requests.json").read_text())["items"]


def score(items: Sequence[dict], predict: Predict) -> Scores:
    n = decided = answerable = top1 = handoffs = handoffs_right = none = 0
    for item in items:
        expected, got = item["expected"], predict(item["request"])
        n += 1
        decided += got == expected
        if expected is None:
            none += 1
        else:
            answerable += 1
            top1 += got == expected
        if got is None:
            handoffs += 1
            handoffs_right += expected is None
    return Scores(n, decided, answerable, top1, handoffs, handoffs_right, none)


def lexical(docs: Sequence[Doc]) -> Predict:
    def predict(prompt: str) -> str | None:
        found = best_article(prompt, docs)
        return None if found is None else found[0].title

    return predict


def indexed(index: KnowledgeIndex) -> Predict:
    def predict(prompt: str) -> str | None:
        found = index.best(prompt)
        return None if found is None else found.article.title

    return predict


def tune(docs: Sequence[Doc], items: Sequence[dict]) -> None:
    """Sweep weight x threshold on the tuning split; the best decision accuracy, and among
    equals the middle of the widest run of thresholds (a threshold at the edge of a plateau
    is a tuning-set accident)."""
    tuning = [i for i in items if i["split"] == "tuning"]
    print(f"sweep on the tuning split only ({len(tuning)} requests)")
    for weight in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
        index = KnowledgeIndex(docs, lexical_weight=weight)
        ranked = [(i, index.rank(i["request"])[0]) for i in tuning]
        results = []
        for step in range(20, 101):
            threshold = step / 100

            decided = sum(
                (top.article.title if top.hybrid >= threshold else None) == item["expected"]
                for item, top in ranked
            )
            results.append((threshold, decided))
        best = max(d for _, d in results)
        plateau = [t for t, d in results if d == best]
        middle = plateau[len(plateau) // 2]
        print(
            f"  weight {weight:.1f}: best decision {best}/{len(tuning)} "
            f"at thresholds {plateau[0]:.2f}-{plateau[-1]:.2f} (middle {middle:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--show-misses", action="store_true", help="the test split's misses")
    args = parser.parse_args()
    docs, items = articles(), requests()
    if args.tune:
        tune(docs, items)
        return
    started = time.perf_counter()
    hybrid_index = KnowledgeIndex.build(docs)
    built_ms = (time.perf_counter() - started) * 1000
    semantic_only = KnowledgeIndex(docs, lexical_weight=0.0, threshold=SEMANTIC_THRESHOLD)
    methods: list[tuple[str, Predict]] = [
        ("lexical (first rule)", lexical(docs)),
        (f"semantic >= {SEMANTIC_THRESHOLD:.2f}", indexed(semantic_only)),
        (
            f"hybrid w={retrieval.LEXICAL_WEIGHT} >= {retrieval.HYBRID_THRESHOLD:.2f}",
            indexed(hybrid_index),
        ),
    ]
    print(
        f"{len(docs)} articles, {len(items)} labelled requests; index built in {built_ms:.0f} ms "
        "(includes loading the model once)"
    )
    for split in ("tuning", "test"):
        for source in ("all", "harper-valley", "written"):
            chosen = [i for i in items if i["split"] == split and source in ("all", i["source"])]
            tag = "in-sample" if split == "tuning" else "held out"
            print(f"{split} split, {source} ({len(chosen)} requests, {tag}):")
            for name, predict in methods:
                print(score(chosen, predict).line(name))
    if args.show_misses:
        predict = indexed(hybrid_index)
        print("hybrid's misses on the test split:")
        for item in items:
            if item["split"] == "test" and (got := predict(item["request"])) != item["expected"]:
                top = hybrid_index.rank(item["request"])[0]
                print(
                    f"  {item['request']!r}: expected {item['expected']}, got {got} "
                    f"(top {top.article.title}: hybrid {top.hybrid:.3f}, "
                    f"semantic {top.semantic:.3f}, lexical {top.lexical_points})"
                )
    prompts = [i["request"] for i in items]
    embeddings.embedding.cache_clear()  # each turn embedded anew, as a new caller's would be
    started = time.perf_counter()
    for prompt in prompts:
        hybrid_index.best(prompt)
    per_turn = (time.perf_counter() - started) * 1000 / len(prompts)
    print(f"ranking one turn (embed + score {len(docs)} articles): {per_turn:.3f} ms mean")


# The semantic-only comparison's threshold (weight 0 in the --tune sweep, tuning split).
SEMANTIC_THRESHOLD = 0.40

if __name__ == "__main__":
    main()
