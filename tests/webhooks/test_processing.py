"""The inbox under failure: transient errors, a dead worker, Redis or PostgreSQL unreachable."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.conversations.models import Communication, Conversation
from apps.webhooks import services
from apps.webhooks.models import InboundEvent
from apps.webhooks.tasks import drain_inbox
from tests.fixtures.broker import use_broker
from tests.fixtures.twilio import ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db


def make_due():
    InboundEvent.objects.filter(status="pending").update(available_at=timezone.now())


@pytest.fixture
def conversations_locked():
    """Another session holds an exclusive lock on the conversations table: a real, transient
    database failure for whoever needs it (our statements give up after 100 ms)."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '100ms'")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other = psycopg.connect(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    )
    other.execute("LOCK TABLE conversations_conversation IN ACCESS EXCLUSIVE MODE")
    yield other
    other.rollback()
    other.close()
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = 0")


def test_transient_database_error_is_retried_later_with_backoff(
    twilio, drain, conversations_locked
):
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    drain()
    event = InboundEvent.objects.get()
    assert event.status == "pending"
    assert event.attempts == 1
    assert "lock" in event.error.lower()
    assert event.available_at > timezone.now() + timedelta(seconds=3)
    assert drain() == 0  # not due yet


def test_event_is_dead_with_its_error_after_the_last_attempt_and_can_be_replayed(
    twilio, drain, settings, conversations_locked
):
    settings.INGEST_MAX_ATTEMPTS = 2
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    drain()
    make_due()
    drain()
    event = InboundEvent.objects.get()
    assert (event.status, event.attempts) == ("dead", 2)
    assert "LockNotAvailable" in event.error or "lock" in event.error.lower()

    conversations_locked.rollback()  # the database recovers
    call_command("replay_events", "--status", "dead")
    drain()
    assert InboundEvent.objects.get().status == "processed"
    assert Conversation.objects.filter(
        twilio_id=fixture("conversation_created")["data"]["id"]
    ).exists()


def test_drain_task_runs_twice_with_one_effect(twilio):
    for name in ("conversation_created", "participant_added", "communication_created"):
        post_json(twilio, ORCHESTRATOR, fixture(name))
    assert drain_inbox() == 3
    assert drain_inbox() == 0
    assert Communication.objects.count() == 1
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}


def test_sweeper_hands_back_events_claimed_by_a_worker_that_died(twilio, drain, settings):
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert services.inbox_claim(limit=10)  # a worker claims it, then is killed
    InboundEvent.objects.update(
        claimed_at=timezone.now() - timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT + 1)
    )
    assert services.inbox_sweep()["released"] == 1
    drain()
    assert InboundEvent.objects.get().status == "processed"


def test_a_drain_takes_over_events_claimed_by_a_worker_that_died(twilio, drain, settings):
    # Under steady traffic every ingest process is draining and beat's sweeper task expires
    # in the queue behind them: the drain itself must hand the dead worker's events out again
    # (bench/faults.py: they waited until the traffic stopped, four minutes).
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert services.inbox_claim(limit=10)  # a worker claims it, then is killed
    InboundEvent.objects.update(
        claimed_at=timezone.now() - timedelta(seconds=settings.INGEST_CLAIM_TIMEOUT + 1)
    )
    post_json(twilio, ORCHESTRATOR, fixture("participant_added"))  # traffic goes on

    assert drain() == 2

    event = InboundEvent.objects.get(event_type="CONVERSATION_CREATED")
    assert (event.status, event.attempts) == ("processed", 2)


def test_a_recent_claim_is_not_taken_from_a_live_worker(twilio):
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    services.inbox_claim(limit=10)
    assert services.inbox_sweep()["released"] == 0


@pytest.fixture
def redis_unreachable(settings):
    """Point the wake-up path and the Celery broker at a port where nothing listens."""
    from ccportal.celery import app

    dead = "redis://127.0.0.1:1/0"
    previous_broker = app.conf.broker_url
    settings.REDIS_URL = dead
    use_broker(dead)
    services.INGEST_WAKER.reset()
    yield
    use_broker(previous_broker)
    services.INGEST_WAKER.reset()


def test_broker_down_event_is_still_stored_and_acknowledged(
    twilio, redis_unreachable, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert response.status_code == 200
    assert InboundEvent.objects.get().status == "pending"


def test_celery_publish_fails_but_the_request_is_still_acknowledged(
    twilio, settings, django_capture_on_commit_callbacks
):
    """Redis answers for the wake flag, but the broker connection is refused."""
    from ccportal.celery import app

    previous = app.conf.broker_url
    use_broker("redis://127.0.0.1:1/0")
    services.INGEST_WAKER.reset()
    services.wake_flag_clear()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    finally:
        use_broker(previous)
        services.INGEST_WAKER.reset()
        services.wake_flag_clear()
    assert response.status_code == 200
    assert InboundEvent.objects.get().status == "pending"


def test_after_the_broker_returns_the_sweeper_gets_pending_events_processed(
    twilio, drain, redis_unreachable, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    assert services.inbox_sweep() == {"released": 0, "pending": 1}  # broker still down: no crash
    drain()
    assert InboundEvent.objects.get().status == "processed"


def test_replay_command_needs_a_selection():
    with pytest.raises(CommandError):
        call_command("replay_events")


def test_replay_command_by_id_and_time_range(twilio, drain):
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    post_json(twilio, ORCHESTRATOR, {"eventType": "NOPE", "data": {"id": "x"}})
    drain()
    ignored = InboundEvent.objects.get(status="ignored")
    call_command("replay_events", str(ignored.pk))
    assert InboundEvent.objects.get(pk=ignored.pk).status == "pending"
    today = timezone.now().date().isoformat()
    call_command("replay_events", "--since", today)
    assert InboundEvent.objects.filter(status="pending").count() == 2


def test_rejected_events_are_never_replayed(twilio):
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"), signature="bad")
    assert services.inbox_replay(status="rejected") == 0
    assert InboundEvent.objects.get().status == "rejected"


def test_nul_bytes_from_a_sender_do_not_break_storage_or_processing(twilio, drain):
    payload = fixture("communication_created", content={"type": "TEXT", "text": "hello\u0000world"})
    assert post_json(twilio, ORCHESTRATOR, payload).status_code == 200
    drain()
    assert Communication.objects.get().text == "helloworld"
    raw = post_json(twilio, ORCHESTRATOR, None, body='{"eventType": "\x00"')
    assert raw.status_code == 400


def test_admin_lists_events_with_filters_and_replays_them(twilio, drain, world, client_for):
    post_json(twilio, ORCHESTRATOR, {"eventType": "NOPE", "data": {"id": "x"}})
    drain()
    admin = client_for(world.admin)
    world.admin.is_staff = world.admin.is_superuser = True
    world.admin.save()
    page = admin.get(
        "/admin/webhooks/inboundevent/?status__exact=ignored&source__exact=orchestrator"
    )
    assert page.status_code == 200
    assert b"NOPE" in page.content
    event = InboundEvent.objects.get()
    response = admin.post(
        "/admin/webhooks/inboundevent/",
        {"action": "replay", "_selected_action": [event.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert InboundEvent.objects.get().status == "pending"


def test_purge_deletes_settled_events_past_retention_and_keeps_failures(twilio, drain, settings):
    settings.INBOX_RETENTION_DAYS = 30
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    post_json(twilio, ORCHESTRATOR, fixture("communication_created", conversationId=None))
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"), signature="bad")
    post_json(twilio, ORCHESTRATOR, fixture("conversation_closed"))
    drain()
    old = timezone.now() - timedelta(days=31)
    InboundEvent.objects.exclude(event_type="CONVERSATION_UPDATED").update(received_at=old)

    assert services.inbox_purge(batch_size=1) == 1
    remaining = sorted(InboundEvent.objects.values_list("status", flat=True))
    assert remaining == ["failed", "processed", "rejected"]  # the recent one, and the failures
    assert Conversation.objects.filter(status="CLOSED").exists()  # effects stay


def test_purge_with_zero_retention_keeps_everything(twilio, drain, settings):
    settings.INBOX_RETENTION_DAYS = 0
    post_json(twilio, ORCHESTRATOR, fixture("conversation_created"))
    drain()
    InboundEvent.objects.update(received_at=timezone.now() - timedelta(days=3650))
    assert services.inbox_purge() == 0
    assert InboundEvent.objects.count() == 1
