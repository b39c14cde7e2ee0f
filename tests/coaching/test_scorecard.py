"""The agent scorecard and the coach's home: who sees whom, the figures against hand-computed
values, agents sorted by need, a constant number of queries, and the API.

Figures are read from the insights rollups; these tests write rollup rows directly (what the
insights refresh would have summed), so every number below can be computed by hand. The
insights pipeline that writes them has its own tests in ``tests/insights``.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.coaching.choices import GoalStatus, Metric, SessionStatus
from apps.coaching.models import ActionItem, CoachingSession, Goal
from apps.coaching.selectors import home, metrics, scorecard
from apps.insights.models import CriterionRollup, Rollup
from apps.qa.models import Review
from tests.conftest import login
from tests.fixtures import builders
from tests.fixtures import qa as qa_build
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def score_rollup(agent, days_ago: int, queue: str = "", **sums) -> Rollup:
    """One day's rollup row of ``agent`` (every sum 0 unless given)."""
    values = {
        f.name: 0
        for f in Rollup._meta.concrete_fields
        if f.name not in ("id", "day", "team", "agent", "queue", "channel")
    }
    values.update(sums)
    return Rollup.objects.create(
        day=TODAY() - timedelta(days=days_ago),
        team_id=agent.team_id,
        agent_id=agent.pk,
        queue=queue,
        channel="VOICE",
        **values,
    )


def score_criterion(agent, key: str, met: int, not_met: int, ai=(0, 0), days_ago: int = 1):
    """People's (and the AI's) answers on criterion ``key`` for ``agent``, one day."""
    return CriterionRollup.objects.create(
        day=TODAY() - timedelta(days=days_ago),
        team_id=agent.team_id,
        agent_id=agent.pk,
        queue="",
        channel="VOICE",
        criterion_key=key,
        ai_met=ai[0],
        ai_not_met=ai[1],
        ai_na=0,
        human_met=met,
        human_not_met=not_met,
        human_na=0,
    )


def score_session(agent, coach, *, held_days_ago: int | None = None, planned_in=None, title="1:1"):
    now = timezone.now()
    if held_days_ago is not None:
        held = now - timedelta(days=held_days_ago)
        return CoachingSession.objects.create(
            agent=agent, coach=coach, title=title, scheduled_at=held,
            status=SessionStatus.HELD, held_at=held,
        )  # fmt: skip
    return CoachingSession.objects.create(
        agent=agent, coach=coach, title=title, scheduled_at=now + planned_in
    )


def score_goal(agent, status=GoalStatus.ON_TRACK, metric=Metric.QA_SCORE):
    today = TODAY()
    return Goal.objects.create(
        agent=agent, metric=metric, target=90, start_on=today - timedelta(days=5),
        due_on=today + timedelta(days=25), status=status, baseline=70, baseline_n=8,
    )  # fmt: skip


def score_action(agent, *, due_in: int | None = 3, done: bool = False, text="Practise the close"):
    return ActionItem.objects.create(
        agent=agent,
        text=text,
        due_on=TODAY() + timedelta(days=due_in) if due_in is not None else None,
        done_at=timezone.now() if done else None,
    )


def score_review(version, conversation, *, days_ago: float = 0, released: bool = True) -> Review:
    review = qa_build.rated_review(version, conversation, {"greeting": ("MET", "MET")})
    when = timezone.now() - timedelta(days=days_ago)
    Review.objects.filter(pk=review.pk).update(
        submitted_at=when, release_at=when if released else when + timedelta(days=30)
    )
    return review


def scorecard_url(agent, **params) -> str:
    return reverse("coaching-agent", args=[agent.pk])


# --- who sees whom -------------------------------------------------------------------------


def test_a_coach_sees_their_teams_agents_only(world):
    coach = login(world.coach)
    assert coach.get(scorecard_url(world.agent)).status_code == 200
    assert coach.get(scorecard_url(world.other_agent)).status_code == 404
    rows = home.agents_by_need(user=world.coach)
    assert [r.agent for r in rows] == [world.agent]
    page = coach.get(reverse("coaching-home"))
    assert page.status_code == 200
    assert b"Alice" in page.content and b"Bob" not in page.content


def test_a_supervisor_reads_their_team_and_sees_coverage_but_no_coach_buttons(world):
    score_criterion(world.agent, "greeting", 3, 7)
    supervisor = login(world.supervisor)
    page = supervisor.get(scorecard_url(world.agent))
    assert page.status_code == 200
    assert b'data-testid="coach-on-this"' not in page.content
    assert supervisor.get(scorecard_url(world.other_agent)).status_code == 404
    assert b'data-testid="coverage"' in supervisor.get(reverse("coaching-home")).content
    assert b'data-testid="coverage"' not in login(world.coach).get(reverse("coaching-home")).content


def test_an_agent_sees_only_their_own_scorecard_and_is_sent_there_from_home(world):
    agent = login(world.agent_user)
    response = agent.get(reverse("coaching-home"))
    assert response.status_code == 302
    assert response["Location"] == scorecard_url(world.agent)
    assert agent.get(scorecard_url(world.agent)).status_code == 200
    assert agent.get(scorecard_url(world.other_agent)).status_code == 404


def test_admins_and_qa_see_every_agent(world):
    for user in (world.admin, world.qa_analyst):
        client = login(user)
        assert client.get(scorecard_url(world.other_agent)).status_code == 200
        assert {r.agent for r in home.agents_by_need(user=user)} == {
            world.agent,
            world.other_agent,
        }


def test_an_outsider_sees_nothing(world, client):
    outsider = login(world.outsider)
    assert outsider.get(reverse("coaching-home")).status_code == 403
    assert outsider.get(scorecard_url(world.agent)).status_code == 403
    assert home.agents_by_need(user=world.outsider) == []
    assert client.get(reverse("coaching-home")).status_code == 302  # to sign in


def test_an_agent_sees_only_released_reviews_and_a_coach_every_submitted_one(world):
    version = qa_build.publish_script(world.admin)
    released = score_review(version, world.north_call, days_ago=1)
    held_back = score_review(version, world.north_call, days_ago=0.5, released=False)
    agent_card = scorecard.scorecard(user=world.agent_user, agent_id=world.agent.pk)
    coach_card = scorecard.scorecard(user=world.coach, agent_id=world.agent.pk)
    assert [r.pk for r in agent_card.reviews] == [released.pk]
    assert [r.pk for r in coach_card.reviews] == [held_back.pk, released.pk]


# --- the figures ---------------------------------------------------------------------------


def test_the_figures_match_hand_computed_means_and_intervals(world):
    # QA scores 70 and 90 on one day, 80 the week before: mean 80, s = 10, n = 3.
    score_rollup(world.agent, 1, qa_n=2, qa_sum=160, qa_sq=70**2 + 90**2, conversations=2)
    score_rollup(world.agent, 9, qa_n=1, qa_sum=80, qa_sq=80**2, conversations=1)
    # Handle times 100 s and 140 s: mean 120, s = 28.28, n = 2.
    score_rollup(world.agent, 2, handle_n=2, handle_sum=240, handle_sq=100**2 + 140**2)
    score_rollup(world.other_agent, 1, qa_n=5, qa_sum=100, qa_sq=2000)  # someone else's
    card = scorecard.scorecard(user=world.coach, agent_id=world.agent.pk)

    qa = card.figures[Metric.QA_SCORE]
    assert (qa.value, qa.n) == (80.0, 3)
    # t(0.975, 2) = 4.302653; s = 10; half = 4.302653 * 10 / sqrt(3) = 24.8414
    assert qa.high - qa.value == pytest.approx(4.302653 * 10 / math.sqrt(3), abs=1e-3)
    handle = card.figures[Metric.HANDLE_TIME]
    assert (handle.value, handle.n) == (120.0, 2)
    # t(0.975, 1) = 12.7062; s = sqrt(800); half = 12.7062 * sqrt(800) / sqrt(2) = 254.124
    assert handle.high - handle.value == pytest.approx(12.7062 * 20, abs=1e-2)
    assert card.figures[Metric.SENTIMENT_DELTA].n == 0

    # The same numbers as the coaching metrics (and so goals and before/after) give.
    sample = metrics.samples(
        user=world.coach, agent_id=world.agent.pk, start=card.start, end=card.end
    )[(Metric.QA_SCORE, "")]
    assert sample.estimate == qa

    # Weekly points: the window's last week holds the 70 and 90, the week before the 80.
    weeks = card.trends[0].points
    assert len(weeks) == 5 and weeks[-1].end == card.end and weeks[0].start == card.start
    assert (weeks[-1].value.value, weeks[-1].value.n) == (80.0, 2)
    assert (weeks[-2].value.value, weeks[-2].value.n) == (80.0, 1)
    assert [w.value.n for w in weeks[:3]] == [0, 0, 0]


def test_criterion_pass_rates_carry_wilson_intervals_and_rank_only_with_enough_data(
    world, settings
):
    settings.COACHING_MIN_N = 5
    score_criterion(world.agent, "greeting", 3, 7, ai=(8, 2))  # 30%, Wilson 10.8-60.3%
    score_criterion(world.agent, "offer_help", 9, 1)  # 90%
    score_criterion(world.agent, "verify_identity", 2, 1)  # n = 3: not enough to rank
    score_criterion(world.agent, "closing", 10, 0)  # never failed: strongest, never weakest
    card = scorecard.scorecard(user=world.coach, agent_id=world.agent.pk)
    rows = {c.key: c for c in card.criteria}
    greeting = rows["greeting"]
    assert (greeting.human.value, greeting.human.n) == (0.3, 10)
    assert greeting.human.low == pytest.approx(0.1078, abs=1e-4)
    assert greeting.human.high == pytest.approx(0.6032, abs=1e-4)
    assert (greeting.ai.value, greeting.ai.n) == (0.8, 10)
    assert [c.key for c in card.weakest] == ["greeting", "offer_help"]
    assert [c.key for c in card.strongest] == ["closing"]
    assert not rows["verify_identity"].enough

    page = login(world.coach).get(scorecard_url(world.agent))
    assert (
        b'href="/coaching/sessions/new/?agent=%d&amp;criterion=greeting&amp;from=scorecard"'
        % world.agent.pk
    ) in page.content
    assert page.content.count(b'data-testid="coach-on-this"') == 4 + 2  # each row, each weak


def test_without_enough_answers_the_page_says_so_instead_of_ranking(world, settings):
    settings.COACHING_MIN_N = 5
    score_criterion(world.agent, "greeting", 1, 3)
    card = scorecard.scorecard(user=world.coach, agent_id=world.agent.pk)
    assert card.weakest == [] and card.strongest == []
    page = login(world.coach).get(scorecard_url(world.agent))
    assert b"Not enough data" in page.content


def test_the_window_is_30_or_90_days_and_anything_else_falls_back_to_30(world):
    score_rollup(world.agent, 60, qa_n=1, qa_sum=50, qa_sq=2500)
    coach = login(world.coach)
    assert (
        scorecard.scorecard(user=world.coach, agent_id=world.agent.pk).figures[Metric.QA_SCORE].n
        == 0
    )
    wide = coach.get(scorecard_url(world.agent), {"days": "90"})
    assert wide.context["card"].figures[Metric.QA_SCORE].n == 1
    assert len(wide.context["card"].trends[0].points) == 13
    odd = coach.get(scorecard_url(world.agent), {"days": "7\x00"})
    assert odd.status_code == 200 and odd.context["card"].days == 30
    assert b"Showing the last 30 days instead" in odd.content


def test_open_action_items_and_goals_are_listed(world):
    score_action(world.agent, text="Use the caller's name")
    score_action(world.agent, done=True, text="Done already")
    score_goal(world.agent, status=GoalStatus.AT_RISK)
    score_action(world.other_agent, text="Not Alice's")
    card = scorecard.scorecard(user=world.coach, agent_id=world.agent.pk)
    assert [a.text for a in card.actions] == ["Use the caller's name"]
    assert [g.status for g in card.goals] == [GoalStatus.AT_RISK]


# --- the coach's home ----------------------------------------------------------------------


def test_agents_are_sorted_by_need(world, settings):
    settings.COACHING_MIN_N = 5
    north = world.north
    carl = builders.make_agent(name="Carl", team=north)
    dana = builders.make_agent(name="Dana", team=north)
    eve = builders.make_agent(name="Eve", team=north)
    fay = builders.make_agent(name="Fay", team=north)
    score_criterion(world.agent, "greeting", 3, 7)  # upper bound 60.3%
    score_criterion(carl, "greeting", 1, 9)  # upper bound 40.4%: the surest weakness
    score_criterion(carl, "closing", 9, 1)
    score_criterion(fay, "greeting", 1, 2)  # n = 3: not enough to count
    score_goal(dana, status=GoalStatus.AT_RISK)
    score_goal(eve, status=GoalStatus.ON_TRACK)
    score_action(eve, due_in=-2)
    score_action(eve, due_in=-1)
    score_action(fay, due_in=-1, done=True)  # done: not overdue
    score_action(fay, due_in=0)  # due today: not overdue yet

    rows = home.agents_by_need(user=world.coach)
    assert [r.agent.display_name for r in rows] == ["Carl", "Alice", "Dana", "Eve", "Fay"]
    by_name = {r.agent.display_name: r for r in rows}
    assert by_name["Carl"].weakest.key == "greeting"
    assert by_name["Carl"].weakest.rate.high == pytest.approx(0.4042, abs=1e-4)
    assert (by_name["Dana"].goals_at_risk, by_name["Eve"].overdue_actions) == (1, 2)
    assert by_name["Fay"].weakest is None and by_name["Fay"].overdue_actions == 0

    page = login(world.coach).get(reverse("coaching-home"))
    order = [page.content.index(name.encode()) for name in ("Carl", "Alice", "Dana", "Eve")]
    assert order == sorted(order)


def test_reviews_since_the_last_held_session_are_counted(world):
    version = qa_build.publish_script(world.admin)
    score_review(version, world.north_call, days_ago=6)
    score_session(world.agent, world.coach, held_days_ago=5)
    score_session(world.agent, world.coach, held_days_ago=3)  # the latest
    score_review(version, world.north_call, days_ago=4)
    score_review(version, world.north_call, days_ago=2)
    score_review(version, world.north_call, days_ago=1)
    (row,) = home.agents_by_need(user=world.coach)
    assert row.reviews_since == 2
    assert row.last_session is not None


def test_never_coached_agents_count_the_last_30_days_of_reviews(world):
    version = qa_build.publish_script(world.admin)
    score_review(version, world.north_call, days_ago=40)
    score_review(version, world.north_call, days_ago=3)
    (row,) = home.agents_by_need(user=world.coach)
    assert (row.reviews_since, row.last_session) == (1, None)


def test_upcoming_sessions_are_the_planned_ones_of_the_next_14_days(world):
    soon = score_session(world.agent, world.coach, planned_in=timedelta(days=2), title="Soon")
    score_session(world.agent, world.coach, planned_in=timedelta(days=20), title="Later")
    score_session(world.agent, world.coach, planned_in=timedelta(days=-1), title="Missed")
    score_session(world.other_agent, world.coach, planned_in=timedelta(days=1), title="South")
    assert list(home.upcoming_sessions(user=world.coach)) == [soon]
    page = login(world.coach).get(reverse("coaching-home"))
    assert b"Soon" in page.content and b"Later" not in page.content


def test_team_coverage_counts_held_sessions_per_agent_per_month(world):
    builders.make_agent(name="Carl", team=world.north)  # north: Alice and Carl
    today = TODAY()
    score_session(world.agent, world.coach, held_days_ago=0)
    if today.day > 1:  # a second one this month when there is room for it
        score_session(world.agent, world.coach, held_days_ago=1)
    score_session(world.other_agent, world.coach, held_days_ago=0)  # south: not in scope
    (north,) = home.team_coverage(user=world.supervisor)
    assert (north.name, north.agents) == ("North", 2)
    this_month = north.months[-1]
    held = 2 if today.day > 1 else 1
    assert (this_month.sessions, this_month.agents_coached) == (held, 1)
    assert this_month.per_agent == held / 2
    assert [m.sessions for m in north.months[:-1]] == [0, 0]


def test_home_has_empty_states_with_a_next_step(world):
    lonely = builders.make_user(username="newcoach", role="coach")
    page = login(lonely).get(reverse("coaching-home"))
    assert b"No agents to coach" in page.content
    assert b"ask an admin to add you to a team" in page.content


def test_the_navigation_links_to_coaching_for_those_who_may_use_it(world):
    assert b'href="/coaching/"' in login(world.coach).get(reverse("home"), follow=True).content
    outsider_page = login(world.outsider).get(reverse("home"), follow=True).content
    assert b'href="/coaching/"' not in outsider_page


def test_the_heatmap_offers_coach_on_this_to_coaches_only(world):
    score_criterion(world.agent, "greeting", 3, 7)
    url = reverse("insights-criteria")
    link = b"/coaching/sessions/new/?agent=%d&amp;criterion=greeting&amp;from=heatmap" % (
        world.agent.pk
    )
    assert link in login(world.coach).get(url).content
    assert link not in login(world.supervisor).get(url).content


# --- queries -------------------------------------------------------------------------------


def _lots(world, version, count: int, first: int = 0) -> None:
    for n in range(first, first + count):
        score_session(world.agent, world.coach, held_days_ago=n % 20 + 1)
        score_session(world.agent, world.coach, planned_in=timedelta(days=n % 10 + 1))
        score_goal(world.agent, status=GoalStatus.AT_RISK if n % 2 else GoalStatus.ON_TRACK)
        score_action(world.agent, due_in=n % 5 - 2, text=f"Item {n}")
        score_review(version, world.north_call, days_ago=n % 25)
        score_criterion(world.agent, f"criterion_{n}", n % 7, 6, days_ago=n % 20 + 1)
        score_rollup(world.agent, n % 25 + 40, queue=f"q{n}", qa_n=1, qa_sum=70, qa_sq=4900)


def test_both_pages_make_the_same_number_of_queries_for_few_or_many_rows(world):
    version = qa_build.publish_script(world.admin)
    _lots(world, version, 1)
    pages = [
        (world.coach, reverse("coaching-home"), None),
        (world.supervisor, reverse("coaching-home"), None),
        (world.coach, scorecard_url(world.agent), {"days": "90"}),
        (world.agent_user, scorecard_url(world.agent), None),
        (world.coach, reverse("api-coaching-agents"), None),
        (world.coach, reverse("api-coaching-agent-scorecard", args=[world.agent.pk]), None),
    ]
    clients = {user.pk: login(user) for user, _, _ in pages}
    before = [queries_for(clients[u.pk], path, data) for u, path, data in pages]
    _lots(world, version, 40, first=1)
    for n in range(5):
        builders.make_agent(name=f"Extra {n}", team=world.north)
    after = [queries_for(clients[u.pk], path, data) for u, path, data in pages]
    assert after == before


# --- the API -------------------------------------------------------------------------------


def test_the_api_lists_agents_by_need_paginated(world, settings):
    settings.COACHING_MIN_N = 5
    carl = builders.make_agent(name="Carl", team=world.north)
    score_criterion(carl, "greeting", 1, 9)
    api = login(world.coach)
    body = api.get(reverse("api-coaching-agents"), {"page_size": 1}).json()
    assert body["count"] == 2 and body["next"]
    (first,) = body["results"]
    assert (first["name"], first["weakest"]["key"]) == ("Carl", "greeting")
    assert first["weakest"]["rate"]["n"] == 10
    assert first["weakest"]["rate"]["high"] == pytest.approx(0.4042, abs=1e-4)
    assert login(world.outsider).get(reverse("api-coaching-agents")).status_code == 403


def test_the_api_gives_the_scorecard_figures_with_n_and_intervals(world, settings):
    settings.COACHING_MIN_N = 5
    score_rollup(world.agent, 1, qa_n=2, qa_sum=160, qa_sq=70**2 + 90**2)
    score_criterion(world.agent, "greeting", 3, 7)
    url = reverse("api-coaching-agent-scorecard", args=[world.agent.pk])
    body = login(world.coach).get(url, {"days": "30"}).json()
    assert body["days"] == 30
    assert body["figures"]["QA_SCORE"]["value"] == 80.0 and body["figures"]["QA_SCORE"]["n"] == 2
    (greeting,) = body["criteria"]
    assert (greeting["human"]["value"], greeting["human"]["n"]) == (0.3, 10)
    assert body["weakest"] == ["greeting"]
    assert body["coach_on_this"]["greeting"].endswith("criterion=greeting&from=scorecard")
    assert len(body["trends"]["QA_SCORE"]) == 5

    assert login(world.agent_user).get(url).json()["coach_on_this"] == {}
    bad = login(world.coach).get(url, {"days": "45"})
    assert bad.status_code == 400 and "days" in bad.json()["extra"]["errors"]
    other = reverse("api-coaching-agent-scorecard", args=[world.other_agent.pk])
    assert login(world.coach).get(other).status_code == 404
    assert login(world.outsider).get(url).status_code == 403
