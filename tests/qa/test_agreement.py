"""The AI as a rater: which answers pair up, the figures per criterion, and where the AI and
people disagreed (scoped, paginated, set-wise)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.qa import selectors, services
from apps.qa.choices import CalibrationStatus
from apps.qa.models import CalibrationConversation, CalibrationSession, Review
from tests.fixtures import qa as build
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

H = "HUMAN_AGENT"


def _calibration(world, version, *, blind=False, status=CalibrationStatus.CLOSED):
    session = CalibrationSession.objects.create(
        name="Week 49", rubric_version=version, blind=blind, status=status
    )
    CalibrationConversation.objects.create(
        session=session,
        conversation=world.south_call,
        segments=[H],
        ai={"segment": H, "criteria": {"greeting": {"outcome": "NOT_MET"}}},
    )
    return session


def _calibration_answer(world, version, session, outcome, reviewer=None):
    review = build.rated_review(
        version, world.south_call, {"greeting": (None, outcome)}, reviewer=reviewer or world.coach
    )
    Review.objects.filter(pk=review.pk).update(calibration=session, is_calibration=True)
    return review


def test_pairs_come_from_the_current_revision_of_submitted_reviews_with_an_ai_answer(world, script):
    revised = build.rated_review(
        script, world.north_call, {"greeting": ("MET", "NOT_MET")}, revisions=2
    )
    build.rated_review(script, world.north_call, {"greeting": (None, "MET")})  # no AI answer
    Review.objects.create(  # a draft counts for nothing
        conversation=world.north_call, rubric_version=script, segments=[H], status="DRAFT"
    )
    pairs = services.version_pairs(version_id=script.pk)
    assert [(p.review_id, p.ai, p.human, p.source) for p in pairs["greeting"]] == [
        (revised.pk, "MET", "NOT_MET", "review")
    ]


def test_calibration_answers_pair_with_the_sessions_ai_snapshot(world, script):
    session = _calibration(world, script)
    answer = _calibration_answer(world, script, session, "MET")
    pairs = services.version_pairs(version_id=script.pk)["greeting"]
    assert [(p.review_id, p.ai, p.human, p.source) for p in pairs] == [
        (answer.pk, "NOT_MET", "MET", "calibration")
    ]


def test_a_blind_session_still_open_is_left_out(world, script):
    session = _calibration(world, script, blind=True, status=CalibrationStatus.OPEN)
    _calibration_answer(world, script, session, "MET")
    assert services.version_pairs(version_id=script.pk) == {}


def test_version_agreement_gives_kappa_agreement_n_confusion_and_the_few_warning(world, script):
    build.rated_many(
        script,
        world.north_call,
        "greeting",
        [("MET", "MET")] * 6 + [("NOT_MET", "NOT_MET")] * 3 + [("MET", "NOT_MET")],
    )
    va = selectors.version_agreement(version=script)
    greeting = next(c for c in va.criteria if c.key == "greeting")
    assert greeting.figures.n == 10 and greeting.figures.agreement == 0.9
    # po 0.9, pe 0.7*0.6 + 0.3*0.4 = 0.54: kappa = 0.36 / 0.46
    assert greeting.figures.kappa == pytest.approx(0.36 / 0.46)
    assert greeting.figures.low <= greeting.figures.kappa <= greeting.figures.high
    assert greeting.figures.few  # 10 < 20 pairs
    assert greeting.confusion == {
        ("MET", "MET"): 6,
        ("NOT_MET", "NOT_MET"): 3,
        ("MET", "NOT_MET"): 1,
    }
    assert greeting.matrix[0] == ("MET", [6, 1, 0])
    assert greeting.disagreements == 1 and greeting.tier == "REVIEW"
    assert [c.key for c in va.criteria] == [
        "greeting",
        "offer_help",
        "verify_identity",
        "confirm_address",
    ]
    assert next(c for c in va.criteria if c.key == "offer_help").figures.n == 0


def test_reading_the_pairs_costs_the_same_for_many_reviews(world, script):
    build.rated_many(script, world.north_call, "greeting", [("MET", "MET")] * 3)
    session = _calibration(world, script)
    _calibration_answer(world, script, session, "MET")
    with CaptureQueriesContext(connection) as few:
        services.version_pairs(version_id=script.pk)
    build.rated_many(script, world.north_call, "greeting", [("MET", "NOT_MET")] * 30)
    _calibration_answer(world, script, session, "NOT_MET", reviewer=world.qa_analyst)
    with CaptureQueriesContext(connection) as many:
        services.version_pairs(version_id=script.pk)
    assert len(few) == len(many) == 3


def test_disagreements_are_the_readers_reviews_where_they_differed(world, script):
    north = build.rated_many(
        script, world.north_call, "greeting", [("MET", "NOT_MET"), ("MET", "MET")]
    )
    south = build.rated_many(script, world.south_call, "greeting", [("NOT_MET", "MET")])
    reviews, pairs = selectors.disagreements(
        user=world.qa_analyst, version_id=script.pk, criterion_key="greeting"
    )
    assert {r.pk for r in reviews} == {north[0].pk, south[0].pk}
    assert (pairs[south[0].pk].ai, pairs[south[0].pk].human) == ("NOT_MET", "MET")
    # The coach of North reads North's reviews only.
    reviews, _ = selectors.disagreements(
        user=world.coach, version_id=script.pk, criterion_key="greeting"
    )
    assert [r.pk for r in reviews] == [north[0].pk]


def test_the_drill_down_page_is_paginated_with_a_fixed_number_of_queries(world, script, client_for):
    build.rated_many(script, world.north_call, "greeting", [("MET", "NOT_MET")] * 2)
    client = client_for(world.qa_analyst)
    path = f"/qa/stats/versions/{script.pk}/criteria/greeting/disagreements/"
    few = queries_for(client, path)
    build.rated_many(script, world.north_call, "greeting", [("NOT_MET", "MET")] * 30)
    assert queries_for(client, path) == few
    page = client.get(path).content.decode()
    assert page.count('data-testid="disagreement-row"') == 25
    assert "32 reviews" in page
    assert client.get(path, {"page": 2}).content.decode().count("disagreement-row") == 7


def test_the_drill_down_of_an_unknown_criterion_or_version_is_a_404(world, script, client_for):
    client = client_for(world.qa_analyst)
    assert (
        client.get(f"/qa/stats/versions/{script.pk}/criteria/nope/disagreements/").status_code
        == 404
    )
    assert (
        client.get("/qa/stats/versions/999999/criteria/greeting/disagreements/").status_code == 404
    )


def test_the_counted_figures_are_those_of_the_pairs_and_cost_the_same_for_many(world, script):
    """The statistics page counts the pairs in SQL (``version_cells``): the same confusion
    cells, in the same order (the seeded bootstrap draws the same interval), the same sources
    and the same figures as from the pairs themselves, in a fixed number of queries."""
    import random

    rng = random.Random(5)
    outcomes = ["MET", "NOT_MET", "NA"]
    build.rated_many(
        script,
        world.north_call,
        "greeting",
        [(rng.choice(outcomes), rng.choice(outcomes)) for _ in range(40)],
    )
    build.rated_review(
        script, world.north_call, {"greeting": ("NA", "MET"), "offer_help": ("MET", "NOT_MET")}
    )
    session = _calibration(world, script)
    _calibration_answer(world, script, session, "MET")
    _calibration_answer(world, script, session, "NOT_MET", reviewer=world.qa_analyst)
    with CaptureQueriesContext(connection) as few:
        counted = services.version_cells(version_id=script.pk)
    pairs = services.version_pairs(version_id=script.pk)
    assert set(counted) == set(pairs) == {"greeting", "offer_help"}
    for key, these in pairs.items():
        cells = counted[key]
        assert list(cells.confusion.items()) == list(
            stats_confusion([(p.ai, p.human) for p in these]).items()
        )
        sources: dict[str, int] = {}
        for p in these:
            sources[p.source] = sources.get(p.source, 0) + 1
        assert cells.sources == sources
        assert services.cells_agreement_of(cells) == services.agreement_of(these)
    assert counted["greeting"].sources == {"review": 41, "calibration": 2}
    va = selectors.version_agreement(version=script)
    greeting = next(c for c in va.criteria if c.key == "greeting")
    assert greeting.figures == services.agreement_of(pairs["greeting"])
    build.rated_many(script, world.north_call, "greeting", [("MET", "NOT_MET")] * 10)
    with CaptureQueriesContext(connection) as many:
        services.version_cells(version_id=script.pk)
    assert len(few) == len(many) == 3


def stats_confusion(pairs):
    from apps.qa.stats import confusion

    return confusion(pairs)
