"""Every embedded operator's result fits its published output schema, on every demo call.

The worker does not re-validate embedded results at run time (our own code writes them, and
validation would double the per-line cost), so this test is what holds them to the schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from apps.demo.dataset import read_calls
from apps.intelligence import builtins
from apps.intelligence.choices import OperatorKind
from apps.intelligence.operators import embedded
from apps.intelligence.operators.base import (
    KnowledgeHit,
    OperatorContext,
    OperatorSpec,
    PinnedRubric,
    TranscriptLine,
)
from apps.rubrics.jsonformat import data_from_document
from apps.rubrics.structure import structure_from_data

ROOT = Path(__file__).resolve().parents[2]
RUBRIC = json.loads((ROOT / "apps/demo/data/harper-valley-script.rubric.json").read_text())
PINNED = PinnedRubric(1, "bank", 1, 1, structure_from_data(data_from_document(RUBRIC)))
ARTICLE = KnowledgeHit(
    id=7, title="Cards", body="We replace lost cards. It takes five days.", rank=1
)
PARAMETERS = {
    OperatorKind.CLASSIFIER: {
        "labels": [
            {"label": "card", "keywords": ["card"]},
            {"label": "bill", "keywords": ["bill"]},
        ],
        "default_label": "other",
    },
    OperatorKind.EXTRACTOR: {"patterns": [{"label": "amount", "regex": r"\d+ dollars"}]},
}


def contexts():
    pk = 0
    for call in read_calls()[:25]:
        lines = []
        for segment in call.segments:
            if segment.text:
                pk += 1
                lines.append(
                    TranscriptLine(
                        pk,
                        f"comm_{pk}",
                        "agent" if segment.role == "agent" else "customer",
                        "HUMAN_AGENT" if segment.role == "agent" else "CUSTOMER",
                        segment.start_ms,
                        segment.duration_ms,
                        segment.text,
                    )
                )
        for final, cut in ((False, len(lines) // 2), (True, len(lines))):
            yield OperatorContext(
                conversation_id=0,
                conversation_twilio_id=call.sid,
                lines=lines[:cut],
                window=lines[max(cut - 3, 0) : cut],
                final=final,
                trigger_on="COMMUNICATION",
                agent_type="HUMAN_AGENT",
                knowledge_search=lambda query, limit: [ARTICLE],
                rubric_for=lambda spec: PINNED,
            )


@pytest.mark.parametrize("kind", list(embedded.RUNNERS))
def test_embedded_results_fit_the_output_schema_on_demo_calls(kind):
    spec = OperatorSpec(
        version_id=1,
        operator_id=1,
        key=kind.lower(),
        name=kind,
        kind=kind,
        number=1,
        backend="embedded",
        output_format=builtins.FORMAT_BY_KIND[kind],
        parameters=PARAMETERS.get(kind, {}),
        output_schema=builtins.SCHEMAS_BY_KIND[kind],
    )
    validator = Draft202012Validator(builtins.SCHEMAS_BY_KIND[kind])
    checked = 0
    for ctx in contexts():
        output = embedded.RUNNERS[kind](spec, ctx)
        if output is None:
            continue
        assert output.status == "ok", output.error
        errors = [error.message for error in validator.iter_errors(output.result)]
        assert not errors, (ctx.conversation_twilio_id, errors)
        checked += 1
    assert checked >= 10
