"""The REST API: same scoping, filters and pagination as the pages; an OpenAPI schema."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import Agent, Team
from apps.conversations.choices import ContentType, ConversationStatus, ParticipantType
from apps.conversations.models import Communication, Conversation, Participant
from tests.fixtures import builders
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

LISTS = ["/api/conversations/", "/api/participants/", "/api/communications/"]

# Which of the world's two calls each persona may see.
VISIBLE_CALLS = {
    "admin": {"north_call", "south_call"},
    "qa_analyst": {"north_call", "south_call"},
    "supervisor": {"north_call"},
    "coach": {"north_call"},
    "agent_user": {"north_call"},
    "other_agent_user": {"south_call"},
    "outsider": set(),
}


def get(client: Client, path: str, **params: Any) -> Any:
    """GET ``path`` and return the response, asserting it is JSON."""
    response = client.get(path, params)
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return response


def ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def call_ids(world: Any, names: set[str]) -> set[int]:
    return {getattr(world, name).pk for name in names}


def token_for(username: str) -> str:
    out = io.StringIO()
    call_command("api_token", username, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip().splitlines()[-1]


# Scoping ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "calls"), VISIBLE_CALLS.items())
def test_each_persona_lists_exactly_the_conversations_they_may_see(
    world, client_for, persona, calls
):
    client = client_for(getattr(world, persona))
    assert ids(get(client, "/api/conversations/")) == call_ids(world, calls)


@pytest.mark.parametrize(("persona", "calls"), VISIBLE_CALLS.items())
def test_each_persona_lists_exactly_the_participants_they_may_see(
    world, client_for, persona, calls
):
    expected = set(
        Participant.objects.filter(conversation__in=call_ids(world, calls)).values_list(
            "pk", flat=True
        )
    )
    client = client_for(getattr(world, persona))
    assert ids(get(client, "/api/participants/")) == expected


@pytest.mark.parametrize(("persona", "calls"), VISIBLE_CALLS.items())
def test_each_persona_lists_exactly_the_communications_they_may_see(
    world, client_for, persona, calls
):
    expected = set(
        Communication.objects.filter(conversation__in=call_ids(world, calls)).values_list(
            "pk", flat=True
        )
    )
    client = client_for(getattr(world, persona))
    assert ids(get(client, "/api/communications/")) == expected


def test_outsider_gets_empty_lists(world, client_for):
    client = client_for(world.outsider)
    for path in LISTS:
        body = get(client, path).json()
        assert body["results"] == []
        assert body.get("count", 0) == 0  # communications page by cursor: no count


def detail_paths(conversation: Conversation) -> list[str]:
    participant = conversation.participants.first()
    communication = conversation.communications.first()
    return [
        f"/api/conversations/{conversation.pk}/",
        f"/api/conversations/{conversation.pk}/communications/",
        f"/api/participants/{participant.pk}/",
        f"/api/communications/{communication.pk}/",
    ]


def test_outsider_gets_404_on_every_detail(world, client_for):
    client = client_for(world.outsider)
    for path in detail_paths(world.north_call):
        response = get(client, path)
        assert response.status_code == 404, path
        assert "detail" in response.json()


def test_agent_gets_404_on_details_of_another_agents_conversation(world, client_for):
    client = client_for(world.agent_user)
    for path in detail_paths(world.south_call):
        assert get(client, path).status_code == 404, path
    for path in detail_paths(world.north_call):
        assert get(client, path).status_code == 200, path


def test_supervisor_gets_404_on_another_teams_conversation(world, client_for):
    response = get(client_for(world.supervisor), f"/api/conversations/{world.south_call.pk}/")
    assert response.status_code == 404


def test_anonymous_is_refused_with_json(world):
    client = Client()
    paths = [*LISTS, *detail_paths(world.north_call)]
    for path in paths:
        response = get(client, path)
        assert response.status_code in (401, 403), path
        assert response.json()["detail"] == "Authentication credentials were not provided."


def test_an_unknown_id_is_a_json_404_not_a_500(world, client_for):
    client = client_for(world.admin)
    for path in ["/api/conversations/abc/", f"/api/conversations/{10**30}/"]:
        assert get(client, path).status_code == 404, path


# What the rows show -------------------------------------------------------------------------------


def test_conversation_row_shows_team_participants_and_communication_count(world, client_for):
    (row,) = get(client_for(world.agent_user), "/api/conversations/").json()["results"]
    assert row["id"] == world.north_call.pk
    assert row["twilio_id"] == world.north_call.twilio_id
    assert row["team"] == {"id": world.north.pk, "name": "North", "slug": world.north.slug}
    assert row["communication_count"] == 2
    assert sorted((p["type"], p["name"], p["agent"]) for p in row["participants"]) == [
        ("CUSTOMER", "Nora North", None),
        ("HUMAN_AGENT", "Alice", {"id": world.agent.pk, "name": "Alice"}),
    ]
    assert set(row["participants"][0]) == {"id", "twilio_id", "type", "name", "agent"}


def test_conversation_detail_adds_attributes_and_full_participants(world, client_for):
    body = get(client_for(world.agent_user), f"/api/conversations/{world.north_call.pk}/").json()
    assert body["attributes"] == {}
    assert body["communication_count"] == 2
    customer = next(p for p in body["participants"] if p["type"] == ParticipantType.CUSTOMER)
    assert customer["addresses"][0]["channel"] == "VOICE"
    assert customer["conversation"] == world.north_call.pk


# The transcript -----------------------------------------------------------------------------------


def test_transcript_action_gives_the_conversations_lines_in_spoken_order(world, client_for):
    body = get(
        client_for(world.supervisor), f"/api/conversations/{world.north_call.pk}/communications/"
    ).json()
    assert body["count"] == 2
    assert [(line["author"]["name"], line["text"]) for line in body["results"]] == [
        ("Alice", "thank you for calling harper valley"),
        ("Nora North", "i lost my debit card"),
    ]
    assert {line["conversation"] for line in body["results"]} == {world.north_call.pk}


def test_transcript_action_is_paginated(world, client_for):
    call = builders.make_conversation(
        agent=world.agent, texts=[("customer", f"line {i}") for i in range(5)]
    )
    client = client_for(world.agent_user)
    body = get(client, f"/api/conversations/{call.pk}/communications/", page_size=2).json()
    assert body["count"] == 5
    assert [line["text"] for line in body["results"]] == ["line 0", "line 1"]
    assert "page=2" in body["next"]


def test_transcript_action_ignores_conversation_filters(world, client_for):
    # ?status= describes conversations; on the transcript it must not hide the conversation.
    path = f"/api/conversations/{world.north_call.pk}/communications/"
    assert get(client_for(world.admin), path, status="ACTIVE").status_code == 200


# Conversation filters (the page's ConversationFilter) ---------------------------------------------


def test_conversations_filter_by_status(world, client_for):
    active = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)
    client = client_for(world.admin)
    assert ids(get(client, "/api/conversations/", status="ACTIVE")) == {active.pk}
    assert ids(get(client, "/api/conversations/", status="CLOSED")) == {
        world.north_call.pk,
        world.south_call.pk,
    }


def test_conversations_filter_by_agent_and_team(world, client_for):
    client = client_for(world.admin)
    assert ids(get(client, "/api/conversations/", agent=world.other_agent.pk)) == {
        world.south_call.pk
    }
    assert ids(get(client, "/api/conversations/", team=world.north.pk)) == {world.north_call.pk}


def test_conversations_filter_by_channel_case_insensitively(world, client_for):
    sms = builders.make_conversation(agent=world.agent, channel="SMS")
    assert ids(get(client_for(world.admin), "/api/conversations/", channel="sms")) == {sms.pk}


def test_conversations_filter_by_start_date_range(world, client_for):
    old = builders.make_conversation(
        agent=world.agent, started_at=timezone.now() - timedelta(days=30)
    )
    cutoff = (timezone.now() - timedelta(days=7)).date().isoformat()
    client = client_for(world.admin)
    assert ids(get(client, "/api/conversations/", started_before=cutoff)) == {old.pk}
    assert ids(get(client, "/api/conversations/", started_after=cutoff)) == {
        world.north_call.pk,
        world.south_call.pk,
    }


def test_conversations_q_searches_the_transcript_full_text(world, client_for):
    client = client_for(world.admin)
    # "cards" stems to "card": a full-text match, not a substring one.
    assert ids(get(client, "/api/conversations/", q="debit cards")) == {world.north_call.pk}
    assert ids(get(client, "/api/conversations/", q="bill")) == {world.south_call.pk}
    assert ids(get(client, "/api/conversations/", q="nothing-said-like-this")) == set()


def test_conversations_order_by_started_at_either_way(world, client_for):
    older = builders.make_conversation(
        agent=world.agent, started_at=timezone.now() - timedelta(days=2)
    )
    client = client_for(world.admin)
    default = get(client, "/api/conversations/").json()["results"]
    oldest_first = get(client, "/api/conversations/", ordering="started_at").json()["results"]
    assert default[-1]["id"] == older.pk
    assert oldest_first[0]["id"] == older.pk


# Participant and communication filters ------------------------------------------------------------


def test_participants_filter_by_conversation_type_and_agent(world, client_for):
    client = client_for(world.admin)
    north = set(world.north_call.participants.values_list("pk", flat=True))
    alice = world.north_call.participants.get(agent=world.agent)
    assert ids(get(client, "/api/participants/", conversation=world.north_call.pk)) == north
    assert ids(get(client, "/api/participants/", agent=world.agent.pk)) == {alice.pk}
    customers = ids(get(client, "/api/participants/", type="CUSTOMER"))
    assert customers == set(
        Participant.objects.filter(type=ParticipantType.CUSTOMER).values_list("pk", flat=True)
    )


def test_communications_filter_by_conversation_author_and_channel(world, client_for):
    sms = builders.make_conversation(agent=world.agent, channel="SMS", texts=[("agent", "hi")])
    client = client_for(world.admin)
    north_lines = set(world.north_call.communications.values_list("pk", flat=True))
    alice = world.north_call.participants.get(agent=world.agent)
    assert ids(get(client, "/api/communications/", conversation=world.north_call.pk)) == north_lines
    assert ids(get(client, "/api/communications/", author=alice.pk)) == set(
        alice.communications.values_list("pk", flat=True)
    )
    assert ids(get(client, "/api/communications/", channel="sms")) == set(
        sms.communications.values_list("pk", flat=True)
    )


def test_communications_filter_by_occurred_at_range(world, client_for):
    first = world.north_call.communications.order_by("occurred_at").first()
    second = world.north_call.communications.order_by("occurred_at").last()
    client = client_for(world.agent_user)
    after = get(client, "/api/communications/", occurred_after=second.occurred_at.isoformat())
    before = get(client, "/api/communications/", occurred_before=second.occurred_at.isoformat())
    assert ids(after) == {second.pk}
    assert ids(before) == {first.pk}


def test_communications_q_is_a_full_text_search_over_the_text(world, client_for):
    client = client_for(world.admin)
    debit = world.north_call.communications.get(text__contains="debit")
    assert ids(get(client, "/api/communications/", q="lost cards")) == {debit.pk}
    assert ids(get(client, "/api/communications/", q="debit -card")) == set()


def test_communications_q_stays_within_scope(world, client_for):
    assert ids(get(client_for(world.agent_user), "/api/communications/", q="bill")) == set()


# Bad input is a 400 with a message, never a 500 ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "param", "value", "message"),
    [
        ("/api/conversations/", "status", "BOGUS", "Select a valid choice"),
        ("/api/conversations/", "started_after", "last tuesday", "Enter a valid date"),
        ("/api/conversations/", "agent", "alice", "Select a valid choice"),
        ("/api/conversations/", "team", "999999", "Select a valid choice"),
        ("/api/participants/", "conversation", "abc", "Enter a whole number"),
        ("/api/participants/", "type", "robot", "Select a valid choice"),
        ("/api/communications/", "occurred_after", "2024-13-45", "Enter a valid date/time"),
        ("/api/communications/", "author", "1.5", "Enter a whole number"),
        ("/api/communications/", "content_type", "VIDEO", "Select a valid choice"),
    ],
)
def test_bad_filter_value_is_a_400_naming_the_parameter(
    world, client_for, path, param, value, message
):
    response = get(client_for(world.admin), path, **{param: value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert message in body["errors"][param][0]


def test_out_of_range_ids_in_filters_match_nothing_instead_of_failing(world, client_for):
    client = client_for(world.admin)
    huge = 10**30
    assert ids(get(client, "/api/participants/", conversation=huge)) == set()
    assert ids(get(client, "/api/communications/", author=huge)) == set()


def test_odd_search_text_is_not_an_error(world, client_for):
    client = client_for(world.admin)
    for q in ['"unclosed', "a & | ! b", "(", "-"]:
        assert get(client, "/api/communications/", q=q).status_code == 200, q
        assert get(client, "/api/conversations/", q=q).status_code == 200, q


# Pagination ---------------------------------------------------------------------------------------


def test_lists_are_paginated_with_count_next_and_page_size(world, client_for):
    for _ in range(3):
        builders.make_conversation(agent=world.agent)
    client = client_for(world.admin)
    first = get(client, "/api/conversations/", page_size=2).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["previous"] is None
    assert "page_size=2" in first["next"]
    second = get(client, "/api/conversations/", page_size=2, page=2).json()
    third = get(client, "/api/conversations/", page_size=2, page=3).json()
    assert third["next"] is None
    seen = [row["id"] for page in (first, second, third) for row in page["results"]]
    assert len(seen) == len(set(seen)) == 5


def test_communications_page_by_cursor_through_every_line_once_in_time_order(world, client_for):
    for _ in range(4):
        builders.make_conversation(agent=world.agent)
    client = client_for(world.admin)
    expected = list(
        Communication.objects.order_by("occurred_at", "id").values_list("pk", flat=True)
    )

    for ordering, order in (("", expected), ("-occurred_at", expected[::-1])):
        params = {"page_size": 3, **({"ordering": ordering} if ordering else {})}
        body = get(client, "/api/communications/", **params).json()
        seen = []
        while True:
            assert "count" not in body
            seen += [row["id"] for row in body["results"]]
            if not body["next"]:
                break
            body = client.get(body["next"]).json()
        assert seen == order
    back = client.get(get(client, "/api/communications/", page_size=3).json()["next"]).json()
    assert [row["id"] for row in client.get(back["previous"]).json()["results"]] == expected[:3]


def test_a_page_past_the_end_is_a_json_404(world, client_for):
    response = get(client_for(world.admin), "/api/conversations/", page=99)
    assert response.status_code == 404


# Token authentication -----------------------------------------------------------------------------


def test_token_authenticates_as_its_user_with_their_scope(world):
    client = Client(headers={"Authorization": f"Bearer {token_for('alice')}"})
    assert ids(get(client, "/api/conversations/")) == {world.north_call.pk}


def test_api_token_command_rejects_unknown_and_inactive_users(world):
    with pytest.raises(CommandError, match="No user named"):
        token_for("nobody")
    world.admin.is_active = False
    world.admin.save()
    with pytest.raises(CommandError, match="inactive"):
        token_for("ada")


# The OpenAPI schema and its UI --------------------------------------------------------------------


def test_schema_is_a_valid_openapi_document_with_the_filters_documented(world, client_for):
    from drf_spectacular.validation import validate_schema

    response = client_for(world.agent_user).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    for path in [*LISTS, "/api/conversations/{id}/communications/"]:
        assert path in schema["paths"]
    documented = {
        p["name"]: p["schema"]["type"]
        for p in schema["paths"]["/api/conversations/"]["get"]["parameters"]
    }
    for name in ["status", "agent", "team", "channel", "started_after", "started_before", "q"]:
        assert name in documented
    assert documented["agent"] == documented["team"] == "integer"
    assert {"page", "page_size", "ordering"} <= set(documented)
    communication_filters = {
        p["name"] for p in schema["paths"]["/api/communications/"]["get"]["parameters"]
    }
    assert {"conversation", "author", "channel", "occurred_after", "occurred_before", "q"} <= (
        communication_filters
    )


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_schema_and_its_docs_are_refused_to_the_anonymous_and_the_outsider(world, client, path):
    # They were open to anyone, signed in or not (found by tests/common/test_role_matrix.py).
    assert client.get(path).status_code in (401, 403)
    client.force_login(world.outsider)
    assert client.get(path).status_code == 403


def test_schema_generates_without_warnings_and_validates(tmp_path):
    # Fails on any drf-spectacular warning, e.g. an unresolvable field or filter type.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi:")


def test_swagger_ui_loads_its_assets_from_our_own_static_files(world, client_for):
    client = client_for(world.agent_user)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200


# Query counts -------------------------------------------------------------------------------------


def bulk_conversations(n: int, *, agent: Agent, team: Team) -> None:
    """``n`` conversations on ``team``, each with a customer, ``agent`` and two lines."""
    start = timezone.now() - timedelta(days=1)
    offset = Conversation.objects.count()
    conversations = Conversation.objects.bulk_create(
        Conversation(
            twilio_id=f"conv_bulk_{offset + i:08d}",
            status=ConversationStatus.CLOSED,
            channels=["VOICE"],
            started_at=start + timedelta(seconds=offset + i),
            team=team,
        )
        for i in range(n)
    )
    participants = Participant.objects.bulk_create(
        Participant(
            twilio_id=f"{conversation.twilio_id}_{role}",
            conversation=conversation,
            type=ParticipantType.HUMAN_AGENT if role == "agent" else ParticipantType.CUSTOMER,
            name=agent.display_name if role == "agent" else "Bulk Customer",
            agent=agent if role == "agent" else None,
            joined_at=conversation.started_at,
        )
        for conversation in conversations
        for role in ("customer", "agent")
    )
    Communication.objects.bulk_create(
        Communication(
            twilio_id=f"{author.twilio_id}_line",
            conversation=author.conversation,
            author=author,
            channel="VOICE",
            content_type=ContentType.TRANSCRIPTION,
            text="hello there" if author.agent_id else "my card is lost",
            occurred_at=_at(author.joined_at, author.agent_id),
        )
        for author in participants
    )


def _at(joined_at: datetime | None, agent_id: int | None) -> datetime:
    assert joined_at is not None
    return joined_at + timedelta(seconds=1 if agent_id else 2)


def count_queries(client: Client, path: str) -> int:
    assert client.get(path).json()["results"]
    return queries_for(client, path)


@pytest.mark.parametrize("path", LISTS)
def test_lists_make_a_constant_number_of_queries_from_10_to_1000_conversations(
    world, client_for, path
):
    client = client_for(world.supervisor)
    bulk_conversations(10, agent=world.agent, team=world.north)
    with_ten = count_queries(client, path)
    bulk_conversations(990, agent=world.agent, team=world.north)
    with_a_thousand = count_queries(client, path)
    assert with_a_thousand == with_ten
    assert with_ten <= 8  # session, user, teams, count, page, participants


def test_transcript_makes_a_constant_number_of_queries(world, client_for):
    client = client_for(world.agent_user)
    short = count_queries(client, f"/api/conversations/{world.north_call.pk}/communications/")
    long_call = builders.make_conversation(
        agent=world.agent, texts=[("agent", f"line {i}") for i in range(40)]
    )
    long = count_queries(client, f"/api/conversations/{long_call.pk}/communications/")
    assert long == short


def test_an_agent_outside_the_scope_is_refused_like_one_that_does_not_exist(world, client_for):
    supervisor = client_for(world.supervisor)
    other_team = supervisor.get("/api/conversations/", {"agent": world.other_agent.pk})
    missing = supervisor.get("/api/conversations/", {"agent": 999_999})
    assert other_team.status_code == missing.status_code == 400
    assert other_team.json()["errors"].keys() == missing.json()["errors"].keys() == {"agent"}
    assert supervisor.get("/api/conversations/", {"team": world.south.pk}).status_code == 400
    assert supervisor.get("/api/conversations/", {"agent": world.agent.pk}).status_code == 200


@pytest.mark.parametrize(
    "value",
    ["1783-03-21T15:15:03+19:24", "2026-05-18T10:00:00-23:59", "0001-01-01T00:00:00+10:00"],
)
def test_a_date_time_filter_with_any_offset_answers_without_a_500(world, client_for, value):
    # Found by tests/common/test_api_fuzz.py: PostgreSQL refuses offsets beyond about ±16 h.
    client = client_for(world.admin)
    for path, name in [
        ("/api/communications/", "occurred_after"),
        ("/api/wrapups/", "saved_after"),
    ]:
        response = client.get(path, {name: value})
        assert response.status_code in (200, 400), (path, response.status_code)
    late = client.get("/api/communications/", {"occurred_after": "2026-05-18T10:00:00+19:00"})
    early = client.get("/api/communications/", {"occurred_after": "2026-05-17T15:00:00Z"})
    assert ids(late) == ids(early)  # the same instant
