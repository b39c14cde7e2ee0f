"""The llm backend through the engine, against a local server speaking OpenAI's protocol."""

from __future__ import annotations

import json

import pytest

from apps.conversations.models import Communication, Conversation
from apps.intelligence import services
from apps.intelligence.choices import Backend, ExecutionStatus, OperatorKind, ResultStatus
from apps.intelligence.models import (
    Operator,
    OperatorResult,
    OperatorVersion,
    OutputFormat,
    Rule,
    RuleExecution,
    RuleOperator,
)
from apps.knowledge import services as knowledge_services
from apps.knowledge.models import CustomerProfile, Observation

pytestmark = pytest.mark.django_db


def llm_version(key: str, **changes) -> OperatorVersion:
    """A new version of a built-in operator that runs on the llm backend."""
    operator = Operator.objects.get(key=key)
    latest = operator.versions.order_by("-number").first()
    return OperatorVersion.objects.create(
        operator=operator,
        number=latest.number + 1,
        backend=Backend.LLM,
        parameters=latest.parameters,
        output_format=latest.output_format,
        output_schema=latest.output_schema,
        **changes,
    )


def rule_with(*keys: str, name: str = "LLM rule") -> Rule:
    rule = Rule.objects.create(name=name, trigger_on="ON_DEMAND")
    for position, key in enumerate(keys):
        RuleOperator.objects.create(
            rule=rule, operator=Operator.objects.get(key=key), position=position
        )
    return rule


def run(rule, conversation, llm_server, **settings_overrides) -> RuleExecution:
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=conversation.pk,
        trigger_point=f"ON_DEMAND:{rule.pk}",
        through_communication_id=None,
    )
    services.execution_run(
        execution_id=execution_id, settings=llm_server.llm_settings(**settings_overrides)
    )
    return RuleExecution.objects.get(pk=execution_id)


def test_llm_sentiment_is_stored_with_model_latency_and_tokens(demo_calls, llm_server):
    from apps.demo.services import conversation_twilio_id

    card_call = Conversation.objects.get(twilio_id=conversation_twilio_id("0002f70f7386445b"))
    llm_version("sentiment")
    llm_server.reply_json({"label": "negative", "score": -0.6})
    execution = run(rule_with("sentiment"), card_call, llm_server)

    result = OperatorResult.objects.get(execution=execution)
    assert result.status == ResultStatus.OK
    assert result.result == {"label": "negative", "score": -0.6}
    system = result.metadata["system"]
    assert system["resolvedModel"] == llm_server.model
    assert system["latencyMs"] >= 0
    assert system["promptTokens"] > 0 and system["completionTokens"] > 0
    assert result.execution_details["backend"] == "llm"
    (request,) = llm_server.requests
    assert request.json["response_format"]["type"] == "json_schema"
    prompt = request.json["messages"][1]["content"]
    # The demo call, in order, each turn's words quoted inside the transcript's tags.
    assert 'agent: "hello this is harper valley national bank' in prompt
    assert prompt.index("i lost my debit card") < prompt.index("have a great day")


def test_a_schema_violating_answer_is_an_error_result_and_the_rule_goes_on(
    defaults, world, llm_server
):
    llm_version("sentiment")
    llm_server.reply_json({"label": "furious", "score": 7})
    execution = run(rule_with("sentiment", "summary"), world.north_call, llm_server, max_retries=0)

    failed = OperatorResult.objects.get(execution=execution, definition__operator__key="sentiment")
    assert failed.status == ResultStatus.ERROR
    assert failed.error.startswith("schema")
    assert json.loads(failed.raw_output) == {"label": "furious", "score": 7}
    assert failed.result is None
    summary = OperatorResult.objects.get(execution=execution, definition__operator__key="summary")
    assert summary.status == ResultStatus.OK
    assert execution.status == ExecutionStatus.PARTIAL


def test_a_timeout_is_an_error_result_after_the_retries(defaults, world, llm_server):
    llm_version("summary")
    for _ in range(2):
        llm_server.reply_delay(1.0, then={"text": "late"})
    execution = run(
        rule_with("summary"), world.north_call, llm_server, timeout_seconds=0.2, max_retries=1
    )
    failed = OperatorResult.objects.get(execution=execution)
    assert failed.status == ResultStatus.ERROR
    assert failed.error.startswith("timeout")
    assert failed.metadata["system"]["attempts"] == 2
    assert execution.status == ExecutionStatus.FAILED


def test_the_text_sent_to_the_model_is_redacted(defaults, world, llm_server):
    # A line stored before redaction was switched on still goes out masked.
    Communication.objects.filter(conversation=world.north_call).update(
        text="my card is 4111 1111 1111 1111 and my email is nora@example.com"
    )
    llm_version("summary")
    llm_server.reply_json({"text": "Customer gave card details."})
    run(rule_with("summary"), world.north_call, llm_server)
    sent = llm_server.requests[0].body.decode()
    assert "4111" not in sent
    assert "nora@example.com" not in sent


def test_a_custom_prompt_operator_validates_its_schema_and_adds_observations(
    defaults, world, llm_server
):
    schema = {
        "type": "object",
        "required": ["intent", "observations"],
        "properties": {
            "intent": {"type": "string"},
            "observations": {"type": "array", "items": {"type": "string"}},
        },
    }
    operator = Operator.objects.create(key="intent", name="Intent", kind=OperatorKind.LLM_PROMPT)
    OperatorVersion.objects.create(
        operator=operator,
        number=1,
        backend=Backend.LLM,
        output_format=OutputFormat.JSON,
        output_schema=schema,
        prompt="What does the customer want?",
    )
    llm_server.reply_json({"intent": "replace card", "observations": ["Lost a debit card"]})
    execution = run(rule_with("intent"), world.north_call, llm_server)
    result = OperatorResult.objects.get(execution=execution)
    assert result.result["intent"] == "replace card"
    assert result.output_format == "JSON"
    system_prompt = llm_server.requests[0].json["messages"][0]["content"]
    assert system_prompt.startswith("What does the customer want?")

    # The observation is memory: the next run passes it to the model as context.
    llm_server.reply_json({"intent": "replace card", "observations": []})
    rule = Rule.objects.get(name="LLM rule")
    services.execution_run(
        execution_id=services.execution_create(
            rule=rule,
            conversation_id=world.north_call.pk,
            trigger_point="ON_DEMAND:second",
            through_communication_id=None,
        ),
        settings=llm_server.llm_settings(),
    )
    assert "Lost a debit card" in llm_server.requests[1].json["messages"][1]["content"]


def test_llm_next_best_response_cites_the_article_the_model_chose(defaults, world, llm_server):
    knowledge_services.knowledge_seed(
        articles=[
            {"title": "Replacing a lost card", "body": "We send a new debit card in five days."},
            {"title": "Branch hours", "body": "Branches open at nine."},
        ]
    )
    article = __import__("apps.knowledge.models", fromlist=["KnowledgeArticle"]).KnowledgeArticle
    card = article.objects.get(title="Replacing a lost card")
    llm_version("next-best-response")
    llm_server.reply_json({"text": "I can send you a new debit card.", "article_id": card.pk})
    execution = run(rule_with("next-best-response"), world.north_call, llm_server)
    result = OperatorResult.objects.get(execution=execution)
    assert result.result["article"] == {"id": card.pk, "title": "Replacing a lost card"}
    assert "Replacing a lost card" in llm_server.requests[0].json["messages"][1]["content"]


def test_an_unconfigured_llm_gives_an_error_result_not_a_crash(defaults, world, settings):
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""
    llm_version("summary")
    rule = rule_with("summary")
    execution_id = services.execution_create(
        rule=rule,
        conversation_id=world.north_call.pk,
        trigger_point="ON_DEMAND:x",
        through_communication_id=None,
    )
    assert services.execution_run(execution_id=execution_id) == ExecutionStatus.FAILED
    result = OperatorResult.objects.get(execution_id=execution_id)
    assert result.error.startswith("not_configured")


def test_a_model_working_on_one_call_is_not_told_what_was_said_in_another(
    defaults, world, llm_server
):
    """Bea called the south team, then the north team. The summary of her south call is
    remembered, but it quotes that call: a model working on her north call (whose answer the
    north team reads) must not be given it."""
    bea = CustomerProfile.objects.create(key="address:bea", display_name="Bea Both")
    bea.conversations.add(world.north_call, world.south_call)
    llm_version("summary")
    llm_server.reply_json({"text": "The customer is getting divorced and closing the account."})
    run(rule_with("summary"), world.south_call, llm_server)
    assert Observation.objects.filter(profile=bea, text__contains="divorced").exists()

    operator = Operator.objects.create(key="intent", name="Intent", kind=OperatorKind.LLM_PROMPT)
    OperatorVersion.objects.create(
        operator=operator,
        number=1,
        backend=Backend.LLM,
        output_format=OutputFormat.JSON,
        output_schema={"type": "object", "properties": {"intent": {"type": "string"}}},
        prompt="What does the customer want?",
    )
    llm_server.reply_json({"intent": "replace card"})
    run(rule_with("intent", name="Intent rule"), world.north_call, llm_server)

    assert "divorced" not in llm_server.requests[-1].body.decode()
