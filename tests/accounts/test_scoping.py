"""Who sees which conversations: the one choke point every page and API list goes through."""

from __future__ import annotations

import pytest

from apps.conversations.models import Communication, Conversation, Participant
from tests.fixtures import builders

pytestmark = pytest.mark.django_db


def visible(user) -> set[int]:
    return set(Conversation.objects.for_user(user).values_list("pk", flat=True))


def test_admin_and_qa_analyst_see_every_conversation(world):
    everything = {world.north_call.pk, world.south_call.pk}
    assert visible(world.admin) == everything
    assert visible(world.qa_analyst) == everything


def test_supervisor_and_coach_see_only_their_teams(world):
    assert visible(world.supervisor) == {world.north_call.pk}
    assert visible(world.coach) == {world.north_call.pk}


def test_supervisor_sees_a_teamless_conversation_handled_by_their_agent(world):
    teamless = builders.make_conversation(agent=world.agent, team=None)
    teamless.team = None
    teamless.save(update_fields=["team"])
    assert teamless.pk in visible(world.supervisor)


def test_agent_sees_only_conversations_they_took_part_in(world):
    assert visible(world.agent_user) == {world.north_call.pk}
    assert visible(world.other_agent_user) == {world.south_call.pk}


def test_outsider_and_anonymous_see_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    assert visible(world.outsider) == set()
    assert visible(AnonymousUser()) == set()


def test_deactivated_user_sees_nothing(world):
    world.admin.is_active = False
    world.admin.save()
    assert visible(world.admin) == set()


def test_supervisor_without_teams_sees_nothing(world):
    lonely = builders.make_user(role="supervisor")
    assert visible(lonely) == set()


def test_agent_login_without_an_agent_profile_sees_nothing(world):
    # Customers and unlinked participants have no agent: an agent login that no agent profile
    # points at must not match them (the scope reads the login's agent ids first).
    unlinked = builders.make_user(role="agent")
    assert visible(unlinked) == set()


def test_agent_sees_a_conversation_on_another_team_they_took_part_in(world):
    elsewhere = builders.make_conversation(agent=world.agent, team=world.south_call.team)
    assert visible(world.agent_user) == {world.north_call.pk, elsewhere.pk}
    assert elsewhere.pk not in visible(world.other_agent_user)


def test_participants_and_communications_follow_the_conversation_scope(world):
    participant_conversations = set(
        Participant.objects.for_user(world.agent_user).values_list("conversation_id", flat=True)
    )
    communication_conversations = set(
        Communication.objects.for_user(world.agent_user).values_list("conversation_id", flat=True)
    )
    assert participant_conversations == {world.north_call.pk}
    assert communication_conversations == {world.north_call.pk}
