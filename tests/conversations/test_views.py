"""The conversation pages as people use them: sign in, browse, filter, open a conversation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.conversations.choices import ConversationStatus, ParticipantType
from apps.conversations.models import Communication, Participant
from tests.fixtures import builders
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

LIST_URL = reverse("conversation-list")


def detail_url(conversation) -> str:
    return reverse("conversation-detail", args=[conversation.pk])


def shown(response) -> set[int]:
    """Ids of the conversations listed on a list page."""
    return {int(pk) for pk in re.findall(r'data-conversation="(\d+)"', response.content.decode())}


def aware(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime(year, month, day, hour))


# Signing in and out


def test_login_page_renders_a_sign_in_form():
    response = Client().get(reverse("login"))

    assert response.status_code == 200
    assert b"Sign in to ccportal" in response.content
    assert b'name="username"' in response.content
    assert b'name="password"' in response.content


def test_login_with_a_wrong_password_shows_the_error_on_the_card(world):
    response = Client().post(reverse("login"), {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert b'data-testid="login-error"' in response.content
    assert b"enter a correct username and password" in response.content


def test_login_with_the_right_password_lands_on_the_conversation_list(world):
    response = Client().post(
        reverse("login"), {"username": "alice", "password": builders.PASSWORD}, follow=True
    )

    assert response.redirect_chain[-1][0] == LIST_URL
    assert shown(response) == {world.north_call.pk}


@pytest.mark.parametrize("url_name", ["home", "conversation-list"])
def test_anonymous_visitor_is_redirected_to_login(url_name):
    response = Client().get(reverse(url_name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_visitor_is_redirected_to_login_from_a_conversation(world):
    response = Client().get(detail_url(world.north_call))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={detail_url(world.north_call)}"


def test_logout_is_a_post_that_returns_to_login(world, client_for):
    client = client_for(world.agent_user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(LIST_URL).status_code == 302


# Navigation


def test_navigation_shows_the_admin_link_only_to_admins(world, client_for):
    admin_link = f'href="{reverse("admin:index")}"'.encode()

    assert admin_link in client_for(world.admin).get(LIST_URL).content
    for persona in (world.qa_analyst, world.coach, world.supervisor, world.agent_user):
        assert admin_link not in client_for(persona).get(LIST_URL).content


def test_navigation_shows_links_the_role_may_use_with_name_role_and_logout(world, client_for):
    content = client_for(world.supervisor).get(LIST_URL).content.decode()

    assert f'href="{LIST_URL}"' in content
    assert f'href="{reverse("api-docs")}"' in content
    assert 'data-testid="user-role">Supervisor<' in content
    assert 'data-testid="user-name">sam<' in content
    assert f'action="{reverse("logout")}"' in content
    assert "csrfmiddlewaretoken" in content


def test_navigation_hides_feature_links_from_an_outsider(world, client_for):
    content = client_for(world.outsider).get(LIST_URL).content.decode()

    assert f'href="{reverse("api-docs")}"' not in content
    assert 'data-testid="user-role">No role<' in content


# Who sees what


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("admin", {"north_call", "south_call"}),
        ("qa_analyst", {"north_call", "south_call"}),
        ("supervisor", {"north_call"}),
        ("coach", {"north_call"}),
        ("agent_user", {"north_call"}),
        ("other_agent_user", {"south_call"}),
        ("outsider", set()),
    ],
)
def test_conversation_list_shows_each_persona_exactly_their_conversations(
    world, client_for, persona, expected
):
    response = client_for(getattr(world, persona)).get(LIST_URL)

    assert response.status_code == 200
    assert shown(response) == {getattr(world, name).pk for name in expected}


def test_outsider_sees_an_empty_list_that_explains_why(world, client_for):
    response = client_for(world.outsider).get(LIST_URL)

    assert b'data-testid="empty-state"' in response.content
    assert b"Your account has no role" in response.content
    assert b"0 conversations" in response.content


@pytest.mark.parametrize(
    ("persona", "call"),
    [
        ("supervisor", "south_call"),
        ("coach", "south_call"),
        ("agent_user", "south_call"),
        ("other_agent_user", "north_call"),
        ("outsider", "north_call"),
        ("outsider", "south_call"),
    ],
)
def test_conversation_page_is_not_found_outside_the_viewers_scope(world, client_for, persona, call):
    response = client_for(getattr(world, persona)).get(detail_url(getattr(world, call)))

    assert response.status_code == 404
    assert b"find that page" in response.content


def test_conversation_page_is_not_found_for_an_id_that_does_not_exist(world, client_for):
    response = client_for(world.admin).get(reverse("conversation-detail", args=[999_999_999]))

    assert response.status_code == 404


# The list page


def test_conversation_list_row_shows_what_a_supervisor_scans_for(world, client_for):
    call = builders.make_conversation(
        agent=world.agent,
        customer_name="Grace Hopper",
        queue="cards",
        started_at=aware(2024, 3, 5, 9),
        texts=[("customer", "hi"), ("agent", "hello"), ("customer", "bye")],
    )

    content = client_for(world.supervisor).get(LIST_URL).content.decode()
    row = content[content.index(f'data-conversation="{call.pk}"') :].split("</tr>")[0]

    assert "Mar 5, 2024" in row
    assert "09:00" in row
    assert "Grace Hopper" in row
    assert "Alice" in row
    assert "North" in row
    assert "cards" in row
    assert "Voice" in row
    assert "Closed" in row
    assert "0:15" in row  # three lines 5 s apart
    assert re.search(r'<td class="text-end">3</td>', row)
    assert f'href="{detail_url(call)}"' in row
    assert "2 conversations" in content


def test_conversation_list_filters_by_status(world, client_for):
    live = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)

    response = client_for(world.admin).get(LIST_URL, {"status": "ACTIVE"})

    assert shown(response) == {live.pk}


def test_conversation_list_filters_by_agent(world, client_for):
    response = client_for(world.admin).get(LIST_URL, {"agent": world.other_agent.pk})

    assert shown(response) == {world.south_call.pk}


def test_conversation_list_filters_by_team(world, client_for):
    response = client_for(world.admin).get(LIST_URL, {"team": world.north.pk})

    assert shown(response) == {world.north_call.pk}


def test_conversation_list_filters_by_channel(world, client_for):
    sms = builders.make_conversation(agent=world.agent, channel="SMS")

    response = client_for(world.admin).get(LIST_URL, {"channel": "SMS"})

    assert shown(response) == {sms.pk}


def test_conversation_list_filters_by_date_range_inclusive_of_both_ends(world, client_for):
    before = builders.make_conversation(agent=world.agent, started_at=aware(2024, 2, 29))
    first_day = builders.make_conversation(agent=world.agent, started_at=aware(2024, 3, 1, 0))
    last_day = builders.make_conversation(agent=world.agent, started_at=aware(2024, 3, 31, 23))
    after = builders.make_conversation(agent=world.agent, started_at=aware(2024, 4, 1))

    response = client_for(world.admin).get(
        LIST_URL, {"started_after": "2024-03-01", "started_before": "2024-03-31"}
    )

    assert shown(response) == {first_day.pk, last_day.pk}
    assert before.pk not in shown(response) and after.pk not in shown(response)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_date_filters_pick_the_days_of_the_current_time_zone(world, zone, settings, client_for):
    # The filters compare instants (an index range) but mean days where the portal runs: the
    # same conversations as comparing each start's local date, around midnight and the DST
    # change (New York moved its clocks on 2024-03-10).
    from zoneinfo import ZoneInfo

    from apps.conversations.models import Conversation

    settings.TIME_ZONE = zone
    local = ZoneInfo(zone)
    made = []
    for day in (8, 9, 10, 11):
        for hour, minute in ((0, 0), (0, 30), (23, 30), (23, 59)):
            at = datetime(2024, 3, day, hour, minute, tzinfo=local)
            made.append(builders.make_conversation(agent=world.agent, started_at=at).pk)
            in_utc = at.replace(tzinfo=ZoneInfo("UTC"))  # the same wall clock, elsewhere
            made.append(builders.make_conversation(agent=world.agent, started_at=in_utc).pk)
    client = client_for(world.admin)
    with timezone.override(zone):
        for after, before in (("2024-03-09", "2024-03-10"), ("2024-03-10", "2024-03-10")):
            expected = set(
                Conversation.objects.filter(
                    pk__in=made,
                    started_at__date__gte=after,
                    started_at__date__lte=before,
                ).values_list("pk", flat=True)
            )
            response = client.get(LIST_URL, {"started_after": after, "started_before": before})
            assert expected, "the case must select something"
            assert shown(response) & set(made) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [("debit", "north_call"), ("pay bills", "south_call"), ("Nora", "north_call")],
)
def test_conversation_list_search_finds_transcript_text_and_names(
    world, client_for, query, expected
):
    response = client_for(world.admin).get(LIST_URL, {"q": query})

    assert shown(response) == {getattr(world, expected).pk}


def test_conversation_list_search_stays_within_the_viewers_scope(world, client_for):
    response = client_for(world.supervisor).get(LIST_URL, {"q": "bill"})

    assert shown(response) == set()
    assert b"No conversations match these filters" in response.content
    assert b"Clear filters" in response.content


def test_filter_dropdowns_offer_only_agents_and_teams_in_scope(world, client_for):
    admin = client_for(world.admin).get(LIST_URL).context["filter"].form
    supervisor = client_for(world.supervisor).get(LIST_URL).context["filter"].form
    agent = client_for(world.agent_user).get(LIST_URL).context["filter"].form
    outsider = client_for(world.outsider).get(LIST_URL).context["filter"].form

    def names(form, field):
        return {str(choice) for choice in form.fields[field].queryset}

    assert names(admin, "agent") == {"Alice", "Bob"}
    assert names(admin, "team") == {"North", "South"}
    assert names(supervisor, "agent") == {"Alice"}
    assert names(supervisor, "team") == {"North"}
    assert names(agent, "agent") == {"Alice"}
    assert names(agent, "team") == {"North"}
    assert names(outsider, "agent") == set()
    assert names(outsider, "team") == set()


def test_filtering_by_an_agent_outside_scope_is_an_error_not_a_hint(world, client_for):
    response = client_for(world.supervisor).get(LIST_URL, {"agent": world.other_agent.pk})

    assert response.status_code == 200
    assert b'data-testid="filter-errors"' in response.content
    assert b"Bob" not in response.content
    assert shown(response) == {world.north_call.pk}


@pytest.mark.parametrize(
    ("params", "field_label"),
    [
        ({"started_after": "yesterday"}, "From"),
        ({"started_before": "2024-13-45"}, "To"),
        ({"agent": "999999999"}, "Agent"),
        ({"agent": "alice"}, "Agent"),
        ({"team": "-1"}, "Team"),
        ({"status": "ON_FIRE"}, "Status"),
        ({"q": "nul\x00byte"}, "Search"),
    ],
)
def test_bad_filter_input_shows_a_message_next_to_the_filter(
    world, client_for, params, field_label
):
    response = client_for(world.admin).get(LIST_URL, params)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-testid="filter-error"' in content
    assert f"<strong>{field_label}</strong>:" in content
    assert "is-invalid" in content
    # The bad filter is ignored; the page still lists what the viewer may see.
    assert shown(response) == {world.north_call.pk, world.south_call.pk}


def test_conversation_list_paginates_25_per_page_keeping_filters_in_links(
    world, client_for, many_conversations
):
    many_conversations(count=30, agent=world.agent)
    client = client_for(world.admin)

    first = client.get(LIST_URL, {"team": world.north.pk})
    second = client.get(LIST_URL, {"team": world.north.pk, "page": 2})

    assert len(shown(first)) == 25
    assert len(shown(second)) == 6  # 30 bulk + the north call
    assert shown(first).isdisjoint(shown(second))
    assert b"31 conversations" in first.content
    assert f'href="?team={world.north.pk}&amp;page=2"'.encode() in first.content
    assert b"Page 2 of 2" in second.content


def test_conversation_list_shows_the_last_page_for_a_page_number_past_the_end(
    world, client_for, many_conversations
):
    many_conversations(count=30, agent=world.agent)

    for page in ("99", "nope"):
        response = client_for(world.admin).get(LIST_URL, {"page": page})
        assert response.status_code == 200
        assert len(shown(response)) in (25, 7)


def test_htmx_request_gets_only_the_filter_bar_and_results(world, client_for):
    response = client_for(world.admin).get(LIST_URL, {"status": "CLOSED"}, HTTP_HX_REQUEST="true")

    content = response.content.decode()
    assert response.status_code == 200
    assert content.lstrip().startswith('<div id="conversation-browser">')
    assert '<nav class="navbar' not in content
    assert "HX-Request" in response["Vary"]
    assert shown(response) == {world.north_call.pk, world.south_call.pk}


def test_htmx_history_restore_gets_the_whole_page(world, client_for):
    response = client_for(world.admin).get(
        LIST_URL, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert b"<html" in response.content


def test_conversation_list_makes_the_same_number_of_queries_for_10_or_1000_conversations(
    world, client_for, many_conversations
):
    client = client_for(world.supervisor)

    def queries_for_list() -> int:
        return queries_for(client, LIST_URL)

    many_conversations(count=10, agent=world.agent)
    few = queries_for_list()
    many_conversations(count=990, agent=world.agent)
    lots = queries_for_list()

    assert lots == few
    assert few <= 10


# The conversation page


def test_conversation_page_shows_header_participants_and_linked_agent(world, client_for):
    response = client_for(world.supervisor).get(detail_url(world.north_call))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Nora North" in content
    assert 'data-testid="status">Closed<' in content
    assert "Voice" in content
    assert "North" in content
    assert world.north_call.call_sids[0] in content
    assert world.north_call.twilio_id in content
    assert 'data-testid="duration">0:10<' in content
    assert content.count('data-testid="participant"') == 2
    assert "Agent: Alice · North" in content


def test_a_closed_conversations_page_marks_its_transcript_ended_not_live(world, client_for):
    # The page's script shows "Ended" instead of "Live" when it connects (tests/live/test_browser).
    content = client_for(world.supervisor).get(detail_url(world.north_call)).content.decode()

    assert 'data-live-ended="true"' in content
    assert 'data-live-ended="false"' not in content


def test_an_active_conversations_page_marks_its_transcript_live(world, client_for):
    call = builders.make_conversation(agent=world.agent, status=ConversationStatus.ACTIVE)

    content = client_for(world.supervisor).get(detail_url(call)).content.decode()

    assert 'data-live-ended="false"' in content


def test_conversation_page_shows_the_transcript_with_speakers_roles_and_offsets(world, client_for):
    content = client_for(world.agent_user).get(detail_url(world.north_call)).content.decode()

    lines = re.findall(r'<li class="line line-(\w+)".*?</li>', content, flags=re.S)
    assert lines == ["agent", "customer"]
    first, second = re.findall(r'<li class="line.*?</li>', content, flags=re.S)
    assert "Alice" in first and ">Agent<" in first and ">00:00<" in first
    assert "thank you for calling harper valley" in first
    assert "Nora North" in second and ">Customer<" in second and ">00:05<" in second
    assert "i lost my debit card" in second


def test_conversation_page_labels_an_ai_agent_and_falls_back_to_timestamps(world, client_for):
    call = builders.make_conversation(agent=world.agent, started_at=aware(2024, 3, 5, 9))
    bot = Participant.objects.create(
        twilio_id="conv_participant_bot",
        conversation=call,
        type=ParticipantType.AI_AGENT,
        name="Ava",
    )
    Communication.objects.create(
        twilio_id="conv_communication_bot",
        conversation=call,
        author=bot,
        text="I can help with that",
        occurred_at=call.started_at + timedelta(minutes=1, seconds=7),
        offset_ms=None,
    )

    content = client_for(world.admin).get(detail_url(call)).content.decode()

    line = re.search(r'<li class="line line-ai".*?</li>', content, flags=re.S).group(0)
    assert "Ava" in line and ">AI agent<" in line and ">01:07<" in line


def test_conversation_page_without_lines_shows_an_empty_transcript(world, client_for):
    call = builders.make_conversation(agent=world.agent)

    response = client_for(world.admin).get(detail_url(call))

    assert b'data-testid="empty-transcript"' in response.content
    assert b"No transcript yet" in response.content


def test_conversation_page_shows_attributes_when_present(world, client_for):
    call = builders.make_conversation(agent=world.agent)
    call.attributes = {
        "tasks": [{"task_type": "replace card", "replacement card type": "debit"}],
        "labels": {"caller_mos": 3.0},
        "surveys": {"agent": {"partner_rating": "10"}, "caller": {}},
        "empty": "",
    }
    call.save(update_fields=["attributes"])

    content = client_for(world.admin).get(detail_url(call)).content.decode()
    card = content[content.index('data-testid="attributes"') :]

    assert "Task type: replace card · Replacement card type: debit" in card
    assert "Caller mos: 3" in card
    assert "Agent — Partner rating: 10" in card
    assert "Caller —" not in card
    assert "Empty" not in card
    assert 'data-testid="attributes"' not in (
        client_for(world.admin).get(detail_url(world.north_call)).content.decode()
    )


def test_conversation_page_makes_the_same_number_of_queries_for_2_or_200_lines(world, client_for):
    client = client_for(world.admin)
    short = builders.make_conversation(agent=world.agent, texts=[("agent", "hi")] * 2)
    long = builders.make_conversation(
        agent=world.agent, texts=[("agent", "hi"), ("customer", "hello")] * 100
    )

    def queries_for_page(conversation) -> int:
        return queries_for(client, detail_url(conversation))

    assert queries_for_page(long) == queries_for_page(short)


# ---- panels of other apps --------------------------------------------------------------------


def test_the_page_shows_every_registered_panel_and_its_line_marks(world, client_for):
    from django.http import HttpResponse
    from django.utils.html import format_html

    from apps.conversations import panels

    line = world.north_call.communications.order_by("id").first()

    def review(request, conversation, lines):
        return panels.Panel(
            aside=format_html(
                '<section data-testid="review-panel">Review of {}</section>', conversation.pk
            ),
            line_marks={line.twilio_id: [panels.LineMark(kind="Review", label="checked")]},
        )

    panels.register("review", review, partial=lambda r, c: HttpResponse("fresh"), order=50)
    try:
        client = client_for(world.supervisor)
        url = detail_url(world.north_call)
        page = client.get(url).content.decode()
        partial = client.get(url, {"partial": "review"})
        unknown = client.get(url, {"partial": "nothing"})
    finally:
        panels._PANELS.pop("review")

    assert f'data-testid="review-panel">Review of {world.north_call.pk}<' in page
    assert 'data-testid="line-review"' in page and "Review: </span>checked" in page
    assert 'data-testid="insights"' in page  # the intelligence app's panel, still there
    assert (partial.status_code, partial.content) == (200, b"fresh")
    assert unknown.status_code == 404
