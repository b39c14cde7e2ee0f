"""Dashboards, drill-down, exports and the API: scoped like everything else, honest about small
numbers, every number leading to exactly the conversations it counted."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from apps.insights import selectors, stats
from apps.insights.models import ConversationFact
from apps.insights.selectors.filters import filters_parse
from tests.fixtures import builders
from tests.fixtures import insights as build
from tests.fixtures.queries import queries_for
from tests.insights.test_facts import AI_ONLY, HANDOFF, HUMAN_GREETS_FIRST

pytestmark = pytest.mark.django_db

DAY = build.START.date().isoformat()
PERIOD = {"from": DAY, "to": DAY}


def adherence(greeting: str) -> dict:
    return {
        "score": 100 if greeting == "Succeeded" else 50,
        "categories": [{"criteria": [{"criteria_key": "greeting", "criteria_met": greeting}]}],
    }


@pytest.fixture
def day(world):
    """2 November: three calls of Alice (north), one of Bob (south), one the AI kept."""
    alice = [
        build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20),
        build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=40),
        build.new_call(HANDOFF, human="Alice", close_at=60),
    ]
    bob = build.new_call(HUMAN_GREETS_FIRST, human="Bob", close_at=30)
    ai = build.new_call(AI_ONLY, close_at=15)
    build.handoff(alice[2], reason="billing dispute")
    for call, met in zip(
        [*alice, bob], ["Succeeded", "Failed", "Succeeded", "Failed"], strict=True
    ):
        build.twilio_result(call, operator="Script Adherence", result=adherence(met))
    build.refresh()
    return {"alice": alice, "bob": bob, "ai": ai}


def login(client: Client, user) -> Client:
    client.force_login(user)
    return client


# Honest numbers --------------------------------------------------------------------------------


def test_wilson_intervals_match_the_textbook():
    low, high = stats.wilson(0, 10)
    assert (low, round(high, 4)) == (0.0, 0.2775)
    low, high = stats.wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert stats.wilson(0, 0) is None


def test_a_mean_has_an_interval_from_its_sum_of_squares():
    values = [70.0, 80.0, 90.0]
    estimate = stats.mean(3, sum(values), sum(v * v for v in values))
    assert estimate.value == 80.0
    # sd 10, n 3: 80 +- t(0.975, 2) * 10 / sqrt(3) = 80 +- 4.3027 * 5.7735 = 80 +- 24.84
    # (Student's t: a normal 1.96 would claim 80 +- 11.3 from three reviews)
    assert round(estimate.low, 2) == 55.16 and round(estimate.high, 2) == 104.84
    assert stats.mean(1, 5.0, 25.0).low is None  # no interval from one value


def test_mistyped_filters_are_clear_errors():
    for data, field in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-12-05", "to": "2026-12-01"}, "from"),
        ({"from": "2020-01-01", "to": "2026-12-01"}, "from"),
        ({"team": "north"}, "team"),
        ({"agent": "²"}, "agent"),
    ):
        with pytest.raises(Exception) as failed:
            filters_parse(data, today=date(2026, 12, 6))
        assert field in failed.value.errors, data


def test_the_default_period_is_the_last_30_days_and_the_previous_as_long():
    filters = filters_parse({}, today=date(2026, 12, 6))
    assert (filters.period.start, filters.period.end) == (date(2026, 11, 7), date(2026, 12, 6))
    previous = filters.period.previous()
    assert (previous.start, previous.end) == (date(2026, 10, 8), date(2026, 11, 6))


# Scope -----------------------------------------------------------------------------------------


def conversations_seen(user) -> int:
    result = selectors.overview(user=user, filters=filters_parse(PERIOD))
    return result.value("conversations").current.value


def test_each_persona_sees_the_figures_of_their_scope(world, day):
    assert conversations_seen(world.admin) == 5
    assert conversations_seen(world.qa_analyst) == 5
    assert conversations_seen(world.coach) == 3  # north: Alice's
    assert conversations_seen(world.supervisor) == 3
    assert conversations_seen(world.agent_user) == 3  # Alice herself
    assert conversations_seen(world.other_agent_user) == 1  # Bob
    assert conversations_seen(world.outsider) == 0


def test_the_outsider_cannot_open_the_pages_nor_the_api(world, day, client):
    login(client, world.outsider)
    assert client.get(reverse("insights-overview")).status_code == 403
    assert client.get("/api/insights/agents.csv").status_code == 403


# Figures ---------------------------------------------------------------------------------------


def test_overview_figures_are_derived_from_the_sums(world, day):
    result = selectors.overview(user=world.admin, filters=filters_parse(PERIOD))
    handle = result.value("handle").current
    assert handle.n == 5 and handle.value == pytest.approx((20 + 40 + 60 + 30 + 15) / 5)
    containment = result.value("containment")
    assert (containment.hits, containment.current.n) == (1, 2)  # the AI call; the handoff not
    adherence_score = result.value("adherence").current
    assert adherence_score.value == pytest.approx((100 + 50 + 100 + 50) / 4)
    assert result.value("adherence").few  # 4 < 10 conversations


def test_the_agent_table_has_a_row_per_agent_and_one_for_the_ai_alone(world, day):
    table = selectors.breakdown(user=world.admin, filters=filters_parse(PERIOD), by="agent")
    rows = {row.label: row for row in table.rows}
    assert set(rows) == {"Alice", "Bob", "AI agent alone"}
    assert rows["Alice"].sums["conversations"] == 3 and rows["Alice"].detail == "North"
    assert rows["Alice"].sums["handoffs"] == 1
    assert table.total.sums["conversations"] == 5


def test_the_previous_period_is_beside_the_current(world, day):
    earlier = build.START.replace(day=1)  # 1 November: the day before, as long a period
    build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=90, start=earlier)
    build.refresh()
    result = selectors.overview(user=world.admin, filters=filters_parse(PERIOD))
    handle = result.value("handle")
    assert handle.previous.value == 90.0 and handle.previous.n == 1
    assert handle.direction == "good"  # handle time went down


def outcome(call, label: str) -> None:
    build.twilio_result(
        call, operator="Outcome", result={"label": label}, output_format="CLASSIFICATION"
    )


def test_task_success_with_the_ai_counts_only_conversations_an_ai_agent_took_part_in(world, day):
    outcome(day["ai"], "resolved")  # the AI alone
    outcome(day["alice"][2], "follow-up")  # the AI, then Alice
    outcome(day["bob"], "resolved")  # Bob alone
    build.refresh()
    result = selectors.overview(user=world.admin, filters=filters_parse(PERIOD))
    everyone, with_ai = result.value("task_success"), result.value("ai_task_success")
    assert (everyone.hits, everyone.current.n) == (2, 3)
    assert (with_ai.hits, with_ai.current.n) == (1, 2)
    assert drilled(world.admin, **with_ai.kpi.drill) == {day["ai"].pk, day["alice"][2].pk}
    assert drilled(world.admin, **with_ai.kpi.hits) == {day["ai"].pk}


# Drill-down ------------------------------------------------------------------------------------


def drilled(user, **params) -> set[int]:
    data = {**PERIOD, **params}
    facts = selectors.drilldown_facts(
        user=user, filters=filters_parse(data), predicates=selectors.predicates_of(data)
    )
    return {fact.conversation_id for fact in facts}


def test_a_heatmap_cell_drills_down_to_exactly_the_conversations_it_counted(world, day):
    heat = selectors.heatmap(user=world.admin, filters=filters_parse(PERIOD), source="AI")
    cell = heat.cell(world.agent.pk, "greeting")
    assert (cell.met, cell.not_met) == (2, 1)
    expected = {
        f.conversation_id
        for f in ConversationFact.objects.filter(agent=world.agent)
        if f.ai_criteria.get("greeting") in ("MET", "NOT_MET")
    }
    got = drilled(world.admin, agent=world.agent.pk, criterion="greeting", source="AI")
    assert got == expected and len(got) == cell.n == 3


def test_a_criterion_key_that_looks_like_a_number_is_a_key_not_an_index(world, day):
    fact = ConversationFact.objects.filter(agent=world.agent).earliest("started_at")
    ConversationFact.objects.filter(pk=fact.pk).update(ai_criteria={"0": "MET"})
    got = drilled(world.admin, criterion="0", source="AI")
    assert got == {fact.conversation_id}


def test_each_card_drills_down_to_its_n(world, day):
    result = selectors.overview(user=world.admin, filters=filters_parse(PERIOD))
    for value in result.values:
        if value.kpi.kind == "count":
            continue
        got = drilled(world.admin, **value.kpi.drill)
        if value.kpi.key.startswith("suggestion"):
            continue  # suggestions are counted per suggestion, listed per conversation
        assert len(got) == value.current.n, value.kpi.key
        if value.kpi.hits:
            assert len(drilled(world.admin, **value.kpi.hits)) == value.hits, value.kpi.key


def test_drill_down_keeps_the_scope(world, day):
    assert drilled(world.coach) == {c.pk for c in day["alice"]}
    assert drilled(world.other_agent_user) == {day["bob"].pk}


def test_a_mistyped_predicate_is_a_clear_error(world, day, client):
    login(client, world.admin)
    response = client.get("/api/insights/conversations/", {**PERIOD, "contained": "maybe"})
    assert response.status_code == 400
    assert "contained" in response.json()["extra"]["errors"]
    page = client.get(reverse("insights-conversations"), {**PERIOD, "mix": "robots"})
    assert page.status_code == 200 and "Use human, ai, handoff" in page.content.decode()


def test_the_drill_down_says_in_words_what_it_lists(world, day, script, client):
    login(client, world.admin)
    page = client.get(
        reverse("insights-conversations"),
        {**PERIOD, "criterion": "verify_identity", "source": "AI", "result": "NOT_MET"},
    )
    lead = page.content.decode()
    assert "criterion “Verify identity”, judged by the AI, result not met" in lead


# Exports ---------------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_agents_csv_has_the_fixed_columns_and_empty_cells_for_no_data(world, day, client):
    login(client, world.admin)
    response = client.get("/api/insights/agents.csv", {"from": DAY, "to": DAY})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert list(rows[0])[:12] == [
        "agent", "team", "conversations", "handle_seconds_avg", "first_response_seconds_avg",
        "customer_sentiment_delta_avg", "ai_adherence_score_avg", "qa_score_avg", "reviews",
        "critical_failed", "flags", "handoffs",
    ]  # fmt: skip
    by_agent = {row["agent"]: row for row in rows}
    assert set(by_agent) == {"Alice", "Bob"}  # no row for the AI agent alone
    alice = by_agent["Alice"]
    assert (alice["team"], alice["conversations"], alice["handoffs"]) == ("North", "3", "1")
    assert alice["handle_seconds_avg"] == "40"
    assert alice["qa_score_avg"] == ""  # nobody reviewed: empty, never 0
    assert alice["customer_sentiment_delta_avg"] == ""
    assert alice["reviews"] == "0"


def test_agents_csv_counts_days_in_the_portals_time_zone(world, client, settings):
    settings.TIME_ZONE = "America/Chicago"
    late = build.START.replace(hour=3)  # 3 November 03:00 UTC is 2 November 21:00 in Chicago
    late = late.replace(day=3)
    build.new_call(HUMAN_GREETS_FIRST, human="Alice", close_at=20, start=late)
    build.refresh()
    login(client, world.admin)
    on_the_2nd = read_csv(client.get("/api/insights/agents.csv", {"from": DAY, "to": DAY}))
    assert [row["conversations"] for row in on_the_2nd] == ["1"]
    on_the_3rd = read_csv(
        client.get("/api/insights/agents.csv", {"from": "2026-11-03", "to": "2026-11-03"})
    )
    assert on_the_3rd == []


def test_the_conversation_export_has_one_row_per_conversation(world, day, client):
    login(client, world.coach)
    rows = read_csv(client.get("/api/insights/conversations.csv", PERIOD))
    assert {int(r["conversation_id"]) for r in rows} == {c.pk for c in day["alice"]}
    handoff = next(r for r in rows if r["handoff"] == "true")
    assert handoff["handoff_reason"] == "billing dispute" and handoff["mix"] == "HANDOFF"


def test_a_spreadsheet_formula_in_a_label_is_defused():
    lines = list(selectors.csv_lines([["=HYPERLINK(1)", "-3.5", "+x"]]))
    assert lines == ["'=HYPERLINK(1),-3.5,'+x\r\n"]


# Pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "insights-overview",
        "insights-teams",
        "insights-agents",
        "insights-queues",
        "insights-criteria",
        "insights-ai",
        "insights-trends",
        "insights-conversations",
    ],
)
def test_every_page_opens_for_every_persona_with_data_or_an_empty_state(world, day, name):
    for user in (world.admin, world.coach, world.supervisor, world.agent_user):
        client = login(Client(), user)
        response = client.get(reverse(name), PERIOD)
        assert response.status_code == 200, (name, user)
        empty = client.get(reverse(name), {"from": "2020-01-01", "to": "2020-01-31"})
        assert empty.status_code == 200


def test_pages_make_the_same_number_of_queries_for_few_or_many_agents(world, day, client):
    login(client, world.admin)
    urls = [reverse(n) for n in ("insights-overview", "insights-agents", "insights-criteria")]
    before = {url: queries_for(client, url, PERIOD) for url in urls}
    for n in range(8):
        agent = builders.make_agent(name=f"Agent {n}", team=world.south)
        call = build.new_call(HUMAN_GREETS_FIRST, human=agent.display_name, close_at=20)
        build.twilio_result(call, operator="Script Adherence", result=adherence("Failed"))
    build.refresh()
    assert (
        len(selectors.breakdown(user=world.admin, filters=filters_parse(PERIOD), by="agent").rows)
        == 11
    )
    after = {url: queries_for(client, url, PERIOD) for url in urls}
    assert after == before
