"""Retention: per kind, rows older than the schedule are anonymised or deleted, in batches,
the figures stay, and a second run changes nothing."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.common.anonymise import ANONYMISED_TEXT
from apps.conversations import services as conversation_services
from apps.conversations.choices import AccessChannel
from apps.conversations.models import TranscriptAccess
from apps.insights import services as insights
from apps.insights.models import ConversationFact
from apps.intelligence.models import OperatorResult
from apps.privacy import tasks
from apps.privacy.retention import retention_counts, retention_run
from apps.webhooks.models import InboundEvent
from tests.fixtures import builders
from tests.fixtures import qa as qa_build

FACT_FIGURES = ("communications", "handle_seconds", "first_response_seconds", "mix", "topic")


def _counts() -> dict[str, int | None]:
    return {row.kind.key: row.due for row in retention_counts()}


@pytest.fixture
def old_and_new(world):
    old = builders.make_conversation(
        agent=world.agent,
        texts=[("customer", "hello [noise]"), ("agent", "hi there"), ("customer", "[noise]")],
        started_at=timezone.now() - timedelta(days=10),
    )
    new = builders.make_conversation(
        agent=world.agent,
        texts=[("customer", "a fresh line"), ("agent", "a fresh answer")],
        started_at=timezone.now() - timedelta(hours=2),
    )
    return old, new


def test_retention_keeps_everything_by_default_but_the_settled_inbox(world, old_and_new):
    counts = _counts()
    assert counts == {
        "transcripts": None,
        "operator_results": None,
        "reviews": None,
        "inbox": 0,
        "access_log": None,
        "audit": None,
    }
    assert retention_run() == {"inbox": 0}


def test_transcript_retention_anonymises_old_lines_and_keeps_the_figures(
    settings, world, old_and_new
):
    old, new = old_and_new
    insights.facts_refresh([old.pk])
    figures = ConversationFact.objects.values(*FACT_FIGURES).get(conversation_id=old.pk)
    settings.RETENTION_TRANSCRIPTS_DAYS = 7

    assert _counts()["transcripts"] == 2  # the tag-only line holds no words
    assert retention_run(limit=1) == {"transcripts": 2, "inbox": 0}  # two batches of one

    assert list(old.communications.order_by("id").values_list("text", flat=True)) == [
        ANONYMISED_TEXT,
        ANONYMISED_TEXT,
        "[noise]",
    ]
    assert list(new.communications.values_list("text", flat=True)) == [
        "a fresh line",
        "a fresh answer",
    ]
    insights.facts_refresh([old.pk])
    assert ConversationFact.objects.values(*FACT_FIGURES).get(conversation_id=old.pk) == figures
    assert _counts()["transcripts"] == 0
    assert tasks.run_retention() == {"transcripts": 0, "inbox": 0}  # twice: one effect


def test_operator_result_retention_keeps_labels_and_scores(settings, world, old_and_new):
    old, _ = old_and_new
    result = OperatorResult.objects.create(
        result_id="LR-old",
        conversation=old,
        operator_id="LY_adherence",
        output_format="JSON",
        result={
            "score": 80,
            "label": "billing",
            "categories": [
                {
                    "criteria": [
                        {
                            "criteria_key": "greeting",
                            "criteria_met": "Failed",
                            "explanation": "never said the bank's name",
                        }
                    ]
                }
            ],
        },
        raw_output="the model's whole answer",
    )
    OperatorResult.objects.filter(pk=result.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    settings.RETENTION_OPERATOR_RESULTS_DAYS = 30

    assert _counts()["operator_results"] == 1
    retention_run()

    result.refresh_from_db()
    assert result.result == {
        "score": 80,
        "label": "billing",
        "categories": [
            {
                "criteria": [
                    {
                        "criteria_key": "greeting",
                        "criteria_met": "Failed",
                        "explanation": ANONYMISED_TEXT,
                    }
                ]
            }
        ],
    }
    assert result.raw_output == ""
    assert _counts()["operator_results"] == 0


def test_review_retention_blanks_words_and_keeps_scores(settings, world, old_and_new):
    old, new = old_and_new
    version = qa_build.publish_script(world.admin)
    reviews = [
        qa_build.rated_review(version, conversation, {"greeting": ("MET", "NOT_MET")})
        for conversation in (old, new)
    ]
    for review in reviews:
        review.current_revision.answers.update(comment="customer was rude")
    type(reviews[0]).objects.filter(pk=reviews[0].pk).update(
        created_at=timezone.now() - timedelta(days=400), score=62
    )
    settings.RETENTION_REVIEWS_DAYS = 365

    assert _counts()["reviews"] == 1
    retention_run()

    old_answer = reviews[0].current_revision.answers.get()
    assert (old_answer.comment, old_answer.outcome, old_answer.ai_outcome) == ("", "NOT_MET", "MET")
    assert reviews[1].current_revision.answers.get().comment == "customer was rude"
    reviews[0].refresh_from_db()
    assert reviews[0].score == 62
    assert reviews[0].ai["criteria"] == {"greeting": {"outcome": "MET"}}
    assert _counts()["reviews"] == 0


def test_inbox_retention_deletes_settled_events_only(settings, world):
    long_ago = timezone.now() - timedelta(days=45)
    for status in ("processed", "ignored", "failed", "dead"):
        InboundEvent.objects.create(
            source="orchestrator",
            status=status,
            signature_valid=True,
            received_at=long_ago,
            available_at=long_ago,
        )
    settings.INBOX_RETENTION_DAYS = 30

    assert _counts()["inbox"] == 2
    assert retention_run()["inbox"] == 2
    assert sorted(InboundEvent.objects.values_list("status", flat=True)) == ["dead", "failed"]


def test_access_log_retention_deletes_old_reads_through_the_append_only_guard(
    settings, world, old_and_new
):
    old, new = old_and_new
    for conversation in (old, new):
        conversation_services.transcript_access_record(
            user=world.qa_analyst, conversation_ids=[conversation.pk], channel=AccessChannel.PAGE
        )
    with connection.cursor() as cursor:  # age one read as a restore from a backup would
        cursor.execute("ALTER TABLE conversations_transcriptaccess DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE conversations_transcriptaccess SET created_at = now() - interval '40 days' "
            "WHERE conversation_id = %s",
            [old.pk],
        )
        cursor.execute("ALTER TABLE conversations_transcriptaccess ENABLE TRIGGER USER")
    settings.RETENTION_ACCESS_LOG_DAYS = 30

    assert _counts()["access_log"] == 1
    assert retention_run()["access_log"] == 1
    assert list(TranscriptAccess.objects.values_list("conversation_id", flat=True)) == [new.pk]
    assert retention_run()["access_log"] == 0


def test_audit_retention_deletes_old_events_in_batches_through_the_append_only_guard(
    settings, world
):
    from apps.audit.models import TeamEvent

    for name in ("East", "West", "Central"):
        builders.make_team(name=name)  # each insert is an event of the trail
    old = list(TeamEvent.objects.order_by("pgh_id").values_list("pgh_id", flat=True))[:2]
    with connection.cursor() as cursor:  # age two events as a restore from a backup would
        cursor.execute("ALTER TABLE audit_teamevent DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE audit_teamevent SET pgh_created_at = now() - interval '400 days' "
            "WHERE pgh_id = ANY(%s)",
            [old],
        )
        cursor.execute("ALTER TABLE audit_teamevent ENABLE TRIGGER USER")
    settings.RETENTION_AUDIT_DAYS = 365

    assert _counts()["audit"] == 2
    assert retention_run(limit=1)["audit"] == 2  # two batches of one
    assert not TeamEvent.objects.filter(pgh_id__in=old).exists()
    assert TeamEvent.objects.exists()  # the recent ones stay
    assert retention_run()["audit"] == 0


def test_retention_dry_run_prints_counts_and_changes_nothing(settings, world, old_and_new):
    settings.RETENTION_TRANSCRIPTS_DAYS = 7
    out = StringIO()

    call_command("retention", "--dry-run", stdout=out)

    text = out.getvalue()
    assert "transcripts" in text and "2 would be anonymised" in text
    assert "reviews" in text and "kept for ever" in text
    assert "Dry run: nothing was changed." in text
    assert _counts()["transcripts"] == 2


def test_retention_and_the_erasure_sweeper_are_scheduled_by_beat():
    from celery.schedules import crontab
    from django.utils.module_loading import import_string

    from ccportal.celery import app

    for name in ("privacy-retention", "privacy-erasures"):
        entry = app.conf.beat_schedule[name]
        assert isinstance(entry["schedule"], crontab)
        assert import_string(entry["task"]).name == entry["task"]
    assert "purge-inbox" not in app.conf.beat_schedule  # the inbox is a retention kind now
