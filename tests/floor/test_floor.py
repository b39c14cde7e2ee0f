"""The supervisor floor: tiles of the live calls a user may watch, the ws/floor/ socket (one
group per team), tips to the agent, and the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from apps.conversations import services as conversations
from apps.conversations.choices import ConversationStatus
from apps.floor import selectors, services
from apps.floor.models import AlertRule, Tip
from apps.live.consumers import CLOSE_FORBIDDEN
from apps.live.models import LiveEvent
from ccportal.asgi import application
from tests.fixtures import builders
from tests.intelligence.test_page import twilio_result
from tests.live.test_consumer import _cookie


def live_call(agent, texts=(("agent", "hello"), ("customer", "hi"))):
    return builders.make_conversation(
        agent=agent, status=ConversationStatus.ACTIVE, texts=list(texts),
        started_at=timezone.now() - timedelta(seconds=30),
    )  # fmt: skip


@pytest.mark.django_db
def test_a_tile_shows_who_is_on_the_call_the_customers_mood_and_the_script_so_far(world):
    call = live_call(world.agent, [("agent", "hello"), ("customer", "my card is gone"),
                                   ("customer", "this is terrible")])  # fmt: skip
    customer = [c for c in call.communications.order_by("offset_ms") if c.author.type == "CUSTOMER"]
    twilio_result(call, name="Sentiment", result={"label": "negative", "customer": {
        "label": "negative"}, "communications": [
        {"id": customer[0].twilio_id, "label": "neutral", "score": 0.0},
        {"id": customer[1].twilio_id, "label": "negative", "score": -0.7}]})  # fmt: skip
    twilio_result(call, name="Script Adherence", result={"categories": [{"criteria": [
        {"criteria_key": "greet", "criteria_met": "Succeeded"},
        {"criteria_key": "verify", "criteria_met": "Failed", "kind": "CRITICAL"},
        {"criteria_key": "close", "criteria_met": "Pending",
         "window": {"start_ms": 0, "end_ms": 600000}}]}]})  # fmt: skip

    [tile] = selectors.floor_tiles(ids=[call.pk])

    assert (tile["agent"], tile["customer"], tile["mix"], tile["team"]) == (
        "Alice", "Pat Customer", "HUMAN", "North")  # fmt: skip
    assert tile["sentiment"] == [0.0, -0.7] and tile["sentiment_label"] == "negative"
    assert {k: tile["adherence"][k] for k in ("met", "pending", "missed")} == {
        "met": 1, "pending": 1, "missed": 1}  # fmt: skip
    assert tile["adherence"]["windows"][0]["end_ms"] == 600000
    assert tile["risk"] == 25 + 15  # a critical step missed, the customer negative now


@pytest.mark.django_db
def test_the_snapshot_holds_the_live_calls_of_ones_teams_riskiest_first(world):
    calm = live_call(world.agent)
    upset = live_call(world.agent, [("customer", "i want a manager now")])
    south = live_call(world.other_agent)
    ended = live_call(world.agent)
    conversations.conversation_apply(twilio_id=ended.twilio_id, status="CLOSED",
                                     version=timezone.now())  # fmt: skip
    AlertRule.objects.create(name="Asks", kind="asks_for_human")
    services.alerts_check([upset.pk])

    ids = [tile["id"] for tile in selectors.floor_snapshot(user=world.supervisor)]
    assert ids == [upset.pk, calm.pk]  # North only, without the ended call
    everything = {tile["id"] for tile in selectors.floor_snapshot(user=world.qa_analyst)}
    assert {calm.pk, upset.pk, south.pk} <= everything and ended.pk not in everything
    assert selectors.floor_groups(world.agent_user) == []


@pytest.mark.django_db
def test_the_floor_page_and_api_are_for_supervisors_qa_and_admins(world, client_for):
    call = live_call(world.agent)
    page = client_for(world.supervisor).get("/live/")
    assert page.status_code == 200 and 'data-testid="floor"' in page.content.decode()
    api = client_for(world.supervisor).get("/api/floor/").json()
    assert [tile["id"] for tile in api["tiles"]] == [call.pk]
    assert client_for(world.agent_user).get("/live/").status_code == 403
    assert client_for(world.agent_user).get("/api/floor/").status_code == 403


@pytest.mark.django_db
def test_a_supervisor_sends_a_tip_that_reaches_the_agents_page_and_an_agent_cannot(
    world, client_for
):
    call = live_call(world.agent)
    url = f"/api/conversations/{call.pk}/tips/"

    sent = client_for(world.supervisor).post(url, {"text": "  Offer the  card freeze. "},
                                             content_type="application/json")  # fmt: skip
    assert sent.status_code == 201 and sent.json()["text"] == "Offer the card freeze."
    event = LiveEvent.objects.get(conversation_id=call.pk, event="tip")
    assert event.payload["text"] == "Offer the card freeze."
    json = "application/json"
    assert client_for(world.agent_user).post(url, {"text": "hi"}, json).status_code == 403
    assert client_for(world.supervisor).post(url, {"text": " "}, json).status_code == 400
    south = live_call(world.other_agent)
    assert client_for(world.supervisor).post(f"/api/conversations/{south.pk}/tips/",
        {"text": "x"}, content_type="application/json").status_code == 404  # fmt: skip
    page = client_for(world.agent_user).get(f"/assist/{call.call_sids[0]}/").content.decode()
    assert "Offer the card freeze." in page and 'data-testid="tip-form"' not in page
    assert Tip.objects.count() == 1


@pytest.mark.django_db
def test_an_alert_is_acknowledged_once_and_leaves_the_tile(world, client_for):
    call = live_call(world.agent, [("customer", "put me through to a supervisor")])
    AlertRule.objects.create(name="Asks", kind="asks_for_human")
    [alert] = services.alerts_check([call.pk])

    answer = client_for(world.supervisor).post(f"/api/alerts/{alert.pk}/acknowledge/")

    assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"
    assert selectors.floor_tiles(ids=[call.pk])[0]["alerts"] == []
    other = client_for(world.other_agent_user).post(f"/api/alerts/{alert.pk}/acknowledge/")
    assert other.status_code == 403


# The socket ---------------------------------------------------------------------------------


def floor_socket(cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(application, "/ws/floor/", headers=headers)


@pytest.mark.django_db(transaction=True)
async def test_a_supervisors_floor_socket_receives_only_their_teams_calls(world):
    from asgiref.sync import sync_to_async

    north = await sync_to_async(live_call)(world.agent)
    south = await sync_to_async(live_call)(world.other_agent)
    supervisor = floor_socket(await sync_to_async(_cookie)(world.supervisor))
    qa = floor_socket(await sync_to_async(_cookie)(world.qa_analyst))
    assert (await supervisor.connect())[0] and (await qa.connect())[0]

    await sync_to_async(services.floor_refresh)([south.pk, north.pk])

    everything = await qa.receive_json_from(timeout=5)
    assert everything["event"] == "tiles"
    assert {tile["id"] for tile in everything["payload"]["tiles"]} == {north.pk, south.pk}
    teams = await supervisor.receive_json_from(timeout=5)
    assert [tile["id"] for tile in teams["payload"]["tiles"]] == [north.pk]
    assert await supervisor.receive_nothing(timeout=0.3)
    await supervisor.disconnect()
    await qa.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_ended_call_leaves_the_floor(world):
    from asgiref.sync import sync_to_async

    call = await sync_to_async(live_call)(world.agent)
    watcher = floor_socket(await sync_to_async(_cookie)(world.supervisor))
    assert (await watcher.connect())[0]

    await sync_to_async(conversations.conversation_apply)(
        twilio_id=call.twilio_id, status="CLOSED", version=timezone.now()
    )
    await sync_to_async(services.floor_refresh)([call.pk])

    assert await watcher.receive_json_from(timeout=5) == {
        "event": "gone",
        "payload": {"ids": [call.pk]},
    }
    await watcher.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona", ["agent_user", "outsider", None])
async def test_agents_and_strangers_cannot_join_the_floor(world, persona):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_cookie)(getattr(world, persona)) if persona else None
    watcher = floor_socket(cookie)
    await watcher.connect()
    closed = await watcher.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    # End the consumer here (it still waits on its channel), not in the loop's teardown: a
    # cancelled channel-layer read there has been seen to never finish (docs/live.md).
    await watcher.disconnect()


@pytest.mark.django_db
def test_a_supervisor_of_two_teams_joins_both_floors(world):
    from apps.accounts.choices import Role

    both = builders.make_user(
        username="two", role=Role.SUPERVISOR, teams=[world.north, world.south]
    )
    assert selectors.floor_groups(both) == sorted(
        [f"floor.team.{world.north.pk}", f"floor.team.{world.south.pk}"]
    )
    assert selectors.floor_groups(world.admin) == [selectors.FLOOR_ALL_GROUP]


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_marks_the_tile_due_and_wakes_the_floor_worker(world):
    from django.db import transaction

    from apps.common.changes import conversations_changed

    call = live_call(world.agent)
    services._redis().delete(services.DIRTY_KEY)
    with transaction.atomic():
        conversations_changed([call.pk])
        assert services._take_marked() == []  # nothing before the commit
    assert services._take_marked() == [call.pk]
