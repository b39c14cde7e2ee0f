"""The inbox partitioned by month (migration 0003, apps/webhooks/partitions.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.webhooks import partitions, services
from apps.webhooks.models import InboundEvent, InboxKey

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(2024, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_partition_long_ago(request):
    # A month with no partition yet (a test that migrates rows from it leaves one behind).
    if request.node.get_closest_marker("once"):
        return
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{partitions.partition_name(LONG_AGO.date())}"')


def store(key: str | None, *, at: datetime, status: str = "processed") -> int | None:
    """What services.inbox_store runs, at a chosen time: the id, or None for a duplicate."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_inboundevent (source, idempotency_key, event_type, account_sid,"
            " url, headers, content_type, body, body_size, body_sha256, signature_valid, status,"
            " attempts, error, result, received_at, available_at) VALUES (%s, %s, '', '', '',"
            " '{}', '', '{}', 2, '', true, %s, 0, '', '{}', %s, %s) RETURNING id",
            ["orchestrator", key, status, at, at],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def partition_of(event_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM webhooks_inboundevent WHERE id = %s", [event_id]
        )
        return cursor.fetchone()[0]


def test_a_delivery_lands_in_its_months_partition(twilio_store_now):
    event_id = twilio_store_now
    month = partitions.month_start(timezone.now().astimezone(UTC))

    assert partition_of(event_id) == partitions.partition_name(month)


@pytest.fixture
def twilio_store_now() -> int:
    stored = services.inbox_store(
        source="orchestrator",
        key="token:now",
        event_type="COMMUNICATION_CREATED",
        account_sid="AC1",
        url="https://example.test/",
        headers={},
        content_type="application/json",
        body="{}",
        body_size=2,
        signature_valid=True,
        wake=False,
    )
    assert stored.event_id is not None
    return stored.event_id


def test_a_duplicate_through_inbox_store_is_acknowledged_and_not_stored(twilio_store_now):
    again = services.inbox_store(
        source="orchestrator",
        key="token:now",
        event_type="COMMUNICATION_CREATED",
        account_sid="AC1",
        url="https://example.test/",
        headers={},
        content_type="application/json",
        body="{}",
        body_size=2,
        signature_valid=True,
        wake=False,
    )

    assert again == services.Stored(None, True)
    assert InboundEvent.objects.filter(idempotency_key="token:now").count() == 1


def test_a_key_seen_last_month_is_a_duplicate_this_month():
    now = timezone.now()
    first = store("token:retry", at=now - timedelta(days=40))

    assert first is not None
    assert store("token:retry", at=now) is None
    assert store("token:retry", at=now + timedelta(days=40)) is None
    assert InboundEvent.objects.filter(idempotency_key="token:retry").count() == 1
    assert store(None, at=now) is not None  # no key: no deduplication, as before
    assert store(None, at=now) is not None


def test_the_same_key_from_another_source_is_not_a_duplicate():
    store("k1", at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO webhooks_inboundevent (source, idempotency_key, event_type, account_sid,"
            " url, headers, content_type, body, body_size, body_sha256, signature_valid, status,"
            " attempts, error, result, received_at, available_at) VALUES ('voice_status', 'k1',"
            " '', '', '', '{}', '', '', 0, '', true, 'pending', 0, '', '{}', now(), now())"
            " RETURNING id"
        )
        assert cursor.fetchone() is not None


def test_moving_an_event_to_another_month_keeps_it_and_its_key():
    event_id = store("token:moved", at=timezone.now())
    InboundEvent.objects.filter(pk=event_id).update(received_at=LONG_AGO)

    assert partition_of(event_id) == partitions.DEFAULT
    assert InboxKey.objects.get(idempotency_key="token:moved").received_at == LONG_AGO
    assert store("token:moved", at=timezone.now()) is None


def test_deleting_an_event_frees_its_key():
    event_id = store("token:gone", at=timezone.now())
    InboundEvent.objects.filter(pk=event_id).delete()

    assert not InboxKey.objects.filter(idempotency_key="token:gone").exists()
    assert store("token:gone", at=timezone.now()) is not None


def test_a_row_for_a_month_without_partition_waits_in_the_default_one_then_moves():
    event_id = store("token:old", at=LONG_AGO)
    assert partition_of(event_id) == partitions.DEFAULT

    made = partitions.inbox_partitions_ensure()

    assert made == 1
    assert partition_of(event_id) == partitions.partition_name(date(2024, 3, 1))
    assert store("token:old", at=LONG_AGO) is None  # its key still counts


def test_maintenance_makes_the_months_ahead_once():
    later = timezone.now() + timedelta(days=200)
    names = {p.name for p in partitions.inbox_partitions()}

    first = partitions.inbox_partitions_ensure(now=later)
    second = partitions.inbox_partitions_ensure(now=later)

    assert first >= 1 and second == 0
    made = {p.name for p in partitions.inbox_partitions()} - names
    months = [partitions.month_start(later)]
    for _ in range(partitions.MONTHS_AHEAD):
        months.append(partitions.next_month(months[-1]))
    assert {partitions.partition_name(m) for m in months} <= made | names
    assert partition_of(store("token:later", at=later)) == partitions.partition_name(months[0])


def test_retention_drops_a_whole_month_of_settled_events_and_their_keys(settings, monkeypatch):
    settings.INBOX_RETENTION_DAYS = 30
    monkeypatch.setattr(partitions, "KEY_BATCH", 2)  # the keys go in several batches
    kept = store("token:recent", at=timezone.now())
    old = [store(f"token:old-{n}", at=LONG_AGO + timedelta(hours=n)) for n in range(3)]
    partitions.inbox_partition_create(month=date(2024, 3, 1))

    dropped = partitions.inbox_partitions_drop_expired()

    assert partitions.partition_name(date(2024, 3, 1)) in dropped
    assert not InboundEvent.objects.filter(pk__in=old).exists()
    assert not InboxKey.objects.filter(idempotency_key__startswith="token:old-").exists()
    assert InboundEvent.objects.filter(pk=kept).exists()
    assert partitions.partition_name(date(2024, 3, 1)) not in {
        p.name for p in partitions.inbox_partitions()
    }


def test_retention_keeps_a_month_that_holds_a_failed_event(settings):
    settings.INBOX_RETENTION_DAYS = 30
    store("token:settled", at=LONG_AGO)
    failed = store("token:failed", at=LONG_AGO, status="failed")
    partitions.inbox_partition_create(month=date(2024, 3, 1))

    assert partitions.inbox_partitions_drop_expired() == []
    assert InboundEvent.objects.filter(pk=failed).exists()


def test_retention_drops_nothing_when_it_is_off(settings):
    settings.INBOX_RETENTION_DAYS = 0
    store("token:old", at=LONG_AGO)
    partitions.inbox_partition_create(month=date(2024, 3, 1))

    assert partitions.inbox_partitions_drop_expired() == []


def test_the_maintenance_task_runs_twice_with_one_effect():
    from apps.webhooks.tasks import maintain_inbox_partitions

    maintain_inbox_partitions()
    before = partitions.inbox_partitions()
    assert maintain_inbox_partitions() == {"made": 0, "dropped": []}
    assert partitions.inbox_partitions() == before


BEFORE = [("webhooks", "0002_raw_body_permission")]


@pytest.mark.once
@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_an_inbox_that_holds_rows():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'webhooks_inboundevent'")
            assert cursor.fetchone()[0] == "r"  # a plain table again
        ids = {
            "old": store("token:a", at=LONG_AGO),
            "new": store("token:b", at=timezone.now()),
            "keyless": store(None, at=timezone.now()),
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE relname = 'webhooks_inboundevent'")
        assert cursor.fetchone()[0] == "p"
    assert partition_of(ids["old"]) == partitions.partition_name(date(2024, 3, 1))
    assert set(InboundEvent.objects.values_list("pk", flat=True)) == set(ids.values())
    assert set(InboxKey.objects.values_list("idempotency_key", flat=True)) == {"token:a", "token:b"}
    assert store("token:a", at=timezone.now()) is None  # keys from before still count
    assert store("token:c", at=timezone.now()) > max(ids.values())  # ids continue
    this_month = partitions.month_start(timezone.now().astimezone(UTC))
    with connection.cursor() as cursor:  # leave the months as a new database has them
        for partition in partitions.inbox_partitions():
            if partition.start.date() < this_month:
                cursor.execute(f'DROP TABLE "{partition.name}"')
