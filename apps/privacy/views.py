"""Pages for admins: the retention schedule with what the next run would change, and
customers' erasure requests (file one, follow it)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.decorators import page_for
from apps.common.errors import NotFound, ValidationFailed
from apps.common.forms import add_service_errors

from . import selectors, services
from .forms import ErasureForm
from .retention import retention_counts


@page_for("privacy")
def retention(request: HttpRequest) -> HttpResponse:
    return render(request, "privacy/retention.html", {"rows": retention_counts()})


@page_for("privacy")
@require_http_methods(["GET", "POST"])
def erasure_list(request: HttpRequest) -> HttpResponse:
    form = ErasureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            erasure, created = services.erasure_file(
                user=request.user,
                kind=form.cleaned_data["kind"],
                identifier=form.cleaned_data["identifier"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        except NotFound as exc:
            form.add_error("identifier", exc.message)
        else:
            if created:
                messages.success(request, f"Erasure request {erasure.pk} filed.")
            else:
                messages.info(request, "An erasure of this customer is already under way.")
            return redirect("privacy-erasure-detail", pk=erasure.pk)
    page = Paginator(selectors.erasure_list(user=request.user), 25).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "privacy/erasure_list.html",
        {
            "form": form,
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
        },
    )


@page_for("privacy")
def erasure_detail(request: HttpRequest, pk: int) -> HttpResponse:
    erasure = selectors.erasure_get(user=request.user, pk=pk)
    return render(
        request,
        "privacy/erasure_detail.html",
        {
            "erasure": erasure,
            "progress": selectors.erasure_progress(erasure),
            "counts": sorted(
                (key.replace("_", " ").capitalize(), n) for key, n in (erasure.counts or {}).items()
            ),
        },
    )


@page_for("privacy")
@require_POST
def erasure_retry(request: HttpRequest, pk: int) -> HttpResponse:
    services.erasure_retry(user=request.user, request_id=pk)
    messages.info(request, "The erasure goes on from the step that failed.")
    return redirect("privacy-erasure-detail", pk=pk)
