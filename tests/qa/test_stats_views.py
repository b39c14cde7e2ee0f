"""The QA statistics page, the rubric version page's fragment, and the API under
/api/qa/stats/: who may read them, what they show, and their query counts."""

from __future__ import annotations

import pytest

from apps.qa import services
from apps.qa.models import CriterionTrust
from tests.fixtures import qa as build
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

AGREEING = [("MET", "MET")] * 30 + [("NOT_MET", "NOT_MET")] * 10


@pytest.mark.parametrize(
    ("persona", "status"),
    [("admin", 200), ("qa_analyst", 200), ("coach", 200), ("supervisor", 403), ("agent_user", 403)],
)
def test_the_statistics_page_is_for_admins_qa_analysts_and_coaches(
    world, script, client_for, persona, status
):
    assert client_for(getattr(world, persona)).get("/qa/stats/").status_code == status


def test_the_statistics_page_shows_tiers_figures_confusion_and_changes(world, script, client_for):
    build.rated_many(script, world.north_call, "greeting", AGREEING)
    build.rated_many(script, world.north_call, "offer_help", [("MET", "NOT_MET")] * 5)
    services.trust_recompute(version=script)
    services.ai_scores_sweep()
    page = client_for(world.coach).get("/qa/stats/").content.decode()
    greeting = page.split('data-criterion="greeting"')[1].split('data-criterion="')[0]
    assert "Trusted" in greeting and "1.00" in greeting and "100.0%" in greeting
    assert "<svg" in greeting and 'data-testid="confusion"' in greeting
    offer = page.split('data-criterion="offer_help"')[1].split('data-criterion="')[0]
    assert 'data-testid="few-warning"' in offer and "5 disagreements" in offer
    assert "too little data: n = 5 &lt; 30" in offer  # why it is where it is
    assert 'data-testid="tier-change"' in page and "κ lower bound 1.00 ≥ 0.80" in page
    assert 'data-testid="coverage"' in page and "from 1 trusted criterion" in page
    assert 'href="/qa/stats/"' in page  # the QA navigation has it


def test_the_statistics_page_costs_the_same_with_more_reviews(world, script, client_for):
    client = client_for(world.admin)
    build.rated_many(script, world.north_call, "greeting", AGREEING[:5])
    services.trust_recompute(version=script)
    few = queries_for(client, "/qa/stats/")
    build.rated_many(script, world.north_call, "offer_help", AGREEING)
    services.trust_recompute(version=script)
    assert queries_for(client, "/qa/stats/") == few


def test_with_no_rubric_in_use_the_page_says_what_to_do(world, client_for):
    page = client_for(world.admin).get("/qa/stats/").content.decode()
    assert 'data-testid="empty-state"' in page and "Publish a rubric version" in page


def test_a_bad_version_choice_falls_back_to_the_published_one(world, script, client_for):
    page = client_for(world.admin).get("/qa/stats/", {"version": "x'"})
    assert page.status_code == 200 and page.context["version"].pk == script.pk


def test_the_rubric_version_page_loads_the_table_as_a_fragment(world, script, client_for):
    client = client_for(world.qa_analyst)
    page = client.get(f"/rubrics/{script.rubric_id}/v{script.number}/").content.decode()
    assert f'hx-get="/qa/stats/versions/{script.pk}/fragment/"' in page
    assert f'href="/qa/stats/?version={script.pk}"' in page  # without JavaScript
    fragment = client.get(f"/qa/stats/versions/{script.pk}/fragment/")
    assert (
        fragment.status_code == 200 and 'data-testid="agreement-table"' in fragment.content.decode()
    )
    # A supervisor reads rubrics but not QA statistics: no section, and the fragment is refused.
    supervisor = client_for(world.supervisor)
    assert (
        "qa-stats-fragment"
        not in supervisor.get(f"/rubrics/{script.rubric_id}/v{script.number}/").content.decode()
    )
    assert supervisor.get(f"/qa/stats/versions/{script.pk}/fragment/").status_code == 403


# API ---------------------------------------------------------------------------------------------


def test_the_api_gives_agreement_per_criterion(world, script, client_for):
    build.rated_many(script, world.north_call, "greeting", AGREEING)
    services.trust_recompute(version=script)
    body = (
        client_for(world.qa_analyst).get("/api/qa/stats/agreement/", {"version": script.pk}).json()
    )
    greeting = next(c for c in body["criteria"] if c["key"] == "greeting")
    assert (greeting["tier"], greeting["n"], greeting["kappa"], greeting["few"]) == (
        "TRUSTED",
        40,
        1.0,
        False,
    )
    assert {"ai": "MET", "human": "MET", "count": 30} in greeting["confusion"]
    assert body["changes"][0]["to_tier"] == "TRUSTED"


@pytest.mark.parametrize(
    ("params", "status"), [({}, 400), ({"version": "abc"}, 400), ({"version": 999999}, 404)]
)
def test_the_api_answers_a_bad_version_with_a_clear_4xx(world, script, client_for, params, status):
    response = client_for(world.admin).get("/api/qa/stats/agreement/", params)
    assert response.status_code == status
    assert response.json()["detail"]  # a sentence the caller can act on


def test_the_api_refuses_roles_without_statistics(world, script, client_for):
    response = client_for(world.supervisor).get("/api/qa/stats/trust/", {"version": script.pk})
    assert response.status_code == 403


def test_the_api_disagreements_are_scoped_and_paginated(world, script, client_for):
    build.rated_many(script, world.north_call, "greeting", [("MET", "NOT_MET")] * 3)
    build.rated_many(script, world.south_call, "greeting", [("MET", "NOT_MET")] * 2)
    params = {"version": script.pk, "criterion": "greeting", "page_size": 2}
    body = client_for(world.qa_analyst).get("/api/qa/stats/disagreements/", params).json()
    assert body["count"] == 5 and len(body["results"]) == 2
    assert body["results"][0]["ai"] == "MET" and body["results"][0]["human"] == "NOT_MET"
    coach = client_for(world.coach).get("/api/qa/stats/disagreements/", params).json()
    assert coach["count"] == 3
    missing = client_for(world.coach).get(
        "/api/qa/stats/disagreements/", {"version": script.pk, "criterion": "nope"}
    )
    assert missing.status_code == 404


def test_the_api_lists_tiers_changes_and_ai_scores_with_fixed_queries(world, script, client_for):
    client = client_for(world.admin)
    CriterionTrust.objects.create(rubric_version=script, criterion_key="greeting", tier="TRUSTED")
    services.ai_scores_sweep()
    trust = client.get("/api/qa/stats/trust/", {"version": script.pk}).json()
    assert trust["tiers"] == {
        "greeting": "TRUSTED",
        "offer_help": "REVIEW",
        "verify_identity": "REVIEW",
        "confirm_address": "REVIEW",
    }
    scores = client.get("/api/qa/stats/ai-scores/", {"version": script.pk}).json()
    assert scores["count"] == 2 and scores["summary"]["coverage"] == 1.0
    assert scores["results"][0]["criteria_count"] == 1
    few = queries_for(client, "/api/qa/stats/ai-scores/", {"version": script.pk})
    build.judge(*[build_call(world) for _ in range(3)])
    services.ai_scores_sweep()
    assert queries_for(client, "/api/qa/stats/ai-scores/", {"version": script.pk}) == few


def build_call(world):
    from tests.fixtures import builders

    return builders.make_conversation(
        agent=world.agent, texts=[("agent", "thank you for calling"), ("customer", "hi")]
    )
