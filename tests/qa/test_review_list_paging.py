"""The reviews list counts and pages by id, then reads the page's rows with their joins and
dispute counts (``review_rows``): every review once, in order, with its own counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.qa.models import Dispute, Review
from tests.fixtures import qa as build

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_reviews(world, script):
    reviews = build.rated_many(script, world.north_call, "greeting", [("MET", "MET")] * 31)
    reviews += build.rated_many(script, world.south_call, "greeting", [("MET", "NOT_MET")] * 4)
    for review, disputes in ((reviews[0], 2), (reviews[3], 1)):
        for n in range(disputes):
            Dispute.objects.create(
                review=review,
                revision_number=1,
                opened_by=world.agent_user,
                reason=f"dispute {n}",
                status="OPEN" if n == 0 else "DECIDED",
            )
    return reviews


def test_paging_the_reviews_api_gives_each_review_once_in_order(world, client_for, many_reviews):
    client = client_for(world.admin)
    seen: list[int] = []
    body = client.get("/api/qa/reviews/", {"page_size": 4}).json()
    while True:
        seen += [row["id"] for row in body["results"]]
        if not body["next"]:
            break
        body = client.get(body["next"]).json()

    expected = list(
        Review.objects.filter(is_calibration=False)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected


def test_the_reviews_page_shows_each_review_once_in_scope(world, client_for, many_reviews):
    client = client_for(world.supervisor)  # north only
    url = reverse("qa-reviews")
    seen: list[int] = []
    page = 1
    while True:
        response = client.get(url, {"page": page})
        assert response.status_code == 200
        rows = list(response.context["page"].object_list)
        seen += [row.pk for row in rows]
        for row in rows:
            assert row.dispute_count == row.disputes.count()
        if not response.context["page"].has_next():
            break
        page += 1

    north = [r.pk for r in many_reviews if r.conversation_id == world.north_call.pk]
    assert sorted(seen) == sorted(north)
    assert len(seen) == len(set(seen))
