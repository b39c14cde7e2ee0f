"""Coaching pages: goals (list, form, page, edit, delete) and a session's before/after partial.

Thin views over ``selectors.goals``, ``selectors.before_after`` and ``services.goals``; who may
open a page is decided first (``page_for``), what a service refuses is the 403/404 page or an
error next to the form's fields.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.decorators import page_for
from apps.accounts.scoping import can_use
from apps.common.errors import ApplicationError, ValidationFailed
from apps.common.forms import add_service_errors, parse_id
from apps.common.pagination import CappedPaginator

from ..choices import GoalStatus
from ..forms_goals import GoalEditForm, GoalFilterForm, GoalForm
from ..models import CoachingSession
from ..selectors import before_after
from ..selectors import goals as selectors
from ..services import goals as services

PAGE_SIZE = 25
STATUS_BADGES: dict[str, str] = {
    GoalStatus.ON_TRACK: "text-bg-primary",
    GoalStatus.AT_RISK: "text-bg-warning",
    GoalStatus.MET: "text-bg-success",
    GoalStatus.MISSED: "text-bg-danger",
    GoalStatus.NOT_ENOUGH_DATA: "text-bg-secondary",
}


@page_for("coaching")
@require_GET
def goal_list(request: HttpRequest) -> HttpResponse:
    filters = GoalFilterForm(request.GET or None, user=request.user)
    chosen = filters.values()
    goals = selectors.goal_list(user=request.user, **chosen)
    paginator = CappedPaginator(goals, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    names = selectors.published_criteria()
    rows = [(goal, selectors.metric_label(goal, names), STATUS_BADGES.get(goal.status, ""))
            for goal in page.object_list]  # fmt: skip
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "coaching/goal_list.html",
        {
            "filters": filters,
            "rows": rows,
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            "query": query.urlencode(),
            "filtered": any(request.GET.get(k) for k in ("agent", "status")),
            "can_manage": can_use(request.user, "coaching_manage"),
        },
    )


def _initial(request: HttpRequest) -> dict[str, Any]:
    initial: dict[str, Any] = {}
    if agent := parse_id(request.GET.get("agent")):
        initial["agent"] = agent
    if request.GET.get("metric"):
        initial["metric"] = request.GET["metric"]
    if request.GET.get("criterion"):
        initial["criterion_key"] = request.GET["criterion"]
        initial.setdefault("metric", "CRITERION_PASS")
    if session := parse_id(request.GET.get("session")):
        initial["session"] = session
    return initial


@page_for("coaching_manage")
@require_http_methods(["GET", "POST"])
def goal_new(request: HttpRequest) -> HttpResponse:
    form = GoalForm(request.POST or None, user=request.user, initial=_initial(request))
    embedded_from = parse_id(request.POST.get("session")) if request.method == "POST" else None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            goal = services.goal_set(
                user=request.user,
                agent_id=data["agent"].pk,
                metric=data["metric"],
                criterion_key=data.get("criterion_key") or "",
                target=data["target"],
                start_on=data.get("start_on") or None,
                due_on=data["due_on"],
                session_id=data.get("session") or None,
            )
        except ValidationFailed as error:
            add_service_errors(form, error.errors)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"Goal set for {goal.agent.display_name}: baseline frozen "
                f"({selectors.fmt(goal.metric, goal.baseline)}, n = {goal.baseline_n}).",
            )
            if embedded_from and request.POST.get("next") == "session":
                try:  # the session page (its own piece of work) may not be routed yet
                    return redirect(reverse("coaching-session", args=[embedded_from]))
                except NoReverseMatch:
                    pass
            return redirect("coaching-goal", pk=goal.pk)
    return render(request, "coaching/goal_form.html", {"form": form})


@page_for("coaching")
@require_GET
def goal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    goal = selectors.goal_get(user=request.user, pk=pk)
    if goal is None:
        raise Http404("No such goal.")
    today = timezone.localdate()
    reading = selectors.goal_status(goal, today=today)
    points = selectors.weekly_progress(goal, today=today)
    return render(
        request,
        "coaching/goal_detail.html",
        {
            "goal": goal,
            "label": selectors.metric_label(goal, selectors.published_criteria()),
            "reading": reading,
            "badge": STATUS_BADGES.get(goal.status, ""),
            "baseline_window": selectors.baseline_window(goal),
            "progress_window": selectors.progress_window(goal, today=today),
            "row_list": [before_after.goal_before_after(goal)],
            "chart": _chart(goal, points),
            "points": points,
            "can_manage": can_use(request.user, "coaching_manage"),
            "edit_form": GoalEditForm(initial={"target": goal.target, "due_on": goal.due_on}),
        },
    )


def _chart(goal: Any, points: list[selectors.WeekPoint]) -> dict[str, Any] | None:
    """Coordinates for the goal page's inline SVG: the baseline band, the target line, and the
    weekly points with their interval bars (a 600 x 200 box)."""
    values = [goal.target]
    for v in (goal.baseline, goal.baseline_low, goal.baseline_high):
        if v is not None:
            values.append(selectors.bounded(goal.metric, v))
    for p in points:
        values += [selectors.bounded(goal.metric, v) for v in (p.value, p.low, p.high)
                   if v is not None]  # fmt: skip
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    width, height, left, right, top, bottom = 600, 200, 48, 12, 10, 24

    def y(v: float) -> float:
        shown = selectors.bounded(goal.metric, v)
        assert shown is not None
        return round(top + (hi - shown) / (hi - lo) * (height - top - bottom), 1)

    count = max(len(points), 1)
    step = (width - left - right) / count
    dots = []
    for i, p in enumerate(points):
        if p.value is None:
            continue
        x = round(left + step * (i + 0.5), 1)
        dots.append(
            {
                "x": x,
                "y": y(p.value),
                "y_low": y(p.low) if p.low is not None else None,
                "y_high": y(p.high) if p.high is not None else None,
                "title": f"Week of {p.start:%-d %b}: {selectors.fmt(goal.metric, p.value)} "
                f"(n = {p.n})",
            }
        )
    band = None
    if goal.baseline_low is not None and goal.baseline_high is not None:
        band = {
            "y": y(goal.baseline_high),
            "h": round(y(goal.baseline_low) - y(goal.baseline_high), 1),
        }
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "inner_w": width - right - left,
        "band": band,
        "baseline_y": y(goal.baseline) if goal.baseline is not None else None,
        "target_y": y(goal.target),
        "dots": dots,
        "top_label": selectors.fmt(goal.metric, hi - pad),
        "bottom_label": selectors.fmt(goal.metric, lo + pad),
        "top_y": y(hi - pad),
        "bottom_y": y(lo + pad),
        "empty": not dots,
    }


@page_for("coaching_manage")
@require_POST
def goal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    goal = selectors.goal_get(user=request.user, pk=pk)
    if goal is None:
        raise Http404("No such goal.")
    form = GoalEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a target and a due date.")
        return redirect("coaching-goal", pk=pk)
    try:
        services.goal_update(
            user=request.user,
            goal=goal,
            target=form.cleaned_data["target"],
            due_on=form.cleaned_data["due_on"],
        )
    except ValidationFailed as error:
        messages.error(request, " ".join(m for ms in error.errors.values() for m in ms))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Goal updated; the baseline stays as it was frozen.")
    return redirect("coaching-goal", pk=pk)


@page_for("coaching_manage")
@require_POST
def goal_delete(request: HttpRequest, pk: int) -> HttpResponse:
    goal = selectors.goal_get(user=request.user, pk=pk)
    if goal is None:
        raise Http404("No such goal.")
    try:
        services.goal_delete(user=request.user, goal=goal)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("coaching-goal", pk=pk)
    messages.success(request, "Goal cancelled.")
    return redirect("coaching-goals")


@page_for("coaching")
@require_GET
def session_before_after(request: HttpRequest, pk: int) -> HttpResponse:
    """The before/after table of a session, as a partial the session page loads."""
    session = CoachingSession.objects.for_user(request.user).filter(pk=pk).first()
    if session is None:
        raise Http404("No such session.")
    rows = before_after.session_before_after(user=request.user, session=session)
    return render(request, "coaching/_before_after.html", {"rows": rows})


urlpatterns = [
    path("goals/", goal_list, name="coaching-goals"),
    path("goals/new/", goal_new, name="coaching-goal-new"),
    path("goals/<int:pk>/", goal_detail, name="coaching-goal"),
    path("goals/<int:pk>/edit/", goal_edit, name="coaching-goal-edit"),
    path("goals/<int:pk>/delete/", goal_delete, name="coaching-goal-delete"),
    path(
        "sessions/<int:pk>/before-after/",
        session_before_after,
        name="coaching-session-before-after",
    ),
]
