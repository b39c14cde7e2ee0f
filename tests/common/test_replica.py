"""The read replica: which reads go there, and which never do (apps/common/replica.py).

The tests' replica is a real database of its own (``test_<name>_replica``), not a mirror of the
primary, so a row written to only one of them shows where a read went: "only on the replica"
stands for what a replica holds, "only on the primary" for a write it has not replayed yet.
They run when ``DATABASE_REPLICA_URL`` is set (CI sets it for its run against the machine's
PostgreSQL); without it the suite runs as a deployment without a replica does. The replica's
tables are made from the models, not by migrations: after a model change, run with --create-db.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import router, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.common import replica
from apps.common.replica import PIN_COOKIE, ReplicaRouter, replica_reads
from apps.conversations.models import TranscriptAccess

pytestmark = [
    pytest.mark.skipif(
        "replica" not in settings.DATABASES, reason="DATABASE_REPLICA_URL is not set"
    ),
    pytest.mark.django_db(databases=["default", "replica"]),
]


def access_row(username: str, *, using: str) -> TranscriptAccess:
    return TranscriptAccess.objects.using(using).create(
        username=username,
        conversation_twilio_id="CH0",
        channel="PAGE",
        created_at=timezone.now(),
    )


def usernames(response: HttpResponse) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.fixture
def lagging(world):
    """A replica that holds one access-log row the primary also has, and lacks the newest."""
    access_row("on-both", using="default")
    access_row("on-both", using="replica")
    access_row("only-on-replica", using="replica")
    access_row("only-on-primary", using="default")
    return world


def test_access_log_page_reads_from_the_replica(lagging, client_for):
    body = usernames(client_for(lagging.admin).get(reverse("access-log")))

    assert "only-on-replica" in body
    assert "only-on-primary" not in body


def test_access_log_csv_streams_from_the_replica(lagging, client_for):
    response = client_for(lagging.admin).get(reverse("access-log-csv"))

    assert response.streaming
    body = usernames(response)
    assert "only-on-replica" in body
    assert "only-on-primary" not in body


def test_a_browser_that_just_wrote_reads_from_the_primary(lagging, client_for):
    client = client_for(lagging.admin)
    # Any unsafe method pins the browser, whatever it answered (here 405: the page is GET-only).
    posted = client.post(reverse("access-log"))
    assert posted.cookies[PIN_COOKIE]["max-age"] == settings.DATABASE_REPLICA_PIN_SECONDS

    body = usernames(client.get(reverse("access-log")))

    assert "only-on-primary" in body
    assert "only-on-replica" not in body


def test_a_read_without_the_pin_cookie_goes_back_to_the_replica(lagging, client_for):
    client = client_for(lagging.admin)
    client.post(reverse("access-log"))
    client.cookies.pop(PIN_COOKIE)  # what the browser does once max-age has passed

    assert "only-on-replica" in usernames(client.get(reverse("access-log")))


def test_pages_that_did_not_opt_in_read_from_the_primary(lagging):
    assert TranscriptAccess.objects.filter(username="only-on-primary").exists()
    assert not TranscriptAccess.objects.filter(username="only-on-replica").exists()


def request_get() -> HttpRequest:
    return RequestFactory().get("/")


def test_a_view_that_writes_writes_to_the_primary_and_then_reads_it_back(lagging):
    @replica_reads
    def view(request: HttpRequest) -> HttpResponse:
        before = TranscriptAccess.objects.filter(username="only-on-replica").exists()
        access_row("written-in-view", using=router.db_for_write(TranscriptAccess))
        after = TranscriptAccess.objects.filter(username="written-in-view").exists()
        return HttpResponse(f"{before} {after}")

    assert view(request_get()).content == b"True True"
    assert TranscriptAccess.objects.using("default").filter(username="written-in-view").exists()
    assert not TranscriptAccess.objects.using("replica").filter(username="written-in-view").exists()


def test_saving_a_row_read_from_the_replica_writes_to_the_primary(lagging):
    @replica_reads
    def view(request: HttpRequest) -> HttpResponse:
        user = User.objects.get(pk=lagging.admin.pk)  # identity: read from the primary
        row = TranscriptAccess.objects.get(username="on-both")
        return HttpResponse(f"{user._state.db} {row._state.db}")

    assert view(request_get()).content == b"default replica"
    assert ReplicaRouter().db_for_write(TranscriptAccess, instance=None) == "default"


def test_reads_inside_a_transaction_go_to_the_primary(lagging):
    @replica_reads
    def view(request: HttpRequest) -> HttpResponse:
        with transaction.atomic():
            seen = TranscriptAccess.objects.filter(username="only-on-primary").exists()
        return HttpResponse(str(seen))

    assert view(request_get()).content == b"True"


def test_only_get_and_head_read_from_the_replica(lagging):
    @replica_reads
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(
            str(TranscriptAccess.objects.filter(username="only-on-primary").exists())
        )

    assert view(RequestFactory().post("/")).content == b"True"
    assert view(request_get()).content == b"False"


def test_migrations_never_run_on_the_replica(monkeypatch):
    # The test harness gives its separate replica database the schema; a deployment's
    # replica is never a migration target.
    monkeypatch.setattr(replica, "_TEST_REPLICA_SCHEMA", False)

    assert router.allow_migrate("replica", "conversations") is False
    assert router.allow_migrate("default", "conversations") is True


def test_the_replica_reports_no_lag_when_it_has_replayed_everything():
    # The tests' replica is not a standby: nothing to replay.
    assert replica.replica_lag_seconds() == 0
    assert replica.replica_healthy()


def rollup(*, agent, conversations: int, using: str) -> None:
    from apps.insights.models import Rollup

    sums = {
        field.name: 0
        for field in Rollup._meta.concrete_fields
        if field.get_internal_type() in {"IntegerField", "FloatField"}
    }
    sums["conversations"] = conversations
    Rollup.objects.using(using).create(
        day=timezone.localdate(),
        team=agent.team,
        agent=agent,
        queue="",
        channel="VOICE",
        **sums,
    )


def test_an_insights_export_streams_from_the_replica(world, client_for):
    rollup(agent=world.agent, conversations=3, using="default")
    rollup(agent=world.agent, conversations=7, using="replica")

    response = client_for(world.admin).get("/api/insights/agents.csv")

    rows = [line.split(",") for line in usernames(response).splitlines()]
    alice = next(row for row in rows if row[0] == "Alice")
    assert alice[rows[0].index("conversations")] == "7"
