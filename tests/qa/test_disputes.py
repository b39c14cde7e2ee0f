"""Disputes: an agent contests a released review within the window; someone other than the
reviewer decides; a change is a new revision with the score recomputed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Notification
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.qa import services
from apps.qa.choices import DisputeStatus, RevisionSource
from apps.qa.models import Dispute, Review
from tests.qa.test_reviews import H, full_answers, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def released(world, script) -> Review:
    """A review of the north call (the agent's), submitted and released: score 80."""
    review = start(world)
    return services.review_submit(user=world.qa_analyst, review=review, answers=full_answers())


def dispute_offer_help(world, review, **extra):
    return services.dispute_open(
        user=world.agent_user,
        review=review,
        reason="I offered help in other words",
        items=[{"key": f"{H}:offer_help", "proposed_outcome": "MET"}],
        **extra,
    )


def test_an_agent_disputes_one_criterion_with_a_reason_and_a_proposal(world, released):
    dispute = dispute_offer_help(world, released)
    assert dispute.status == DisputeStatus.OPEN and not dispute.whole_review
    item = dispute.items.get()
    assert (item.criterion_key, item.current_outcome, item.proposed_outcome) == (
        "offer_help",
        "NOT_MET",
        "MET",
    )
    assert dispute.revision_number == 1


def test_a_dispute_needs_a_reason_and_a_real_change(world, released):
    with pytest.raises(ValidationFailed) as failed:
        services.dispute_open(
            user=world.agent_user,
            review=released,
            reason="",
            items=[
                {"key": f"{H}:greeting", "proposed_outcome": "MET"},  # already met
                {"key": f"{H}:nope", "proposed_outcome": "MET"},
                {"key": f"{H}:verify_identity", "proposed_outcome": "NA"},  # N/A not allowed
            ],
        )
    assert set(failed.value.errors) == {
        "reason",
        "items.0.proposed_outcome",
        "items.1.key",
        "items.2.proposed_outcome",
    }


def test_a_whole_review_dispute_says_what_it_proposes(world, released):
    with pytest.raises(ValidationFailed, match="problem"):
        services.dispute_open(user=world.agent_user, review=released, reason="Unfair")
    dispute = services.dispute_open(
        user=world.agent_user, review=released, reason="Unfair", proposal="Drop the review"
    )
    assert dispute.whole_review and not dispute.items.exists()


def test_only_the_agent_of_the_review_disputes_it(world, released):
    for user in (world.other_agent_user, world.supervisor):
        with pytest.raises(NotFound):
            dispute_offer_help(type("W", (), {"agent_user": user}), released)


def test_the_dispute_window_closes(world, released, settings):
    settings.QA_DISPUTE_WINDOW_DAYS = 14
    Review.objects.filter(pk=released.pk).update(release_at=timezone.now() - timedelta(days=15))
    released.refresh_from_db()
    with pytest.raises(Conflict, match="14-day window"):
        dispute_offer_help(world, released)


def test_at_most_n_open_disputes_per_review(world, released, settings):
    settings.QA_DISPUTE_MAX_OPEN = 1
    dispute_offer_help(world, released)
    with pytest.raises(Conflict, match="1 open dispute"):
        services.dispute_open(
            user=world.agent_user, review=released, reason="And this", proposal="Rescore"
        )


def test_the_reviewer_may_not_decide_a_dispute_of_their_own_review(world, released):
    dispute = dispute_offer_help(world, released)
    with pytest.raises(PermissionDenied, match="other than the reviewer"):
        services.dispute_decide(
            user=world.qa_analyst, dispute=dispute, decision="ACCEPT", reason="Fine"
        )
    with pytest.raises(PermissionDenied):
        services.dispute_decide(user=world.coach, dispute=dispute, decision="ACCEPT", reason="x")


def test_an_accepted_dispute_makes_a_new_revision_with_a_new_score(
    world, released, django_capture_on_commit_callbacks
):
    dispute = dispute_offer_help(world, released)
    with django_capture_on_commit_callbacks(execute=True):
        dispute = services.dispute_decide(
            user=world.admin, dispute=dispute, decision="ACCEPT", reason="Heard it"
        )
    released.refresh_from_db()
    assert dispute.status == DisputeStatus.ACCEPTED
    assert dispute.resulting_revision.number == 2
    assert released.revision_count == 2 and released.score == 100
    first, second = released.revisions.order_by("number")
    assert first.score == 80
    assert second.source == RevisionSource.DISPUTE and second.dispute_id == dispute.pk
    assert second.answers.get(criterion_key="offer_help").outcome == "MET"
    item = dispute.items.get()
    assert item.accepted is True and item.final_outcome == "MET"
    told = set(
        Notification.objects.filter(kind="qa.dispute_decided").values_list("user", flat=True)
    )
    assert told == {world.agent_user.pk, world.qa_analyst.pk}


def test_a_partly_accepted_dispute_changes_only_what_was_accepted(world, released):
    dispute = services.dispute_open(
        user=world.agent_user,
        review=released,
        reason="Two mistakes",
        items=[
            {"key": f"{H}:offer_help", "proposed_outcome": "MET"},
            {"key": f"{H}:greeting", "proposed_outcome": "NOT_MET"},
        ],
    )
    services.dispute_decide(
        user=world.admin,
        dispute=dispute,
        decision="PARTIAL",
        reason="The offer was there",
        outcomes={f"{H}:offer_help": "MET"},
    )
    dispute.refresh_from_db()
    items = {i.criterion_key: i for i in dispute.items.all()}
    assert items["offer_help"].accepted is True
    assert items["greeting"].accepted is False and items["greeting"].final_outcome == "MET"
    assert dispute.status == DisputeStatus.PARTIAL


def test_a_rejected_dispute_changes_nothing_but_is_recorded(world, released):
    dispute = dispute_offer_help(world, released)
    services.dispute_decide(user=world.admin, dispute=dispute, decision="REJECT", reason="No")
    released.refresh_from_db()
    dispute.refresh_from_db()
    assert released.revision_count == 1 and released.score == 80
    assert dispute.status == DisputeStatus.REJECTED and dispute.resulting_revision is None
    assert dispute.decision_reason == "No"
    with pytest.raises(Conflict):
        services.dispute_decide(user=world.admin, dispute=dispute, decision="ACCEPT", reason="x")


def test_accepting_a_whole_review_dispute_takes_the_changes_from_the_decider(world, released):
    dispute = services.dispute_open(
        user=world.agent_user, review=released, reason="Unfair", proposal="Rescore the opening"
    )
    with pytest.raises(ValidationFailed):
        services.dispute_decide(user=world.admin, dispute=dispute, decision="ACCEPT", reason="ok")
    services.dispute_decide(
        user=world.admin,
        dispute=dispute,
        decision="ACCEPT",
        reason="Opening was fine",
        outcomes={f"{H}:offer_help": "MET"},
    )
    released.refresh_from_db()
    assert released.score == 100 and Dispute.objects.get().status == DisputeStatus.ACCEPTED


def test_the_reviewer_and_the_deciders_hear_of_a_new_dispute(
    world, released, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dispute_offer_help(world, released)
    told = set(Notification.objects.filter(kind="qa.dispute_opened").values_list("user", flat=True))
    assert told == {world.qa_analyst.pk, world.admin.pk}
