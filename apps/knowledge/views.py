"""Enterprise Knowledge and Conversation Memory pages.

Thin views over ``selectors`` and ``services``. Who may open a page is decided before anything
is looked up (``page_for``): everyone with a role reads articles and the memory of their
customers, admins write articles. Anonymous visitors go to the sign-in page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.decorators import page_for
from apps.accounts.scoping import can_use
from apps.common.errors import ValidationFailed
from apps.common.forms import add_service_errors

from . import selectors, services
from .forms import ArticleForm, CustomerSearchForm, KnowledgeSearchForm, ObservationForm
from .models import CustomerProfile, KnowledgeArticle

PAGE_SIZE = 25
OBSERVATIONS_PAGE_SIZE = 50


def _page(request: HttpRequest, rows: Any, size: int) -> dict[str, Any]:
    paginator = Paginator(rows, size)
    page = paginator.get_page(request.GET.get("page"))
    return {
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    }


# Enterprise Knowledge ----------------------------------------------------------------------------


@page_for("knowledge")
@require_GET
def knowledge_list(request: HttpRequest) -> HttpResponse:
    search = KnowledgeSearchForm(request.GET)
    query = tag = ""
    if search.is_valid():
        query = search.cleaned_data["q"].strip()
        tag = search.cleaned_data["tag"].strip()
    articles = selectors.article_list(user=request.user, query=query, tag=tag)
    return render(
        request,
        "knowledge/knowledge_list.html",
        {
            "search": search,
            "query": query,
            "tag": tag,
            "tags": selectors.article_tags(user=request.user),
            "can_manage": selectors.can_manage_knowledge(request.user),
            **_page(request, articles, PAGE_SIZE),
        },
    )


@page_for("knowledge")
@require_GET
def knowledge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = selectors.article_get(user=request.user, pk=pk)
    return render(
        request,
        "knowledge/knowledge_detail.html",
        {"article": article, "can_manage": selectors.can_manage_knowledge(request.user)},
    )


@page_for("knowledge_manage")
@require_http_methods(["GET", "POST"])
def knowledge_create(request: HttpRequest) -> HttpResponse:
    form = ArticleForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            article = services.knowledge_article_create(
                user=request.user, **form.service_arguments()
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            messages.success(request, f"“{article.title}” created.")
            return redirect("knowledge-detail", pk=article.pk)
    return render(request, "knowledge/knowledge_form.html", {"form": form, "article": None})


@page_for("knowledge_manage")
@require_http_methods(["GET", "POST"])
def knowledge_edit(request: HttpRequest, pk: int) -> HttpResponse:
    article = selectors.article_get(user=request.user, pk=pk)
    form = ArticleForm.for_article(article, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            article = services.knowledge_article_update(
                user=request.user, article=article, **form.service_arguments()
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            messages.success(request, f"“{article.title}” saved.")
            return redirect("knowledge-detail", pk=article.pk)
    return render(request, "knowledge/knowledge_form.html", {"form": form, "article": article})


@page_for("knowledge_manage")
@require_http_methods(["GET", "POST"])
def knowledge_delete(request: HttpRequest, pk: int) -> HttpResponse:
    article: KnowledgeArticle = selectors.article_get(user=request.user, pk=pk)
    if request.method == "POST":
        services.knowledge_article_delete(user=request.user, article=article)
        messages.success(request, f"“{article.title}” deleted.")
        return redirect("knowledge-list")
    return render(request, "knowledge/knowledge_delete.html", {"article": article})


# Conversation Memory -----------------------------------------------------------------------------


@page_for("memory")
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    search = CustomerSearchForm(request.GET)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    profiles = selectors.profile_list(user=request.user, query=query)
    return render(
        request,
        "knowledge/memory_list.html",
        {"search": search, "query": query, **_page(request, profiles, PAGE_SIZE)},
    )


def _customer_page(
    request: HttpRequest, profile: CustomerProfile, form: ObservationForm
) -> HttpResponse:
    conversations = list(selectors.profile_conversations(user=request.user, profile=profile))
    return render(
        request,
        "knowledge/memory_detail.html",
        {
            "profile": profile,
            "form": form,
            "conversations": conversations,
            # Their own notes anyone deletes, anybody's an admin (services.observation_delete).
            "can_delete_any": can_use(request.user, "memory_manage"),
            **_page(
                request,
                selectors.profile_observations(user=request.user, profile=profile),
                OBSERVATIONS_PAGE_SIZE,
            ),
        },
    )


@page_for("memory")
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    profile = selectors.profile_get(user=request.user, pk=pk)
    return _customer_page(request, profile, ObservationForm())


@page_for("memory")
@require_POST
def observation_add(request: HttpRequest, pk: int) -> HttpResponse:
    profile = selectors.profile_get(user=request.user, pk=pk)
    form = ObservationForm(request.POST)
    if form.is_valid():
        try:
            _, created = services.observation_add(
                user=request.user, profile=profile, text=form.cleaned_data["text"]
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            if created:
                messages.success(request, "Observation added.")
            else:
                messages.info(request, "That was already remembered about this customer.")
            return redirect(reverse("knowledge-customer-detail", args=[profile.pk]))
    return _customer_page(request, profile, form)


@page_for("memory")
@require_http_methods(["GET", "POST"])
def observation_delete(request: HttpRequest, pk: int, observation_pk: int) -> HttpResponse:
    profile = selectors.profile_get(user=request.user, pk=pk)
    observation = selectors.observation_get(user=request.user, profile=profile, pk=observation_pk)
    if request.method == "POST":
        services.observation_delete(user=request.user, observation=observation)
        messages.success(request, "Observation deleted.")
        return redirect("knowledge-customer-detail", pk=profile.pk)
    return render(
        request,
        "knowledge/memory_observation_delete.html",
        {"profile": profile, "observation": observation},
    )
