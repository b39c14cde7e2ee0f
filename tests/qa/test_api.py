"""The QA API under /api/qa/: the whole workflow over HTTP, its errors, and fixed query counts."""

from __future__ import annotations

import pytest

from apps.qa.choices import ItemStatus
from apps.qa.models import QueueItem, Review, SamplingPolicy
from tests.fixtures import builders
from tests.fixtures import qa as build
from tests.fixtures.queries import queries_for
from tests.qa.test_reviews import H, full_answers

pytestmark = pytest.mark.django_db


def post(client, path: str, data=None):
    return client.post(path, data or {}, content_type="application/json")


def test_the_workflow_over_the_api(world, script, client_for):
    analyst, agent, admin = (
        client_for(u) for u in (world.qa_analyst, world.agent_user, world.admin)
    )
    sent = post(
        client_for(world.supervisor),
        "/api/qa/items/",
        {"conversation": world.north_call.pk, "reason": "Customer complained", "priority": 3},
    )
    assert sent.status_code == 201 and sent.json()["source"] == "MANUAL"

    claimed = post(analyst, "/api/qa/items/claim-next/")
    assert claimed.status_code == 200
    assert claimed.json()["status"] == "CLAIMED" and claimed.json()["review"] is None
    started = post(analyst, "/api/qa/reviews/", {"item": claimed.json()["id"]})
    assert started.status_code == 201
    review_id = started.json()["id"]
    detail = analyst.get(f"/api/qa/reviews/{review_id}/").json()
    greeting = next(a for a in detail["answers"] if a["key"] == f"{H}:greeting")
    assert (greeting["outcome"], greeting["ai_outcome"]) == ("MET", "MET")
    assert detail["ai"]["operator"] == "Script Adherence"

    saved = post(
        analyst,
        f"/api/qa/reviews/{review_id}/answers/",
        {"answers": full_answers(), "strengths": "Calm"},
    )
    assert saved.status_code == 200 and saved.json()["scores"][H]["score"] == 80.0
    submitted = post(analyst, f"/api/qa/reviews/{review_id}/submit/")
    assert submitted.status_code == 200 and submitted.json()["status"] == "SUBMITTED"
    assert post(analyst, "/api/qa/items/claim-next/").status_code == 204

    mine = agent.get("/api/qa/reviews/").json()
    assert [r["id"] for r in mine["results"]] == [review_id]
    acked = post(agent, f"/api/qa/reviews/{review_id}/acknowledge/", {"comment": "Thanks"})
    assert acked.json()["acknowledgement"] == "Thanks"
    disputed = post(
        agent,
        "/api/qa/disputes/",
        {
            "review": review_id,
            "reason": "I offered",
            "items": [{"key": f"{H}:offer_help", "proposed_outcome": "MET"}],
        },
    )
    assert disputed.status_code == 201
    decided = post(
        admin,
        f"/api/qa/disputes/{disputed.json()['id']}/decide/",
        {"decision": "ACCEPT", "reason": "Fair"},
    )
    assert decided.status_code == 200 and decided.json()["resulting_revision"] == 2
    revisions = agent.get(f"/api/qa/reviews/{review_id}/revisions/").json()
    assert [r["score"] for r in revisions] == ["80.0", "100.0"]


def test_errors_are_clear_4xx_answers(world, script, client_for):
    analyst = client_for(world.qa_analyst)
    item = build.manual_item(world.north_call)
    review_id = post(analyst, "/api/qa/reviews/", {"item": item.pk}).json()["id"]
    bad = post(
        analyst,
        f"/api/qa/reviews/{review_id}/answers/",
        {"answers": {f"{H}:greeting": {"outcome": "NA"}}},
    )
    assert bad.status_code == 400
    assert f"answers.{H}:greeting.outcome" in bad.json()["extra"]["errors"]
    incomplete = post(analyst, f"/api/qa/reviews/{review_id}/submit/")
    assert incomplete.status_code == 400 and incomplete.json()["code"] == "validation_failed"
    assert post(analyst, "/api/qa/reviews/", {"item": item.pk}).status_code in (200, 201)
    assert post(client_for(world.coach), f"/api/qa/items/{item.pk}/claim/").status_code == 409
    assert post(analyst, "/api/qa/reviews/", {"item": 10**12}).status_code == 404
    no_reason = post(analyst, "/api/qa/items/", {"conversation": world.north_call.pk})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    agent = client_for(world.agent_user)
    assert (
        post(
            agent, "/api/qa/items/", {"conversation": world.north_call.pk, "reason": "x"}
        ).status_code
        == 403
    )


def test_policies_over_the_api_with_a_preview_and_a_run(world, client_for):
    builders.make_conversation(agent=world.agent)
    admin = client_for(world.admin)
    body = {"name": "Daily two", "quota_count": 2, "period": "DAY", "schedule": "0 7 * * *"}
    preview = post(admin, "/api/qa/policies/preview/", body).json()
    # Two of the agent's (the world's north call and this one), the other agent's south call.
    assert preview["period"] and len(preview["picks"]) == 3
    assert not SamplingPolicy.objects.exists()
    created = post(admin, "/api/qa/policies/", body)
    assert created.status_code == 201 and created.json()["quota_text"] == "2 per agent per day"
    policy_id = created.json()["id"]
    assert post(admin, f"/api/qa/policies/{policy_id}/run/").json()["created"] == 3
    assert post(admin, f"/api/qa/policies/{policy_id}/run/").json()["created"] == 0
    broken = post(admin, "/api/qa/policies/", {"name": "Daily two", "schedule": "daily"})
    assert broken.status_code == 400 and set(broken.json()["extra"]["errors"]) == {
        "name",
        "schedule",
    }
    assert client_for(world.qa_analyst).get(f"/api/qa/policies/{policy_id}/").status_code == 200
    assert (
        post(client_for(world.qa_analyst), f"/api/qa/policies/{policy_id}/run/").status_code == 403
    )


def test_reassigning_and_removing_over_the_api(world, script, client_for):
    admin = client_for(world.admin)
    item = build.manual_item(world.north_call)
    moved = post(
        admin, f"/api/qa/items/{item.pk}/reassign/", {"assignee": world.coach.pk, "reason": "Team"}
    )
    assert moved.json()["assignee_id"] == world.coach.pk
    removed = post(admin, f"/api/qa/items/{item.pk}/remove/", {"reason": "Duplicate"})
    assert removed.json()["status"] == ItemStatus.REMOVED
    assert post(admin, f"/api/qa/items/{item.pk}/remove/", {"reason": "Again"}).status_code == 409


def test_notifications_over_the_api(world, script, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        build.manual_item(world.north_call)
    analyst = client_for(world.qa_analyst)
    listed = analyst.get("/api/notifications/", {"unread": "true"}).json()
    assert listed["count"] == 1 and listed["results"][0]["kind"] == "qa.pool_items"
    assert post(analyst, "/api/notifications/read/").json() == {"unread": 0}
    assert client_for(world.coach).get("/api/notifications/").json()["count"] == 0


def test_lists_make_the_same_number_of_queries_for_few_or_many_rows(world, script, client_for):
    from tests.qa.test_views import _items

    analyst = client_for(world.qa_analyst)
    _items(world, 5)
    item = QueueItem.objects.first()
    post(analyst, "/api/qa/reviews/", {"item": item.pk})
    paths = ["/api/qa/items/", "/api/qa/reviews/", "/api/qa/disputes/", "/api/qa/policies/"]
    few = {path: queries_for(analyst, path) for path in paths}
    _items(world, 200)
    for other in QueueItem.objects.filter(status=ItemStatus.OPEN)[:3]:
        post(analyst, "/api/qa/reviews/", {"item": other.pk})
    assert Review.objects.count() == 4
    assert {path: queries_for(analyst, path) for path in paths} == few


@pytest.mark.parametrize("persona", ["admin", "coach"])
def test_the_items_list_pages_through_what_its_reader_may_see_once_in_order(
    world, script, client_for, persona
):
    """The items list counts and picks a page's ids in one query, then reads the rows by id
    (``CountedRowsByIdPaginator``): every item the reader may see, once, in queue order, with
    the count; filters apply before both; a page past the end is a 404 as before."""
    from tests.qa.test_views import _items

    _items(world, 45)
    user = getattr(world, persona)
    client = client_for(user)
    expected = list(
        QueueItem.objects.for_user(user)
        .order_by("-priority", "due_at", "id")
        .values_list("pk", flat=True)
    )
    assert 0 < len(expected) < QueueItem.objects.count() or persona == "admin"

    seen: list[int] = []
    page = 1
    while True:
        body = client.get("/api/qa/items/", {"page": page, "page_size": 10}).json()
        assert body["count"] == len(expected)
        seen += [row["id"] for row in body["results"]]
        if body["next"] is None:
            break
        page += 1

    assert seen == expected
    assert client.get("/api/qa/items/", {"page": page + 1, "page_size": 10}).status_code == 404
    pool = client.get("/api/qa/items/", {"tab": "pool", "page_size": 100}).json()
    in_pool = QueueItem.objects.for_user(user).filter(status="OPEN", assignee__isnull=True)
    assert pool["count"] == in_pool.count()
    assert {row["id"] for row in pool["results"]} == set(in_pool.values_list("pk", flat=True))
