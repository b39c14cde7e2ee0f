"""Agent assist by Call SID (/assist/<CallSid>/): the agent on the call and whoever may see the
conversation open it; it shows the live transcript, the handoff context and the insights, and
may be framed only by the portal and the origins configured."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.conversations.models import Conversation
from apps.relay.services import RelayAction, handoff_record

pytestmark = pytest.mark.django_db

SID = "CA" + "7" * 32


@pytest.fixture
def on_call(world):
    """North's call is live on SID; the virtual agent handed it over with a reason."""
    Conversation.objects.filter(pk=world.north_call.pk).update(call_sids=[SID])
    handoff_record(
        RelayAction(
            call_sid=SID,
            session_id="VX" + "7" * 32,
            session_status="ended",
            session_duration=42,
            handoff_data=json.dumps(
                {
                    "reasonCode": "live-agent-handoff",
                    "reason": "The caller wants to dispute a card payment.",
                    "summary": "Card ending 4242 charged twice at a grocery store.",
                    "conversationId": world.north_call.twilio_id,
                }
            ),
            from_number="+15550001111",
            to_number="+15550002222",
        )
    )
    return world.north_call


def opened_by(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_agent_on_the_call_sees_the_transcript_and_why_the_caller_was_handed_over(
    world, on_call
):
    response = opened_by(world.agent_user).get(f"/assist/{SID}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="transcript-card"' in page
    assert f'data-live-socket="/ws/conversations/{on_call.pk}/"' in page
    assert "The caller wants to dispute a card payment." in page
    assert "Card ending 4242 charged twice" in page
    assert 'class="navbar' not in page  # compact: no navigation bar
    for line in on_call.communications.all():
        assert line.text in page


def test_a_supervisor_of_the_team_may_open_it_and_another_agent_may_not(world, on_call):
    assert opened_by(world.supervisor).get(f"/assist/{SID}/").status_code == 200
    assert opened_by(world.other_agent_user).get(f"/assist/{SID}/").status_code == 404
    assert opened_by(world.agent_user).get("/assist/CA-no-such-call/").status_code == 404
    assert Client().get(f"/assist/{SID}/").status_code == 302  # to the login page


def test_only_the_portal_and_the_configured_origins_may_frame_it(world, on_call, settings):
    settings.ASSIST_FRAME_ANCESTORS = ["https://flex.twilio.com"]

    response = opened_by(world.agent_user).get(f"/assist/{SID}/")

    assert directives(response)["frame-ancestors"] == "'self' https://flex.twilio.com"
    assert directives(response)["script-src"] == "'self'"  # the rest of the policy stays
    assert "X-Frame-Options" not in response
    other = opened_by(world.agent_user).get(f"/conversations/{on_call.pk}/")
    assert directives(other)["frame-ancestors"] == "'none'"
    assert other["X-Frame-Options"] == "DENY"


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
