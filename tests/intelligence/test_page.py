"""The conversation page shows what the language operators found, as the real engine wrote it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.conversations.choices import ConversationStatus
from apps.conversations.models import Communication
from apps.intelligence import services
from apps.intelligence.choices import FlagStatus, ResultStatus, TriggerOn
from apps.intelligence.models import (
    Flag,
    Operator,
    OperatorResult,
    ResultSource,
    Rule,
    RuleExecution,
)
from apps.knowledge import services as knowledge_services
from apps.knowledge.models import KnowledgeArticle
from tests.fixtures import builders
from tests.fixtures.queries import queries_for
from tests.fixtures.rubrics import make_rubric

pytestmark = pytest.mark.django_db

CALL = [
    ("agent", "Thank you for calling Harper Valley bank, how can I help you today?"),
    ("customer", "I lost my debit card yesterday and I am really worried and upset."),
    ("agent", "I am sorry to hear that. I can block it and send you a replacement card."),
    ("customer", "That is great, thank you so much. How do I replace a lost debit card?"),
]


def detail_url(conversation, **params) -> str:
    url = reverse("conversation-detail", args=[conversation.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def line_html(content: str, communication: Communication) -> str:
    match = re.search(rf'<li class="line[^"]*" id="comm-{communication.pk}".*?</li>', content, re.S)
    assert match, f"no line anchor for communication {communication.pk}"
    return match.group(0)


def section(content: str, testid: str) -> str:
    start = content.index(f'data-testid="{testid}"')
    return content[start : content.index("</section>", start)]


def twilio_result(conversation, *, name: str, result, minutes: int = 0, **extra) -> OperatorResult:
    n = OperatorResult.objects.count() + 1
    return OperatorResult.objects.create(
        result_id=f"LY{conversation.pk:08d}{n:024d}",
        source=ResultSource.TWILIO,
        conversation=conversation,
        operator_id=f"LY{n:032d}",
        operator_name=name,
        operator_version="3",
        output_format="JSON",
        result=result,
        trigger_on="CONVERSATION_END",
        date_created=timezone.now() + timedelta(minutes=minutes),
        **extra,
    )


@pytest.fixture
def engine(world):
    """The built-in operators and rules, one published rubric, and a knowledge article."""
    services.defaults_ensure()
    make_rubric(actor=world.admin, name="Card services", publish=True)
    return knowledge_services.knowledge_article_create(
        user=world.admin,
        title="Replacing a lost debit card",
        body="Block the lost debit card in the app, then order a replacement card. "
        "A replacement debit card arrives in five working days.",
    )


@pytest.fixture
def analysed(world, engine):
    """A closed call the real engine ran every default rule on."""
    call = builders.make_conversation(agent=world.agent, customer_name="Nora North", texts=CALL)
    services.conversations_backfill(conversation_ids=[call.pk])
    return call


def test_page_shows_each_lines_sentiment_merged_from_every_result(world, client_for, analysed):
    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    lines = list(analysed.communications.order_by("offset_ms"))
    for line in lines:
        pattern = r'data-testid="line-sentiment"[^>]*>(.*?)</span>\s*</span>'
        badge = re.search(pattern, line_html(content, line), re.S)
        assert badge, f"no sentiment on line {line.text!r}"
    worried = line_html(content, lines[1])
    assert 'title="Sentiment: negative (score -' in worried
    assert "Sentiment: </span>negative" in worried
    grateful = line_html(content, lines[3])
    assert "Sentiment: </span>positive" in grateful
    overall = section(content, "insights-sentiment")
    assert 'data-testid="sentiment-overall"' in overall
    assert 'data-testid="sentiment-trend"' in overall


def test_page_merges_line_sentiment_across_executions_newest_first(world, client_for, engine):
    call = builders.make_conversation(agent=world.agent, texts=CALL[:2])
    first, second = call.communications.order_by("offset_ms")
    sentiment = Operator.objects.get(key="sentiment").versions.get()
    for minutes, items in (
        (0, [(first, "neutral"), (second, "positive")]),
        (1, [(second, "negative")]),
    ):
        OperatorResult.objects.create(
            result_id=f"ccportal_operatorresult_test_{call.pk}_{minutes}",
            source=ResultSource.CCPORTAL,
            conversation=call,
            operator_id="ccportal_operator_sentiment",
            operator_name="Sentiment",
            operator_version="1",
            output_format="CLASSIFICATION",
            definition=sentiment,
            result={
                "label": "neutral",
                "score": 0.0,
                "communications": [
                    {"id": line.twilio_id, "label": label, "score": 0.5} for line, label in items
                ],
            },
            date_created=timezone.now() + timedelta(minutes=minutes),
        )

    content = client_for(world.admin).get(detail_url(call)).content.decode()

    assert "Sentiment: </span>neutral" in line_html(content, first)
    assert "Sentiment: </span>negative" in line_html(content, second)


def test_page_shows_the_adherence_checklist_with_evidence_linking_to_the_line(
    world, client_for, analysed
):
    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    adherence = section(content, "insights-adherence")
    assert 'data-testid="adherence-rubric">Card services' in adherence
    assert "v1" in adherence
    assert 'data-testid="adherence-score"' in adherence
    assert ">Opening<" in adherence and ">Resolution<" in adherence
    greeting = re.search(
        r'<li[^>]*data-criterion="greeting" data-met="(\w+)".*?</li>', adherence, re.S
    )
    assert greeting and greeting.group(1) == "Succeeded"
    assert "bi-check-circle-fill text-success" in greeting.group(0)
    assert "Met: </span>Greeting" in greeting.group(0)
    anchors = re.findall(r'href="#(comm-\d+)"', greeting.group(0))
    greeted = analysed.communications.order_by("offset_ms").first()
    assert f"comm-{greeted.pk}" in anchors
    assert f'id="comm-{greeted.pk}"' in content
    assert "Thank you for calling" in greeting.group(0)
    identity = re.search(r'<li[^>]*data-criterion="verify_identity".*?</li>', adherence, re.S)
    assert 'data-met="NotApplicable"' in identity.group(0)
    assert "No automatic check: a reviewer decides." in identity.group(0)
    assert ">Critical<" in identity.group(0)


def test_page_shows_the_final_summary_of_a_closed_call(world, client_for, analysed):
    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    summary = section(content, "insights-summary")
    assert 'data-testid="summary-kind">Final<' in summary
    assert re.search(r'data-testid="summary-text">[^<]*debit card', summary)


def test_page_shows_the_suggestion_with_its_article_and_the_line_it_answers(
    world, client_for, analysed
):
    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    suggestions = section(content, "insights-suggestions")
    assert suggestions.count('data-testid="suggestion"') == 1
    assert "Replacing a lost debit card" in suggestions
    last = analysed.communications.order_by("offset_ms").last()
    assert f'href="#comm-{last.pk}"' in suggestions
    article = KnowledgeArticle.objects.get(title="Replacing a lost debit card")
    try:
        assert f'href="{reverse("knowledge-detail", args=[article.pk])}"' in suggestions
    except NoReverseMatch:  # without the knowledge pages the title is plain text
        assert "<a href" not in suggestions.split("Source:")[1].split("</div>")[0]


def test_results_table_lists_every_result_with_source_version_and_backend(
    world, client_for, analysed
):
    results = list(OperatorResult.objects.filter(conversation=analysed))
    assert {r.operator_name for r in results} == {
        "Sentiment",
        "Script Adherence",
        "Summary",
        "Next Best Response",
    }

    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    table = section(content, "operator-results")
    for result in results:
        row = re.search(
            rf'<tbody data-testid="result-row" data-result="{result.pk}".*?</tbody>', table, re.S
        )
        assert row, f"no row for {result.operator_name}"
        assert 'data-source="ccportal"' in row.group(0)
        assert f'data-version="{result.operator_version}"' in row.group(0)
        assert 'data-testid="source-badge">ccportal<' in row.group(0)
        assert "Embedded (offline)" in row.group(0)
        assert "<details" in row.group(0)
    assert "When the conversation ends" in table
    assert "Summary at conversation end" in table


def test_twilio_results_show_with_their_badge_and_feed_the_panels(world, client_for, analysed):
    twilio_result(analysed, name="Sentiment", result={"label": "negative"}, minutes=5)
    twilio_result(
        analysed,
        name="Script Adherence",
        result={
            "categories": [
                {
                    "category_key": "Greeting",
                    "criteria": [
                        {"criteria_key": "used_brand_name", "criteria_met": "Failed"},
                        {"criteria_key": "offered_more_help", "criteria_met": "Pending"},
                    ],
                }
            ]
        },
        minutes=5,
    )
    twilio_result(
        analysed,
        name="Sentiment",
        result=None,
        minutes=6,
        status=ResultStatus.ERROR,
        error="Timeout",
    )

    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    table = section(content, "operator-results")
    twilio_rows = re.findall(
        r'<tbody data-testid="result-row"[^>]*data-source="twilio".*?</tbody>', table, re.S
    )
    assert len(twilio_rows) == 3
    assert all('data-testid="source-badge">Twilio<' in row for row in twilio_rows)
    assert any('data-version="3"' in row for row in twilio_rows)
    assert any("Timeout" in row and ">Error<" in row for row in twilio_rows)
    assert 'data-testid="sentiment-overall"' in content
    assert re.search(r'data-testid="sentiment-overall">\s*<i[^>]*></i>Negative', content)
    adherence = section(content, "insights-adherence")
    assert 'data-criterion="used_brand_name" data-met="Failed"' in adherence
    assert "Not met: </span>Used brand name" in adherence
    assert "bi-x-circle-fill text-danger" in adherence
    assert 'data-criterion="offered_more_help" data-met="Pending"' in adherence
    assert "bi-hourglass-split text-warning" in adherence
    # Per-line sentiment stays: Twilio's result has none, the engine's still do.
    assert content.count('data-testid="line-sentiment"') == len(CALL)


def test_a_pending_criterion_with_a_time_window_says_when_its_window_closes(
    world, client_for, analysed
):
    twilio_result(
        analysed,
        name="Script Adherence",
        result={
            "categories": [
                {
                    "category_key": "Opening",
                    "criteria": [
                        {
                            "criteria_key": "greeting",
                            "criteria_met": "Pending",
                            "window": {"start_ms": 0, "end_ms": 10_000},
                        },
                        {
                            "criteria_key": "offered_help",
                            "criteria_met": "Succeeded",
                            "window": {"start_ms": 0, "end_ms": 30_000},
                        },
                        {"criteria_key": "verified", "criteria_met": "Pending", "window": "soon"},
                    ],
                }
            ]
        },
        minutes=5,
    )

    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    adherence = section(content, "insights-adherence")
    windows = re.findall(r'data-testid="adherence-window" data-window-end-ms="(\d+)"', adherence)
    assert windows == ["10000"]  # only the pending one with a window that makes sense
    assert "Window closes <span data-window-left>10 s into the call</span>" in adherence
    assert "data-conversation-started=" in content


def test_open_flags_show_with_their_reason(world, client_for, analysed):
    rule = Rule.objects.get(key="summary-at-end")
    Flag.objects.create(conversation=analysed, rule=rule, reason="Customer was upset at the end")
    Flag.objects.create(
        conversation=analysed, reason="Already reviewed", status=FlagStatus.RESOLVED
    )

    content = client_for(world.supervisor).get(detail_url(analysed)).content.decode()

    flags = section(content, "insights-flags")
    assert flags.count('data-testid="insights-flag"') == 1
    assert "Customer was upset at the end" in flags
    assert "Summary at conversation end" in flags
    assert "Already reviewed" not in content


def test_page_without_results_explains_that_insights_come_as_rules_run(world, client_for):
    content = client_for(world.supervisor).get(detail_url(world.north_call)).content.decode()

    assert 'data-testid="insights-empty"' in content
    assert "No insights yet — they appear as rules run" in content
    assert 'data-testid="results-empty"' in content
    assert 'data-testid="line-sentiment"' not in content
    assert 'id="comm-' in content


def test_partial_returns_the_live_regions_and_line_sentiment_only(world, client_for, analysed):
    response = client_for(world.supervisor).get(detail_url(analysed, partial="insights"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in content
    assert 'id="insights-panel"' in content
    assert 'id="insights-results"' in content
    assert 'id="line-sentiment-data"' in content
    first = analysed.communications.order_by("offset_ms").first()
    assert first.twilio_id in content
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_partial_is_not_found_outside_the_viewers_scope(world, client_for, analysed):
    response = client_for(world.other_agent_user).get(detail_url(analysed, partial="insights"))

    assert response.status_code == 404


def _execution(conversation, n: int) -> RuleExecution:
    return RuleExecution.objects.create(
        rule=Rule.objects.get(key="live-sentiment-adherence"),
        conversation=conversation,
        trigger_on=TriggerOn.COMMUNICATION,
        trigger_point=f"COMMUNICATION:{n}",
        triggered_at=timezone.now(),
    )


def _results(conversation, count: int) -> None:
    sentiment = Operator.objects.get(key="sentiment").versions.get()
    for n in range(count):
        OperatorResult.objects.create(
            result_id=f"ccportal_operatorresult_q{conversation.pk}_{n}",
            source=ResultSource.CCPORTAL,
            conversation=conversation,
            operator_id="ccportal_operator_sentiment",
            operator_name="Sentiment",
            operator_version="1",
            output_format="CLASSIFICATION",
            definition=sentiment,
            execution=_execution(conversation, n + 1),
            result={"label": "positive", "score": 0.4, "communications": []},
            metadata={"system": {"latencyMs": 12}},
            date_created=timezone.now(),
        )
        twilio_result(conversation, name="Summary", result={"text": f"Summary {n}"})
    Flag.objects.create(conversation=conversation, reason=f"{count} results")


def test_page_makes_the_same_number_of_queries_for_1_or_5_results(world, client_for, engine):
    client = client_for(world.supervisor)
    one = builders.make_conversation(agent=world.agent, texts=CALL)
    five = builders.make_conversation(agent=world.agent, texts=CALL)
    _results(one, 1)
    _results(five, 5)

    def queries_for_page(conversation, **params) -> int:
        return queries_for(client, detail_url(conversation, **params))

    assert queries_for_page(five) == queries_for_page(one)
    assert queries_for_page(five, partial="insights") == queries_for_page(one, partial="insights")


def test_an_active_call_shows_checks_in_progress_and_no_summary_yet(world, client_for, engine):
    call = builders.make_conversation(
        agent=world.agent, texts=CALL[:2], status=ConversationStatus.ACTIVE
    )
    services.conversations_backfill(conversation_ids=[call.pk])

    content = client_for(world.supervisor).get(detail_url(call)).content.decode()

    adherence = section(content, "insights-adherence")
    assert "In progress" in adherence
    assert "No summary yet" in section(content, "insights-summary")
