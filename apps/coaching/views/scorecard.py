"""Coaching pages: the coach's home (``/coaching/``) and an agent's scorecard
(``/coaching/agents/<id>/``). Thin views over ``selectors.home`` and ``selectors.scorecard``;
an agent outside the user's scope is the 404 page, a role without coaching the 403 page."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.accounts.decorators import page_for
from apps.accounts.scoping import Reach, can_use, scope_for
from apps.common.errors import ValidationFailed

from ..choices import Metric
from ..selectors import home as home_selectors
from ..selectors import scorecard as scorecard_selectors
from ..selectors.scorecard import SESSION_NEW, coach_on_this_url

FIGURE_CARDS = (
    (Metric.QA_SCORE, "QA score", "score", "reviews"),
    (Metric.AI_ADHERENCE, "AI adherence score", "score", "judged conversations"),
    (Metric.SENTIMENT_DELTA, "Customer sentiment change", "delta", "conversations"),
    (Metric.HANDLE_TIME, "Handle time", "seconds", "closed conversations"),
)


@require_GET
@page_for("coaching")
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    if scope_for(user).reach is Reach.OWN:
        own = scorecard_selectors.own_agent(user=user)
        if own is not None:
            return redirect("coaching-agent", agent_id=own.pk)
    rows = home_selectors.agents_by_need(user=user)
    return render(
        request,
        "coaching/home.html",
        {
            "section": "coaching-home",
            "rows": rows,
            "upcoming": list(home_selectors.upcoming_sessions(user=user)),
            "coverage": (
                home_selectors.team_coverage(user=user)
                if home_selectors.can_see_coverage(user)
                else None
            ),
            "months": home_selectors.coverage_months(timezone.localdate()),
            "need_days": home_selectors.NEED_DAYS,
            "upcoming_days": home_selectors.UPCOMING_DAYS,
            "minimum": settings.COACHING_MIN_N,
            "can_manage": can_use(user, "coaching_manage"),
            "session_new": SESSION_NEW,
            "is_agent": scope_for(user).reach is Reach.OWN,
        },
    )


@require_GET
@page_for("coaching")
def agent_scorecard(request: HttpRequest, agent_id: int) -> HttpResponse:
    try:
        days = scorecard_selectors.window_parse(request.GET.get("days"))
    except ValidationFailed as exc:
        for problems in exc.errors.values():
            for problem in problems:
                messages.error(request, f"{problem} Showing the last 30 days instead.")
        days = scorecard_selectors.DEFAULT_WINDOW
    card = scorecard_selectors.scorecard(user=request.user, agent_id=agent_id, days=days)
    can_manage = can_use(request.user, "coaching_manage")
    return render(
        request,
        "coaching/scorecard.html",
        {
            "section": "coaching-scorecard",
            "card": card,
            "windows": scorecard_selectors.WINDOWS,
            "can_manage": can_manage,
            "is_self": scope_for(request.user).reach is Reach.OWN,
            "coach_urls": {
                c.key: coach_on_this_url(
                    agent_id=card.agent.pk, criterion=c.key, origin="scorecard"
                )
                for c in card.criteria
            },
            "coach_url": coach_on_this_url(agent_id=card.agent.pk, origin="scorecard"),
            "figure_cards": FIGURE_CARDS,
            "reviews_page": {"object_list": card.reviews},
            "today": card.end,
        },
    )


urlpatterns = [
    path("", home, name="coaching-home"),
    path("agents/<int:agent_id>/", agent_scorecard, name="coaching-agent"),
]
