"""`manage.py load_demo`: the Harper Valley calls, two teams and a login per role, loaded once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max
from django.utils import timezone

from apps.accounts.choices import IdentityKind, Role
from apps.accounts.models import Agent, AgentIdentity, Team, User
from apps.conversations.choices import ContentType, ConversationStatus, ParticipantType
from apps.conversations.models import Communication, Conversation, Participant
from apps.demo.dataset import read_calls
from apps.demo.management.commands.load_demo import refuse_in_production
from apps.demo.services import demo_load
from apps.demo.virtual import PREFIX as VIRTUAL
from apps.demo.virtual import demo_virtual_load

pytestmark = pytest.mark.django_db

CALLS = read_calls()
SEGMENTS_WITH_TEXT = sum(1 for call in CALLS for segment in call.segments if segment.text)


def recorded():
    """The Harper Valley recordings (not the virtual-assistant calls made up around them)."""
    return Conversation.objects.exclude(twilio_id__startswith=VIRTUAL)


def load_calls() -> None:
    """What the command loads before the rules run: the calls, teams, agents and logins, and the
    virtual-assistant calls (the rules, QA and insights are tested with their own fixtures)."""
    result = demo_load()
    demo_virtual_load(calls=CALLS, shift=timedelta(days=result.shift_days))


def load_demo() -> str:
    out = StringIO()
    call_command("load_demo", "--no-shadow", stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, list[dict]]:
    """Every column of every row the demo touches, so any insert or update shows."""
    tables = {
        "teams": Team.objects.all(),
        "users": User.objects.all(),
        "user_teams": User.teams.through.objects.all(),
        "agents": Agent.objects.all(),
        "identities": AgentIdentity.objects.all(),
        "conversations": Conversation.objects.all(),
        "participants": Participant.objects.all(),
        "communications": Communication.objects.all(),
    }
    return {name: list(rows.order_by("pk").values()) for name, rows in tables.items()}


def test_the_data_file_has_76_calls_and_1405_segments_18_without_text():
    assert len(CALLS) == 76
    assert sum(len(call.segments) for call in CALLS) == 1405
    assert SEGMENTS_WITH_TEXT == 1405 - 18


def test_load_demo_imports_every_call_with_its_transcript():
    load_calls()

    assert recorded().count() == 76
    assert (
        Communication.objects.filter(conversation__in=recorded()).count()
        == SEGMENTS_WITH_TEXT
        == 1387
    )
    assert not Communication.objects.filter(text="").exists()
    assert set(Conversation.objects.values_list("status", flat=True)) == {ConversationStatus.CLOSED}
    conversation = Conversation.objects.get(twilio_id="demo_conversation_ff0296d00e5e4184")
    assert conversation.channels == ["VOICE"]
    assert conversation.call_sids[0].startswith("CA") and len(conversation.call_sids[0]) == 34
    assert conversation.attributes["session"].startswith("Little Harper Valley")
    assert conversation.queue == conversation.attributes["tasks"][0]["task_type"]
    first = conversation.communications.get(twilio_id="demo_communication_ff0296d00e5e4184_1")
    assert first.content_type == ContentType.TRANSCRIPTION
    assert first.channel == "VOICE"
    assert first.channel_id == conversation.call_sids[0]
    assert first.occurred_at == conversation.started_at + timedelta(milliseconds=first.offset_ms)
    assert set(first.metadata["emotion"]) == {"negative", "neutral", "positive"}
    assert "asr_text" in first.metadata


def test_every_call_has_a_customer_and_an_agent_participant_linked_to_the_agent():
    load_calls()

    participants = Participant.objects.filter(conversation__in=recorded())
    assert participants.filter(type=ParticipantType.CUSTOMER).count() == 76
    agents = participants.filter(type=ParticipantType.HUMAN_AGENT)
    assert agents.count() == 76
    assert not agents.filter(agent=None).exists()
    assert all(p.name == p.agent.display_name for p in agents.select_related("agent"))
    assert Agent.objects.count() == 10
    customer = participants.filter(type=ParticipantType.CUSTOMER).first()
    assert customer.addresses[0]["address"].startswith("+1")
    for conversation in recorded().select_related("team"):
        agent = conversation.participants.get(type=ParticipantType.HUMAN_AGENT).agent
        assert conversation.team == agent.team


def test_speaker_ids_are_identities_only_where_they_name_one_agent():
    load_calls()

    assert AgentIdentity.objects.filter(kind=IdentityKind.NAME).count() == 10
    speaker_ids = AgentIdentity.objects.filter(kind=IdentityKind.SPEAKER_ID)
    caller_ids = {str(call.caller_speaker_id) for call in CALLS}
    for identity in speaker_ids.select_related("agent"):
        names = {c.agent_name for c in CALLS if str(c.agent_speaker_id) == identity.value}
        assert names == {identity.agent.display_name}
        assert identity.value not in caller_ids


def test_load_demo_creates_one_login_per_role_with_the_demo_password():
    load_calls()

    users = {user.username: user for user in User.objects.all()}
    assert {name: user.role for name, user in users.items()} == {
        "admin": Role.ADMIN,
        "qa": Role.QA_ANALYST,
        "coach": Role.COACH,
        "supervisor": Role.SUPERVISOR,
        "agent": Role.AGENT,
    }
    assert all(user.check_password("demo") for user in users.values())
    assert users["admin"].is_staff and users["admin"].is_superuser
    assert users["agent"].agent_profile.display_name == "Linda"
    assert {t.name for t in users["coach"].teams.all()} == {
        "Harper Valley East",
        "Harper Valley West",
    }
    assert {t.name for t in users["supervisor"].teams.all()} == {"Harper Valley East"}


def test_running_load_demo_twice_changes_nothing_and_says_so():
    first = load_demo()
    before = snapshot()

    second = load_demo()

    assert snapshot() == before
    assert "conversations" in first and "communications" in first
    for username in ("admin", "qa", "coach", "supervisor", "agent"):
        assert username in first
    assert "demo" in first
    for line in second.splitlines():
        if line.startswith(("conversations", "communications", "users")):
            assert line.split()[-2] == "0", line  # nothing created the second time


def test_a_second_load_keeps_a_password_the_user_changed():
    load_calls()
    user = User.objects.get(username="coach")
    user.set_password("something-else-entirely")
    user.save()

    load_calls()

    assert User.objects.get(username="coach").check_password("something-else-entirely")


def test_the_latest_call_lands_on_yesterday_with_the_gaps_between_calls_kept():
    load_calls()

    latest = Conversation.objects.aggregate(latest=Max("started_at"))["latest"]
    assert timezone.localtime(latest).date() == timezone.localdate() - timedelta(days=1)
    shift = latest - max(call.started_at for call in CALLS)
    assert shift % timedelta(days=1) == timedelta(0)
    for call in CALLS:
        conversation = Conversation.objects.get(twilio_id=f"demo_conversation_{call.sid}")
        assert conversation.started_at - call.started_at == shift
        assert conversation.ended_at - call.ended_at == shift


def test_a_later_load_reuses_the_shift_already_in_the_data():
    today = timezone.localdate()
    first = demo_load(calls=CALLS[:40], today=today - timedelta(days=30))

    second = demo_load(calls=CALLS, today=today)

    assert second.shift_days == first.shift_days
    for call in CALLS:
        conversation = Conversation.objects.get(twilio_id=f"demo_conversation_{call.sid}")
        assert conversation.started_at - call.started_at == timedelta(days=first.shift_days)


def test_the_agent_login_sees_only_lindas_conversations():
    load_calls()
    agent = User.objects.get(username="agent")

    visible = set(Conversation.objects.for_user(agent))

    lindas = {c for c in Conversation.objects.filter(participants__agent__display_name="Linda")}
    assert visible == lindas
    recorded_calls = {c for c in visible if not c.twilio_id.startswith(VIRTUAL)}
    assert len(recorded_calls) == sum(1 for call in CALLS if call.agent_name == "Linda") == 11


def test_the_supervisor_sees_only_the_east_team():
    load_calls()
    supervisor = User.objects.get(username="supervisor")

    visible = Conversation.objects.for_user(supervisor)

    east = Team.objects.get(name="Harper Valley East")
    assert visible.count() == Conversation.objects.filter(team=east).count()
    assert 0 < visible.count() < 76
    assert set(visible.values_list("team__name", flat=True)) == {"Harper Valley East"}


# Demo logins only when asked for -----------------------------------------------------------------


def test_a_migrated_database_has_no_logins_until_load_demo_runs():
    assert not User.objects.exists()


def test_load_demo_refuses_an_install_that_looks_like_production(settings):
    settings.DEBUG = False
    settings.PUBLIC_BASE_URL = "https://portal.example.com"
    with pytest.raises(CommandError, match="looks like production"):
        call_command("load_demo", "--no-shadow", stdout=StringIO())
    assert not User.objects.exists()
    refuse_in_production(allow=True)  # --allow-production-demo-users: on with the load
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    refuse_in_production(allow=False)  # a local run (make run also sets DJANGO_DEBUG=true)
    settings.DEBUG, settings.PUBLIC_BASE_URL = True, "https://staging.example.com"
    refuse_in_production(allow=False)
