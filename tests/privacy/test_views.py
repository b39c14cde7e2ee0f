"""The privacy pages: admins see the schedule and file erasure requests; nobody else opens them."""

from __future__ import annotations

import pytest

from apps.privacy.models import ErasureRequest
from tests.conftest import login


@pytest.mark.parametrize("url", ["/privacy/", "/privacy/erasures/"])
def test_privacy_pages_are_for_admins_only(world, url):
    assert login(world.admin).get(url).status_code == 200
    for user in (world.qa_analyst, world.coach, world.supervisor, world.agent_user):
        assert login(user).get(url).status_code == 403


def test_retention_page_shows_each_kind_with_its_schedule(settings, world):
    settings.RETENTION_TRANSCRIPTS_DAYS = 90

    page = login(world.admin).get("/privacy/").content.decode()

    assert page.count('data-testid="retention-row"') == 6
    assert "RETENTION_TRANSCRIPTS_DAYS" in page and "90 days" in page
    assert "For ever" in page  # reviews, operator results


def test_erasure_page_files_a_request_and_shows_its_progress(world):
    client = login(world.admin)
    number = world.north_call.participants.get(type="CUSTOMER").addresses[0]["address"]

    response = client.post("/privacy/erasures/", {"kind": "ADDRESS", "identifier": number})

    erasure = ErasureRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/privacy/erasures/{erasure.pk}/"
    assert erasure.requested_by == world.admin
    assert number not in str(erasure.targets) and number not in erasure.identifier_hash
    detail = client.get(response["Location"]).content.decode()
    assert "Waiting" in detail and "0 of 13 steps" in detail


def test_erasure_page_explains_a_profile_that_does_not_exist(world):
    response = login(world.admin).post(
        "/privacy/erasures/", {"kind": "PROFILE", "identifier": "424242"}
    )
    assert response.status_code == 200
    assert "No such customer profile." in response.content.decode()
    assert not ErasureRequest.objects.exists()
