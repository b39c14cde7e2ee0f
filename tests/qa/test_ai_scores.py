"""The AI score (auto-QA): every closed conversation scored from the AI's answers to the trusted
criteria only, with the rubric's own maths; kept apart from review scores."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.conversations.choices import ConversationStatus
from apps.qa import selectors, services, tasks
from apps.qa.choices import TrustTier
from apps.qa.models import AiScore, CriterionTrust
from tests.fixtures import builders
from tests.fixtures import qa as build

pytestmark = pytest.mark.django_db


def _trust(version, *keys: str) -> None:
    for key in keys:
        CriterionTrust.objects.update_or_create(
            rubric_version=version, criterion_key=key, defaults={"tier": TrustTier.TRUSTED}
        )


def test_the_ai_score_counts_only_the_trusted_criteria(world, script):
    # North call: the AI says greeting MET, offer_help NOT_MET (no "how can I help").
    _trust(script, "greeting")
    row = services.ai_score_compute(conversation_id=world.north_call.pk)
    assert (row.score, row.criteria_count, row.outcomes) == (
        Decimal("100.0"),
        1,
        {"greeting": "MET"},
    )
    assert row.agent_id == world.agent.pk and row.segment == "HUMAN_AGENT"
    _trust(script, "offer_help")
    row = services.ai_score_compute(conversation_id=world.north_call.pk)
    # Both in the opening section, equal weights: one of two met.
    assert (row.score, row.criteria_count) == (Decimal("50.0"), 2)
    assert AiScore.objects.count() == 1  # upserted, one per conversation and version


def test_with_nothing_trusted_the_row_says_so_without_a_score(world, script):
    row = services.ai_score_compute(conversation_id=world.north_call.pk)
    assert (row.score, row.criteria_count, row.outcomes) == (None, 0, {})


def test_a_conversation_without_an_adherence_result_gets_no_score(world):
    build.publish_script(world.admin)
    assert services.ai_score_compute(conversation_id=world.north_call.pk) is None


def test_the_sweep_scores_closed_conversations_once(world, script):
    _trust(script, "greeting")
    live = builders.make_conversation(
        agent=world.agent, status=ConversationStatus.ACTIVE, texts=[("agent", "hello")]
    )
    build.judge(live)
    assert tasks.sweep_ai_scores() == 2
    assert tasks.sweep_ai_scores() == 0  # runs twice, one effect
    assert set(AiScore.objects.values_list("conversation_id", flat=True)) == {
        world.north_call.pk,
        world.south_call.pk,
    }


def test_a_tier_change_recomputes_the_versions_scores(world, script):
    services.ai_score_compute(conversation_id=world.north_call.pk)
    _trust(script, "greeting")
    assert tasks.recompute_ai_scores(script.pk) == 1
    assert AiScore.objects.get().criteria_count == 1


def test_the_summary_keeps_ai_and_review_scores_apart(world, script):
    _trust(script, "greeting")
    services.ai_scores_sweep()
    build.rated_review(script, world.north_call, {"greeting": ("MET", "NOT_MET")})
    from apps.qa.models import Review

    Review.objects.update(score=Decimal("40.0"))
    summary = selectors.ai_score_summary(user=world.admin, version_id=script.pk)
    assert (summary.closed, summary.scored, summary.coverage) == (2, 2, 1.0)
    assert summary.ai.n == 2 and summary.ai.mean == pytest.approx(
        float(sum(AiScore.objects.values_list("score", flat=True))) / 2
    )
    assert (summary.human.n, summary.human.mean) == (1, 40.0)
    assert summary.human.low is None  # one review: no interval
    # The North coach sees North's conversations only.
    coach = selectors.ai_score_summary(user=world.coach, version_id=script.pk)
    assert (coach.closed, coach.scored) == (1, 1)


def test_the_conversations_qa_panel_shows_the_ai_score_apart(world, script, client_for):
    _trust(script, "greeting")
    services.ai_scores_sweep()
    page = client_for(world.qa_analyst).get(f"/conversations/{world.north_call.pk}/")
    text = page.content.decode()
    assert 'data-testid="qa-panel-ai-score"' in text
    assert "AI score (auto-QA)" in text and "from 1 trusted criterion" in text
    # Agents do not see it (yet): it is QA's figure.
    agent_page = client_for(world.agent_user).get(f"/conversations/{world.north_call.pk}/")
    assert "qa-panel-ai-score" not in agent_page.content.decode()
