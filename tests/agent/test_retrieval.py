"""The agent's retrieval: paraphrases found, unrelated questions handed off, the article cited."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from apps.agent.choices import HandoffReason
from apps.agent.services import retrieval
from apps.agent.services.dialog import NOT_KNOWN, Dialog
from apps.agent.services.retrieval import KnowledgeIndex, best_article
from apps.common import embeddings

from .conftest import KNOWLEDGE

ARTICLES = [
    SimpleNamespace(id=n, title=a["title"], body=a["body"], tags=tuple(a["tags"]))
    for n, a in enumerate(json.loads(KNOWLEDGE.read_text())["articles"], start=1)
]
INDEX = KnowledgeIndex.build(ARTICLES)
CARD = "Replacing a lost, stolen or damaged card"


@pytest.mark.parametrize(
    ("prompt", "title"),
    [
        ("my card got swallowed by the machine", CARD),
        ("i forgot my login for the website", "Resetting an online banking password"),
        ("i ran out of checks", "Ordering checks"),
    ],
)
def test_a_paraphrase_the_lexical_rule_misses_is_answered(prompt, title):
    assert best_article(prompt, ARTICLES) is None  # the first rule handed these off
    found = INDEX.best(prompt)
    assert found is not None and found.article.title == title
    assert found.hybrid >= retrieval.HYBRID_THRESHOLD


@pytest.mark.parametrize(
    "prompt",
    ["what's the weather like today", "do you offer car loans", "uhm my name is john brown"],
)
def test_an_unrelated_question_hands_off_as_not_in_the_knowledge_base(prompt):
    assert INDEX.best(prompt) is None
    reply = Dialog().respond(prompt, INDEX)
    assert reply.handoff is not None
    assert reply.handoff.reason_code == HandoffReason.NOT_IN_KNOWLEDGE
    assert reply.text.startswith(NOT_KNOWN) and reply.article_id is None


def test_a_paraphrased_answer_cites_its_article_as_before():
    reply = Dialog().respond("my card got swallowed by the machine", INDEX)
    card = next(a for a in ARTICLES if a.title == CARD)
    assert reply.handoff is None
    assert reply.article_id == card.id and reply.article_title == CARD
    assert f"That's from our article {CARD}." in reply.text
    answer = reply.text.split(" That's from our article")[0]
    assert answer and answer in card.body  # sentences of the article, verbatim


def test_the_ranking_reports_both_signals_best_first():
    ranked = INDEX.rank("I would like to order checks")
    assert ranked[0].article.title == "Ordering checks"
    assert ranked[0].lexical_accepted and ranked[0].semantic > ranked[-1].semantic
    assert [m.hybrid for m in ranked] == sorted((m.hybrid for m in ranked), reverse=True)


def test_the_index_embeds_the_articles_once_not_per_turn():
    index = KnowledgeIndex.build(ARTICLES)
    before = embeddings.embedding.cache_info()
    index.best("how much money do i have in checking")
    after = embeddings.embedding.cache_info()
    # One turn: one text embedded (the turn), however many articles and sentences there are.
    assert (after.hits + after.misses) - (before.hits + before.misses) == 1


def test_the_rubrics_and_the_agent_share_one_model():
    from apps.rubrics import semantic

    assert semantic.model() is embeddings.model()
    # The rubrics' default embedder wraps that same model (semantic.use_embedder swaps it for
    # benchmarks only, with its own per-text cache).
    assert semantic.WordLlamaEmbedder().model is embeddings.model()


def test_an_empty_knowledge_base_hands_off():
    assert KnowledgeIndex.build([]).best("i lost my debit card") is None
