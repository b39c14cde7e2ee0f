"""Alerts on live calls: each condition on its own, then dedup, cooldown and a QA flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apps.conversations.choices import ConversationStatus
from apps.floor import conditions, services
from apps.floor.models import Alert, AlertRule
from apps.live.models import LiveEvent
from apps.qa.models import QueueItem
from tests.fixtures import builders
from tests.intelligence.test_page import twilio_result

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


# Conditions, without a database -------------------------------------------------------------


def test_a_customer_asking_for_a_person_is_found_by_whole_words_in_any_case():
    texts = {"c1": "can I SPEAK TO A HUMAN please", "c2": "the human body", "c3": "my manager"}
    found = conditions.asks_for_human(texts, ["speak to a human", "manager"])
    assert [f.key for f in found] == ["c1", "c3"]
    assert conditions.asks_for_human({"c4": "managerial stuff"}, ["manager"]) == []


def test_a_negative_streak_needs_the_last_n_judged_customer_turns_all_negative():
    lines = ["a", "b", "c", "d"]
    tones = {"a": 0.4, "b": -0.3, "c": -0.2, "d": -0.6}
    assert conditions.negative_streak(lines, tones, {}, 3)
    assert not conditions.negative_streak(lines, tones, {}, 4)  # "a" was positive
    assert not conditions.negative_streak(lines[:2], tones, {}, 3)  # too few turns yet


def test_silence_counts_from_the_last_line_or_the_start():
    start = NOW - timedelta(seconds=60)
    assert conditions.silence(now=NOW, started_at=start, last_line_at=NOW - timedelta(seconds=25),
                              seconds=20)  # fmt: skip
    assert not conditions.silence(now=NOW, started_at=start, last_line_at=NOW, seconds=20)
    assert conditions.silence(now=NOW, started_at=start, last_line_at=None, seconds=30)


def test_a_critical_window_is_missed_once_it_closed_unmet_and_others_are_not_alerts():
    start = NOW - timedelta(seconds=15)
    windows = [
        {"state": "Pending", "key": "greet", "name": "Greet", "end_ms": 10000, "critical": True},
        {"state": "Pending", "key": "id", "name": "Verify", "end_ms": 60000, "critical": True},
        {"state": "Pending", "key": "soft", "name": "Smile", "end_ms": 5000, "critical": False},
    ]
    found = conditions.window_missed(now=NOW, started_at=start, windows=windows)
    assert [f.key for f in found] == ["greet"]


# Alerts in the database ---------------------------------------------------------------------


def live_call(world, texts):
    call = builders.make_conversation(
        agent=world.agent, status=ConversationStatus.ACTIVE, texts=texts,
        started_at=timezone.now() - timedelta(seconds=5 * len(texts) + 2),
    )  # fmt: skip
    return call


def rule(kind, **fields) -> AlertRule:
    values = {"name": kind, "kind": kind, "severity": "warning", "cooldown_seconds": 300} | fields
    return AlertRule.objects.create(**values)


@pytest.mark.django_db
def test_an_alert_fires_once_tells_the_pages_and_can_raise_a_qa_flag(world):
    call = live_call(world, [("agent", "hello"), ("customer", "let me talk to a supervisor")])
    rule("asks_for_human", raise_flag=True, severity="critical")

    fired = services.alerts_check([call.pk])
    again = services.alerts_check([call.pk])

    assert [a.title for a in fired] == ["asks_for_human"] and again == []
    alert = Alert.objects.get()
    assert alert.severity == "critical" and "supervisor" in alert.detail
    assert QueueItem.objects.filter(conversation_id=call.pk, flag_id=alert.flag_id).exists()
    event = LiveEvent.objects.get(conversation_id=call.pk, event="alert")
    assert event.payload["id"] == alert.pk


@pytest.mark.django_db
def test_a_continuing_condition_fires_again_only_after_its_cooldown(world):
    call = live_call(world, [("customer", "hello")])
    rule("silence", threshold=1, cooldown_seconds=60)
    start = timezone.now() + timedelta(seconds=30)

    assert len(services.alerts_check([call.pk], now=start)) == 1
    assert services.alerts_check([call.pk], now=start + timedelta(seconds=30)) == []
    refired = services.alerts_check([call.pk], now=start + timedelta(seconds=61))

    assert len(refired) == 1 and Alert.objects.get().count == 2


@pytest.mark.django_db
def test_the_customer_negative_on_consecutive_turns_fires(world):
    call = live_call(world, [("customer", "this is awful"), ("customer", "i hate it"),
                             ("customer", "worst bank ever")])  # fmt: skip
    lines = list(call.communications.order_by("offset_ms"))
    twilio_result(call, name="Sentiment", result={"label": "negative", "communications": [
        {"id": line.twilio_id, "label": "negative", "score": -0.6} for line in lines]})  # fmt: skip
    rule("negative_streak", threshold=3)

    assert [a.title for a in services.alerts_check([call.pk])] == ["negative_streak"]


@pytest.mark.django_db
def test_an_inactive_rule_never_fires_and_default_rules_are_made_once(world):
    call = live_call(world, [("customer", "get me a manager")])
    rule("asks_for_human", is_active=False)
    assert services.alerts_check([call.pk]) == []
    AlertRule.objects.all().delete()
    assert services.alert_rules_ensure() == 4 and services.alert_rules_ensure() == 0


def test_findings_dispatch_on_the_rule_kind():
    row = SimpleNamespace(customer_texts={"x": "speak to a human"}, customer_lines=[],
                          started_at=NOW, last_line_at=NOW)  # fmt: skip
    signals = SimpleNamespace(tones={}, labels={}, windows=[])
    found = conditions.findings("asks_for_human", threshold=0, phrases=[], now=NOW, row=row,
                                signals=signals)  # fmt: skip
    assert [f.key for f in found] == ["x"]
    assert conditions.findings("unknown", threshold=0, phrases=[], now=NOW, row=row,
                               signals=signals) == []  # fmt: skip
