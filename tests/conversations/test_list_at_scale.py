"""The conversation list as it reads at a million communications (issue 17): a page's rows are
read by id (``RowsByIdPaginator``), search is one UNION of what each index finds, and scoping is
``id IN (...)`` sets. These hold the results to what the straightforward formulations give."""

from __future__ import annotations

import re

import pytest
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.scoping import Reach, scope_for
from apps.conversations.filters import ConversationFilter
from apps.conversations.models import Communication, Conversation, Participant
from tests.fixtures import builders
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

LIST_URL = reverse("conversation-list")


def rows_in_order(response) -> list[int]:
    return [int(pk) for pk in re.findall(rb'data-conversation="(\d+)"', response.content)]


def newest_first(conversations) -> list[int]:
    return list(conversations.order_by("-started_at", "-id").values_list("pk", flat=True))


def with_ties(many_conversations, world) -> None:
    """60 calls of the north agent, ten of them starting at the same instant (ties are ordered
    by id), and 30 of the south agent."""
    north = many_conversations(count=60, agent=world.agent)
    many_conversations(count=30, agent=world.other_agent)
    same = north[0].started_at
    Conversation.objects.filter(pk__in=[c.pk for c in north[20:30]]).update(started_at=same)


@pytest.mark.parametrize("persona", ["admin", "supervisor", "agent_user"])
def test_paging_the_list_shows_every_visible_conversation_once_in_order(
    world, client_for, many_conversations, persona
):
    with_ties(many_conversations, world)
    user = getattr(world, persona)
    client = client_for(user)

    seen: list[int] = []
    page = 1
    while True:
        response = client.get(LIST_URL, {"page": page})
        seen += rows_in_order(response)
        if b'rel="next"' not in response.content:
            break
        page += 1

    assert seen == newest_first(Conversation.objects.for_user(user))
    assert len(seen) == len(set(seen))


def test_paging_the_api_list_gives_every_visible_conversation_once_in_order(
    world, client_for, many_conversations
):
    with_ties(many_conversations, world)
    client = client_for(world.supervisor)

    seen: list[int] = []
    body = client.get("/api/conversations/", {"page_size": 7}).json()
    while True:
        seen += [row["id"] for row in body["results"]]
        if not body["next"]:
            break
        body = client.get(body["next"]).json()

    assert seen == newest_first(Conversation.objects.for_user(world.supervisor))
    assert body["count"] == len(seen)


def test_paging_the_api_list_by_start_ascending_keeps_that_order(
    world, client_for, many_conversations
):
    with_ties(many_conversations, world)
    client = client_for(world.admin)

    second = client.get(
        "/api/conversations/", {"page_size": 10, "page": 2, "ordering": "started_at"}
    )

    expected = list(
        Conversation.objects.order_by("started_at", "pk").values_list("pk", flat=True)[10:20]
    )
    assert [row["id"] for row in second.json()["results"]] == expected


def test_a_pages_line_counts_are_its_own_conversations(world, client_for, many_conversations):
    many_conversations(count=30, agent=world.agent)
    response = client_for(world.admin).get(LIST_URL, {"q": "debit"})

    (row,) = response.context["page"].object_list
    assert row.pk == world.north_call.pk
    assert row.communication_count == 2


def _search_before(queryset, value: str):
    """The search as it was written before (ORs of EXISTS per conversation)."""
    transcript_hit = Communication.objects.annotate(
        search=SearchVector("text", config="english")
    ).filter(
        conversation=OuterRef("pk"),
        search=SearchQuery(value, config="english", search_type="websearch"),
    )
    participant_hit = Participant.objects.filter(
        Q(name__icontains=value) | Q(twilio_id=value), conversation=OuterRef("pk")
    )
    return queryset.filter(
        Exists(transcript_hit)
        | Exists(participant_hit)
        | Q(twilio_id=value)
        | Q(name__icontains=value)
        | Q(queue__icontains=value)
        | Q(call_sids__contains=[value])
    )


def _scope_before(user):
    """Scoping as it was written before (EXISTS per conversation)."""
    scope = scope_for(user)
    conversations = Conversation.objects.all()
    if scope.reach is Reach.EVERYTHING:
        return conversations
    if scope.reach is Reach.TEAMS:
        in_team = Participant.objects.filter(
            conversation=OuterRef("pk"), agent__team_id__in=scope.team_ids
        )
        return conversations.filter(Q(team_id__in=scope.team_ids) | Exists(in_team))
    if scope.reach is Reach.OWN:
        own = Participant.objects.filter(conversation=OuterRef("pk"), agent__user_id=scope.user_id)
        return conversations.filter(Exists(own))
    return conversations.none()


@pytest.fixture
def varied(world):
    """Calls that each search branch finds: by transcript, customer name, conversation name,
    queue, Twilio id and call SID; one with no team but a north agent in it."""
    teamless = builders.make_conversation(
        agent=world.agent,
        customer_name="Carla Cardholder",
        texts=[("customer", "my card was declined twice"), ("agent", "let me check the card")],
    )
    Conversation.objects.filter(pk=teamless.pk).update(team=None, queue="cards desk")
    named = builders.make_conversation(
        agent=world.other_agent, customer_name="Pat", texts=[("agent", "good morning")]
    )
    Conversation.objects.filter(pk=named.pk).update(name="Card replacement", queue="general")
    return {"teamless": teamless, "named": named}


@pytest.mark.parametrize(
    "value",
    [
        "card",
        '"lost my debit card"',
        "debit -lost",
        "declined OR bill",
        "nora",
        "CARDS DESK",
        "Replacement",
        "%",
        "nothing matches this",
    ],
)
@pytest.mark.parametrize(
    "persona", ["admin", "qa_analyst", "coach", "supervisor", "agent_user", "outsider"]
)
def test_search_finds_what_it_found_before_for_every_role(world, varied, value, persona):
    user = getattr(world, persona)
    found = ConversationFilter(
        QueryDict(f"q={value}"), queryset=Conversation.objects.for_user(user)
    ).qs
    before = _search_before(_scope_before(user), value)

    assert set(found.values_list("pk", flat=True)) == set(before.values_list("pk", flat=True))


def test_search_by_twilio_id_and_call_sid_finds_that_conversation(world, varied):
    call = world.south_call
    for value in (call.twilio_id, (call.call_sids or ["none"])[0]):
        found = ConversationFilter(QueryDict(f"q={value}"), queryset=Conversation.objects.all()).qs
        assert set(found) == set(_search_before(Conversation.objects.all(), value))
        assert call in found


@pytest.mark.parametrize(
    "persona", ["admin", "qa_analyst", "coach", "supervisor", "agent_user", "outsider"]
)
def test_scoping_sees_what_it_saw_before(world, varied, many_conversations, persona):
    many_conversations(count=5, agent=world.other_agent)
    user = getattr(world, persona)

    now = set(Conversation.objects.for_user(user).values_list("pk", flat=True))

    assert now == set(_scope_before(user).values_list("pk", flat=True))
    if persona in ("supervisor", "coach", "agent_user"):
        assert varied["teamless"].pk in now  # a north agent took part, though it has no team
        assert world.south_call.pk not in now


def test_a_page_of_the_list_is_read_in_one_query_whatever_the_page(
    world, client_for, many_conversations
):
    """The page's rows and their line counts come in one query (ids as a subquery), the same
    on the first page and the last."""
    from tests.fixtures.queries import queries_for

    many_conversations(count=80, agent=world.agent)
    client = client_for(world.supervisor)

    assert queries_for(client, LIST_URL) == queries_for(client, LIST_URL, {"page": 4})


@pytest.mark.parametrize(
    "persona", ["admin", "qa_analyst", "coach", "supervisor", "agent_user", "outsider"]
)
def test_rows_checked_one_by_one_are_those_of_the_visible_conversations(
    world, varied, many_conversations, persona
):
    """``visible_rows`` (a team's scope checked per row, for QA reviews) keeps exactly the
    participants (rows with a key to a conversation) that ``for_user``'s sets keep."""
    from apps.conversations.models import visible_rows

    many_conversations(count=5, agent=world.other_agent)
    user = getattr(world, persona)
    checked = set(Participant.objects.filter(visible_rows(user)).values_list("pk", flat=True))
    visible = Conversation.objects.for_user(user).values("pk")
    sets = set(Participant.objects.filter(conversation__in=visible).values_list("pk", flat=True))

    assert checked == sets
    if persona in ("supervisor", "coach"):
        teamless = set(varied["teamless"].participants.values_list("pk", flat=True))
        assert teamless and teamless <= checked  # no team, but a north agent took part
        assert not checked & set(world.south_call.participants.values_list("pk", flat=True))


@pytest.mark.parametrize("persona", ["admin", "supervisor"])
def test_paging_a_search_shows_every_match_once_in_order_with_its_count(
    world, client_for, many_conversations, persona
):
    """A search's count and page ids come from one query (``CountedRowsByIdPaginator``):
    the same rows, order and count as the search's queryset, on every page; a page past the
    end shows the last page."""
    north = many_conversations(count=60, agent=world.agent)
    Conversation.objects.filter(pk__in=[c.pk for c in north[::2]]).update(name="Lost card")
    many_conversations(count=10, agent=world.other_agent)
    user = getattr(world, persona)
    client = client_for(user)
    expected = newest_first(
        ConversationFilter(QueryDict("q=card"), queryset=Conversation.objects.for_user(user)).qs
    )
    assert len(expected) > 25

    seen: list[int] = []
    page = 1
    while True:
        response = client.get(LIST_URL, {"q": "card", "page": page})
        assert f"{len(expected)} conversation".encode() in response.content
        seen += rows_in_order(response)
        if b'rel="next"' not in response.content:
            break
        page += 1

    assert seen == expected
    # One query for the count and the ids, whatever the page (no count of its own first).
    assert queries_for(client, LIST_URL, {"q": "card"}) == queries_for(
        client, LIST_URL, {"q": "card", "page": 2}
    )
    with CaptureQueriesContext(connection) as captured:
        client.get(LIST_URL, {"q": "card", "page": 2})
    reads = [q["sql"] for q in captured if 'FROM "conversations_conversation"' in q["sql"]]
    assert [sql for sql in reads if "OVER ()" in sql] and not [
        sql for sql in reads if 'COUNT(*) AS "__count"' in sql
    ]
    last = client.get(LIST_URL, {"q": "card", "page": 99})
    assert rows_in_order(last) == expected[(page - 1) * 25 :]
    api = client.get("/api/conversations/", {"q": "card", "page": 2, "page_size": 10}).json()
    assert api["count"] == len(expected)
    assert [row["id"] for row in api["results"]] == expected[10:20]
    assert client.get("/api/conversations/", {"q": "card", "page": 99}).status_code == 404
    nothing = client.get("/api/conversations/", {"q": "nothing matches this"}).json()
    assert nothing["count"] == 0 and nothing["results"] == []
