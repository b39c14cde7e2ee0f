"""The knowledge pages as people use them.

Everyone with a role reads published articles; admins also see drafts and write, edit and delete
(behind a confirmation page); anyone else gets the 403 page on a write URL, and anonymous
visitors the sign-in page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.knowledge import services
from apps.knowledge.models import KnowledgeArticle
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

READERS = ["admin", "qa_analyst", "coach", "supervisor", "agent_user"]
NON_ADMIN_READERS = ["qa_analyst", "coach", "supervisor", "agent_user"]


def url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def article_ids(response) -> list[int]:
    """The articles listed on the page, in order."""
    html = response.content.decode()
    return [int(pk) for pk in re.findall(r'data-testid="article-row" data-article="(\d+)"', html)]


def field_errors(response) -> list[str]:
    return re.findall(r'data-testid="field-error">([^<]*)<', response.content.decode())


@pytest.fixture
def write(world):
    """``write(title, body, tags=..., is_published=...)``: an article, written by the admin."""

    def make(title: str, body: str = "Some text.", **fields: Any) -> KnowledgeArticle:
        return services.knowledge_article_create(user=world.admin, title=title, body=body, **fields)

    return make


@pytest.fixture
def admin(world, client_for) -> Client:
    return client_for(world.admin)


@pytest.fixture
def agent(world, client_for) -> Client:
    return client_for(world.agent_user)


# Who may open what --------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(write):
    article = write("Lost card")
    for path in [
        url("knowledge-list"),
        url("knowledge-detail", article.pk),
        url("knowledge-create"),
        url("knowledge-edit", article.pk),
        url("knowledge-delete", article.pk),
    ]:
        response = Client().get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("login")), path


@pytest.mark.parametrize("persona", READERS)
def test_every_role_reads_the_list_and_an_article(world, client_for, write, persona):
    article = write("Lost card", "Block the card at once.")
    client = client_for(getattr(world, persona))

    listing = client.get(url("knowledge-list"))
    detail = client.get(url("knowledge-detail", article.pk))

    assert listing.status_code == 200
    assert article_ids(listing) == [article.pk]
    assert detail.status_code == 200
    assert "Block the card at once." in detail.content.decode()


def test_people_without_a_role_get_the_403_page(world, client_for, write):
    article = write("Lost card")
    client = client_for(world.outsider)
    assert client.get(url("knowledge-list")).status_code == 403
    assert client.get(url("knowledge-detail", article.pk)).status_code == 403


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_non_admins_see_no_write_buttons(world, client_for, write, persona):
    article = write("Lost card")
    client = client_for(getattr(world, persona))

    for page in [
        client.get(url("knowledge-list")),
        client.get(url("knowledge-detail", article.pk)),
    ]:
        html = page.content.decode()
        assert url("knowledge-create") not in html
        assert url("knowledge-edit", article.pk) not in html
        assert url("knowledge-delete", article.pk) not in html


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_non_admins_get_403_on_every_write_url_and_change_nothing(
    world, client_for, write, persona
):
    article = write("Lost card", "Block the card.")
    client = client_for(getattr(world, persona))
    edit = {"title": "Hacked", "body": "Hacked", "tags": "", "is_published": "on"}

    assert client.get(url("knowledge-create")).status_code == 403
    assert client.post(url("knowledge-create"), edit).status_code == 403
    assert client.get(url("knowledge-edit", article.pk)).status_code == 403
    assert client.post(url("knowledge-edit", article.pk), edit).status_code == 403
    assert client.get(url("knowledge-delete", article.pk)).status_code == 403
    assert client.post(url("knowledge-delete", article.pk)).status_code == 403

    assert list(KnowledgeArticle.objects.values_list("title", "body")) == [
        ("Lost card", "Block the card.")
    ]


def test_admins_see_the_write_buttons(admin, write):
    article = write("Lost card")
    html = admin.get(url("knowledge-detail", article.pk)).content.decode()
    assert url("knowledge-edit", article.pk) in html
    assert url("knowledge-delete", article.pk) in html
    assert url("knowledge-create") in admin.get(url("knowledge-list")).content.decode()


# Writing ------------------------------------------------------------------------------------------


def test_admin_creates_an_article_and_lands_on_it(world, admin):
    response = admin.post(
        url("knowledge-create"),
        {
            "title": "Replacing a lost card",
            "body": "Block the card, then order a new one.",
            "tags": "Cards, lost card, cards",
            "is_published": "on",
        },
    )

    article = KnowledgeArticle.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("knowledge-detail", article.pk)
    assert (article.title, article.tags, article.is_published, article.created_by) == (
        "Replacing a lost card",
        ["cards", "lost card"],
        True,
        world.admin,
    )
    assert "created" in admin.get(response["Location"]).content.decode()


def test_the_create_form_starts_published(admin):
    html = admin.get(url("knowledge-create")).content.decode()
    assert re.search(r'id="id_is_published"[^>]* checked', html)


def test_an_invalid_article_shows_errors_next_to_fields_and_keeps_what_was_typed(admin):
    response = admin.post(
        url("knowledge-create"),
        {"title": "   ", "body": "Block the card, then order a new one.", "tags": "cards"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert KnowledgeArticle.objects.count() == 0
    assert field_errors(response) == ["This field is required."]
    assert re.search(r'id="id_title"[^>]*is-invalid', html)
    assert "Block the card, then order a new one.</textarea>" in html
    assert 'value="cards"' in html
    assert not re.search(r'id="id_is_published"[^>]* checked', html)


def test_a_title_too_long_is_refused_with_its_reason(admin):
    response = admin.post(url("knowledge-create"), {"title": "x" * 300, "body": "Text"})
    assert response.status_code == 200
    assert KnowledgeArticle.objects.count() == 0
    assert "at most 255 characters" in field_errors(response)[0]


def test_admin_edits_an_article(world, admin, write):
    article = write("Lost card", "Old text.", tags=["cards"])

    form = admin.get(url("knowledge-edit", article.pk)).content.decode()
    response = admin.post(
        url("knowledge-edit", article.pk),
        {"title": "Lost or stolen card", "body": "New text.", "tags": "cards, theft"},
    )

    article.refresh_from_db()
    assert 'value="Lost card"' in form and "Old text.</textarea>" in form
    assert 'value="cards"' in form
    assert response.status_code == 302
    assert response["Location"] == url("knowledge-detail", article.pk)
    assert (article.title, article.body, article.tags, article.is_published) == (
        "Lost or stolen card",
        "New text.",
        ["cards", "theft"],
        False,  # the box was not ticked
    )


def test_an_invalid_edit_keeps_the_article_and_what_was_typed(admin, write):
    article = write("Lost card", "Old text.")

    response = admin.post(
        url("knowledge-edit", article.pk), {"title": "Lost or stolen card", "body": ""}
    )

    article.refresh_from_db()
    assert response.status_code == 200
    assert article.title == "Lost card"
    assert field_errors(response) == ["This field is required."]
    assert 'value="Lost or stolen card"' in response.content.decode()


def test_deleting_asks_first_and_deletes_on_confirmation(admin, write):
    article = write("Lost card")

    confirm = admin.get(url("knowledge-delete", article.pk))
    assert confirm.status_code == 200
    assert 'data-testid="confirm-button"' in confirm.content.decode()
    assert KnowledgeArticle.objects.filter(pk=article.pk).exists()

    response = admin.post(url("knowledge-delete", article.pk))
    assert response.status_code == 302
    assert response["Location"] == url("knowledge-list")
    assert not KnowledgeArticle.objects.filter(pk=article.pk).exists()


def test_an_unknown_article_is_a_404_for_admins(admin):
    assert admin.get(url("knowledge-detail", 999999)).status_code == 404
    assert admin.get(url("knowledge-edit", 999999)).status_code == 404
    assert admin.post(url("knowledge-delete", 999999)).status_code == 404


# Drafts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", NON_ADMIN_READERS)
def test_drafts_are_hidden_from_non_admins(world, client_for, write, persona):
    published = write("Lost card")
    draft = write("Upcoming fee change", "Secret.", is_published=False)
    client = client_for(getattr(world, persona))

    assert article_ids(client.get(url("knowledge-list"))) == [published.pk]
    assert client.get(url("knowledge-detail", draft.pk)).status_code == 404
    assert article_ids(client.get(url("knowledge-list"), {"q": "fee"})) == []


def test_admins_see_drafts_with_a_draft_badge(admin, write):
    published = write("Lost card")
    draft = write("Upcoming fee change", is_published=False)

    response = admin.get(url("knowledge-list"))

    html = response.content.decode()
    assert article_ids(response) == [published.pk, draft.pk]
    assert "Draft" in html and "Published" in html
    assert admin.get(url("knowledge-detail", draft.pk)).status_code == 200


# Search, tags, pages ------------------------------------------------------------------------------


def test_search_finds_articles_by_words_of_their_text(agent, write):
    fees = write("Annual fees", "A replacement costs five dollars.")
    write("Opening hours", "We are open from nine to five.")

    assert article_ids(agent.get(url("knowledge-list"), {"q": "dollars"})) == [fees.pk]
    assert article_ids(agent.get(url("knowledge-list"), {"q": "replacements"})) == [fees.pk]


def test_search_ranks_title_matches_above_text_matches(agent, write):
    in_text = write("Annual fees", "Ordering a new card after a lost card costs five dollars.")
    in_title = write("Replacing a lost card", "Block it at once, then order a new one.")
    write("Opening hours", "We are open from nine to five.")

    response = agent.get(url("knowledge-list"), {"q": "lost card"})

    assert article_ids(response) == [in_title.pk, in_text.pk]


def test_a_search_without_matches_says_so(world, client_for, write):
    write("Lost card")
    response = client_for(world.admin).get(url("knowledge-list"), {"q": "mortgage"})
    html = response.content.decode()
    assert "No article matches “mortgage”" in html
    assert "No articles yet" not in html


def test_without_articles_admins_are_invited_to_write_one(admin, agent):
    admin_page = admin.get(url("knowledge-list")).content.decode()
    agent_page = agent.get(url("knowledge-list")).content.decode()
    assert "No articles yet" in admin_page and url("knowledge-create") in admin_page
    assert "No articles yet" in agent_page and url("knowledge-create") not in agent_page


def test_tag_chips_filter_the_list(agent, write):
    lost = write("Lost card", tags=["cards", "security"])
    write("Opening hours", tags=["branches"])

    response = agent.get(url("knowledge-list"), {"tag": "cards"})

    html = response.content.decode()
    assert article_ids(response) == [lost.pk]
    chips = re.findall(r'(aria-current="true" )?data-testid="tag-chip">([^<]*)<', html)
    assert chips == [("", "branches"), ('aria-current="true" ', "cards"), ("", "security")]


def test_the_list_shows_25_articles_a_page(agent, write):
    for n in range(30):
        write(f"Article {n:02d}")

    first = agent.get(url("knowledge-list"))
    second = agent.get(url("knowledge-list"), {"page": 2})

    assert len(article_ids(first)) == 25
    assert len(article_ids(second)) == 5
    assert "Showing 26\u201330 of 30" in second.content.decode()


def test_the_list_makes_as_many_queries_for_30_articles_as_for_3(admin, write):
    for n in range(3):
        write(f"Article {n:02d}", tags=["cards", f"tag {n}"])
    few = queries_for(admin, url("knowledge-list"))
    for n in range(3, 30):
        write(f"Article {n:02d}", tags=["cards", f"tag {n}"])
    many = queries_for(admin, url("knowledge-list"))

    assert many == few
