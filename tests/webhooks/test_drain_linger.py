"""The ingest drain at moderate rates: between short claims it lingers, holding the wake flag,
so the events committed meanwhile join its next batch instead of waking the workers again."""

from __future__ import annotations

from typing import Any

import pytest

from apps.common import wake
from apps.webhooks import services
from apps.webhooks.models import InboundEvent
from tests.fixtures.twilio import ORCHESTRATOR, fixture, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """The drain tasks the wake-ups publish (recorded, not sent); the flag clear around it."""
    sent: list[dict[str, Any]] = []

    class DrainTask:
        def apply_async(self, **options: Any) -> None:
            sent.append(options)

    monkeypatch.setattr(wake, "task_at", lambda path: DrainTask())
    services.INGEST_WAKER.reset()
    services.wake_flag_clear()
    yield sent
    services.wake_flag_clear()


def flag_held() -> bool:
    return bool(services.INGEST_WAKER._redis().exists(services.WAKE_KEY))


def post(twilio, name: str, token: str) -> None:
    response = post_json(twilio, ORCHESTRATOR, fixture(name), idempotency_token=token)
    assert response.status_code == 200


def test_events_committed_while_a_drain_lingers_join_its_next_batch_without_a_wake_up(
    twilio, published, monkeypatch
):
    post(twilio, "conversation_created", "linger-1")
    lingers: list[tuple[float, bool]] = []

    def linger(seconds: float) -> None:
        lingers.append((seconds, flag_held()))
        if len(lingers) == 1:  # an event arrives during the first linger
            post(twilio, "participant_added", "linger-2")
            services.wake_workers()  # as its commit does: the flag is held, nothing published

    monkeypatch.setattr(services.time, "sleep", linger)
    assert services.inbox_drain(linger_ms=50) == 2
    assert lingers == [(0.05, True), (0.05, True)]  # after each short batch, flag held
    assert published == []
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"processed"}

    assert not flag_held()  # the drain is over: the next commit wakes the workers again
    services.wake_workers()
    assert len(published) == 1


def test_a_full_batch_neither_lingers_nor_holds_the_flag(twilio, published, monkeypatch):
    post(twilio, "conversation_created", "full-1")
    post(twilio, "participant_added", "full-2")
    held_while_processing: list[bool] = []
    process = services.inbox_batch_process

    def watched(*, event_ids: list[int]) -> dict[str, int]:
        held_while_processing.append(flag_held())
        return process(event_ids=event_ids)

    monkeypatch.setattr(services, "inbox_batch_process", watched)
    monkeypatch.setattr(services.time, "sleep", lambda seconds: pytest.fail("lingered"))
    # A backlog (every claim full): a commit meanwhile may wake another worker process.
    assert services.inbox_drain(batch_size=1, linger_ms=50) == 2
    assert held_while_processing == [False, False]


def test_without_a_linger_the_drain_claims_again_at_once(twilio, published, monkeypatch):
    post(twilio, "conversation_created", "nolinger-1")
    monkeypatch.setattr(services.time, "sleep", lambda seconds: pytest.fail("lingered"))
    assert services.inbox_drain(linger_ms=0) == 1
    assert not flag_held()


def test_a_drain_that_fails_while_holding_the_flag_clears_it_and_wakes_the_workers(
    twilio, published, monkeypatch
):
    post(twilio, "conversation_created", "fail-1")

    def broken(*, event_ids: list[int]) -> dict[str, int]:
        assert flag_held()
        raise RuntimeError("worker lost")

    monkeypatch.setattr(services, "inbox_batch_process", broken)
    with pytest.raises(RuntimeError):
        services.inbox_drain(linger_ms=50)
    # Events committed during the hold published nothing: another drain is asked for now.
    assert len(published) == 1


def test_the_sweeper_leaves_a_lingering_drain_alone_but_not_a_lost_wake_up(twilio, published):
    post(twilio, "conversation_created", "sweep-1")
    services.INGEST_WAKER.hold()  # a drain lingers: it claims again in a moment
    assert services.inbox_sweep() == {"released": 0, "pending": 1}
    assert published == []  # no second drain beside it
    assert flag_held()

    services.wake_flag_clear()
    services.wake_workers()  # a wake-up whose message was lost: the flag is set, no drain runs
    published.clear()
    assert services.inbox_sweep() == {"released": 0, "pending": 1}
    assert len(published) == 1
