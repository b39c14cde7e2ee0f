"""Enterprise Knowledge and Conversation Memory pages.

Thin views over ``apps.intelligence.knowledge`` (reads and the observation writes) and
``services`` (the article writes). Who may open a page is decided once, in
:func:`knowledge_page`, before anything is looked up: everyone with a role reads articles and the
memory of their customers, admins write articles. Anonymous visitors go to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound, ValidationFailed
from apps.common.errors import PermissionDenied as ServicePermissionDenied

from . import knowledge, services
from .forms_knowledge import (
    ArticleForm,
    CustomerSearchForm,
    KnowledgeSearchForm,
    ObservationForm,
    add_service_errors,
)
from .models import CustomerProfile, KnowledgeArticle

View = Callable[..., HttpResponse]
PAGE_SIZE = 25
OBSERVATIONS_PAGE_SIZE = 50


def knowledge_page(feature: str) -> Callable[[View], View]:
    """Sign-in required; then users with ``feature`` only (the 403 page otherwise).

    A service refusing the user is a 403 too, and one not finding a row a 404.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not can_use(request.user, feature):
                raise PermissionDenied
            try:
                return view(request, *args, **kwargs)
            except ServicePermissionDenied as exc:
                raise PermissionDenied(exc.message) from exc
            except NotFound as exc:
                raise Http404(exc.message) from exc

        return login_required(wrapper)

    return decorator


def _page(request: HttpRequest, rows: Any, size: int) -> dict[str, Any]:
    paginator = Paginator(rows, size)
    page = paginator.get_page(request.GET.get("page"))
    return {
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    }


# Enterprise Knowledge ----------------------------------------------------------------------------


@knowledge_page("knowledge")
@require_GET
def knowledge_list(request: HttpRequest) -> HttpResponse:
    search = KnowledgeSearchForm(request.GET)
    query = tag = ""
    if search.is_valid():
        query = search.cleaned_data["q"].strip()
        tag = search.cleaned_data["tag"].strip()
    articles = knowledge.article_list(user=request.user, query=query, tag=tag)
    return render(
        request,
        "intelligence/knowledge_list.html",
        {
            "search": search,
            "query": query,
            "tag": tag,
            "tags": knowledge.article_tags(user=request.user),
            "can_manage": knowledge.can_manage_knowledge(request.user),
            **_page(request, articles, PAGE_SIZE),
        },
    )


@knowledge_page("knowledge")
@require_GET
def knowledge_detail(request: HttpRequest, pk: int) -> HttpResponse:
    article = knowledge.article_get(user=request.user, pk=pk)
    return render(
        request,
        "intelligence/knowledge_detail.html",
        {"article": article, "can_manage": knowledge.can_manage_knowledge(request.user)},
    )


@knowledge_page("knowledge_manage")
@require_http_methods(["GET", "POST"])
def knowledge_create(request: HttpRequest) -> HttpResponse:
    form = ArticleForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            article = services.knowledge_article_create(
                user=request.user, **form.service_arguments()
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"“{article.title}” created.")
            return redirect("knowledge-detail", pk=article.pk)
    return render(request, "intelligence/knowledge_form.html", {"form": form, "article": None})


@knowledge_page("knowledge_manage")
@require_http_methods(["GET", "POST"])
def knowledge_edit(request: HttpRequest, pk: int) -> HttpResponse:
    article = knowledge.article_get(user=request.user, pk=pk)
    form = ArticleForm.for_article(article, request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            article = services.knowledge_article_update(
                user=request.user, article=article, **form.service_arguments()
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"“{article.title}” saved.")
            return redirect("knowledge-detail", pk=article.pk)
    return render(request, "intelligence/knowledge_form.html", {"form": form, "article": article})


@knowledge_page("knowledge_manage")
@require_http_methods(["GET", "POST"])
def knowledge_delete(request: HttpRequest, pk: int) -> HttpResponse:
    article: KnowledgeArticle = knowledge.article_get(user=request.user, pk=pk)
    if request.method == "POST":
        services.knowledge_article_delete(user=request.user, article=article)
        messages.success(request, f"“{article.title}” deleted.")
        return redirect("knowledge-list")
    return render(request, "intelligence/knowledge_delete.html", {"article": article})


# Conversation Memory -----------------------------------------------------------------------------


@knowledge_page("memory")
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    search = CustomerSearchForm(request.GET)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    profiles = knowledge.profile_list(user=request.user, query=query)
    return render(
        request,
        "intelligence/memory_list.html",
        {"search": search, "query": query, **_page(request, profiles, PAGE_SIZE)},
    )


def _customer_page(
    request: HttpRequest, profile: CustomerProfile, form: ObservationForm
) -> HttpResponse:
    conversations = list(knowledge.profile_conversations(user=request.user, profile=profile))
    return render(
        request,
        "intelligence/memory_detail.html",
        {
            "profile": profile,
            "form": form,
            "conversations": conversations,
            # Observations may come from a conversation of another team: linked only if visible.
            "visible_conversation_ids": {conversation.pk for conversation in conversations},
            **_page(
                request, knowledge.profile_observations(profile=profile), OBSERVATIONS_PAGE_SIZE
            ),
        },
    )


@knowledge_page("memory")
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    profile = knowledge.profile_get(user=request.user, pk=pk)
    return _customer_page(request, profile, ObservationForm())


@knowledge_page("memory")
@require_POST
def observation_add(request: HttpRequest, pk: int) -> HttpResponse:
    profile = knowledge.profile_get(user=request.user, pk=pk)
    form = ObservationForm(request.POST)
    if form.is_valid():
        try:
            _, created = knowledge.observation_add(
                user=request.user, profile=profile, text=form.cleaned_data["text"]
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc)
        else:
            if created:
                messages.success(request, "Observation added.")
            else:
                messages.info(request, "That was already remembered about this customer.")
            return redirect(reverse("knowledge-customer-detail", args=[profile.pk]))
    return _customer_page(request, profile, form)


@knowledge_page("memory")
@require_http_methods(["GET", "POST"])
def observation_delete(request: HttpRequest, pk: int, observation_pk: int) -> HttpResponse:
    profile = knowledge.profile_get(user=request.user, pk=pk)
    observation = knowledge.observation_get(profile=profile, pk=observation_pk)
    if request.method == "POST":
        knowledge.observation_delete(user=request.user, observation=observation)
        messages.success(request, "Observation deleted.")
        return redirect("knowledge-customer-detail", pk=profile.pk)
    return render(
        request,
        "intelligence/memory_observation_delete.html",
        {"profile": profile, "observation": observation},
    )
