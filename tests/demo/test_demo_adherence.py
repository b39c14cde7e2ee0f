"""The demo's Script Adherence operator runs with the thresholds the docs measured."""

from __future__ import annotations

import json

import pytest

from apps.accounts.models import User
from apps.demo.services import ADHERENCE_OPERATOR_KEY, RUBRIC_PATH, demo_intelligence_load
from apps.demo.thresholds import DEMO_SEMANTIC_THRESHOLDS
from apps.intelligence import selectors as intelligence_selectors
from apps.intelligence import services as intelligence
from apps.intelligence.models import Operator, OperatorResult, OperatorVersion
from apps.intelligence.operators import registry
from apps.intelligence.operators.base import OperatorContext, PinnedRubric, TranscriptLine
from apps.rubrics import checks
from apps.rubrics.jsonformat import data_from_document
from apps.rubrics.structure import RubricStructure, structure_from_data
from tests.fixtures.demo import CALLS, SAMPLE

pytestmark = pytest.mark.django_db


def _rubric() -> RubricStructure:
    return structure_from_data(data_from_document(json.loads(RUBRIC_PATH.read_text())))


def _adherence_operator() -> Operator:
    return Operator.objects.get(key=ADHERENCE_OPERATOR_KEY)


def _latest_outcomes(sid: str) -> dict[str, str]:
    result = (
        OperatorResult.objects.filter(
            conversation__twilio_id=f"demo_conversation_{sid}",
            definition__operator__key=ADHERENCE_OPERATOR_KEY,
        )
        .order_by("-pk")
        .first()
    )
    assert result is not None and result.result is not None, sid
    return {
        criterion["criteria_key"]: criterion["outcome"]
        for category in result.result["categories"]
        for criterion in category["criteria"]
    }


def test_the_demo_seeds_script_adherence_with_the_thresholds_the_docs_report(demo_calls):
    latest = _adherence_operator().versions.order_by("-number").first()

    assert latest.parameters["semantic_thresholds"] == DEMO_SEMANTIC_THRESHOLDS
    assert latest.parameters["semantic_thresholds"]["asks_task_details"] == 0.18
    used = OperatorResult.objects.filter(
        definition__operator__key=ADHERENCE_OPERATOR_KEY
    ).values_list("definition__parameters", flat=True)
    assert len(used) == len(SAMPLE)
    assert all(p["semantic_thresholds"] == DEMO_SEMANTIC_THRESHOLDS for p in used)


def test_the_seeded_adherence_outcomes_are_those_the_evaluation_computes(demo_calls):
    structure = _rubric()
    for sid in SAMPLE:
        lines = [
            checks.Line(
                index,
                "HUMAN_AGENT" if segment.role == "agent" else "CUSTOMER",
                segment.start_ms,
                segment.text,
            )
            for index, segment in enumerate(CALLS[sid].segments)
            if segment.text
        ]
        evaluated = checks.outcomes(
            checks.check_conversation(
                structure,
                lines,
                participant_type="HUMAN_AGENT",
                semantic_thresholds=DEMO_SEMANTIC_THRESHOLDS,
            )
        )

        assert _latest_outcomes(sid) == evaluated, sid


def _asks_task_details(
    version: OperatorVersion, structure: RubricStructure, agent_question: str
) -> str:
    said = [
        ("agent", "hello this is harper valley national bank my name is linda how can i help you"),
        ("customer", "i would like to schedule an appointment"),
        ("agent", agent_question),
    ]
    lines = [
        TranscriptLine(
            pk=index,
            twilio_id=f"comm_{index}",
            role=role,
            author_type="HUMAN_AGENT" if role == "agent" else "CUSTOMER",
            offset_ms=index * 3000,
            duration_ms=2000,
            text=text,
        )
        for index, (role, text) in enumerate(said, start=1)
    ]
    pinned = PinnedRubric(1, "Harper Valley Bank call script", 1, 1, structure)
    ctx = OperatorContext(
        conversation_id=0,
        conversation_twilio_id="test",
        lines=lines,
        window=lines[-1:],
        final=True,
        trigger_on="CONVERSATION_END",
        agent_type="HUMAN_AGENT",
        rubric_for=lambda _spec: pinned,
    )
    output = registry.run_operator(intelligence_selectors.operator_spec(version), ctx)
    assert output is not None and output.result is not None
    return {
        criterion["criteria_key"]: criterion["outcome"]
        for category in output.result["categories"]
        for criterion in category["criteria"]
    }["asks_task_details"]


def test_the_seeded_operator_counts_a_detail_question_the_default_threshold_misses(demo_calls):
    # "what date did you have in mind" scores 0.239 against the criterion's prototypes: met at
    # the tuned 0.18, not at the default 0.26 that the built-in version 1 uses.
    structure = _rubric()
    builtin, seeded = _adherence_operator().versions.order_by("number")
    question = "what date did you have in mind"

    assert _asks_task_details(seeded, structure, question) == "MET"
    assert _asks_task_details(builtin, structure, question) == "NOT_MET"


def test_loading_the_demo_again_adds_no_operator_version(demo_calls):
    versions = _adherence_operator().versions.count()

    demo_intelligence_load(shadow=False)

    assert _adherence_operator().versions.count() == versions == 2


def test_the_demo_keeps_thresholds_an_admin_chose(demo_calls):
    admin = User.objects.get(username="admin")
    chosen = {"asks_task_details": 0.3, "confirms_action": 0.3}
    intelligence.operator_version_create(
        user=admin,
        operator=_adherence_operator(),
        parameters={"rubric_id": None, "semantic_thresholds": chosen},
    )

    demo_intelligence_load(shadow=False)

    latest = _adherence_operator().versions.order_by("-number").first()
    assert latest.parameters["semantic_thresholds"] == chosen
