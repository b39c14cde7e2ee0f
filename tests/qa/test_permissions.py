"""Who sees which queue items, reviews and disputes: the scoping rules, on pages and in the API."""

from __future__ import annotations

import pytest

from apps.qa import services
from apps.qa.models import Dispute, QueueItem, Review
from tests.fixtures import qa as build
from tests.qa.test_reviews import H, full_answers, start

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(world, script):
    """A released review of each call (north: the agent's, south: the other agent's), a draft by
    the coach, and a dispute of the north review."""
    north = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    explained = full_answers(
        greeting={"outcome": "MET", "comment": "Said differently"},
        offer_help={"outcome": "NOT_MET", "comment": "Not really an offer"},
    )
    south = services.review_submit(
        user=world.qa_analyst, review=start(world, world.south_call), answers=explained
    )
    draft = start(world, world.north_call, user=world.coach)
    services.dispute_open(user=world.agent_user, review=north, reason="No", proposal="Rescore")
    return {"north": north, "south": south, "draft": draft}


def seen(model, user) -> set[int]:
    return set(model.objects.for_user(user).values_list("pk", flat=True))


def test_reviews_each_persona_may_read(world, reviewed):
    north, south, draft = reviewed["north"].pk, reviewed["south"].pk, reviewed["draft"].pk
    assert seen(Review, world.admin) == seen(Review, world.qa_analyst) == {north, south, draft}
    assert seen(Review, world.coach) == {north, draft}  # their team's, and their own draft
    assert seen(Review, world.supervisor) == {north}  # their team's submitted ones
    assert seen(Review, world.agent_user) == {north}  # their own, released
    assert seen(Review, world.other_agent_user) == {south}
    assert seen(Review, world.outsider) == set()


def test_queue_items_are_for_reviewers_only(world, script):
    north = build.manual_item(world.north_call)
    south = build.manual_item(world.south_call)
    assert seen(QueueItem, world.qa_analyst) == {north.pk, south.pk}
    assert seen(QueueItem, world.coach) == {north.pk}
    for user in (world.supervisor, world.agent_user, world.outsider):
        assert seen(QueueItem, user) == set()


def test_disputes_follow_their_reviews(world, reviewed):
    dispute = Dispute.objects.get().pk
    assert seen(Dispute, world.agent_user) == {dispute}
    assert seen(Dispute, world.other_agent_user) == set()
    assert seen(Dispute, world.supervisor) == {dispute}


@pytest.mark.parametrize("persona", ["other_agent_user", "outsider", "supervisor"])
def test_a_review_outside_ones_scope_is_a_404_on_the_page_and_in_the_api(
    world, reviewed, client_for, persona
):
    client = client_for(getattr(world, persona))
    pk = reviewed["south"].pk if persona != "other_agent_user" else reviewed["north"].pk
    assert client.get(f"/qa/reviews/{pk}/").status_code == 404
    assert client.get(f"/api/qa/reviews/{pk}/").status_code in (403, 404)


def test_an_agent_cannot_see_a_review_before_its_release(world, script, settings, client_for):
    settings.QA_RELEASE_DELAY_HOURS = 48
    review = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    agent = client_for(world.agent_user)
    assert agent.get(f"/qa/reviews/{review.pk}/").status_code == 404
    assert agent.get("/api/qa/reviews/").json()["count"] == 0


def test_agents_and_supervisors_get_403_on_the_queue(world, client_for):
    for persona in ("agent_user", "supervisor"):
        client = client_for(getattr(world, persona))
        assert client.get("/qa/").status_code == 403
        assert client.get("/api/qa/items/").status_code == 403
    assert client_for(world.outsider).get("/qa/reviews/mine/").status_code == 403


def test_only_admins_manage_policies_and_reassign(world, script, client_for):
    item = build.manual_item(world.north_call)
    qa = client_for(world.qa_analyst)
    assert qa.get("/qa/policies/new/").status_code == 403
    reassign = qa.post(
        f"/api/qa/items/{item.pk}/reassign/",
        {"assignee": None, "reason": "x"},
        content_type="application/json",
    )
    assert reassign.status_code == 403
    assert client_for(world.admin).get("/qa/policies/new/").status_code == 200


def test_the_answers_keys_use_the_segment(world, reviewed):
    answer = reviewed["north"].current_revision.answers.first()
    assert answer.segment == H
