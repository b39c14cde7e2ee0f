"""The knowledge and customer memory API: every role reads, admins write articles, profiles are
scoped like the conversations they come from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.accounts.services import api_token_create
from apps.conversations.models import Conversation
from apps.knowledge import services
from apps.knowledge.choices import ObservationSource
from apps.knowledge.models import CustomerProfile, KnowledgeArticle, Observation
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

READERS = ["admin", "qa_analyst", "coach", "supervisor", "agent_user"]
NON_ADMIN_READERS = ["qa_analyst", "coach", "supervisor", "agent_user"]


def send(client: Client, method: str, path: str, body: Any = None):
    return getattr(client, method)(path, json.dumps(body or {}), content_type="application/json")


def titles(response) -> list[str]:
    return [row["title"] for row in response.json()["results"]]


@pytest.fixture
def write(world):
    def make(title: str, body: str = "Some text.", **fields: Any) -> KnowledgeArticle:
        return services.knowledge_article_create(user=world.admin, title=title, body=body, **fields)

    return make


def make_profile(name: str, *conversations: Conversation, profile_id: str = "") -> CustomerProfile:
    profile = CustomerProfile.objects.create(
        key=f"profile:{profile_id or name}", profile_id=profile_id, display_name=name
    )
    profile.conversations.add(*conversations)
    return profile


# Articles: reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", READERS)
def test_every_role_reads_articles(world, client_for, write, persona):
    article = write("Lost card", "Block it.", tags=["cards"])
    client = client_for(getattr(world, persona))

    listing = client.get("/api/knowledge/")
    detail = client.get(f"/api/knowledge/{article.pk}/")

    assert listing.status_code == 200 and titles(listing) == ["Lost card"]
    assert detail.json() == {
        "id": article.pk,
        "title": "Lost card",
        "body": "Block it.",
        "tags": ["cards"],
        "is_published": True,
        "created_by": "ada",
        "created_at": detail.json()["created_at"],
        "updated_by": "ada",
        "updated_at": detail.json()["updated_at"],
    }


def test_people_without_a_role_and_anonymous_callers_are_refused(world, client_for, write):
    article = write("Lost card")
    for client in (client_for(world.outsider), Client()):
        for path in ("/api/knowledge/", f"/api/knowledge/{article.pk}/"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert "detail" in response.json()


def test_a_token_works_as_well_as_a_session(world, write):
    write("Lost card")
    secret = api_token_create(user=world.agent_user, name="test").secret
    response = Client().get("/api/knowledge/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert titles(response) == ["Lost card"]


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_drafts_are_hidden_from_non_admins(world, client_for, write, persona):
    write("Lost card")
    draft = write("Fee change", is_published=False)
    client = client_for(getattr(world, persona))
    assert titles(client.get("/api/knowledge/")) == ["Lost card"]
    assert client.get(f"/api/knowledge/{draft.pk}/").status_code == 404


def test_admins_read_drafts(world, client_for, write):
    draft = write("Fee change", is_published=False)
    client = client_for(world.admin)
    assert titles(client.get("/api/knowledge/")) == ["Fee change"]
    assert client.get(f"/api/knowledge/{draft.pk}/").json()["is_published"] is False


def test_q_searches_the_text_and_ranks_title_matches_first(world, client_for, write):
    write("Annual fees", "Ordering a new card after a lost card costs five dollars.")
    write("Replacing a lost card", "Block it at once.")
    write("Opening hours", "Nine to five.")
    client = client_for(world.agent_user)

    assert titles(client.get("/api/knowledge/", {"q": "lost card"})) == [
        "Replacing a lost card",
        "Annual fees",
    ]
    assert titles(client.get("/api/knowledge/", {"q": "dollars"})) == ["Annual fees"]


def test_tag_filters_articles(world, client_for, write):
    write("Lost card", tags=["cards"])
    write("Opening hours", tags=["branches"])
    response = client_for(world.agent_user).get("/api/knowledge/", {"tag": "Cards"})
    assert titles(response) == ["Lost card"]


def test_the_list_makes_as_many_queries_for_30_articles_as_for_3(world, client_for, write):
    client = client_for(world.agent_user)
    for n in range(3):
        write(f"Article {n:02d}")
    few = queries_for(client, "/api/knowledge/")
    for n in range(3, 30):
        write(f"Article {n:02d}")
    many = queries_for(client, "/api/knowledge/")
    assert many == few


# Articles: writing --------------------------------------------------------------------------------


def test_admin_creates_updates_and_deletes_an_article(world, client_for):
    client = client_for(world.admin)

    created = send(
        client,
        "post",
        "/api/knowledge/",
        {"title": "Lost card", "body": "Block it.", "tags": ["Cards", "cards"]},
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    assert (created.json()["tags"], created.json()["is_published"]) == (["cards"], True)

    patched = send(client, "patch", f"/api/knowledge/{pk}/", {"is_published": False})
    assert patched.status_code == 200
    assert (patched.json()["title"], patched.json()["tags"], patched.json()["is_published"]) == (
        "Lost card",
        ["cards"],
        False,
    )

    replaced = send(client, "put", f"/api/knowledge/{pk}/", {"title": "Lost card", "body": "New"})
    assert replaced.status_code == 200
    assert (replaced.json()["body"], replaced.json()["tags"], replaced.json()["is_published"]) == (
        "New",
        [],
        True,
    )

    assert client.delete(f"/api/knowledge/{pk}/").status_code == 204
    assert not KnowledgeArticle.objects.exists()


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_non_admins_may_not_write(world, client_for, write, persona):
    article = write("Lost card", "Block it.")
    client = client_for(getattr(world, persona))
    body = {"title": "Hacked", "body": "Hacked"}

    responses = [
        send(client, "post", "/api/knowledge/", body),
        send(client, "put", f"/api/knowledge/{article.pk}/", body),
        send(client, "patch", f"/api/knowledge/{article.pk}/", body),
        client.delete(f"/api/knowledge/{article.pk}/"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert all("detail" in r.json() for r in responses)
    assert list(KnowledgeArticle.objects.values_list("title", "body")) == [
        ("Lost card", "Block it.")
    ]


def test_an_invalid_article_is_a_400_naming_its_fields(world, client_for):
    response = send(client_for(world.admin), "post", "/api/knowledge/", {"title": "x" * 300})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["errors"]) == {"title", "body"}
    assert not KnowledgeArticle.objects.exists()


def test_a_blank_title_is_a_400_and_keeps_the_article(world, client_for, write):
    article = write("Lost card")
    response = send(
        client_for(world.admin), "put", f"/api/knowledge/{article.pk}/", {"title": " ", "body": "x"}
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["title"]
    article.refresh_from_db()
    assert article.title == "Lost card"


# Profiles -----------------------------------------------------------------------------------------


@pytest.fixture
def profiles(world) -> dict[str, CustomerProfile]:
    return {
        "nora": make_profile("Nora North", world.north_call, profile_id="mem_nora"),
        "sid": make_profile("Sid South", world.south_call),
    }


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
def test_profiles_are_those_of_the_conversations_the_caller_may_see(
    world, client_for, profiles, persona, expected
):
    response = client_for(getattr(world, persona)).get("/api/profiles/")
    assert [row["display_name"] for row in response.json()["results"]] == expected


def test_profiles_are_refused_to_people_without_a_role(world, client_for, profiles):
    assert client_for(world.outsider).get("/api/profiles/").status_code == 403
    assert Client().get("/api/profiles/").status_code == 403


def test_a_profile_out_of_reach_is_a_404(world, client_for, profiles):
    client = client_for(world.supervisor)
    sid = profiles["sid"]
    assert client.get(f"/api/profiles/{sid.pk}/").status_code == 404
    response = send(client, "post", f"/api/profiles/{sid.pk}/observations/", {"text": "Hi"})
    assert response.status_code == 404
    assert not Observation.objects.exists()


def test_profiles_are_searched_by_q(world, client_for, profiles):
    response = client_for(world.admin).get("/api/profiles/", {"q": "mem_nora"})
    assert [row["display_name"] for row in response.json()["results"]] == ["Nora North"]


def test_a_profile_comes_with_its_observations_and_visible_conversations(
    world, client_for, profiles
):
    nora = profiles["nora"]
    services.observations_add(
        conversation_id=world.north_call.pk, texts=["Lost a card"], source="operator"
    )
    services.observations_add(profile=nora, texts=["Prefers email"], source="user")

    body = client_for(world.agent_user).get(f"/api/profiles/{nora.pk}/").json()

    assert (body["observation_count"], body["conversation_count"]) == (2, 1)
    assert [(o["text"], o["source"], o["conversation"]) for o in body["observations"]] == [
        ("Prefers email", "user", None),
        ("Lost a card", "operator", world.north_call.pk),
    ]
    assert [c["id"] for c in body["conversations"]] == [world.north_call.pk]


def test_a_profile_shows_no_observation_of_a_conversation_the_caller_may_not_see(world, client_for):
    both = make_profile("Bea Both", world.north_call, world.south_call)
    services.observations_add(
        profile=both, conversation_id=world.south_call.pk, texts=["Angry"], source="operator"
    )
    services.observations_add(
        profile=both, conversation_id=world.north_call.pk, texts=["Lost a card"], source="operator"
    )

    body = client_for(world.supervisor).get(f"/api/profiles/{both.pk}/").json()
    listed = client_for(world.supervisor).get("/api/profiles/").json()["results"]

    assert [(o["text"], o["conversation"]) for o in body["observations"]] == [
        ("Lost a card", world.north_call.pk)
    ]
    assert body["observation_count"] == 1
    assert [row["observation_count"] for row in listed] == [1]


def test_adding_an_observation_twice_stores_one(world, client_for, profiles):
    nora = profiles["nora"]
    client = client_for(world.agent_user)
    path = f"/api/profiles/{nora.pk}/observations/"

    first = send(client, "post", path, {"text": "Prefers email"})
    second = send(client, "post", path, {"text": "prefers  Email"})

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert (first.json()["source"], first.json()["created_by"]) == (ObservationSource.USER, "alice")
    assert Observation.objects.filter(profile=nora).count() == 1


def test_a_blank_observation_is_a_400(world, client_for, profiles):
    nora = profiles["nora"]
    client = client_for(world.agent_user)
    blank = send(client, "post", f"/api/profiles/{nora.pk}/observations/", {"text": "   "})
    assert blank.status_code == 400
    assert list(blank.json()["errors"]) == ["text"]
    assert not Observation.objects.exists()


def test_the_profile_list_makes_as_many_queries_for_30_profiles_as_for_3(world, client_for):
    client = client_for(world.supervisor)
    for n in range(3):
        make_profile(f"Customer {n:02d}", world.north_call)
    few = queries_for(client, "/api/profiles/")
    for n in range(3, 30):
        make_profile(f"Customer {n:02d}", world.north_call)
    many = queries_for(client, "/api/profiles/")
    assert many == few


def test_the_schema_documents_the_knowledge_and_profile_routes(world, client_for):
    schema = client_for(world.agent_user).get("/api/schema/", {"format": "json"}).json()
    for path in [
        "/api/knowledge/",
        "/api/knowledge/{id}/",
        "/api/profiles/",
        "/api/profiles/{id}/",
        "/api/profiles/{id}/observations/",
    ]:
        assert path in schema["paths"], path
    parameters = {p["name"] for p in schema["paths"]["/api/knowledge/"]["get"]["parameters"]}
    assert {"q", "tag", "page"} <= parameters
