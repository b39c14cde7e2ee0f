"""The engine end to end on real Harper Valley calls: defaults, operators, pinning, once-only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone

from apps.conversations.models import Communication, Conversation
from apps.demo.services import conversation_twilio_id
from apps.intelligence import selectors, services
from apps.intelligence.choices import ExecutionStatus, ResultStatus, TriggerOn
from apps.intelligence.models import (
    ConversationRubric,
    OperatorResult,
    Rule,
    RuleExecution,
)
from apps.knowledge import selectors as knowledge_selectors
from apps.knowledge.models import KnowledgeArticle, Observation
from apps.rubrics import services as rubrics
from apps.rubrics.models import Rubric

pytestmark = pytest.mark.django_db

CARD_CALL = (
    "0002f70f7386445b"  # "hello this is harper valley national bank ... i lost my debit card"
)


def results(sid: str, operator_key: str) -> list[OperatorResult]:
    conversation = Conversation.objects.get(twilio_id=conversation_twilio_id(sid))
    return list(
        OperatorResult.objects.filter(
            conversation=conversation, definition__operator__key=operator_key
        ).order_by("id")
    )


def test_a_new_install_has_the_builtin_operators_and_default_rules(defaults):
    rules = {rule.key: rule for rule in Rule.objects.all()}
    assert rules["live-sentiment-adherence"].trigger_on == TriggerOn.COMMUNICATION
    assert [o.operator.key for o in rules["live-sentiment-adherence"].rule_operators.all()] == [
        "sentiment",
        "script-adherence",
    ]
    assert rules["summary-at-end"].trigger_on == TriggerOn.CONVERSATION_END
    assert services.defaults_ensure() == {"operators": 0, "rules": 0}


def test_defaults_do_not_overwrite_what_an_admin_changed(defaults):
    Rule.objects.filter(key="summary-at-end").update(is_active=False, name="Mine")
    services.defaults_ensure()
    rule = Rule.objects.get(key="summary-at-end")
    assert (rule.is_active, rule.name) == (False, "Mine")


def test_after_load_demo_every_demo_call_has_sentiment_adherence_and_a_summary(demo_calls):
    # Four default rules (the rolling summary fires at the last multiple of 5), six closed calls.
    assert demo_calls.executions == 4 * 6
    for conversation in Conversation.objects.all():
        kinds = set(
            OperatorResult.objects.filter(conversation=conversation).values_list(
                "definition__operator__key", flat=True
            )
        )
        assert {"sentiment", "script-adherence", "summary"} <= kinds, conversation.twilio_id
    assert not OperatorResult.objects.exclude(status=ResultStatus.OK).exists()


def test_sentiment_scores_every_line_and_the_conversation_on_a_real_call(demo_calls):
    (result,) = results(CARD_CALL, "sentiment")
    lines = Communication.objects.filter(conversation=result.conversation)
    by_id = {item["id"]: item for item in result.result["communications"]}
    assert set(by_id) == set(lines.exclude(text="[noise]").values_list("twilio_id", flat=True))
    goodbye = lines.get(text="thank you for calling have a great day")
    assert by_id[goodbye.twilio_id]["label"] == "positive"
    assert result.result["label"] in {"positive", "negative", "neutral", "mixed"}
    assert result.result["delta"]["window_seconds"] == 30
    assert result.result["delta"]["delta"] is not None
    assert result.source == "ccportal"
    assert result.operator_version == "1"
    assert result.output_format == "CLASSIFICATION"


def test_script_adherence_judges_the_bank_script_with_evidence(demo_calls):
    (result,) = results(CARD_CALL, "script-adherence")
    criteria = {
        item["criteria_key"]: item
        for category in result.result["categories"]
        for item in category["criteria"]
    }
    greeting = criteria["greets_with_bank_name"]
    assert greeting["criteria_met"] == "Succeeded"
    (evidence,) = greeting["evidence"]
    line = Communication.objects.get(twilio_id=evidence["communication_id"])
    assert line.text == "hello this is harper valley national bank"
    assert evidence["quote"] == "harper valley national bank"
    assert criteria["offers_further_help"]["criteria_met"] == "Succeeded"
    assert 0 <= result.result["score"] <= 100
    assert result.rubric_version.rubric.name == "Harper Valley Bank call script"
    # Twilio's shape: categories of criteria with criteria_met.
    assert {c["category_key"] for c in result.result["categories"]} >= {"Opening", "Closing"}


def test_summary_at_the_end_mentions_the_reason_for_the_call(demo_calls):
    (result,) = [r for r in results(CARD_CALL, "summary") if r.trigger_on == "CONVERSATION_END"]
    assert result.result["final"] is True
    assert "card" in result.result["text"].lower()
    assert result.output_format == "TEXT"
    assert result.trigger_on == TriggerOn.CONVERSATION_END


def test_the_rolling_summary_covers_the_call_up_to_its_trigger_point(demo_calls):
    (rolling,) = [r for r in results(CARD_CALL, "summary") if r.trigger_on == "COMMUNICATION"]
    lines = Communication.objects.filter(conversation=rolling.conversation).count()
    point = lines - lines % 5
    assert rolling.execution.trigger_point == f"COMMUNICATION:{point}"
    # The call has ended, but this run saw it only up to its trigger point: not final.
    assert point < lines
    assert rolling.result["final"] is False
    assert "card" in rolling.result["text"].lower()


def test_summary_at_the_end_is_remembered_about_the_customer(demo_calls):
    conversation = Conversation.objects.get(twilio_id=conversation_twilio_id(CARD_CALL))
    memory = knowledge_selectors.memory_for_conversation(conversation_id=conversation.pk)
    assert any(text.startswith("Last conversation:") and "card" in text for text in memory)
    assert Observation.objects.filter(conversation=conversation, source="operator").count() == 1


def test_next_best_response_answers_a_lost_card_from_the_card_article(demo_calls):
    conversation = Conversation.objects.get(twilio_id=conversation_twilio_id(CARD_CALL))
    lost = Communication.objects.get(conversation=conversation, text="i lost my debit card")
    rule = Rule.objects.get(key="live-suggestions")
    through = Communication.objects.filter(conversation=conversation, pk__lte=lost.pk).count()
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=conversation.pk,
        trigger_point=f"COMMUNICATION:{through}",
        through_communication_id=lost.pk,
    )
    services.execution_run(execution_id=execution_id)
    (suggestion,) = OperatorResult.objects.filter(execution_id=execution_id)
    article = KnowledgeArticle.objects.get(pk=suggestion.result["article"]["id"])
    assert article.title == "Replacing a lost, stolen or damaged card"
    assert suggestion.result["in_reply_to"] == lost.twilio_id
    assert suggestion.result["text"]


def test_a_conversation_stays_on_the_rubric_version_it_was_first_judged_by(demo_calls, world):
    rubric = Rubric.objects.get(name="Harper Valley Bank call script")
    first = rubric.versions.get(number=1)
    conversation = Conversation.objects.get(twilio_id=conversation_twilio_id(CARD_CALL))
    assert ConversationRubric.objects.get(conversation=conversation).version == first

    draft = rubrics.version_new_draft(rubric=rubric, actor=world.admin)
    rubrics.version_publish(version=draft, actor=world.admin)
    execution = services.rule_run_on_demand(
        user=world.admin,
        rule_id=Rule.objects.get(key="live-sentiment-adherence").pk,
        conversation_id=conversation.pk,
        request_key="again",
    )
    services.execution_run(execution_id=execution.pk)
    latest = OperatorResult.objects.filter(
        execution=execution, definition__operator__key="script-adherence"
    ).get()
    assert latest.rubric_version == first
    with pytest.raises(ProtectedError):
        first.delete()


def test_running_an_execution_twice_stores_its_results_once(demo_calls):
    execution = RuleExecution.objects.filter(rule__key="live-sentiment-adherence").first()
    before = OperatorResult.objects.count()
    assert services.execution_run(execution_id=execution.pk) is None  # already finished
    assert OperatorResult.objects.count() == before


def test_an_execution_abandoned_by_a_dead_worker_is_taken_over(defaults, world):
    conversation = world.north_call
    rule = Rule.objects.get(key="live-sentiment-adherence")
    last = Communication.objects.filter(conversation=conversation).order_by("-pk").first()
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=conversation.pk,
        trigger_point="COMMUNICATION:2",
        through_communication_id=last.pk,
    )
    # A worker claimed it and died before finishing: RUNNING, started long ago, nothing stored.
    RuleExecution.objects.filter(pk=execution_id).update(
        status=ExecutionStatus.RUNNING,
        started_at=timezone.now() - timedelta(hours=1),
        attempts=1,
    )
    assert services.execution_run(execution_id=execution_id) == ExecutionStatus.SUCCEEDED
    execution = RuleExecution.objects.get(pk=execution_id)
    assert execution.attempts == 2
    assert OperatorResult.objects.filter(execution=execution).count() == 2  # adherence: skipped
    assert services.execution_run(execution_id=execution_id) is None


def test_a_fresh_running_execution_is_not_taken_over(defaults, world):
    rule = Rule.objects.get(key="live-sentiment-adherence")
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=world.north_call.pk,
        trigger_point="COMMUNICATION:2",
        through_communication_id=None,
    )
    RuleExecution.objects.filter(pk=execution_id).update(
        status=ExecutionStatus.RUNNING, started_at=timezone.now(), attempts=1
    )
    assert services.execution_run(execution_id=execution_id) is None
    assert not OperatorResult.objects.filter(execution_id=execution_id).exists()


def test_script_adherence_without_any_published_rubric_is_skipped_with_a_reason(defaults, world):
    rule = Rule.objects.get(key="live-sentiment-adherence")
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=world.north_call.pk,
        trigger_point="COMMUNICATION:2",
        through_communication_id=None,
    )
    services.execution_run(execution_id=execution_id)
    skipped = OperatorResult.objects.get(
        execution_id=execution_id, definition__operator__key="script-adherence"
    )
    assert skipped.status == ResultStatus.SKIPPED
    assert "publish a rubric" in skipped.error


def test_backfill_twice_runs_nothing_new(demo_calls):
    ids = list(Conversation.objects.values_list("pk", flat=True))
    assert services.conversations_backfill(conversation_ids=ids) == {"executions": 0}


def test_criteria_without_an_automatic_check_are_left_to_a_reviewer_not_failed(defaults, world):
    from tests.fixtures.rubrics import make_rubric

    make_rubric(actor=world.admin, publish=True)  # card services: "verify identity" is critical
    rule = Rule.objects.get(key="live-sentiment-adherence")
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=world.north_call.pk,
        trigger_point="COMMUNICATION:2",
        through_communication_id=None,
    )
    services.execution_run(execution_id=execution_id)
    result = OperatorResult.objects.get(
        execution_id=execution_id, definition__operator__key="script-adherence"
    ).result
    criteria = {
        c["criteria_key"]: c for category in result["categories"] for c in category["criteria"]
    }
    assert criteria["verify_identity"]["criteria_met"] == "NotApplicable"
    assert criteria["verify_identity"]["reason"] == "no_check"
    assert "verify_identity" in result["unchecked"]
    assert result["passed_critical"] is True
    assert result["score"] == 100.0  # the greeting, the one thing a machine could check, was said


def test_next_best_response_does_not_look_up_spoken_numbers(defaults, world):
    from apps.intelligence.operators import embedded
    from apps.intelligence.operators.base import OperatorContext, TranscriptLine

    line = TranscriptLine(1, "c1", "customer", "CUSTOMER", 0, 0, "four three two three six")
    searched = []
    ctx = OperatorContext(
        conversation_id=0,
        conversation_twilio_id="x",
        lines=[line],
        window=[line],
        final=False,
        trigger_on="COMMUNICATION",
        knowledge_search=lambda query, limit: searched.append(query) or [],
    )
    spec = selectors.rule_specs(rule=Rule.objects.get(key="live-suggestions"))[0]
    assert embedded.run_next_best_response(spec, ctx) is None
    assert searched == []
