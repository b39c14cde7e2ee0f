"""Semantic checks of criteria without phrases (apps.rubrics.semantic), on demo transcripts and on
the perturbed adherence set (apps.demo.perturbations)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from apps.demo import perturbations
from apps.demo.dataset import DemoCall, read_calls
from apps.rubrics import checks, semantic
from apps.rubrics.checks import Line
from apps.rubrics.choices import Outcome
from apps.rubrics.jsonformat import data_from_document
from apps.rubrics.structure import CriterionSpec, RubricStructure, structure_from_data

DATA = Path(__file__).resolve().parents[2] / "apps/demo/data"
THRESHOLDS = {"asks_task_details": 0.18, "confirms_action": 0.26}
# Elizabeth, replace card: asks "which card would you like to replace", never confirms the order.
ELIZABETH = "0002f70f7386445b"
# Reset password: "what is your phone number", "your password reset link has been sent ...".
PASSWORD = "0224c92b64d144d4"


@pytest.fixture(scope="module")
def calls() -> dict[str, DemoCall]:
    return {call.sid: call for call in read_calls()}


@pytest.fixture(scope="module")
def labels() -> dict[str, dict[str, str]]:
    data = json.loads((DATA / "adherence_labels.json").read_text())
    return {entry["sid"]: entry["labels"] for entry in data["calls"]}


@pytest.fixture(scope="module")
def rubric() -> RubricStructure:
    document = json.loads((DATA / "harper-valley-script.rubric.json").read_text())
    return structure_from_data(data_from_document(document))


def lines_of(turns) -> list[Line]:
    return [
        Line(t.index, "HUMAN_AGENT" if t.role == "agent" else "CUSTOMER", t.start_ms, t.text)
        for t in turns
    ]


def check(rubric: RubricStructure, turns, key: str) -> checks.CriterionCheck:
    results = checks.check_conversation(
        rubric, lines_of(turns), participant_type="HUMAN_AGENT", semantic_thresholds=THRESHOLDS
    )
    return next(result for result in results if result.key == key)


def test_the_model_loads_from_the_wheel_without_network(monkeypatch):
    # Downloads are disabled when the model is loaded: a missing file would raise, not fetch.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    vectors = semantic.embeddings(["what is your phone number", "what is your phone number"])
    assert vectors.shape == (2, 256)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)


class EverythingAlike:
    """An embedder for which every sentence means the same: every line matches every prototype."""

    name = "everything alike"
    default_threshold = 0.5
    na_threshold = 0.5

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return np.full((len(texts), 4), 0.5, dtype=np.float32)  # unit rows, all equal


class OnlySameText:
    """An embedder for which only identical texts are similar (1.0); any two others score 0."""

    name = "only the same text"
    default_threshold = 0.5

    def __init__(self, *, na_threshold: float) -> None:
        self.na_threshold = na_threshold
        self.axes: dict[str, int] = {}

    def encode(self, texts):
        rows = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            rows[row, self.axes.setdefault(text, len(self.axes))] = 1.0
        return rows


@pytest.fixture
def use_embedder():
    """Swap the semantic checks' embedder for one test; the previous one comes back after."""
    swapped: list[semantic.Embedder | None] = []

    def use(embedder: semantic.Embedder) -> semantic.Embedder:
        swapped.append(semantic.use_embedder(embedder))
        return embedder

    yield use
    if swapped:
        semantic.use_embedder(swapped[0])


def test_the_default_embedder_is_wordllama_from_the_wheel(use_embedder):
    use_embedder(None)
    default = semantic.embedder()
    assert isinstance(default, semantic.WordLlamaEmbedder)
    assert default.name == semantic.MODEL_NAME
    assert (default.default_threshold, default.na_threshold) == (
        semantic.DEFAULT_THRESHOLD,
        semantic.NA_THRESHOLD,
    )


def test_the_semantic_check_judges_with_the_embedder_in_use(rubric, calls, use_embedder):
    # Elizabeth's agent never confirms the order: WordLlama says NOT_MET (test below); an
    # embedder that finds every sentence alike says MET, at its own default threshold.
    turns = perturbations.turns_of(calls[ELIZABETH])
    custom = use_embedder(EverythingAlike())
    result = check(rubric, turns, "confirms_action")
    results = checks.check_conversation(rubric, lines_of(turns), participant_type="HUMAN_AGENT")
    default = next(r for r in results if r.key == "confirms_action")
    assert result.outcome == Outcome.MET
    assert result.semantic.best.score == 1.0
    assert result.semantic.threshold == THRESHOLDS["confirms_action"]  # the caller's wins
    assert default.outcome == Outcome.MET and default.semantic.threshold == 0.5
    assert result.semantic.best.text in custom.seen
    assert set(semantic.prototypes_of(rubric.criterion("confirms_action"))) <= set(custom.seen)


def test_scores_of_a_replaced_embedder_are_not_reused(rubric, calls, use_embedder):
    turns = perturbations.turns_of(calls[ELIZABETH])
    previous = semantic.use_embedder(EverythingAlike())
    assert check(rubric, turns, "confirms_action").outcome == Outcome.MET
    semantic.use_embedder(previous)
    assert check(rubric, turns, "confirms_action").outcome == Outcome.NOT_MET


@pytest.mark.parametrize(("na_threshold", "outcome"), [(0.9, Outcome.NA), (1.01, Outcome.NOT_MET)])
def test_the_na_rule_uses_the_embedders_na_threshold(use_embedder, na_threshold, outcome):
    criterion = CriterionSpec(
        key="asks_account",
        name="Asks for the account",
        section_key="s",
        na_allowed=True,
        expected_action="Ask which account the caller means.",
        description="N/A when the caller only wants the branch hours.",
    )
    use_embedder(OnlySameText(na_threshold=na_threshold))
    agent = Line(1, "HUMAN_AGENT", 0, "how are you today")
    caller = Line(2, "CUSTOMER", 1000, "when the caller only wants the branch hours")
    result = semantic.judge(
        criterion,
        [(agent, agent.text)],
        [(caller, caller.text)],
        met=Outcome.MET,
        not_met=Outcome.NOT_MET,
        na=Outcome.NA,
    )
    assert semantic.na_rule_of(criterion) == caller.text
    assert result.outcome == outcome
    assert result.best.score == 0.0


def test_prototypes_come_from_the_criterion_text_and_skip_the_na_sentence(rubric):
    confirms = rubric.criterion("confirms_action")
    prototypes = semantic.prototypes_of(confirms)
    assert "your password reset link has been sent to your phone" in prototypes
    assert "the balance" in prototypes
    assert not any("call ends before" in p for p in prototypes)
    assert "call ends before the request can be handled" in semantic.na_rule_of(confirms)
    assert semantic.speech_act_of(confirms) == "statement"
    assert semantic.speech_act_of(rubric.criterion("asks_task_details")) == "question"


def test_every_criterion_of_the_demo_rubric_gets_an_automatic_answer(rubric, calls):
    results = checks.check_conversation(
        rubric,
        lines_of(perturbations.turns_of(calls[PASSWORD])),
        participant_type="HUMAN_AGENT",
        semantic_thresholds=THRESHOLDS,
    )
    assert [r.reason for r in results if r.reason == checks.REASON_NO_CHECK] == []
    by_key = {r.key: r for r in results}
    asked = by_key["asks_task_details"]
    assert asked.outcome == Outcome.MET and asked.reason == checks.REASON_SIMILAR_LINE
    assert "phone number" in asked.semantic.best.text
    confirmed = by_key["confirms_action"]
    assert confirmed.outcome == Outcome.MET
    assert "reset link" in confirmed.semantic.best.text
    assert confirmed.semantic.best.score >= THRESHOLDS["confirms_action"]


def test_a_call_without_a_confirmation_is_not_met_with_its_best_line_as_evidence(rubric, calls):
    result = check(rubric, perturbations.turns_of(calls[ELIZABETH]), "confirms_action")
    assert result.outcome == Outcome.NOT_MET
    assert result.reason == checks.REASON_NO_SIMILAR_LINE
    assert result.semantic.best is not None
    assert result.semantic.best.score < THRESHOLDS["confirms_action"]
    # Phrases already met by other criteria are blanked: the closing is not the evidence.
    assert "anything else" not in result.semantic.best.text


def test_branch_hours_calls_can_be_na_by_the_criterion_na_sentence(rubric, calls):
    hours = [c for c in calls.values() if c.task_type == "get branch hours"]
    outcomes = [check(rubric, perturbations.turns_of(c), "asks_task_details") for c in hours]
    na = [r for r in outcomes if r.outcome == Outcome.NA]
    assert na, "no branch-hours call got N/A"
    assert all(r.reason in (checks.REASON_NA_RULE, checks.REASON_NOTHING_TO_JUDGE) for r in na)
    # A call with a detail question is never N/A.
    assert check(rubric, perturbations.turns_of(calls[PASSWORD]), "asks_task_details").outcome == (
        Outcome.MET
    )


def test_semantic_false_keeps_the_old_no_check_answer(rubric, calls):
    results = checks.check_conversation(
        rubric, lines_of(perturbations.turns_of(calls[PASSWORD])), semantic=False
    )
    reasons = {r.key: r.reason for r in results}
    assert reasons["asks_task_details"] == checks.REASON_NO_CHECK
    assert reasons["confirms_action"] == checks.REASON_NO_CHECK


def test_a_criterion_without_text_to_compare_stays_no_check():
    bare = CriterionSpec(key="bare", name="Bare", section_key="s")
    line = Line(1, "HUMAN_AGENT", 0, "your card has been ordered")
    assert checks.check_criterion(bare, [line]).reason == checks.REASON_NO_CHECK
    assert not semantic.is_checkable(bare)


def test_thresholds_come_from_operator_parameters_only_when_valid():
    got = semantic.thresholds_from(
        {"semantic_thresholds": {"a": 0.3, "b": "high", "c": 1.5, "d": True, "e": 0}}
    )
    assert got == {"a": 0.3, "e": 0.0}
    assert semantic.thresholds_from({"semantic_thresholds": [0.3]}) == {}
    assert semantic.thresholds_from(None) == {}


def test_a_per_criterion_threshold_changes_the_outcome(rubric, calls):
    turns = perturbations.turns_of(calls[PASSWORD])
    strict = checks.check_conversation(
        rubric, lines_of(turns), semantic_thresholds={"asks_task_details": 0.99}
    )
    assert next(r for r in strict if r.key == "asks_task_details").outcome != Outcome.MET


def test_perturbations_are_deterministic_and_verified(calls, labels):
    first = perturbations.perturbed_set(list(calls.values()), labels)
    again = perturbations.perturbed_set(list(calls.values()), labels)
    assert first == again
    assert len(first) > 500
    kinds = {case.kind for case in first}
    assert kinds == set(perturbations.KINDS)
    for case in first:
        agent = " ".join(t.text for t in case.turns if t.role == "agent")
        if case.kind == "greeting_removed":
            assert "harper" not in agent
        if case.kind == "thanks_skipped":
            assert "for calling" not in agent


def test_perturbations_apply_only_to_calls_labelled_met(calls, labels):
    call = calls["01f7ec3700424bc0"]  # the agent only says "hello": the opening is not met
    assert perturbations.perturb(call, labels[call.sid], "greeting_removed") is None
    hours = next(c for c in calls.values() if c.task_type == "get branch hours")
    assert perturbations.perturb(hours, labels[hours.sid], "details_never_asked") is None


def test_too_late_puts_the_phrase_after_its_window(rubric, calls, labels):
    call = calls[ELIZABETH]
    case = perturbations.perturb(call, labels[call.sid], "name_too_late")
    assert case is not None
    result = check(rubric, case.turns, "introduces_self")
    assert result.outcome == Outcome.NOT_MET
    late = next(t for t in case.turns if t.index == -1)
    assert late.start_ms > result.window_end_ms


def test_the_checker_catches_the_broken_steps(rubric, calls, labels):
    cases = perturbations.perturbed_set(list(calls.values()), labels)
    judged = right = 0
    for case in cases:
        for key, expected in case.expected.items():
            judged += 1
            right += check(rubric, case.turns, key).outcome == (
                Outcome.MET if expected == "met" else Outcome.NOT_MET
            )
    # bench/eval_operators.py reports 0.992-1.000 per half; a regression shows here.
    assert right / judged > 0.97
