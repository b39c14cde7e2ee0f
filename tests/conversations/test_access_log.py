"""The transcript access log: every read of transcript text is one row (page, API, live socket),
some reads ask "why?" first (a sensitive conversation, one outside the reader's usual work),
the log is append-only in PostgreSQL, and admins search and export it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.conversations import access, services
from apps.conversations.choices import AccessChannel
from apps.conversations.models import Conversation, TranscriptAccess
from apps.conversations.services import CommunicationInput, communication_apply
from apps.live.consumers import CLOSE_FORBIDDEN
from ccportal.asgi import application
from tests.fixtures import qa as build

pytestmark = pytest.mark.django_db

SECRET_LINE = "i lost my debit card"  # a line of the north call's transcript


def detail(conversation) -> str:
    return reverse("conversation-detail", args=[conversation.pk])


def rows(**filters) -> list[TranscriptAccess]:
    return list(TranscriptAccess.objects.filter(**filters).order_by("id"))


def mark_sensitive(conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(sensitive=True, sensitive_reason="Test")


def give_reason(client: Client, conversation, *, preset: str = "", text: str = "", next_=""):
    return client.post(
        reverse("conversation-access-reason", args=[conversation.pk]),
        {"preset": preset, "text": text, "next": next_ or detail(conversation)},
    )


# Each read path writes one row ------------------------------------------------------------------


def test_the_conversation_page_records_who_read_which_transcript_how_and_from_where(
    world, client_for
):
    response = client_for(world.supervisor).get(detail(world.north_call))

    assert response.status_code == 200 and SECRET_LINE in response.content.decode()
    [row] = rows()
    assert (row.user_id, row.username) == (world.supervisor.pk, "sam")
    assert (row.conversation_id, row.conversation_twilio_id) == (
        world.north_call.pk,
        world.north_call.twilio_id,
    )
    assert (row.channel, row.reason, row.sensitive) == (AccessChannel.PAGE, "", False)
    assert row.path == detail(world.north_call) and row.ip == "127.0.0.1"


def test_reads_repeated_within_the_window_are_one_row_and_after_it_another(
    world, client_for, settings
):
    client = client_for(world.supervisor)
    client.get(detail(world.north_call))
    client.get(detail(world.north_call) + "?partial=transcript")
    assert len(rows()) == 1

    settings.ACCESS_LOG_DEDUPE_SECONDS = 0
    client.get(detail(world.north_call))
    assert len(rows()) == 2


def test_the_assist_view_records_a_page_read(world, client_for):
    sid = "CA" + "5" * 32
    Conversation.objects.filter(pk=world.north_call.pk).update(call_sids=[sid])

    response = client_for(world.agent_user).get(reverse("conversation-assist", args=[sid]))

    assert response.status_code == 200
    [row] = rows()
    assert (row.user_id, row.conversation_id, row.channel) == (
        world.agent_user.pk,
        world.north_call.pk,
        AccessChannel.PAGE,
    )
    assert row.path == f"/assist/{sid}/"


def test_the_qa_review_page_records_a_read_and_asks_for_a_sensitive_one(
    world, client_for, settings
):
    build.publish_script(world.admin)
    item = build.manual_item(world.north_call, key="manual:access")
    from apps.qa import services as qa

    claimed = qa.queue_item_claim(user=world.qa_analyst, item_id=item.pk)
    review = qa.review_start(item=claimed, reviewer=world.qa_analyst)
    url = reverse("qa-review", args=[review.pk])
    client = client_for(world.qa_analyst)

    assert client.get(url).status_code == 200
    assert [(r.channel, r.path) for r in rows()] == [(AccessChannel.PAGE, url)]

    settings.ACCESS_REASON_MODE = "sensitive"
    mark_sensitive(world.north_call)
    asked = client.get(url).content.decode()
    assert 'data-testid="access-reason"' in asked and SECRET_LINE not in asked
    assert give_reason(client, world.north_call, text="Scoring it", next_=url).url == url
    assert SECRET_LINE in client.get(url).content.decode()
    assert rows()[-1].reason == "Scoring it" and rows()[-1].sensitive


# The API --------------------------------------------------------------------------------------


def test_the_api_transcript_records_a_read_and_polling_it_is_one_row(world, client_for):
    client = client_for(world.supervisor)
    url = f"/api/conversations/{world.north_call.pk}/communications/"

    for _ in range(3):
        assert client.get(url).status_code == 200

    [row] = rows()
    assert (row.channel, row.conversation_id, row.path) == (
        AccessChannel.API,
        world.north_call.pk,
        url,
    )


def test_the_api_list_of_communications_records_each_conversation_on_the_page(world, client_for):
    assert client_for(world.admin).get("/api/communications/").status_code == 200
    assert {r.conversation_id for r in rows(channel=AccessChannel.API)} == {
        world.north_call.pk,
        world.south_call.pk,
    }

    line = world.south_call.communications.first()
    client_for(world.other_agent_user).get(f"/api/communications/{line.pk}/")
    assert rows(user=world.other_agent_user)[0].conversation_id == world.south_call.pk


def test_the_api_answers_403_asking_for_a_reason_then_reads_with_the_header(
    world, client_for, settings
):
    settings.ACCESS_REASON_MODE = "sensitive"
    mark_sensitive(world.north_call)
    client = client_for(world.supervisor)
    url = f"/api/conversations/{world.north_call.pk}/communications/"

    refused = client.get(url)
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "access_reason_required"
    assert "X-Access-Reason" in body["detail"]
    assert body["extra"]["conversations"] == [world.north_call.pk]
    assert rows() == []

    answered = client.get(url, headers={"X-Access-Reason": "Complaint 1234"})
    assert answered.status_code == 200
    assert answered.json()["results"][0]["text"]
    assert client.get(url, {"reason": "Chargeback"}).status_code == 200
    assert [(r.reason, r.sensitive) for r in rows()] == [
        ("Complaint 1234", True),
        ("Chargeback", True),
    ]


def test_the_schema_documents_the_reason_header_and_the_403(client_for, world):
    schema = client_for(world.admin).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/conversations/{id}/communications/"]["get"]

    assert {"X-Access-Reason", "reason"} <= {p["name"] for p in operation["parameters"]}
    assert "access_reason_required" in operation["responses"]["403"]["description"]


# When a reason is asked ------------------------------------------------------------------------


def test_a_sensitive_conversation_asks_once_per_session_and_conversation(
    world, client_for, settings
):
    settings.ACCESS_REASON_MODE = "sensitive"
    mark_sensitive(world.north_call)
    mark_sensitive(world.south_call)
    client = client_for(world.qa_analyst)

    asked = client.get(detail(world.north_call))
    assert asked.status_code == 200
    page = asked.content.decode()
    assert 'data-testid="access-reason"' in page and SECRET_LINE not in page
    assert rows() == []  # nothing was read yet

    refused = give_reason(client, world.north_call)
    assert refused.status_code == 400 and b"Give a reason" in refused.content

    answered = give_reason(
        client, world.north_call, preset="Customer complaint or escalation", text="Ticket 77"
    )
    assert answered.status_code == 302 and answered.url == detail(world.north_call)
    assert SECRET_LINE in client.get(detail(world.north_call)).content.decode()
    assert rows()[0].reason == "Customer complaint or escalation: Ticket 77"

    # Remembered for that conversation only, in that session only.
    assert b'data-testid="access-reason"' in client.get(detail(world.south_call)).content
    assert (
        b'data-testid="access-reason"'
        in client_for(world.qa_analyst).get(detail(world.north_call)).content
    )


def test_mode_never_asks_nobody_and_mode_always_asks_everyone_but_the_agent(
    world, client_for, settings
):
    mark_sensitive(world.north_call)
    settings.ACCESS_REASON_MODE = "never"
    assert SECRET_LINE in client_for(world.admin).get(detail(world.north_call)).content.decode()

    settings.ACCESS_REASON_MODE = "always"
    Conversation.objects.filter(pk=world.north_call.pk).update(sensitive=False)
    asked = client_for(world.supervisor).get(detail(world.north_call)).content
    assert b"access-reason" in asked  # in their team, not sensitive: asked all the same


@pytest.mark.parametrize("mode", ["always", "sensitive"])
def test_an_agent_reads_their_own_call_without_being_asked(world, client_for, settings, mode):
    settings.ACCESS_REASON_MODE = mode
    mark_sensitive(world.north_call)

    page = client_for(world.agent_user).get(detail(world.north_call)).content.decode()

    assert SECRET_LINE in page
    assert [(r.user_id, r.reason) for r in rows()] == [(world.agent_user.pk, "")]


def test_qa_analysts_are_asked_outside_their_queue_and_admins_outside_theirs(
    world, client_for, settings
):
    settings.ACCESS_REASON_MODE = "sensitive"
    build.manual_item(world.north_call, key="manual:mine", assignee_id=world.qa_analyst.pk)

    analyst = client_for(world.qa_analyst)
    assert SECRET_LINE in analyst.get(detail(world.north_call)).content.decode()
    assert b"access-reason" in analyst.get(detail(world.south_call)).content
    assert b"access-reason" in client_for(world.admin).get(detail(world.north_call)).content
    # Supervisors see their teams only: never outside their work.
    assert (
        SECRET_LINE in client_for(world.supervisor).get(detail(world.north_call)).content.decode()
    )


# The sensitive mark ----------------------------------------------------------------------------


def test_ingest_marks_a_conversation_sensitive_when_redaction_masks_a_card_number(world):
    communication_apply(
        CommunicationInput(
            twilio_id="comm_card_1",
            conversation_twilio_id=world.south_call.twilio_id,
            occurred_at=timezone.now(),
            text="my card is 4111 1111 1111 1111",
        )
    )
    communication_apply(
        CommunicationInput(
            twilio_id="comm_plain_1",
            conversation_twilio_id=world.north_call.twilio_id,
            occurred_at=timezone.now(),
            text="my email is nora@example.com",
        )
    )

    south = Conversation.objects.get(pk=world.south_call.pk)
    assert south.sensitive and "card number" in south.sensitive_reason
    assert not Conversation.objects.get(pk=world.north_call.pk).sensitive


def test_qa_marks_a_conversation_sensitive_with_a_reason_and_agents_may_not(world, client_for):
    url = reverse("conversation-sensitive", args=[world.north_call.pk])

    assert client_for(world.agent_user).post(
        url, {"sensitive": "1", "reason": "x"}
    ).status_code == (403)
    client = client_for(world.qa_analyst)
    client.post(url, {"sensitive": "1", "reason": ""})
    assert not Conversation.objects.get(pk=world.north_call.pk).sensitive

    client.post(url, {"sensitive": "1", "reason": "Medical details discussed"})
    marked = Conversation.objects.get(pk=world.north_call.pk)
    assert marked.sensitive and marked.sensitive_reason == "Medical details discussed"
    assert marked.sensitive_marked_by_id == world.qa_analyst.pk
    assert b'data-testid="sensitive-badge"' in client.get(detail(world.north_call)).content


# The live socket -------------------------------------------------------------------------------


def _cookie_with(user, reasons: dict[int, str] | None = None) -> bytes:
    client = Client()
    client.force_login(user)
    if reasons:
        session = client.session
        for pk, reason in reasons.items():
            access.remember_reason(session, pk, reason)
        session.save()
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def _socket(conversation_id: int, cookie: bytes) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation_id}/",
        headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)],
    )


@pytest.mark.django_db(transaction=True)
async def test_joining_a_conversation_socket_is_a_logged_read_and_needs_the_pages_reason(
    world, settings
):
    from asgiref.sync import sync_to_async

    settings.ACCESS_REASON_MODE = "sensitive"
    pk = world.north_call.pk
    plain = await sync_to_async(_cookie_with)(world.supervisor)
    with_reason = await sync_to_async(_cookie_with)(world.admin, {pk: "Escalation 9"})
    without = await sync_to_async(_cookie_with)(world.admin)

    joined = _socket(pk, plain)
    assert (await joined.connect())[0]
    await joined.disconnect()

    refused = _socket(pk, without)
    await refused.connect()
    assert (await refused.receive_output(timeout=5))["code"] == CLOSE_FORBIDDEN
    await refused.disconnect()

    admitted = _socket(pk, with_reason)
    assert (await admitted.connect())[0]
    await admitted.disconnect()

    logged = await sync_to_async(rows)(channel=AccessChannel.LIVE)
    assert [(r.username, r.reason) for r in logged] == [("sam", ""), ("ada", "Escalation 9")]


# Append-only -----------------------------------------------------------------------------------


def test_the_log_refuses_updates_and_deletes_in_postgresql_but_the_purge_deletes(world):
    services.transcript_access_record(
        user=world.admin, conversation_ids=[world.north_call.pk], channel=AccessChannel.PAGE
    )
    row = rows()[0]

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        TranscriptAccess.objects.filter(pk=row.pk).update(reason="edited later")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM conversations_transcriptaccess")
    assert rows()[0].reason == ""

    assert services.access_log_purge(before=timezone.now() - timedelta(days=1)) == 0
    assert services.access_log_purge(before=timezone.now() + timedelta(seconds=1)) == 1
    assert rows() == []
    with pytest.raises(DatabaseError), transaction.atomic():  # the purge's permission ended
        services.transcript_access_record(
            user=world.admin, conversation_ids=[world.north_call.pk], channel=AccessChannel.PAGE
        )
        TranscriptAccess.objects.all().delete()


# The admin page and API ------------------------------------------------------------------------


@pytest.fixture
def logged(world):
    def record(user, conversation, channel, reason=""):
        services.transcript_access_record(
            user=user, conversation_ids=[conversation.pk], channel=channel, reason=reason
        )

    record(world.supervisor, world.north_call, AccessChannel.PAGE)
    record(world.admin, world.south_call, AccessChannel.API, reason="Chargeback dispute")
    mark_sensitive(world.north_call)
    record(world.qa_analyst, world.north_call, AccessChannel.LIVE, reason="Scoring")
    return world


def listed(response) -> list[str]:
    return response.content.decode().count('data-testid="access-row"')


def test_admins_filter_the_log_by_user_channel_reason_sensitivity_and_date(logged, client_for):
    client = client_for(logged.admin)
    url = reverse("access-log")

    assert listed(client.get(url)) == 3
    assert listed(client.get(url, {"user": "sam"})) == 1
    assert listed(client.get(url, {"conversation": logged.south_call.twilio_id})) == 1
    assert listed(client.get(url, {"conversation": str(logged.north_call.pk)})) == 2
    assert listed(client.get(url, {"channel": "LIVE"})) == 1
    assert listed(client.get(url, {"reason": "chargeback"})) == 1
    assert listed(client.get(url, {"sensitive": "on"})) == 1
    today = timezone.localdate().isoformat()
    assert listed(client.get(url, {"date_from": today, "date_to": today})) == 3
    empty = client.get(url, {"date_to": "2000-01-01"})
    assert listed(empty) == 0 and b'data-testid="empty-state"' in empty.content
    bad = client.get(url, {"date_from": "yesterday"})
    assert bad.status_code == 200 and b'data-testid="filter-errors"' in bad.content


def test_admins_export_the_filtered_log_as_csv(logged, client_for):
    response = client_for(logged.admin).get(reverse("access-log-csv"), {"channel": "API"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert table[0][:6] == [
        "created_at", "username", "user_id", "conversation_id", "conversation_twilio_id",
        "channel",
    ]  # fmt: skip
    assert [(r[1], r[5], r[6]) for r in table[1:]] == [("ada", "API", "Chargeback dispute")]


@pytest.mark.parametrize("persona", ["qa_analyst", "supervisor", "agent_user", "outsider"])
def test_nobody_but_admins_opens_the_log(logged, client_for, persona):
    client = client_for(getattr(logged, persona))

    assert client.get(reverse("access-log")).status_code == 403
    assert client.get(reverse("access-log-csv")).status_code == 403
    assert client.get("/api/access-log/").status_code == 403


def test_the_api_lists_the_log_for_admins_with_the_same_filters(logged, client_for):
    results = client_for(logged.admin).get("/api/access-log/", {"user": "ada"}).json()["results"]

    assert [(r["username"], r["channel"], r["reason"]) for r in results] == [
        ("ada", "API", "Chargeback dispute")
    ]
    assert Client().get(reverse("access-log")).status_code == 302  # sign in first
