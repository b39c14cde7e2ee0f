"""The embedded Script Adherence operator answers every criterion of the demo rubric: the two
without phrases through the semantic checks, with their evidence and per-criterion thresholds
from the operator's parameters."""

from __future__ import annotations

import json
from pathlib import Path

from apps.demo.dataset import read_calls
from apps.intelligence import builtins
from apps.intelligence.choices import OperatorKind
from apps.intelligence.operators import registry
from apps.intelligence.operators.base import (
    OperatorContext,
    OperatorSpec,
    PinnedRubric,
    TranscriptLine,
)
from apps.rubrics.jsonformat import data_from_document
from apps.rubrics.structure import structure_from_data

RUBRIC = Path(__file__).resolve().parents[2] / "apps/demo/data/harper-valley-script.rubric.json"
# Replace card: asks "which card would you like to replace", never says the card was ordered.
ELIZABETH = "0002f70f7386445b"


def run(parameters: dict) -> dict:
    structure = structure_from_data(data_from_document(json.loads(RUBRIC.read_text())))
    call = next(c for c in read_calls() if c.sid == ELIZABETH)
    lines = [
        TranscriptLine(
            pk=i + 1,
            twilio_id=f"GM{i + 1}",
            role="agent" if s.role == "agent" else "customer",
            author_type="HUMAN_AGENT" if s.role == "agent" else "CUSTOMER",
            offset_ms=s.start_ms,
            duration_ms=s.duration_ms,
            text=s.text,
        )
        for i, s in enumerate(call.segments)
    ]
    kind = OperatorKind.SCRIPT_ADHERENCE
    spec = OperatorSpec(
        version_id=4242 + len(parameters),
        operator_id=1,
        key="adherence",
        name="Adherence",
        kind=kind,
        number=1,
        backend="embedded",
        output_format=builtins.FORMAT_BY_KIND[kind],
        parameters=parameters,
        output_schema=builtins.SCHEMAS_BY_KIND[kind],
    )
    ctx = OperatorContext(
        conversation_id=1,
        conversation_twilio_id="CH1",
        lines=lines,
        window=lines[-1:],
        final=True,
        trigger_on="CONVERSATION_END",
        agent_type="HUMAN_AGENT",
        rubric_for=lambda _spec: PinnedRubric(1, "Harper Valley", 1, 1, structure),
    )
    output = registry.run_operator(spec, ctx)
    assert output is not None and output.status == "ok", output
    assert registry.schema_violations(spec, output.result) == []
    return {
        item["criteria_key"]: item
        for category in output.result["categories"]
        for item in category["criteria"]
    } | {"_result": output.result}


def test_every_criterion_is_answered_with_evidence():
    criteria = run({})
    assert criteria["_result"]["unchecked"] == []
    asked = criteria["asks_task_details"]
    assert asked["criteria_met"] == "Succeeded" and asked["reason"] == "similar_line"
    assert asked["evidence"][0]["line"] == "which card would you like to replace"
    confirmed = criteria["confirms_action"]
    assert confirmed["criteria_met"] == "Failed" and confirmed["reason"] == "no_similar_line"
    evidence = confirmed["evidence"][0]
    assert evidence["found"] is False and 0 <= evidence["score"] < 26
    assert evidence["phrase"]  # the statement of the criterion it was compared with


def test_thresholds_per_criterion_come_from_the_operator_parameters():
    criteria = run({"semantic_thresholds": {"confirms_action": 0.0}})
    assert criteria["confirms_action"]["criteria_met"] == "Succeeded"
    assert criteria["asks_task_details"]["criteria_met"] == "Succeeded"
