"""Conversation Memory pages: the customers a person may see, and what is remembered about them.

A customer is visible when one of their conversations is: supervisors and coaches see their
teams' customers, agents their own, admins and QA analysts all, and people without a role none.
Anything out of reach is a 404, so profile ids do not leak.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.conversations.models import Conversation
from apps.intelligence.models import OperatorResult
from apps.knowledge import selectors, services
from apps.knowledge.choices import ObservationSource
from apps.knowledge.models import CustomerProfile, Observation, ObservationDeletion
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db


def url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def make_profile(
    name: str, *conversations: Conversation, profile_id: str = "", address: str = ""
) -> CustomerProfile:
    key = f"profile:{profile_id}" if profile_id else f"address:{address or name}"
    profile = CustomerProfile.objects.create(
        key=key, profile_id=profile_id, address=address, display_name=name
    )
    profile.conversations.add(*conversations)
    return profile


def listed(response) -> list[str]:
    """The customers' names on the list page, in order."""
    return re.findall(r'data-testid="customer-name">([^<]*)<', response.content.decode())


def observation_texts(response) -> list[str]:
    return re.findall(r'data-testid="observation-text">([^<]*)<', response.content.decode())


@pytest.fixture
def nora(world) -> CustomerProfile:
    """The customer of the north call (agent Alice, team North)."""
    return make_profile(
        "Nora North", world.north_call, profile_id="mem_nora", address="+15550001111"
    )


@pytest.fixture
def sid(world) -> CustomerProfile:
    """The customer of the south call (agent Bob, team South)."""
    return make_profile("Sid South", world.south_call, address="sid@example.com")


# Who sees which customers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("admin", ["Nora North", "Sid South"]),
        ("qa_analyst", ["Nora North", "Sid South"]),
        ("supervisor", ["Nora North"]),
        ("coach", ["Nora North"]),
        ("agent_user", ["Nora North"]),
        ("other_agent_user", ["Sid South"]),
    ],
)
def test_people_see_the_customers_of_the_conversations_they_may_see(
    world, client_for, nora, sid, persona, expected
):
    response = client_for(getattr(world, persona)).get(url("knowledge-customer-list"))
    assert response.status_code == 200
    assert listed(response) == expected


def test_a_supervisor_opens_their_teams_customer_and_gets_404_for_another(
    world, client_for, nora, sid
):
    client = client_for(world.supervisor)
    observation = Observation.objects.create(
        profile=sid, text="Moving abroad", digest="d1", source=ObservationSource.USER
    )

    assert client.get(url("knowledge-customer-detail", nora.pk)).status_code == 200
    assert client.get(url("knowledge-customer-detail", sid.pk)).status_code == 404
    assert client.post(url("knowledge-observation-add", sid.pk), {"text": "x"}).status_code == 404
    delete = url("knowledge-observation-delete", sid.pk, observation.pk)
    assert client.get(delete).status_code == 404
    assert client.post(delete).status_code == 404
    assert Observation.objects.filter(profile=sid).count() == 1


def test_people_without_a_role_see_no_customer(world, client_for, nora):
    client = client_for(world.outsider)
    assert client.get(url("knowledge-customer-list")).status_code == 403
    assert client.get(url("knowledge-customer-detail", nora.pk)).status_code == 403
    assert list(selectors.profile_list(user=world.outsider)) == []


def test_anonymous_visitors_are_sent_to_sign_in(nora):
    for path in [url("knowledge-customer-list"), url("knowledge-customer-detail", nora.pk)]:
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_a_customer_of_two_teams_shows_only_the_visible_conversations(world, client_for):
    both = make_profile("Bea Both", world.north_call, world.south_call)

    supervisor = client_for(world.supervisor).get(url("knowledge-customer-detail", both.pk))
    admin = client_for(world.admin).get(url("knowledge-customer-detail", both.pk))

    assert supervisor.status_code == 200
    html = supervisor.content.decode()
    assert url("conversation-detail", world.north_call.pk) in html
    assert url("conversation-detail", world.south_call.pk) not in html
    admin_html = admin.content.decode()
    assert url("conversation-detail", world.south_call.pk) in admin_html
    [supervisor_row] = selectors.profile_list(user=world.supervisor)
    [admin_row] = selectors.profile_list(user=world.admin)
    assert (supervisor_row.conversation_count, admin_row.conversation_count) == (1, 2)


# The list -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [("nora", ["Nora North"]), ("0001111", ["Nora North"]), ("MEM_NORA", ["Nora North"])],
)
def test_customers_are_found_by_name_address_or_profile_id(
    world, client_for, nora, sid, query, expected
):
    response = client_for(world.admin).get(url("knowledge-customer-list"), {"q": query})
    assert listed(response) == expected


def test_a_search_without_matches_says_so(world, client_for, nora):
    response = client_for(world.admin).get(url("knowledge-customer-list"), {"q": "zelda"})
    assert listed(response) == []
    assert "No customer matches “zelda”" in response.content.decode()


def test_without_customers_the_list_says_so(world, client_for):
    html = client_for(world.admin).get(url("knowledge-customer-list")).content.decode()
    assert "No customers yet" in html


def test_the_list_counts_observations_and_conversations(world, client_for, nora):
    services.observations_add(
        profile=nora, texts=["Prefers email", "Has two cards"], source=ObservationSource.USER
    )
    html = client_for(world.admin).get(url("knowledge-customer-list")).content.decode()
    assert re.findall(r'data-testid="observation-count">(\d+)<', html) == ["2"]
    assert re.findall(r'data-testid="conversation-count">(\d+)<', html) == ["1"]


def test_the_list_shows_25_customers_a_page(world, client_for):
    for n in range(30):
        make_profile(f"Customer {n:02d}", world.north_call)
    client = client_for(world.supervisor)
    assert len(listed(client.get(url("knowledge-customer-list")))) == 25
    assert len(listed(client.get(url("knowledge-customer-list"), {"page": 2}))) == 5


def test_the_list_makes_as_many_queries_for_30_customers_as_for_3(world, client_for):
    client = client_for(world.supervisor)
    for n in range(3):
        make_profile(f"Customer {n:02d}", world.north_call)
    few = queries_for(client, url("knowledge-customer-list"))
    for n in range(3, 30):
        make_profile(f"Customer {n:02d}", world.north_call)
    many = queries_for(client, url("knowledge-customer-list"))
    assert many == few


def test_the_memory_pages_sit_under_knowledge_in_the_navigation(world, client_for):
    html = client_for(world.agent_user).get(url("knowledge-customer-list")).content.decode()
    assert re.search(r'nav-link active" aria-current="page" href="/intelligence/knowledge/"', html)


# A customer's page --------------------------------------------------------------------------------


def test_a_customer_page_shows_observations_newest_first_with_where_they_came_from(
    world, client_for, nora
):
    result = OperatorResult.objects.create(
        result_id="LR-memory-1",
        conversation=world.north_call,
        operator_id="memory",
        operator_name="Memory extractor",
        output_format="TEXT",
    )
    services.observations_add(
        conversation_id=world.north_call.pk,
        texts=["Lost a card last month"],
        source=ObservationSource.OPERATOR,
        operator_result=result,
    )
    services.observations_add(
        profile=nora, texts=["Prefers email"], source=ObservationSource.USER, user=world.admin
    )

    response = client_for(world.agent_user).get(url("knowledge-customer-detail", nora.pk))

    html = response.content.decode()
    assert observation_texts(response) == ["Prefers email", "Lost a card last month"]
    assert re.findall(r'data-testid="observation-source">(?:<i[^>]*></i>)?([^<]*)<', html) == [
        "Person",
        "Operator",
    ]
    assert "from Memory extractor" in html
    assert f'href="{url("conversation-detail", world.north_call.pk)}"' in html
    assert "by ada" in html


def test_an_observation_from_a_conversation_out_of_reach_is_not_shown_nor_counted(
    world, client_for
):
    """A customer of both teams: what an operator learnt in the south call (its words, even)
    is for those who may open that call, not for the north team's supervisor."""
    both = make_profile("Bea Both", world.north_call, world.south_call)
    services.observations_add(
        conversation_id=world.south_call.pk, texts=["Angry"], source=ObservationSource.OPERATOR
    )
    services.observations_add(
        profile=both, texts=["Prefers email"], source=ObservationSource.USER, user=world.admin
    )

    supervisor = client_for(world.supervisor).get(url("knowledge-customer-detail", both.pk))
    admin = client_for(world.admin).get(url("knowledge-customer-detail", both.pk))

    assert observation_texts(supervisor) == ["Prefers email"]
    assert "Angry" not in supervisor.content.decode()
    assert observation_texts(admin) == ["Prefers email", "Angry"]
    [row] = selectors.profile_list(user=world.supervisor)
    assert row.observation_count == 1


def test_an_agent_sees_only_the_observations_of_their_own_calls(world, client_for):
    both = make_profile("Bea Both", world.north_call, world.south_call)
    services.observations_add(
        conversation_id=world.north_call.pk, texts=["Card lost"], source=ObservationSource.OPERATOR
    )
    services.observations_add(
        conversation_id=world.south_call.pk, texts=["Divorcing"], source=ObservationSource.OPERATOR
    )

    alice = client_for(world.agent_user).get(url("knowledge-customer-detail", both.pk))
    bob = client_for(world.other_agent_user).get(url("knowledge-customer-detail", both.pk))

    assert observation_texts(alice) == ["Card lost"]
    assert observation_texts(bob) == ["Divorcing"]


def test_words_said_in_one_conversation_are_not_memory_for_another(world):
    """What operators of a conversation are told: people's notes, what came from it, and from
    the customer's other conversations only what quotes nothing said there (a label)."""
    both = make_profile("Bea Both", world.north_call, world.south_call)
    services.observations_add(
        conversation_id=world.south_call.pk,
        texts=["Last conversation: i am getting divorced"],
        source=ObservationSource.OPERATOR,
    )
    services.observations_add(
        conversation_id=world.south_call.pk,
        texts=["Reason for calling: lost card"],
        source=ObservationSource.OPERATOR,
        quotes_conversation=False,
    )
    services.observation_add(user=world.admin, profile=both, text="Prefers email")

    north = selectors.memory_for_conversation(conversation_id=world.north_call.pk)
    south = selectors.memory_for_conversation(conversation_id=world.south_call.pk)

    assert sorted(north) == ["Prefers email", "Reason for calling: lost card"]
    assert sorted(south) == [
        "Last conversation: i am getting divorced",
        "Prefers email",
        "Reason for calling: lost card",
    ]


def test_adding_the_same_observation_twice_stores_it_once(world, client_for, nora):
    client = client_for(world.agent_user)

    first = client.post(url("knowledge-observation-add", nora.pk), {"text": "Prefers email"})
    second = client.post(
        url("knowledge-observation-add", nora.pk), {"text": "  prefers   EMAIL "}, follow=True
    )

    assert first.status_code == 302
    assert first["Location"] == url("knowledge-customer-detail", nora.pk)
    [observation] = Observation.objects.filter(profile=nora)
    assert (observation.text, observation.source, observation.created_by) == (
        "Prefers email",
        ObservationSource.USER,
        world.agent_user,
    )
    assert "already remembered" in second.content.decode()


def test_a_blank_observation_is_refused_next_to_its_field(world, client_for, nora):
    response = client_for(world.agent_user).post(
        url("knowledge-observation-add", nora.pk), {"text": "   "}
    )
    assert response.status_code == 200
    assert Observation.objects.count() == 0
    assert 'data-testid="field-error">Write what you learnt about the customer.<' in (
        response.content.decode()
    )


def test_deleting_an_observation_asks_first(world, client_for, nora):
    services.observations_add(
        profile=nora, texts=["Prefers email"], source="user", user=world.agent_user
    )
    observation = Observation.objects.get()
    client = client_for(world.agent_user)
    path = url("knowledge-observation-delete", nora.pk, observation.pk)

    confirm = client.get(path)
    assert confirm.status_code == 200 and "Prefers email" in confirm.content.decode()
    assert Observation.objects.exists()

    response = client.post(path)
    assert response.status_code == 302
    assert response["Location"] == url("knowledge-customer-detail", nora.pk)
    assert not Observation.objects.exists()


def test_only_its_author_or_an_admin_deletes_an_observation_and_each_deletion_is_recorded(
    world, client_for, nora
):
    services.observations_add(
        profile=nora, texts=["Prefers email"], source="user", user=world.supervisor
    )
    services.observations_add(
        profile=nora, conversation_id=world.north_call.pk, texts=["Card lost"], source="operator"
    )
    note, learnt = (
        Observation.objects.get(text="Prefers email"),
        Observation.objects.get(text="Card lost"),
    )
    agent = client_for(world.agent_user)

    page = agent.get(url("knowledge-customer-detail", nora.pk)).content.decode()
    assert 'data-testid="delete-observation"' not in page
    for observation in (note, learnt):
        path = url("knowledge-observation-delete", nora.pk, observation.pk)
        assert agent.post(path).status_code == 403
    with pytest.raises(PermissionDenied):
        services.observation_delete(user=world.agent_user, observation=learnt)
    assert Observation.objects.count() == 2

    author = client_for(world.supervisor)
    assert author.post(url("knowledge-observation-delete", nora.pk, note.pk)).status_code == 302
    assert author.post(url("knowledge-observation-delete", nora.pk, learnt.pk)).status_code == 403
    admin = client_for(world.admin)
    assert admin.post(url("knowledge-observation-delete", nora.pk, learnt.pk)).status_code == 302

    assert not Observation.objects.exists()
    recorded = ObservationDeletion.objects.order_by("id")
    assert [(d.text, d.source, d.author, d.deleted_by) for d in recorded] == [
        ("Prefers email", "user", world.supervisor, world.supervisor),
        ("Card lost", "operator", None, world.admin),
    ]
    assert recorded[1].conversation_id == world.north_call.pk


def test_an_observation_of_another_customer_is_a_404(world, client_for, nora):
    other = make_profile("Other", world.north_call)
    services.observations_add(profile=other, texts=["Prefers email"], source="user")
    observation = Observation.objects.get()
    path = url("knowledge-observation-delete", nora.pk, observation.pk)
    assert client_for(world.admin).post(path).status_code == 404
    assert Observation.objects.exists()


# The writes themselves ----------------------------------------------------------------------------


def test_observation_add_refuses_people_without_the_memory_feature(world, nora):
    with pytest.raises(PermissionDenied):
        services.observation_add(user=world.outsider, profile=nora, text="Prefers email")


def test_observation_add_refuses_a_customer_out_of_reach(world, sid):
    with pytest.raises(NotFound):
        services.observation_add(user=world.supervisor, profile=sid, text="Prefers email")
    assert Observation.objects.count() == 0


def test_observation_add_says_whether_the_observation_is_new(world, nora):
    first, created = services.observation_add(
        user=world.supervisor, profile=nora, text="Prefers email"
    )
    again, created_again = services.observation_add(
        user=world.supervisor, profile=nora, text="PREFERS EMAIL"
    )
    assert (created, created_again) == (True, False)
    assert first.pk == again.pk


def test_observation_add_refuses_text_too_long(world, nora):
    with pytest.raises(ValidationFailed) as refused:
        services.observation_add(user=world.admin, profile=nora, text="x" * 2001)
    assert list(refused.value.errors) == ["text"]


def test_deleting_someone_elses_observation_says_why_on_the_403_page(world, client_for, nora):
    services.observations_add(profile=nora, texts=["Prefers email"], source="user")
    observation = Observation.objects.get()
    path = url("knowledge-observation-delete", nora.pk, observation.pk)

    response = client_for(world.agent_user).post(path)

    assert response.status_code == 403
    assert "Only the person who wrote an observation, or an admin" in response.content.decode()


# A batch of operator results ---------------------------------------------------------------------


def test_a_batch_remembers_each_conversations_texts_for_its_own_customers_once(world, nora):
    sol = make_profile("Sol South", world.south_call, profile_id="mem_sol")
    Observation.objects.create(
        profile=sol,
        text="Moving abroad",
        digest=services.observation_digest("Moving abroad"),
        source=ObservationSource.USER,
    )

    services.observations_add_many(
        [
            services.Remember(world.north_call.pk, ["Lost a card"], ObservationSource.OPERATOR),
            services.Remember(world.south_call.pk, ["Moving abroad"], ObservationSource.OPERATOR),
            # the same text again in the batch: stored once
            services.Remember(world.north_call.pk, ["lost a  CARD"], ObservationSource.OPERATOR),
        ]
    )

    assert list(nora.observations.values_list("text", flat=True)) == ["Lost a card"]
    # already remembered (by a person): not again
    assert list(sol.observations.values_list("source", flat=True)) == [ObservationSource.USER]


def test_a_batch_takes_the_same_statements_whatever_its_size_but_two_per_conversation(world, nora):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sol = make_profile("Sol South", world.south_call, profile_id="mem_sol")
    north, south = world.north_call.pk, world.south_call.pk

    def statements(conversation_ids: list[int], text: str, per_conversation: int) -> int:
        batch = [
            services.Remember(pk, [f"{text} {n}"], ObservationSource.OPERATOR)
            for pk in conversation_ids
            for n in range(per_conversation)
        ]
        with CaptureQueriesContext(connection) as captured:
            services.observations_add_many(batch)
        return len(captured)

    statements([north, south], "linking", 1)  # profiles met for the first time
    one = statements([north], "one", 1)
    assert statements([north], "many", 5) == one
    # linking is checked per conversation (its participants, its links): two statements
    assert statements([north, south], "two", 5) == one + 2
    assert nora.observations.filter(text__startswith="two").count() == 5
    assert sol.observations.filter(text__startswith="two").count() == 5
