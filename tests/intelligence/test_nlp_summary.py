"""Extractive summaries and the tokenizer beneath them, checked on the Harper Valley demo calls."""

from __future__ import annotations

import re

import pytest

from apps.demo.dataset import DemoCall, read_calls
from apps.intelligence.nlp.summary import Summary, summarize
from apps.intelligence.nlp.text import STOPWORDS, clean, is_speech, sentences, words

RITUAL = (
    "how can i help",
    "my name is",
    "have a great day",
    "thank you for calling",
    "anything else",
)


@pytest.fixture(scope="module")
def calls() -> dict[str, DemoCall]:
    return {call.sid: call for call in read_calls()}


def _lines(call: DemoCall) -> list[tuple[str, str]]:
    return [(segment.role, segment.text) for segment in call.segments]


# --- text -----------------------------------------------------------------------------------


def test_words_drops_transcription_tags_and_cut_off_words(calls):
    segments = [s.text for s in calls["0002f70f7386445b"].segments]
    assert "[noise]" in segments

    assert words("[noise]") == []
    assert words("<unk> [noise]") == []
    assert words("the branch hours are nine thirty a m five thir~ or i'm sorry") == [
        "the", "branch", "hours", "are", "nine", "thirty", "a", "m", "five", "or", "i'm", "sorry",
    ]  # fmt: skip


def test_words_lowercases_and_keeps_contractions_and_numbers():
    assert words("No, THAT'S all: $3.50 at 9:30!") == ["no", "that's", "all", "3.50", "at", "9:30"]


def test_is_speech_is_false_for_silence_and_tags(calls):
    texts = {s.text for call in calls.values() for s in call.segments}

    assert not any(is_speech(t) for t in ("", "  ", "[noise]", "<unk> [noise]", "[baby]", "~"))
    assert is_speech("okay")
    assert {t for t in texts if not is_speech(t)} == {
        t for t in texts if not re.sub(r"\[[^\]]*\]|<[^>]*>|\s", "", t)
    }


def test_sentences_of_a_punctuation_free_line_is_the_whole_line(calls):
    line = calls["00f7dce6fc3849a2"].segments[2].text
    assert line.startswith("[noise] hi my name is linda brown")

    assert sentences(line) == [clean(line)]
    assert sentences("[noise]") == []


def test_sentences_split_punctuated_text_but_not_at_abbreviations():
    text = "Hi, this is Dr. Smith. I lost my card! Can you help? It was at 9 a.m. today. No. Thanks"

    assert sentences(text) == [
        "Hi, this is Dr. Smith.",
        "I lost my card!",
        "Can you help?",
        "It was at 9 a.m. today.",
        "No.",
        "Thanks",
    ]


def test_stopwords_are_lowercase_function_words():
    assert {"the", "i", "my", "that's", "would"} <= STOPWORDS
    assert not {"card", "balance", "password", "bill"} & STOPWORDS
    assert all(word == word.lower() for word in STOPWORDS)


# --- summarize ------------------------------------------------------------------------------


def test_summarize_a_replace_card_call_mentions_the_card(calls):
    summary = summarize(_lines(calls["0002f70f7386445b"]))

    assert summary.text.startswith("Customer: I lost my debit card.")
    assert "card" in summary.text.lower()


def test_summarize_keeps_the_customers_request_and_the_answer(calls):
    summary = summarize(_lines(calls["0091a706bc604188"]))

    assert summary.text == (
        "Customer: I need to check my account balance. My checking account. "
        "Agent: Your balance is a hundred and thirty four dollars."
    )
    assert summary.line_indexes == (3, 7, 8)


def test_summarize_names_the_topic_of_every_demo_call(calls):
    topic = {
        "replace card": "card",
        "check balance": "balance",
        "pay bill": "bill",
        "transfer money": "transfer",
        "reset password": "password",
        "order checks": "check",
        "get branch hours": "hours",
        "schedule appointment": "appointment",
    }
    missing = [
        call.sid
        for call in calls.values()
        if topic[call.task_type] not in summarize(_lines(call)).text.lower()
    ]

    assert missing == []


def test_summarize_is_shorter_than_the_transcript_and_keeps_its_order(calls):
    for call in calls.values():
        lines = _lines(call)
        for final in (False, True):
            summary = summarize(lines, final=final)

            assert 0 < len(summary.text) < len(" ".join(text for _, text in lines)), call.sid
            assert list(summary.line_indexes) == sorted(set(summary.line_indexes)), call.sid
            # Every summary sentence is drawn from a used line, and the lines come in order.
            used = iter(summary.line_indexes)
            index = next(used)
            body = re.sub(r"\b(?:Customer|Agent): ", "", summary.text)
            for sentence in re.split(r"(?<=[.?!…])\s+", body):
                while not _is_drawn_from(sentence, lines[index][1]):
                    index = next(used)  # StopIteration here: a sentence out of order
            assert next(used, None) is None, call.sid


def _is_drawn_from(sentence: str, line: str) -> bool:
    """The words of ``sentence`` occur in ``line`` in the same order (ritual dropped between)."""
    remaining = iter(words(line))
    return all(word in remaining for word in words(sentence))


def test_summarize_skips_greetings_filler_and_noise(calls):
    for call in calls.values():
        text = summarize(_lines(call), final=True).text.lower()

        assert not [phrase for phrase in RITUAL if phrase in text], call.sid
        assert "[" not in text and "<unk>" not in text, call.sid
        assert not re.search(r"\b(?:uh|um|uhm)\b", text), call.sid


def test_summarize_final_adds_the_agents_resolution(calls):
    lines = _lines(calls["00f7dce6fc3849a2"])

    ongoing = summarize(lines)
    final = summarize(lines, final=True)

    assert "ordered your replacement credit card" not in ongoing.text
    assert final.text.endswith("Agent: Which card would you like to apply? "
                               "I've ordered your replacement credit card.")  # fmt: skip
    assert 5 in final.line_indexes


def test_summarize_respects_max_sentences_and_max_chars(calls):
    for call in calls.values():
        summary = summarize(_lines(call), max_sentences=2, max_chars=120)

        assert len(summary.text) <= 120, call.sid
        assert len(re.findall(r"[.?!…](?:\s|$)", summary.text)) <= 2, call.sid


def test_summarize_cuts_a_request_longer_than_max_chars_at_a_word(calls):
    summary = summarize(_lines(calls["01f7ec3700424bc0"]), max_chars=30)

    assert summary == Summary("Customer: I would like to…", (1,))


def test_summarize_labels_other_speakers_by_their_role(calls):
    lines = [("supervisor" if role == "agent" else role, text) for role, text in _lines(
        calls["0091a706bc604188"])]  # fmt: skip

    assert "Supervisor: Your balance is a hundred and thirty four dollars." in (
        summarize(lines).text
    )


def test_summarize_reads_punctuated_chat_text(calls):
    # A real caller line of call 00f7dce6fc3849a2, typed the way a chat customer would.
    spoken = calls["00f7dce6fc3849a2"].segments[2].text
    chat = [
        (
            "customer",
            "Hi, my name is Linda Brown. I lost my credit card! Can you send me a new one?",
        )
    ]
    assert words(spoken) == words(chat[0][1])

    summary = summarize(chat)

    assert summary == Summary("Customer: I lost my credit card! Can you send me a new one?", (0,))


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [("caller", "[noise]")],
        [("caller", "[noise]"), ("agent", "<unk>"), ("agent", ""), ("caller", "   ")],
        [("agent", "hello"), ("caller", "hi"), ("agent", "thank you for calling have a great day")],
    ],
    ids=["empty", "one-noise", "only-noise", "only-ritual"],
)
def test_summarize_without_substance_is_empty(lines):
    assert summarize(lines) == Summary("", ())


def test_summarize_of_a_customer_only_transcript_without_punctuation(calls):
    lines = [("customer", "hi my name is mary wilson i would like to pay a bill")]
    assert lines[0][1] in [s.text for s in calls["034a32d3b6e4435a"].segments]

    assert summarize(lines).text == "Customer: I would like to pay a bill."
