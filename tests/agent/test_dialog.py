"""The agent's dialog without a socket or a database: what it says and when it hands off."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from apps.agent.choices import HandoffReason
from apps.agent.services.dialog import CORRECTED, GOODBYE, Dialog, Reply
from apps.agent.services.retrieval import KnowledgeIndex, best_article

from .conftest import KNOWLEDGE

ARTICLES = [
    SimpleNamespace(id=n, title=a["title"], body=a["body"], tags=tuple(a["tags"]))
    for n, a in enumerate(json.loads(KNOWLEDGE.read_text())["articles"], start=1)
]
# Built once, as the consumer builds it once per knowledge refresh.
lookup = KnowledgeIndex.build(ARTICLES)


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("what time do your branches open on saturday", "Branch opening hours"),
        ("I lost my debit card", "Replacing a lost, stolen or damaged card"),
        ("I want to move money from savings to checking", "Transferring money between accounts"),
        ("I forgot my online banking password", "Resetting an online banking password"),
    ],
)
def test_the_lexical_rule_finds_the_article_that_answers(prompt, title):
    found = best_article(prompt, ARTICLES)
    assert found is not None and found[0].title == title


def test_for_the_lexical_rule_a_request_sharing_no_title_or_tag_word_is_no_answer():
    # "new", "need", "send", "address" are in the card article's body; no word of its title.
    assert best_article("i need a new checkbook sent to my address", ARTICLES) is None


def test_the_answer_is_the_articles_best_sentences_with_the_citation():
    dialog = Dialog()
    reply = dialog.respond("what are your branch opening hours on saturday", lookup)
    assert reply.article_title == "Branch opening hours" and reply.helpful_from == 0
    assert "That's from our article Branch opening hours." in reply.text
    assert "on Saturday from nine am to noon" in reply.text
    assert reply.handoff is None


def test_asking_for_a_person_hands_off_with_summary_and_sentiment():
    dialog = Dialog()
    dialog.respond("my card was stolen and this is awful, I hate this", lookup)
    reply = dialog.respond("let me speak to a human", lookup)
    assert reply.handoff is not None
    assert reply.handoff.reason_code == HandoffReason.ASKED_FOR_PERSON
    assert "stolen" in reply.handoff.summary
    assert reply.handoff.sentiment == "negative"
    data = json.loads(reply.handoff.handoff_data())
    assert data["reasonCode"] == "live-agent-handoff" and data["callSummary"]


def test_one_correction_asks_again_and_the_second_hands_off():
    dialog = Dialog()
    dialog.respond("I need to pay a bill", lookup)
    assert dialog.respond("no that's wrong", lookup).text == CORRECTED
    reply = dialog.respond("no, not that", lookup)
    assert reply.handoff is not None
    assert reply.handoff.reason_code == HandoffReason.REPEATED_CORRECTION


def test_a_correction_with_the_right_question_is_answered():
    dialog = Dialog()
    dialog.respond("I need to pay a bill", lookup)
    reply = dialog.respond("no, I said I lost my credit card", lookup)
    assert reply.article_title == "Replacing a lost, stolen or damaged card"


def test_thanks_after_an_answer_is_a_goodbye_without_handoff():
    dialog = Dialog()
    dialog.respond("what are your branch opening hours", lookup)
    reply = dialog.respond("okay thank you that's all", lookup)
    assert reply.text == GOODBYE and reply.done and reply.handoff is None


def test_pressing_zero_hands_off_and_other_digits_do_not():
    dialog = Dialog()
    assert dialog.pressed("5") is None
    reply = dialog.pressed("0")
    assert reply is not None and reply.handoff is not None
    assert reply.handoff.reason_code == HandoffReason.PRESSED_ZERO


def test_the_transcript_keeps_only_what_the_caller_heard_of_an_interrupted_line():
    dialog = Dialog()
    dialog.respond("what are your branch opening hours", lookup)
    dialog.heard_until("Our branches are open")
    assert dialog.lines[-1] == ("agent", "Our branches are open")


def test_tokens_rebuild_the_reply_exactly():
    reply = Reply("One two  three.")
    assert "".join(reply.tokens()) == "One two  three."
