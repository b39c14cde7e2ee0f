"""The sentiment operator's per-process cache of its lines: per conversation, dropped when the
conversation ends or has been idle, so an operators process's memory follows the calls in
progress (docs/benchmarks.md, "Soak", "The operators' memory")."""

from __future__ import annotations

import pytest

from apps.intelligence import builtins
from apps.intelligence.choices import OperatorKind
from apps.intelligence.operators import embedded
from apps.intelligence.operators.base import OperatorContext, OperatorSpec, TranscriptLine

SPEC = OperatorSpec(
    version_id=1,
    operator_id=1,
    key="sentiment",
    name="Sentiment",
    kind=OperatorKind.SENTIMENT,
    number=1,
    backend="embedded",
    output_format=builtins.FORMAT_BY_KIND[OperatorKind.SENTIMENT],
    parameters={"delta_window_seconds": 30},
    output_schema=builtins.SCHEMAS_BY_KIND[OperatorKind.SENTIMENT],
)


def line(pk: int, text: str, role: str = "customer") -> TranscriptLine:
    return TranscriptLine(pk, f"GX{pk}", role, "CUSTOMER", pk * 1000, 900, text)


def run(conversation_id: int, lines: list[TranscriptLine], *, final: bool = False):
    return embedded.run_sentiment(
        SPEC,
        OperatorContext(
            conversation_id=conversation_id,
            conversation_twilio_id=f"CH{conversation_id}",
            lines=lines,
            window=lines[-1:],
            final=final,
            trigger_on="COMMUNICATION",
        ),
    )


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 1000.0}
    monkeypatch.setattr(embedded, "_now", lambda: now["t"])
    embedded.line_cache_clear()
    yield now
    embedded.line_cache_clear()


def test_a_conversation_rechecked_after_each_line_scores_each_line_once(clock):
    lines = [line(1, "I am angry about this fee"), line(2, "thank you so much, great")]
    run(7, lines[:1])
    misses = embedded.line_cache_misses()

    run(7, lines)

    assert embedded.line_cache_misses() == misses + 1  # the new line only
    assert embedded.line_cache_size() == 2


def test_an_edited_line_is_scored_again_and_the_result_follows_the_new_text(clock):
    angry = run(7, [line(1, "this is terrible, I hate it")])
    happy = run(7, [line(1, "this is wonderful, I love it")])

    assert angry.result["communications"][0]["label"] == "negative"
    assert happy.result["communications"][0]["label"] == "positive"


def test_the_conversation_is_dropped_when_it_ends_here(clock):
    run(7, [line(1, "hello there")])
    run(8, [line(2, "hello again")])

    run(7, [line(1, "hello there"), line(3, "bye now")], final=True)

    assert embedded.line_cache_size() == 1  # conversation 8's line


def test_a_conversation_not_seen_for_the_idle_time_is_dropped(clock):
    run(7, [line(1, "hello there")])
    clock["t"] += embedded.LINE_CACHE_IDLE_SECONDS / 2
    run(8, [line(2, "hello again")])
    clock["t"] += embedded.LINE_CACHE_IDLE_SECONDS / 2 + 1

    run(9, [line(3, "good morning")])

    assert embedded.line_cache_size() == 2  # 8 and 9; 7 ended elsewhere or went quiet


def test_a_conversation_seen_again_is_kept_however_old_it_is(clock):
    for _ in range(4):
        run(7, [line(1, "hello there")])
        clock["t"] += embedded.LINE_CACHE_IDLE_SECONDS - 1

    assert embedded.line_cache_size() == 1


def test_the_number_of_conversations_has_a_backstop(clock, monkeypatch):
    monkeypatch.setattr(embedded, "LINE_CACHE_MAX_CONVERSATIONS", 3)

    for conversation_id in range(10):
        run(conversation_id, [line(conversation_id, "hello there")])

    assert embedded.line_cache_size() == 3
