"""Reviews: the AI's answers prefilled, drafts, submitting (with the rubric's own maths),
revisions, release to the agent and acknowledgement."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Notification
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.intelligence import services as intelligence
from apps.intelligence.choices import FlagStatus
from apps.qa import services
from apps.qa.choices import ItemStatus, ReviewStatus, RevisionSource
from apps.qa.models import QueueItem, Review, ReviewAnswer
from apps.rubrics import scoring
from apps.rubrics import selectors as rubrics
from tests.fixtures import qa as build

pytestmark = pytest.mark.django_db

H = "HUMAN_AGENT"


_keys = itertools.count(1)


def start(world, conversation=None, user=None) -> Review:
    """A review of ``conversation`` (the north call) claimed by ``user`` (the QA analyst)."""
    item = build.manual_item(conversation or world.north_call, key=f"manual:{next(_keys)}")
    claimed = services.queue_item_claim(user=user or world.qa_analyst, item_id=item.pk)
    return services.review_start(item=claimed, reviewer=user or world.qa_analyst)


def full_answers(**overrides) -> dict:
    answers = {
        f"{H}:greeting": {"outcome": "MET"},
        f"{H}:offer_help": {"outcome": "NOT_MET"},
        f"{H}:verify_identity": {"outcome": "MET"},
        f"{H}:confirm_address": {"outcome": "NA"},
    }
    for key, value in overrides.items():
        answers[f"{H}:{key}"] = value
    return answers


# Starting: the AI's answers ----------------------------------------------------------------------


def test_a_review_starts_on_the_pinned_version_with_the_ais_answers_and_evidence(world, script):
    review = start(world)
    assert review.rubric_version_id == script.pk
    assert review.segments == [H]
    assert review.ai["source"] == "ccportal" and review.ai["operator"] == "Script Adherence"
    greeting = review.ai["criteria"]["greeting"]
    assert greeting["outcome"] == "MET"
    first_line = world.north_call.communications.order_by("offset_ms").first()
    assert greeting["evidence"][0]["communication"] == first_line.pk
    assert greeting["evidence"][0]["quote"] == "thank you for calling"
    # Prefilled where the AI answered; criteria without an automatic check are left open.
    assert review.draft["answers"][f"{H}:greeting"]["outcome"] == "MET"
    assert review.draft["answers"][f"{H}:offer_help"]["outcome"] == "NOT_MET"
    assert review.draft["answers"][f"{H}:verify_identity"]["outcome"] is None


def test_twilios_script_adherence_result_prefills_through_the_rubric_mapping(world):
    version = build.publish_script(world.admin)
    intelligence.operator_result_store(
        intelligence.OperatorResultInput(
            result_id="LY-twilio-1",
            conversation_twilio_id=world.south_call.twilio_id,
            operator_id="LYop",
            operator_name="Script Adherence",
            output_format="JSON",
            result={
                "categories": [
                    {
                        "category_key": "Opening",
                        "criteria": [
                            {"criteria_key": "Greetings", "criteria_met": "Succeeded"},
                            {"criteria_key": "offer-help", "criteria_met": "Failed"},
                        ],
                    },
                    {"category_key": "Billing", "criteria": []},
                ]
            },
        )
    )
    review = start(world, world.south_call)
    assert review.rubric_version_id == version.pk
    assert review.ai["source"] == "twilio"
    assert review.ai["criteria"]["greeting"]["outcome"] == "MET"
    assert review.ai["criteria"]["offer_help"]["outcome"] == "NOT_MET"
    assert review.ai["problems"] == ["category “Billing” matches no section"]


def test_a_conversation_without_an_ai_result_starts_with_every_answer_open(world):
    build.publish_script(world.admin)
    review = start(world)
    assert review.ai == {}
    assert {a["outcome"] for a in review.draft["answers"].values()} == {None}


# Drafts ----------------------------------------------------------------------------------------


def test_a_draft_saves_only_the_parts_given(world, script):
    review = start(world)
    line = world.north_call.communications.first()
    services.review_draft_save(
        user=world.qa_analyst,
        review=review,
        answers={f"{H}:greeting": {"comment": "Warm", "evidence": [line.pk]}},
        strengths="Calm",
    )
    services.review_draft_save(
        user=world.qa_analyst, review=review, answers={f"{H}:greeting": {"outcome": "NOT_MET"}}
    )
    review.refresh_from_db()
    greeting = review.draft["answers"][f"{H}:greeting"]
    assert greeting == {"outcome": "NOT_MET", "comment": "Warm", "evidence": [line.pk]}
    assert review.draft["strengths"] == "Calm"
    assert review.draft_saved_at is not None


def test_a_draft_refuses_what_the_rubric_does_not_allow_and_saves_nothing(world, script):
    review = start(world)
    other = world.south_call.communications.first()
    with pytest.raises(ValidationFailed) as failed:
        services.review_draft_save(
            user=world.qa_analyst,
            review=review,
            answers={
                f"{H}:greeting": {"outcome": "NA"},
                f"{H}:confirm_address": {"outcome": "MAYBE"},
                f"{H}:offer_help": {"evidence": [other.pk]},
                "HUMAN_AGENT:nonsense": {"outcome": "MET"},
            },
        )
    assert set(failed.value.errors) == {
        f"answers.{H}:greeting.outcome",
        f"answers.{H}:confirm_address.outcome",
        f"answers.{H}:offer_help.evidence",
        "answers.HUMAN_AGENT:nonsense",
    }
    review.refresh_from_db()
    assert review.draft["answers"][f"{H}:greeting"]["outcome"] == "MET"


def test_only_its_reviewer_changes_a_draft(world, script):
    review = start(world)
    with pytest.raises(PermissionDenied):
        services.review_draft_save(user=world.admin, review=review, strengths="Mine now")


# Submitting ------------------------------------------------------------------------------------


def test_submitting_needs_every_answer_and_a_comment_on_each_change_of_the_ais(world, script):
    review = start(world)
    with pytest.raises(ValidationFailed) as failed:
        services.review_submit(
            user=world.qa_analyst,
            review=review,
            answers={f"{H}:greeting": {"outcome": "NOT_MET"}},
        )
    assert set(failed.value.errors) == {
        f"answers.{H}:greeting.comment",
        f"answers.{H}:verify_identity.outcome",
        f"answers.{H}:confirm_address.outcome",
    }
    assert failed.value.message == "3 things to finish before submitting."


def test_a_submitted_review_is_revision_1_with_the_ais_answer_beside_each_human_one(world, script):
    review = start(world)
    review = services.review_submit(
        user=world.qa_analyst,
        review=review,
        answers=full_answers(greeting={"outcome": "NOT_MET", "comment": "Rushed"}),
        strengths="Calm",
        improvements="Greet properly",
    )
    assert review.status == ReviewStatus.SUBMITTED and review.revision_count == 1
    revision = review.revisions.get()
    assert revision.source == RevisionSource.SUBMITTED
    answers = {a.criterion_key: a for a in ReviewAnswer.objects.filter(revision=revision)}
    assert (answers["greeting"].outcome, answers["greeting"].ai_outcome) == ("NOT_MET", "MET")
    assert answers["greeting"].agreed is False and answers["greeting"].comment == "Rushed"
    assert (answers["offer_help"].ai_outcome, answers["offer_help"].agreed) == ("NOT_MET", True)
    assert (answers["verify_identity"].ai_outcome, answers["verify_identity"].agreed) == ("", None)
    assert revision.strengths == "Calm" and revision.improvements == "Greet properly"


def test_the_score_is_the_rubrics_own_maths(world, script):
    review = start(world)
    answers = full_answers()
    review = services.review_submit(user=world.qa_analyst, review=review, answers=answers)
    expected = scoring.score(
        rubrics.version_structure(version=script),
        {key.split(":")[1]: value["outcome"] for key, value in answers.items()},
        participant_type=H,
    )
    assert review.score == expected.score
    assert review.passed_critical is expected.passed_critical is True
    # Opening 40 (one of two met), resolution 60 (verify met, confirm N/A): 20 + 60 = 80.
    assert review.score == 80


def test_a_failed_critical_criterion_scores_zero(world, script):
    review = start(world)
    review = services.review_submit(
        user=world.qa_analyst,
        review=review,
        answers=full_answers(verify_identity={"outcome": "NOT_MET"}),
    )
    assert review.score == 0 and review.passed_critical is False


def test_submitting_finishes_the_conversations_items_and_resolves_its_flags(world, script):
    from tests.qa.test_queue import flag_rule, run

    rule = flag_rule(world.admin)
    run(rule, world.north_call, "flag")
    flagged = QueueItem.objects.get(conversation=world.north_call)
    claimed = services.queue_item_claim(user=world.qa_analyst, item_id=flagged.pk)
    other = build.manual_item(world.north_call, key="manual:extra")
    review = services.review_start(item=claimed, reviewer=world.qa_analyst)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    flagged.refresh_from_db()
    other.refresh_from_db()
    assert flagged.status == ItemStatus.DONE and other.status == ItemStatus.DONE
    assert other.events.last().note == f"Covered by review {review.pk}"
    flag = flagged.flag
    flag.refresh_from_db()
    assert flag.status == FlagStatus.RESOLVED and flag.resolved_by_id == world.qa_analyst.pk


def test_a_submitted_review_does_not_change_as_a_draft(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    with pytest.raises(Conflict, match="new revision"):
        services.review_draft_save(user=world.qa_analyst, review=review, strengths="Later")
    with pytest.raises(Conflict):
        services.review_submit(user=world.qa_analyst, review=review)


# Revisions -------------------------------------------------------------------------------------


def test_a_revision_needs_a_reason_keeps_the_old_one_and_rescores(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    with pytest.raises(ValidationFailed):
        services.review_revise(user=world.qa_analyst, review=review, reason=" ")
    review = services.review_revise(
        user=world.qa_analyst,
        review=review,
        reason="Listened again",
        answers={f"{H}:offer_help": {"outcome": "MET", "comment": "It was there, muffled"}},
    )
    assert review.revision_count == 2 and review.score == 100
    first, second = review.revisions.order_by("number")
    assert first.score == 80 and second.score == 100
    assert second.source == RevisionSource.REVISED and second.reason == "Listened again"
    assert first.answers.get(criterion_key="offer_help").outcome == "NOT_MET"


def test_a_revision_that_changes_nothing_is_refused(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    with pytest.raises(ValidationFailed, match="problem"):
        services.review_revise(user=world.qa_analyst, review=review, reason="No change")


def test_only_the_reviewer_or_an_admin_revises(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    change = {f"{H}:offer_help": {"outcome": "MET", "comment": "Heard it"}}
    with pytest.raises(PermissionDenied):
        services.review_revise(user=world.coach, review=review, reason="Mine", answers=change)
    services.review_revise(user=world.admin, review=review, reason="Calibration", answers=change)


# Release and acknowledgement ---------------------------------------------------------------------


def test_a_submitted_review_is_released_at_once_and_the_agent_is_told(
    world, script, django_capture_on_commit_callbacks
):
    review = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        review = services.review_submit(
            user=world.qa_analyst, review=review, answers=full_answers()
        )
    assert review.is_released
    note = Notification.objects.get(user=world.agent_user, kind="qa.review_released")
    assert note.url == f"/qa/reviews/{review.pk}/"
    assert "80.0%" in note.body


def test_a_delayed_release_waits_and_the_sweeper_tells_the_agent_once(
    world, script, settings, django_capture_on_commit_callbacks
):
    settings.QA_RELEASE_DELAY_HOURS = 24
    review = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        review = services.review_submit(
            user=world.qa_analyst, review=review, answers=full_answers()
        )
    assert not review.is_released
    assert not Review.objects.for_user(world.agent_user).exists()
    assert services.reviews_release_due() == 0
    Review.objects.filter(pk=review.pk).update(release_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reviews_release_due() == 1
        assert services.reviews_release_due() == 0
    assert Notification.objects.filter(user=world.agent_user).count() == 1
    assert Review.objects.for_user(world.agent_user).get() == review


def test_the_reviewer_may_release_early(world, script, settings):
    settings.QA_RELEASE_DELAY_HOURS = 24
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    review = services.review_release(user=world.qa_analyst, review=review)
    assert review.is_released
    with pytest.raises(PermissionDenied):
        services.review_release(user=world.coach, review=review)


def test_the_agent_acknowledges_the_current_revision_once(world, script):
    review = start(world)
    services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())
    review = services.review_acknowledge(user=world.agent_user, review=review, comment="Noted")
    assert review.acknowledged_revision == 1 and review.acknowledgement == "Noted"
    with pytest.raises(Conflict):
        services.review_acknowledge(user=world.agent_user, review=review)
    with pytest.raises(NotFound):
        services.review_acknowledge(user=world.other_agent_user, review=review)


# Handoffs: one review, two segments -----------------------------------------------------------


def test_an_ai_to_human_handoff_is_reviewed_in_two_segments_each_on_its_criteria(world):
    from apps.conversations.choices import ParticipantType
    from apps.conversations.models import Participant
    from tests.fixtures import rubrics

    data = rubrics.content(
        rubrics.section(
            "opening",
            rubrics.criterion("greeting"),
            rubrics.criterion("ai_discloses", applies_to="AI_AGENT"),
            rubrics.criterion("human_name", applies_to="HUMAN_AGENT"),
            weight=100,
        )
    )
    rubrics.make_rubric(actor=world.admin, name="Both", data=data, publish=True)
    Participant.objects.create(
        twilio_id="ai-north",
        conversation=world.north_call,
        type=ParticipantType.AI_AGENT,
        name="Virtual agent",
    )
    review = start(world)
    assert review.segments == ["AI_AGENT", H]
    keys = list(services.review_keys(review))
    assert keys == [
        "AI_AGENT:greeting",
        "AI_AGENT:ai_discloses",
        f"{H}:greeting",
        f"{H}:human_name",
    ]
    review = services.review_submit(
        user=world.qa_analyst,
        review=review,
        answers={
            "AI_AGENT:greeting": {"outcome": "MET"},
            "AI_AGENT:ai_discloses": {"outcome": "NOT_MET"},
            f"{H}:greeting": {"outcome": "MET"},
            f"{H}:human_name": {"outcome": "MET"},
        },
    )
    scores = review.current_revision.segment_scores
    assert scores["AI_AGENT"]["score"] == 50.0 and scores[H]["score"] == 100.0
    assert review.score == 100  # the headline is the human agent's
