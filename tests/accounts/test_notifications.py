"""Notifications: written in the caller's transaction, folded by key while unread, pushed to the
person's own socket after commit, nobody else's."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from apps.accounts import selectors, services
from apps.accounts.models import Notification
from apps.accounts.services import NotificationInput
from apps.live.consumers import CLOSE_FORBIDDEN
from ccportal.asgi import application
from tests.live.test_consumer import _cookie

pytestmark = pytest.mark.django_db


def test_unread_notifications_with_the_same_key_fold_into_one_that_counts(world):
    note = NotificationInput(kind="qa.pool_items", title="New in the pool", key="qa.pool")
    services.notify(user_ids=[world.qa_analyst.pk], notification=note)
    services.notify(
        user_ids=[world.qa_analyst.pk],
        notification=NotificationInput(**{**note.__dict__, "count": 3}),
    )
    folded = Notification.objects.get(user=world.qa_analyst)
    assert folded.count == 4
    services.notifications_mark_read(user=world.qa_analyst)
    services.notify(user_ids=[world.qa_analyst.pk], notification=note)
    assert Notification.objects.filter(user=world.qa_analyst).count() == 2  # a new one once read


def test_notifications_without_a_key_never_fold_and_inactive_users_get_none(world):
    world.coach.is_active = False
    world.coach.save()
    note = NotificationInput(kind="qa.review_released", title="A review")
    services.notify(user_ids=[world.agent_user.pk, world.coach.pk], notification=note)
    services.notify(user_ids=[world.agent_user.pk], notification=note)
    assert Notification.objects.filter(user=world.agent_user).count() == 2
    assert not Notification.objects.filter(user=world.coach).exists()


def test_marking_read_touches_only_ones_own(world):
    note = NotificationInput(kind="x", title="Hello")
    mine = services.notify(user_ids=[world.agent_user.pk], notification=note)
    theirs = services.notify(user_ids=[world.other_agent_user.pk], notification=note)
    assert services.notifications_mark_read(user=world.agent_user, ids=[*mine, *theirs]) == 1
    assert selectors.notification_unread_count(user=world.other_agent_user) == 1


def test_the_bell_page_and_its_menu_show_ones_own_notifications(world, client_for):
    services.notify(
        user_ids=[world.agent_user.pk],
        notification=NotificationInput(kind="x", title="Yours", url="/qa/reviews/mine/"),
    )
    services.notify(
        user_ids=[world.other_agent_user.pk],
        notification=NotificationInput(kind="x", title="Theirs"),
    )
    client = client_for(world.agent_user)
    page = client.get("/notifications/").content.decode()
    assert "Yours" in page and "Theirs" not in page
    assert 'data-testid="unread-count">1<' in client.get("/conversations/").content.decode()
    menu = client.get("/notifications/menu/").content.decode()
    assert 'data-unread-count="1"' in menu
    note = Notification.objects.get(user=world.agent_user)
    response = client.post("/notifications/read/", {"id": note.pk, "next": note.url})
    assert response.url == "/qa/reviews/mine/"
    offsite = client.post("/notifications/read/", {"next": "https://evil.example/"})
    assert offsite.url == "/notifications/"


@pytest.mark.django_db(transaction=True)
async def test_a_notification_reaches_the_persons_open_pages_and_nobody_elses(world):
    from asgiref.sync import sync_to_async

    cookie = await sync_to_async(_cookie)(world.agent_user)
    other = await sync_to_async(_cookie)(world.other_agent_user)
    headers = [(b"origin", b"http://localhost")]
    mine = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[*headers, (b"cookie", cookie)]
    )
    theirs = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[*headers, (b"cookie", other)]
    )
    assert (await mine.connect())[0] and (await theirs.connect())[0]

    await sync_to_async(services.notify)(
        user_ids=[world.agent_user.pk],
        notification=NotificationInput(
            kind="qa.review_released", title="A review", url="/qa/reviews/1/"
        ),
    )

    message = await mine.receive_json_from(timeout=5)
    assert message["event"] == "notification"
    assert message["payload"]["unread"] == 1
    assert message["payload"]["notification"]["title"] == "A review"
    assert await theirs.receive_nothing(timeout=0.3)
    await mine.disconnect()
    await theirs.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_anonymous_socket_is_refused(world):
    anonymous = WebsocketCommunicator(
        application, "/ws/notifications/", headers=[(b"origin", b"http://localhost")]
    )
    await anonymous.connect()
    assert (await anonymous.receive_output(timeout=5))["code"] == CLOSE_FORBIDDEN
    await anonymous.disconnect()  # not left to the event loop's teardown (docs/live.md)
