"""The audit pages: every change (admins), one object's history, and the CSV of a selection."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.decorators import page_for
from apps.common.replica import replica_reads
from apps.insights.selectors import csv_lines

from . import selectors
from .forms import AuditFilterForm
from .tracked import BY_SLUG


def _page(request: HttpRequest, rows: Any) -> tuple[Any, list[selectors.Event], Any]:
    paginator: Paginator[Any] = Paginator(rows, settings.AUDIT_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return (
        page,
        selectors.event_rows(page.object_list),
        paginator.get_elided_page_range(page.number),
    )


@page_for("audit")
@replica_reads
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context: dict[str, object] = {"form": form, "section": "audit", "page": None, "events": []}
    if not form.is_valid():
        return render(request, "audit/audit_list.html", context, status=400)
    filters = form.filters()
    if filters is None:  # a username nobody has: nothing to show, and say why
        context["unknown_actor"] = form.cleaned_data["actor"]
    else:
        page, events, page_range = _page(request, selectors.events(filters))
        context.update(page=page, events=events, page_range=page_range)
    return render(request, "audit/audit_list.html", context)


@page_for("audit")
@replica_reads
def audit_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "section": "audit", "page": None, "events": []}
        return render(request, "audit/audit_list.html", context, status=400)
    filters = form.filters()
    rows = selectors.csv_rows(filters) if filters is not None else iter([selectors.CSV_HEADER])
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response


@page_for("audit")
@replica_reads
def object_history(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    tracked = BY_SLUG.get(kind)
    if tracked is None:
        raise Http404("No such kind of object.")
    page, events, page_range = _page(request, selectors.object_events(tracked, pk))
    obj = tracked.tracked_model._default_manager.filter(pk=pk).first()
    back = ""
    if obj is not None and tracked.page:
        try:
            back = reverse(tracked.page, args=[pk])
        except NoReverseMatch:
            back = ""
    context = {
        "tracked": tracked,
        "pk": pk,
        "obj": obj,
        "back": back,
        "page": page,
        "events": events,
        "page_range": page_range,
        "section": "audit",
    }
    return render(request, "audit/object_history.html", context)
