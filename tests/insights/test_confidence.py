"""Confidence on every score in insights: an agent's or team's QA score carries its 95% t
interval and n, a pass rate its Wilson interval, on the pages, in the JSON API and in the CSV
exports, derived from the rollups' additive sums; "few" marks samples below INSIGHTS_MIN_N."""

from __future__ import annotations

import re

import pytest

from apps.insights import stats
from apps.insights.models import Rollup
from apps.qa import stats as qa_stats
from tests.insights import test_dashboards
from tests.insights.test_dashboards import PERIOD, login, read_csv

day = test_dashboards.day  # the dashboards' day: Alice's three calls, Bob's one, the AI's one

pytestmark = pytest.mark.django_db

SCORES = [70.0, 75.0, 80.0, 85.0, 90.0]  # Alice's five reviews, spread over her rollup rows


@pytest.fixture
def reviewed(world, day):
    """Alice reviewed five times (70 to 90, one critical failure), spread over her buckets so
    the interval must come from summed sums, not from any one row."""
    rows = list(Rollup.objects.filter(agent=world.agent).order_by("pk"))
    assert rows
    Rollup.objects.filter(agent=world.agent).update(qa_n=0, qa_sum=0, qa_sq=0, critical_failed=0)
    for i, score in enumerate(SCORES):
        row = rows[i % len(rows)]
        row.qa_n += 1
        row.qa_sum += score
        row.qa_sq += score * score
        row.critical_failed += 1 if i == 0 else 0
        row.save(update_fields=["qa_n", "qa_sum", "qa_sq", "critical_failed"])
    return world


# By hand: mean 80, sd sqrt(250 / 4) = 7.9057, t(0.975, 4) = 2.7764 (the table's value):
# 80 ± 2.7764 * 7.9057 / sqrt(5) = 80 ± 9.816 -> 70.18 to 89.82.
HALF, LOW, HIGH = 9.816, 70.184, 89.816
# Critical failures 1 of 5, Wilson: 0.0362 to 0.6245.
CRIT_LOW, CRIT_HIGH = 0.0362, 0.6245


def test_a_mean_from_sums_is_the_t_interval_of_the_values():
    estimate = stats.mean(5, sum(SCORES), sum(v * v for v in SCORES))
    assert estimate.value == 80.0
    assert estimate.half_width == pytest.approx(HALF, abs=0.005)
    assert (estimate.low, estimate.high) == pytest.approx(qa_stats.mean_interval(SCORES))
    low, high = stats.wilson(1, 5)
    assert (round(low, 4), round(high, 4)) == (CRIT_LOW, CRIT_HIGH)


def test_the_agents_api_gives_the_qa_score_with_its_interval_n_and_few(reviewed, client):
    login(client, reviewed.admin)
    body = client.get("/api/insights/agents/", PERIOD).json()
    alice = next(row for row in body["rows"] if row["label"] == "Alice")
    qa = alice["figures"]["qa_score"]
    assert (qa["value"], qa["n"], qa["few"]) == (80.0, 5, True)
    assert qa["half_width"] == pytest.approx(HALF, abs=0.005)
    assert (qa["low"], qa["high"]) == pytest.approx((LOW, HIGH), abs=0.005)
    critical = alice["figures"]["critical_failed"]
    assert (critical["value"], critical["n"], critical["few"]) == (0.2, 5, True)
    assert (round(critical["low"], 4), round(critical["high"], 4)) == (CRIT_LOW, CRIT_HIGH)
    assert "half_width" not in critical  # a Wilson interval is not symmetric
    assert "few" not in alice["figures"]["conversations"]  # a count has no sample size


def test_few_follows_the_figures_own_n_not_the_rows_conversations(reviewed, client, settings):
    settings.INSIGHTS_MIN_N = 5
    login(client, reviewed.admin)
    body = client.get("/api/insights/agents/", PERIOD).json()
    alice = next(row for row in body["rows"] if row["label"] == "Alice")
    assert alice["figures"]["qa_score"]["few"] is False  # five reviews
    assert alice["figures"]["handle"]["few"] is True  # three closed conversations


def test_the_agents_csv_has_the_qa_scores_n_and_interval(reviewed, client):
    login(client, reviewed.admin)
    rows = read_csv(client.get("/api/insights/agents.csv", PERIOD))
    assert list(rows[0])[-6:] == [
        "qa_score_n", "qa_score_low", "qa_score_high",
        "critical_failed_rate", "critical_failed_rate_low", "critical_failed_rate_high",
    ]  # fmt: skip
    alice = next(row for row in rows if row["agent"] == "Alice")
    assert (alice["qa_score_avg"], alice["qa_score_n"]) == ("80", "5")
    assert float(alice["qa_score_low"]) == pytest.approx(LOW, abs=0.005)
    assert float(alice["qa_score_high"]) == pytest.approx(HIGH, abs=0.005)
    assert alice["critical_failed_rate"] == "0.2"
    assert float(alice["critical_failed_rate_low"]) == pytest.approx(CRIT_LOW, abs=0.001)
    bob = next(row for row in rows if row["agent"] == "Bob")
    assert (bob["qa_score_n"], bob["qa_score_low"], bob["critical_failed_rate"]) == ("0", "", "")


def test_the_teams_csv_has_them_too(reviewed, client):
    login(client, reviewed.admin)
    rows = read_csv(client.get("/api/insights/teams.csv", PERIOD))
    north = next(row for row in rows if row["team"] == "North")
    assert north["qa_score_n"] == "5" and north["qa_score_low"] != ""


def test_the_criteria_csv_has_each_pass_rates_n_and_wilson_interval(world, day, client):
    login(client, world.admin)
    rows = read_csv(client.get("/api/insights/criteria.csv", PERIOD))
    greeting = next(row for row in rows if row["criterion"] == "greeting")
    # The AI: greeting met on 2 of the 4 judged calls -> Wilson 0.1500 to 0.8500
    assert (greeting["ai_n"], greeting["ai_pass_rate"]) == ("4", "0.5000")
    assert (greeting["ai_pass_rate_low"], greeting["ai_pass_rate_high"]) == ("0.1500", "0.8500")
    assert (greeting["qa_n"], greeting["qa_pass_rate_low"]) == ("0", "")  # nobody reviewed


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_agents_page_shows_the_qa_score_plus_minus_its_interval_and_n(reviewed, client):
    login(client, reviewed.admin)
    page = client.get("/insights/agents/", PERIOD).content.decode()
    alice = page[page.index(">Alice</a>") :].split("</tr>", 1)[0]
    assert "80.0 ± 9.8 (n = 5)" in text_of(alice)
    assert "20% 3.6\u201362% (n = 5)" in text_of(alice)  # critical failures, Wilson
    few = re.search(r'<span class="badge few-badge"[^>]*title="([^"]+)"', alice)
    assert few is not None and "Only" in few[1] and "fewer than 10" in few[1]


def test_the_criteria_page_shows_each_pass_rate_with_its_interval(world, day, client):
    login(client, world.admin)
    page = client.get("/insights/criteria/", PERIOD).content.decode()
    row = page[page.index("<code>greeting</code>") :].split("</tr>", 1)[0]
    assert "50% 15\u201385%" in text_of(row)
    assert 'data-testid="few"' in row  # 4 judged calls < 10


def test_the_overview_card_shows_the_mean_plus_minus_its_interval(reviewed, client):
    login(client, reviewed.admin)
    page = client.get("/insights/", PERIOD).content.decode()
    card = page[page.index('data-testid="kpi-qa_score"') :].split("</article>", 1)[0]
    assert "± 9.8 (n = 5 )" in text_of(card)
    assert 'data-testid="few"' in card
