"""The human side of the facts: the latest review's current revision gives the QA score, the
critical failure and the reviewers' criterion outcomes; revisions and dispute decisions move
them; calibration reviews never count."""

from __future__ import annotations

import pytest

from apps.insights.models import ConversationFact
from apps.qa import services
from tests.fixtures import insights as build
from tests.qa.test_reviews import H, full_answers, start

pytestmark = pytest.mark.django_db


def fact(conversation) -> ConversationFact:
    build.refresh()
    return ConversationFact.objects.get(conversation_id=conversation.pk)


def human_outcomes(conversation) -> dict[str, str]:
    return ConversationFact.objects.get(conversation_id=conversation.pk).human_criteria


def test_before_any_review_there_is_no_qa_score_but_the_ai_judged_it(world, script):
    facts = fact(world.north_call)
    assert facts.qa_score is None and facts.reviews == 0 and facts.critical_failed is None
    assert facts.ai_adherence_score is not None
    assert facts.ai_criteria and not facts.human_criteria


def test_a_submitted_review_gives_the_qa_score_and_the_reviewers_outcomes(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    facts = fact(world.north_call)
    assert (facts.qa_score, facts.qa_revision, facts.reviews) == (80.0, 1, 1)
    assert facts.critical_failed is False
    assert human_outcomes(world.north_call) == {
        "greeting": "MET",
        "offer_help": "NOT_MET",
        "verify_identity": "MET",
        "confirm_address": "NA",
    }


def test_a_revision_moves_the_qa_score_and_the_outcomes(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    assert fact(world.north_call).qa_score == 80.0
    services.review_revise(
        user=world.qa_analyst,
        review=review,
        reason="Listened again",
        answers={f"{H}:offer_help": {"outcome": "MET", "comment": "It was there"}},
    )
    facts = fact(world.north_call)
    assert (facts.qa_score, facts.qa_revision) == (100.0, 2)
    assert human_outcomes(world.north_call)["offer_help"] == "MET"


def test_a_failed_critical_criterion_is_counted(world, script):
    review = start(world)
    services.review_submit(
        user=world.qa_analyst,
        review=review,
        answers=full_answers(verify_identity={"outcome": "NOT_MET", "comment": "Skipped it"}),
    )
    assert fact(world.north_call).critical_failed is True


def test_a_dispute_counts_while_open_and_an_accepted_one_moves_the_score(world, script):
    review = start(world)
    review = services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    dispute = services.dispute_open(
        user=world.agent_user,
        review=review,
        reason="I offered help in other words",
        items=[{"key": f"{H}:offer_help", "proposed_outcome": "MET"}],
    )
    facts = fact(world.north_call)
    assert (facts.disputes, facts.disputes_open, facts.qa_score) == (1, 1, 80.0)
    services.dispute_decide(user=world.admin, dispute=dispute, decision="ACCEPT", reason="Heard it")
    facts = fact(world.north_call)
    assert (facts.disputes, facts.disputes_open, facts.disputes_accepted) == (1, 0, 1)
    assert (facts.qa_score, facts.qa_revision) == (100.0, 2)


def test_a_rejected_dispute_leaves_the_score(world, script):
    review = start(world)
    review = services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    dispute = services.dispute_open(
        user=world.agent_user,
        review=review,
        reason="Unfair",
        items=[{"key": f"{H}:offer_help", "proposed_outcome": "MET"}],
    )
    services.dispute_decide(user=world.admin, dispute=dispute, decision="REJECT", reason="No")
    facts = fact(world.north_call)
    assert (facts.qa_score, facts.disputes_rejected, facts.disputes_open) == (80.0, 1, 0)


def test_a_draft_review_does_not_count(world, script):
    start(world)
    assert fact(world.north_call).reviews == 0
