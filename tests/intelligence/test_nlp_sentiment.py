"""Sentiment of utterances and conversations, checked on the Harper Valley demo calls."""

from __future__ import annotations

import time
from statistics import mean

import pytest

from apps.demo.dataset import DemoCall, read_calls
from apps.intelligence.nlp import sentiment
from apps.intelligence.nlp.sentiment import (
    LABELS,
    NO_SPEECH,
    Sentiment,
    SentimentDelta,
    cumulative,
    delta,
    sentiment_of,
)
from apps.intelligence.nlp.text import is_speech


@pytest.fixture(scope="module")
def calls() -> dict[str, DemoCall]:
    return {call.sid: call for call in read_calls()}


def _segment_text(call: DemoCall, text: str) -> str:
    """The text of a segment of ``call``, asserting it is really in the data."""
    assert text in [segment.text for segment in call.segments], f"{text!r} not in {call.sid}"
    return text


def _utterances(call: DemoCall) -> list[Sentiment]:
    return [sentiment_of(segment.text) for segment in call.segments]


def test_sentiment_of_labels_a_lost_card_complaint_negative(calls):
    text = _segment_text(calls["0002f70f7386445b"], "i lost my debit card")

    result = sentiment_of(text)

    assert result.label == "negative"
    assert result.score <= -0.05
    assert result.negative > result.positive


def test_sentiment_of_reads_a_lost_credit_card_as_bad_news_too(calls):
    # VADER's lexicon rates "credit" +1.6; in a bank the word names a product.
    text = _segment_text(calls["004860b1ab2e4c88"], "i lost my credit card")

    assert sentiment_of(text).label == "negative"


def test_sentiment_of_labels_the_agents_closing_positive(calls):
    text = _segment_text(calls["0002f70f7386445b"], "thank you for calling have a great day")

    result = sentiment_of(text)

    assert result.label == "positive"
    assert result.score >= 0.5


def test_sentiment_of_reads_a_polite_no_as_an_answer_not_a_complaint(calls):
    closings = [
        _segment_text(calls["00f7dce6fc3849a2"], "no thank you"),
        _segment_text(calls["0002f70f7386445b"], "no that was going to be it"),
    ]

    assert [sentiment_of(text).label for text in closings] == ["positive", "neutral"]


def test_sentiment_of_reads_bare_answers_neutral(calls):
    call = calls["0002f70f7386445b"]

    for text in ("yes", "my debit card", "can you send me a new one"):
        result = sentiment_of(_segment_text(call, text))
        assert (result.label, result.score) == ("neutral", 0.0), text


def test_sentiment_of_non_speech_is_neutral_with_zero_shares(calls):
    call = calls["004860b1ab2e4c88"]
    texts = ["", "   ", _segment_text(call, "[noise]"), _segment_text(call, "<unk> [noise]"), "..."]

    assert [sentiment_of(text) for text in texts] == [NO_SPEECH] * len(texts)
    assert not any(is_speech(text) for text in texts)
    assert sentiment_of("") == Sentiment("neutral", 0.0, 0.0, 0.0, 0.0)


def test_sentiment_of_ignores_tags_around_speech(calls):
    call = calls["00f7dce6fc3849a2"]
    tagged = _segment_text(
        call, "[noise] hi my name is linda brown i lost my credit card can you send me a new one"
    )

    assert sentiment_of(tagged) == sentiment_of(tagged.removeprefix("[noise] "))


def test_sentiment_of_marks_praise_and_complaint_in_one_utterance_mixed():
    result = sentiment_of("thanks for the help but i am still really angry")

    assert result.label == "mixed"
    assert result.positive >= 0.2
    assert result.negative >= 0.2


def test_sentiment_of_labels_no_demo_utterance_mixed(calls):
    results = [sentiment_of(s.text) for call in calls.values() for s in call.segments]

    assert {result.label for result in results} <= set(LABELS)
    assert sum(result.label == "mixed" for result in results) <= len(results) // 100


def test_sentiment_of_agrees_with_the_recordings_emotion_model(calls):
    # The demo data carries an independent, acoustic emotion model's output per segment.
    emotions: dict[str, list[float]] = {"positive": [], "neutral": []}
    for call in calls.values():
        for segment in call.segments:
            result = sentiment_of(segment.text)
            if result.is_speech and result.label in emotions:
                emotions[result.label].append(segment.emotion.positive)

    # Measured: 0.53 for utterances VADER labels positive, 0.26 for neutral ones.
    assert mean(emotions["positive"]) > mean(emotions["neutral"]) + 0.15


def test_sentiment_of_keeps_up_with_the_hot_path(calls):
    texts = [segment.text for call in calls.values() for segment in call.segments]
    sentiment._sentiment_of_clean.cache_clear()
    sentiment.analyzer()  # built once per process, not part of the per-utterance cost

    started = time.perf_counter()
    for text in texts:
        sentiment_of(text)
    rate = len(texts) / (time.perf_counter() - started)

    # Measured about 40,000/s on one core; the operator budget is 1,000 communications/s.
    assert rate > 2_000


def test_analyzer_is_built_once_per_process():
    assert sentiment.analyzer() is sentiment.analyzer()


def test_cumulative_of_every_demo_call_is_positive(calls):
    # The demo calls are polite role-plays that end with thanks: measured 76 of 76 positive.
    labels = [cumulative(_utterances(call)).label for call in calls.values()]

    assert labels.count("positive") >= 0.9 * len(labels)


def test_cumulative_leaves_neutral_speech_out_of_the_score(calls):
    call = calls["0002f70f7386445b"]
    complaint = sentiment_of(_segment_text(call, "i lost my debit card"))
    answers = [sentiment_of(_segment_text(call, text)) for text in ("yes", "my debit card")]

    result = cumulative([complaint, *answers, NO_SPEECH])

    assert result.label == "negative"
    assert result.score == complaint.score
    assert result.neutral == pytest.approx((complaint.neutral + 2 * 1.0) / 3, abs=1e-4)


def test_cumulative_weights_recent_utterances_more(calls):
    call = calls["0002f70f7386445b"]
    complaint = sentiment_of(_segment_text(call, "i lost my debit card"))
    closing = sentiment_of(_segment_text(call, "thank you for calling have a great day"))

    ends_well = cumulative([complaint, closing])
    ends_badly = cumulative([closing, complaint])

    assert ends_well.score > ends_badly.score
    assert ends_well.score > (complaint.score + closing.score) / 2


def test_cumulative_is_mixed_when_an_angry_stretch_meets_a_happy_one(calls):
    angry_start = [sentiment_of("this is ridiculous"), sentiment_of("i am really upset and angry")]

    result = cumulative(angry_start + _utterances(calls["0002f70f7386445b"]))

    assert result.label == "mixed"


def test_cumulative_of_one_mild_complaint_in_a_friendly_call_is_not_mixed(calls):
    # "i lost my debit card" (-0.32) alone is not a clearly negative stretch.
    assert cumulative(_utterances(calls["0002f70f7386445b"])).label == "positive"


def test_cumulative_of_nothing_is_neutral_zero(calls):
    noise_only = [sentiment_of(s.text) for s in calls["004860b1ab2e4c88"].segments if "[" in s.text]

    assert cumulative([]) == NO_SPEECH
    assert cumulative(noise_only) == NO_SPEECH


def test_delta_shows_most_demo_calls_end_warmer_than_they_start(calls):
    deltas = [
        delta([(s.start_ms, s.duration_ms, sentiment_of(s.text)) for s in call.segments]).delta
        for call in calls.values()
    ]

    # Measured: 67 of 76 calls rise, 8 fall, 1 stays.
    assert sum(value is not None and value > 0 for value in deltas) >= 0.8 * len(deltas)


def test_delta_compares_the_first_and_last_windows_of_a_call(calls):
    call = calls["0002f70f7386445b"]  # 18 segments from 1.7 s to 50.6 s
    items = [(s.start_ms, s.duration_ms, sentiment_of(s.text)) for s in call.segments]
    speech = [(offset, result.score) for offset, _, result in items if result.is_speech]
    # The trailing "[noise]" is no utterance: the call ends with "bye" at 49.2 s.
    end = max(s.start_ms + s.duration_ms for s in call.segments if is_speech(s.text))

    result = delta(items, window_ms=20_000)

    first = mean(score for offset, score in speech if offset < 20_000)
    last = mean(score for offset, score in speech if offset >= end - 20_000)
    assert result.first == pytest.approx(first, abs=1e-4)
    assert result.last == pytest.approx(last, abs=1e-4)
    assert result.delta == pytest.approx(last - first, abs=2e-4)


def test_delta_skips_utterances_without_an_offset(calls):
    call = calls["0002f70f7386445b"]
    complaint = sentiment_of(_segment_text(call, "i lost my debit card"))
    closing = sentiment_of(_segment_text(call, "thank you for calling have a great day"))

    result = delta([(None, 900, complaint), (43_639, None, closing)])

    assert result == SentimentDelta(first=None, last=closing.score, delta=None)


def test_delta_without_speech_is_none():
    assert delta([]) == SentimentDelta(None, None, None)
    assert delta([(0, 500, NO_SPEECH)]) == SentimentDelta(None, None, None)


def test_sentiment_of_reads_would_like_as_wanting_not_praise():
    # Issue 18, chosen on the tuning half: the agents' "which card would you like to replace"
    # is a flat question; "i like it" is still praise.
    assert sentiment_of("which card would you like to replace").label == "neutral"
    assert sentiment_of("I'd like a new debit card").label == "neutral"
    assert sentiment_of("i really like this bank").label == "positive"
    assert sentiment_of("would you like to hear something great").label == "positive"


# Issue 18: contact-centre complaints VADER has no word for. The demo calls hold none (their
# negative segments are negative in tone only), so these specs are the cues' only check.


@pytest.mark.parametrize(
    "text",
    [
        "this is the third time i call about this",
        "i've called three times already",
        "i already told you my account number",
        "i'm calling again about the same thing",
        "why do i have to repeat myself",
    ],
)
def test_sentiment_of_reads_a_caller_who_has_to_call_again_as_negative(text):
    assert sentiment_of(text).label == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "it's still not working",
        "My card STILL doesn't work!",
        "the app isn't working",
        "i still haven't received my card",
        "i never got my new card",
        "this keeps happening",
    ],
)
def test_sentiment_of_reads_a_problem_that_persists_as_negative(text):
    assert sentiment_of(text).label == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "i've been on hold for forty minutes",
        "we have been waiting for weeks",
        "nobody called me back",
        "you're not listening",
        "that's not what i asked for",
    ],
)
def test_sentiment_of_reads_waiting_and_being_ignored_as_negative(text):
    assert sentiment_of(text).label == "negative"


@pytest.mark.parametrize(
    "text",
    [
        "is the branch still open on saturday",
        "what are your branch hours",
        "can you send it again",
        "i just called to check my balance",
        "can i call you again tomorrow",
        "have you been waiting long",
        "i have not been waiting long",
        "what time do you open",
        "no one else uses this account",
    ],
)
def test_sentiment_of_keeps_a_neutral_question_or_statement_neutral(text):
    assert sentiment_of(text).label == "neutral"


def test_sentiment_of_keeps_the_rest_of_a_complaint_in_the_score():
    # The cue reads as one negative word: thanks and a repeated call give a mixed utterance.
    thanked = sentiment_of("thanks for your help but this is the third time i call")

    assert thanked.label == "mixed"
    assert sentiment_of("this is the third time i call").score < thanked.score


def test_sentiment_of_reads_please_as_politeness_not_praise(calls):
    # Issue 18, chosen on the tuning half: agents' repair requests are flat (acoustic: neutral).
    text = _segment_text(calls["0002f70f7386445b"], "can you repeat that please")

    assert sentiment_of(text).label == "neutral"
    assert sentiment_of("thank you so much please have a great day").label == "positive"
