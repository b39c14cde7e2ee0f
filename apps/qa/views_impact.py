"""Pages of rubric impact previews (admins): start one from a draft's page, watch its progress,
read the deltas per team and agent, the newly failing criteria, and the conversations.

Thin views over ``selectors.impact`` and ``services.impact``; the progress bar polls
``GET /api/qa/impact/<id>/`` (``static/qa/impact.js``) and reloads the page once it is done.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError

from apps.accounts.decorators import page_for
from apps.common.errors import ApplicationError, NotFound
from apps.common.forms import parse_id
from apps.common.pagination import CappedPaginator
from apps.rubrics import selectors as rubrics

from . import selectors, services
from .api.impact import row_filters
from .choices import PreviewStatus

ROWS_PER_PAGE = 50
PREVIEWS_PER_PAGE = 25


def _version_url(version: Any) -> str:
    return reverse("rubric-version", args=[version.rubric_id, version.number])


@page_for("qa_impact")
@require_POST
def impact_start(request: HttpRequest, version_pk: int) -> HttpResponse:
    version = rubrics.version_by_id(pk=version_pk)
    if version is None:
        raise NotFound("No such rubric version.")
    raw_days = (request.POST.get("days") or "30").strip()
    try:
        days = int(raw_days)
        preview = services.impact_preview_start(user=request.user, version=version, days=days)
    except ValueError:
        messages.error(request, "Days must be a whole number from 1 to 365.")
        return redirect(_version_url(version))
    except ApplicationError as error:
        problems = error.extra.get("errors") if error.extra else None
        text = "; ".join(m for ms in problems.values() for m in ms) if problems else error.message
        messages.error(request, text)
        return redirect(_version_url(version))
    return redirect("qa-impact", pk=preview.pk)


@page_for("qa_impact")
@require_GET
def impact_list(request: HttpRequest) -> HttpResponse:
    version = None
    version_id = parse_id(request.GET.get("version"))
    if version_id is not None:
        version = rubrics.version_by_id(pk=version_id)
    previews = selectors.impact_preview_list(
        user=request.user, version_id=version.pk if version is not None else None
    )
    paginator = CappedPaginator(previews, PREVIEWS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "qa/impact_list.html",
        {
            "version": version,
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        },
    )


@page_for("qa_impact")
@require_GET
def impact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    preview = selectors.impact_preview_get(user=request.user, pk=pk)
    summary = preview.summary or {}
    done = preview.status == PreviewStatus.DONE
    context: dict[str, Any] = {
        "preview": preview,
        "summary": summary,
        "done": done,
        "active": preview.status in (PreviewStatus.QUEUED, PreviewStatus.RUNNING),
        "percent": (
            100 if done else int(100 * preview.done / preview.total) if preview.total else 0
        ),
        "stale": services.is_stale(preview=preview),
        "version_url": _version_url(preview.rubric_version),
        "others": list(
            selectors.impact_preview_list(user=request.user, version_id=preview.rubric_version_id)
            .exclude(pk=preview.pk)
            .select_related(None)[:10]
        ),
    }
    if done:
        try:
            filters = row_filters(request.GET)
        except ValidationError:  # a hand-edited query string: show every row instead
            filters = selectors.RowFilters()
        rows = selectors.impact_row_list(user=request.user, preview=preview, filters=filters)
        paginator = CappedPaginator(rows, ROWS_PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        names = (summary.get("criteria") or {}).get("names") or {}
        context.update(
            {
                "filters": filters,
                "filtered": bool(
                    filters.team or filters.agent or filters.criterion or filters.change
                ),
                "page": page,
                "page_range": paginator.get_elided_page_range(
                    page.number, on_each_side=2, on_ends=1
                ),
                "criterion_names": names,
                "teams": [t for t in summary.get("teams", []) if t.get("id")],
                "agents": [a for a in summary.get("agents", []) if a.get("id")],
                "changed": [
                    (key, names.get(key, key))
                    for key in (summary.get("criteria") or {}).get("changed", [])
                ],
                "new": [
                    (key, names.get(key, key))
                    for key in (summary.get("criteria") or {}).get("new", [])
                ],
                "removed": [
                    (key, names.get(key, key))
                    for key in (summary.get("criteria") or {}).get("removed", [])
                ],
                "unjudged": [
                    (key, names.get(key, key))
                    for key in (summary.get("criteria") or {}).get("unjudged", [])
                ],
            }
        )
    return render(request, "qa/impact_detail.html", context)
