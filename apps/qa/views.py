"""QA pages: the queue, the review page, an agent's reviews, disputes, sampling policies.

Thin views over ``selectors`` and ``services``. Who may open a page is decided first
(``page_for``); what a service refuses is the 403/404 page or an error next to the form's
fields. Every page works without JavaScript; the review page's script adds keyboard use and
saving as you go (``static/qa/review.js``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import selectors as accounts
from apps.accounts.decorators import page_for
from apps.accounts.scoping import can_use
from apps.common.errors import ApplicationError, ValidationFailed
from apps.common.forms import add_service_errors, parse_id
from apps.common.pagination import CappedPaginator, CappedRowsByIdPaginator
from apps.common.replica import replica_reads
from apps.conversations import access
from apps.conversations import selectors as conversations

from . import selectors, services
from .choices import CalibrationStatus, DisputeStatus, ReviewStatus
from .forms import (
    AcknowledgeForm,
    CalibrationForm,
    PolicyForm,
    QueueFilterForm,
    ReasonForm,
    ReassignForm,
    SendForm,
    decision_input,
    dispute_input,
    review_input,
)
from .selectors import calibration
from .services import calibration as calibration_services

PAGE_SIZE = 25


def _page(
    request: HttpRequest,
    rows: Any,
    size: int = PAGE_SIZE,
    known: tuple[int, bool] | None = None,
    by_id: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """A page of ``rows``; with ``by_id``, ``rows`` are counted and paged by id and the page's
    rows read with ``by_id(ids)`` (``RowsByIdPaginator``)."""
    paginator = (
        CappedRowsByIdPaginator(rows, size, rows=by_id, known=known)
        if by_id is not None
        else CappedPaginator(rows, size, known=known)
    )
    page = paginator.get_page(request.GET.get("page"))
    return {
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    }


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# The queue --------------------------------------------------------------------------------------


@page_for("qa_review")
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    filters = QueueFilterForm(request.GET, user=request.user)
    chosen = filters.values()
    if chosen["tab"] == "all" and not selectors.can_see_everything(request.user):
        chosen["tab"] = "mine"
    items = selectors.item_list(user=request.user, **chosen)
    counts = selectors.queue_counts(user=request.user)
    # Without filters, the tab's count is the list's: not counted twice.
    unfiltered = not any(value for key, value in chosen.items() if key not in ("tab", "sort"))
    tab_count = getattr(counts, chosen["tab"], None) if unfiltered else None
    known = (tab_count.n, tab_count.more) if tab_count is not None else None
    return render(
        request,
        "qa/queue.html",
        {
            "filters": filters,
            "chosen": chosen,
            "counts": counts,
            "can_see_everything": selectors.can_see_everything(request.user),
            "can_manage": can_use(request.user, "qa_manage"),
            "now": timezone.now(),
            **_page(request, items, known=known),
        },
    )


@page_for("qa_review")
@require_POST
def claim_next(request: HttpRequest) -> HttpResponse:
    try:
        item = services.queue_claim_next(user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("qa-queue")
    if item is None:
        messages.info(request, "Nothing to claim: your items and the pool are empty.")
        return redirect("qa-queue")
    return _open_review(request, item)


def _open_review(request: HttpRequest, item: Any) -> HttpResponse:
    """The review of an item the user just claimed, started now if it is not yet."""
    try:
        review = services.review_start(item=item, reviewer=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("qa-item", pk=item.pk)
    return redirect("qa-review", pk=review.pk)


@page_for("qa_review")
@require_GET
def item_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get(user=request.user, pk=pk)
    review = getattr(item, "review", None)
    if review is not None and (
        review.status == ReviewStatus.SUBMITTED or review.reviewer_id == request.user.pk
    ):
        return redirect("qa-review", pk=review.pk)
    if review is None and item.claimed_by_id == request.user.pk:
        return _open_review(request, item)
    return render(
        request,
        "qa/item_detail.html",
        {"item": item, "can_manage": can_use(request.user, "qa_manage")},
    )


@page_for("qa_review")
@require_POST
def item_claim(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        item = services.queue_item_claim(user=request.user, item_id=pk)
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
        return redirect("qa-item", pk=pk)
    return _open_review(request, item)


@page_for("qa_review")
@require_POST
def item_unclaim(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get(user=request.user, pk=pk)
    services.queue_item_unclaim(user=request.user, item=item)
    messages.success(request, "Put back in the queue; the draft was discarded.")
    return redirect("qa-queue")


@page_for("qa_manage")
@require_http_methods(["GET", "POST"])
def item_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get(user=request.user, pk=pk)
    reviewers = accounts.user_choices(features=["qa_review"])
    form = ReassignForm(
        request.POST or None, reviewers=reviewers, initial={"assignee": item.assignee_id}
    )
    if form.is_bound and form.is_valid():
        try:
            services.queue_item_reassign(
                user=request.user,
                item=item,
                assignee_id=form.cleaned_data["assignee"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationFailed as error:
            add_service_errors(form, error.errors)
        else:
            messages.success(request, "Reassigned.")
            return redirect("qa-item", pk=item.pk)
    return render(
        request, "qa/item_action.html", {"item": item, "form": form, "action": "reassign"}
    )


@page_for("qa_manage")
@require_http_methods(["GET", "POST"])
def item_remove(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.item_get(user=request.user, pk=pk)
    form = ReasonForm(request.POST or None)
    if form.is_bound and form.is_valid():
        try:
            services.queue_item_remove(
                user=request.user, item=item, reason=form.cleaned_data["reason"]
            )
        except ValidationFailed as error:
            add_service_errors(form, error.errors)
        else:
            messages.success(request, "Removed from the queue.")
            return redirect("qa-queue")
    return render(request, "qa/item_action.html", {"item": item, "form": form, "action": "remove"})


@page_for("qa_send")
@require_POST
def send_to_qa(request: HttpRequest, conversation_pk: int) -> HttpResponse:
    form = SendForm(request.POST)
    back = reverse("conversation-detail", args=[conversation_pk])
    if not form.is_valid():
        messages.error(request, "Say why this conversation should be reviewed.")
        return redirect(back)
    review_now = form.cleaned_data["review_now"] and can_use(request.user, "qa_review")
    try:
        item = services.queue_item_send(
            user=request.user,
            conversation_id=conversation_pk,
            reason=form.cleaned_data["reason"],
            priority=form.cleaned_data["priority"],
            assignee_id=request.user.pk if review_now else None,
        )
        if review_now:
            item = services.queue_item_claim(user=request.user, item_id=item.pk)
            return _open_review(request, item)
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
        return redirect(back)
    messages.success(request, "Sent to the QA queue.")
    return redirect(back)


# Reviews ----------------------------------------------------------------------------------------


@page_for("qa_reviews")
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", ReviewStatus.SUBMITTED)
    status = status if status in ReviewStatus.values else ""
    agent = request.GET.get("agent", "")
    agent_id = int(agent) if agent.isdecimal() and len(agent) < 12 else None
    reviews = selectors.review_list(user=request.user, status=status, agent_id=agent_id)
    return render(
        request,
        "qa/review_list.html",
        {
            "status": status,
            "agent_id": agent_id,
            "agents": accounts.agent_choices(user=request.user),
            **_trend(reviews if agent_id is not None else None),
            **_page(request, reviews, by_id=lambda ids: selectors.review_rows(ids=ids)),
        },
    )


def _trend(reviews: Any) -> dict[str, Any]:
    """The score trend of some reviews and its average with a 95% interval and n."""
    if reviews is None:
        return {"trend": [], "trend_summary": None}
    points = selectors.score_trend(reviews)
    return {"trend": points, "trend_summary": selectors.score_summary(points)}


@page_for("qa_my_reviews")
@require_GET
def my_reviews(request: HttpRequest) -> HttpResponse:
    reviews = selectors.my_reviews(user=request.user)
    return render(
        request,
        "qa/my_reviews.html",
        {**_trend(reviews), **_page(request, reviews)},
    )


def _review_context(
    request: HttpRequest,
    pk: int,
    *,
    errors: dict[str, list[str]] | None = None,
    typed: bool = False,
    review: Any = None,
) -> dict[str, Any]:
    """The review page; ``typed``: show what the form posted (a failed save or submit) instead
    of what is saved, so nothing typed is lost."""
    if review is None:
        review = selectors.review_get(user=request.user, pk=pk)
    number = request.GET.get("revision", "")
    page = selectors.review_page(
        user=request.user,
        review=review,
        revision_number=int(number) if number.isdecimal() and len(number) < 5 else None,
    )
    if typed:
        post = request.POST
        for criterion in page.criteria:
            criterion.retype(
                post.get(f"{criterion.key}-outcome"),
                post.get(f"{criterion.key}-comment"),
                post.get(f"{criterion.key}-evidence"),
            )
        page.strengths = post.get("strengths", page.strengths)
        page.improvements = post.get("improvements", page.improvements)
    general: list[str] = []
    for path, problems in (errors or {}).items():
        key = path.removeprefix("answers.").rsplit(".", 1)[0] if path.startswith("answers.") else ""
        target = next((c for c in page.criteria if c.key == key), None)
        if target is not None:
            target.errors.extend(problems)
        else:
            general.extend(problems)
    return {
        "p": page,
        "review": review,
        "conversation": review.conversation,
        "errors": errors or {},
        "general_errors": general,
        "outcome_choices": [("MET", "Met", "1"), ("NOT_MET", "Not met", "2"), ("NA", "N/A", "3")],
    }


@page_for()
@require_GET
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = selectors.review_get(user=request.user, pk=pk)
    # The review page shows the whole transcript: a logged read, maybe with a reason first.
    asked = access.page_read(request, review.conversation)
    if asked is not None:
        return asked
    return render(request, "qa/review.html", _review_context(request, pk, review=review))


def _review_write(request: HttpRequest, pk: int, write: Any, done: str) -> HttpResponse:
    """Save, submit or revise from the review form: JSON for the page's script, else the page
    again (with the problems next to their criteria) or a redirect."""
    review = selectors.review_get(user=request.user, pk=pk)
    page = selectors.review_page(user=request.user, review=review)
    answers, problems = review_input(request.POST, page)
    try:
        if problems:
            raise ValidationFailed(problems)
        review = write(
            review=review,
            answers=answers,
            strengths=request.POST.get("strengths"),
            improvements=request.POST.get("improvements"),
        )
    except ValidationFailed as error:
        if _wants_json(request):
            return JsonResponse({"detail": error.message, "errors": error.errors}, status=400)
        messages.error(request, error.message)
        context = _review_context(request, pk, errors=error.errors, typed=True)
        return render(request, "qa/review.html", context, status=400)
    except ApplicationError as error:
        if _wants_json(request):
            return JsonResponse({"detail": error.message}, status=error.status)
        raise
    if _wants_json(request):
        fresh = selectors.review_page(
            user=request.user, review=selectors.review_get(user=request.user, pk=pk)
        )
        return JsonResponse(_scores_json(fresh, review))
    if done:
        messages.success(request, done)
    return redirect("qa-review", pk=review.pk)


def _scores_json(page: selectors.ReviewPage, review: Any) -> dict[str, Any]:
    return {
        "status": review.status,
        "saved_at": (review.draft_saved_at or timezone.now()).isoformat(),
        "segments": {s.key: s.score.as_json() for s in page.segments},
        "headline": page.headline.as_json(),
    }


@page_for("qa_review")
@require_POST
def review_draft(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_write(
        request,
        pk,
        lambda **kwargs: services.review_draft_save(user=request.user, **kwargs),
        "Draft saved.",
    )


@page_for("qa_review")
@require_POST
def review_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_write(
        request,
        pk,
        lambda **kwargs: services.review_submit(user=request.user, **kwargs),
        "Review submitted.",
    )


@page_for("qa_review")
@require_POST
def review_revise(request: HttpRequest, pk: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _review_write(
        request,
        pk,
        lambda **kwargs: services.review_revise(user=request.user, reason=reason, **kwargs),
        "Saved as a new revision.",
    )


@page_for("qa_review")
@require_POST
def review_release(request: HttpRequest, pk: int) -> HttpResponse:
    review = selectors.review_get(user=request.user, pk=pk)
    services.review_release(user=request.user, review=review)
    messages.success(request, "Released to the agent.")
    return redirect("qa-review", pk=pk)


@page_for("qa_my_reviews")
@require_POST
def review_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    review = selectors.review_get(user=request.user, pk=pk)
    form = AcknowledgeForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    try:
        services.review_acknowledge(user=request.user, review=review, comment=comment)
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
    else:
        messages.success(request, "Acknowledged. Thank you.")
    return redirect("qa-review", pk=pk)


@page_for("qa_my_reviews")
@require_POST
def dispute_open(request: HttpRequest, pk: int) -> HttpResponse:
    review = selectors.review_get(user=request.user, pk=pk)
    page = selectors.review_page(user=request.user, review=review)
    try:
        services.dispute_open(user=request.user, review=review, **dispute_input(request.POST, page))
    except ValidationFailed as error:
        context = _review_context(request, pk)
        context["dispute_errors"] = error.errors
        context["dispute_post"] = request.POST
        messages.error(request, error.message)
        return render(request, "qa/review.html", context, status=400)
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
        return redirect("qa-review", pk=pk)
    messages.success(request, "Dispute sent. You will be told when it is decided.")
    return redirect(reverse("qa-review", args=[pk]) + "#disputes")


@page_for("qa_reviews")
@require_GET
def dispute_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", DisputeStatus.OPEN)
    status = status if status in DisputeStatus.values else ""
    disputes = selectors.dispute_list(user=request.user, status=status)
    return render(
        request,
        "qa/disputes.html",
        {
            "status": status,
            "can_decide": can_use(request.user, "qa_decide"),
            **_page(request, disputes),
        },
    )


@page_for("qa_decide")
@require_POST
def dispute_decide(request: HttpRequest, pk: int) -> HttpResponse:
    dispute = selectors.dispute_get(user=request.user, pk=pk)
    try:
        services.dispute_decide(
            user=request.user, dispute=dispute, **decision_input(request.POST, dispute)
        )
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message + _detail(error))
    else:
        messages.success(request, "Dispute decided; the agent and the reviewer are told.")
    return redirect(reverse("qa-review", args=[dispute.review_id]) + "#disputes")


def _detail(error: ApplicationError) -> str:
    if isinstance(error, ValidationFailed):
        return " " + " ".join(m for messages_ in error.errors.values() for m in messages_)
    return ""


# Sampling policies -------------------------------------------------------------------------------


@page_for("qa_review")
@require_GET
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = [
        (policy, services.spec_of(policy)) for policy in selectors.policy_list(user=request.user)
    ]
    return render(
        request,
        "qa/policy_list.html",
        {"policies": policies, "can_manage": selectors.can_manage_policies(request.user)},
    )


@page_for("qa_review")
@require_GET
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = selectors.policy_get(user=request.user, pk=pk)
    spec = services.spec_of(policy)
    return render(
        request,
        "qa/policy_detail.html",
        {
            "policy": policy,
            "spec": spec,
            "filters_text": services.filters_text(spec),
            "preview": selectors.policy_preview(user=request.user, spec=spec),
            "can_manage": selectors.can_manage_policies(request.user),
        },
    )


def _policy_form(request: HttpRequest, policy: Any = None) -> HttpResponse:
    initial = PolicyForm.initial_for(policy) if policy is not None else None
    form = PolicyForm(request.POST or None, user=request.user, initial=initial)
    preview = None
    if form.is_bound and form.is_valid():
        data = form.service_data()
        try:
            if request.POST.get("action") == "preview":
                spec = services.policy_spec_clean(data, policy_id=policy.pk if policy else None)
                preview = selectors.policy_preview(user=request.user, spec=spec)
            elif policy is None:
                policy = services.policy_create(user=request.user, data=data)
                messages.success(
                    request,
                    f"“{policy.name}” saved. It runs on its schedule; run it now to fill the "
                    "queue at once.",
                )
                return redirect("qa-policy", pk=policy.pk)
            else:
                services.policy_update(user=request.user, policy=policy, data=data)
                messages.success(request, f"“{data['name']}” saved.")
                return redirect("qa-policy", pk=policy.pk)
        except ValidationFailed as error:
            add_service_errors(
                form,
                error.errors,
                aliases={
                    "team_ids": "teams",
                    "agent_ids": "agents",
                    "reviewer_ids": "reviewers",
                },
            )
    return render(
        request,
        "qa/policy_form.html",
        {
            "form": form,
            "policy": policy,
            "preview": preview,
            "calculator": selectors.sampling_basis(user=request.user).as_json(),
        },
    )


@page_for("qa_manage")
@require_http_methods(["GET", "POST"])
def policy_create(request: HttpRequest) -> HttpResponse:
    return _policy_form(request)


@page_for("qa_manage")
@require_http_methods(["GET", "POST"])
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _policy_form(request, selectors.policy_get(user=request.user, pk=pk))


@page_for("qa_manage")
@require_POST
def policy_run(request: HttpRequest, pk: int) -> HttpResponse:
    policy = selectors.policy_get(user=request.user, pk=pk)
    result = services.policy_run(policy_id=policy.pk, user=request.user)
    messages.success(
        request,
        f"Ran for {result.period}: {result.created} new item{'s' if result.created != 1 else ''} "
        f"({result.already} picked earlier in this period, {result.matching} matching).",
    )
    return redirect("qa-policy", pk=pk)


@page_for("qa_manage")
@require_http_methods(["GET", "POST"])
def policy_delete(request: HttpRequest, pk: int) -> HttpResponse:
    policy = selectors.policy_get(user=request.user, pk=pk)
    if request.method == "POST":
        services.policy_delete(user=request.user, policy=policy)
        messages.success(request, f"“{policy.name}” deleted; the items it made stay in the queue.")
        return redirect("qa-policies")
    return render(request, "qa/policy_delete.html", {"policy": policy})


# Statistics: the AI as a rater, trust tiers, the AI score -----------------------------------------


def _stats_version(request: HttpRequest, versions: list[Any], pk: Any) -> Any:
    """The version asked for (``?version=``), else the first published one, else the first."""
    try:
        wanted = int(pk) if pk not in (None, "") else None
    except (TypeError, ValueError):
        wanted = None
    chosen = next((v for v in versions if v.pk == wanted), None)
    if chosen is None:
        chosen = next((v for v in versions if v.status == "PUBLISHED"), None)
    return chosen or (versions[0] if versions else None)


def _thresholds() -> dict[str, Any]:
    from django.conf import settings

    return {
        "trusted": settings.QA_TRUST_KAPPA_TRUSTED,
        "review": settings.QA_TRUST_KAPPA_REVIEW,
        "min_n": settings.QA_TRUST_MIN_N,
        "max_lost": settings.QA_TRUST_MAX_DISPUTES_LOST,
        "min_rarer": settings.QA_TRUST_MIN_RARER,
        "min_pairs": settings.QA_AGREEMENT_MIN_PAIRS,
    }


@page_for("qa_stats")
@require_GET
@replica_reads
def stats_page(request: HttpRequest) -> HttpResponse:
    """Per rubric version (published, or retired when chosen): agreement of the AI with people
    per criterion, the trust tiers and their history, and the AI score's coverage."""
    from apps.rubrics import selectors as rubrics

    versions = rubrics.versions_in_use()
    version = _stats_version(request, versions, request.GET.get("version"))
    context: dict[str, Any] = {"versions": versions, "version": version, "t": _thresholds()}
    if version is not None:
        context["va"] = selectors.version_agreement(version=version)
        context["summary"] = selectors.ai_score_summary(user=request.user, version_id=version.pk)
    return render(request, "qa/stats.html", context)


@page_for("qa_stats")
@require_GET
@replica_reads
def stats_fragment(request: HttpRequest, version_pk: int) -> HttpResponse:
    """The per-criterion table of one version, as an HTML fragment (the rubric version page
    loads it, so apps.rubrics needs no import of apps.qa)."""
    from apps.rubrics import selectors as rubrics

    version = rubrics.version_by_id(pk=version_pk)
    if version is None or version.status == "DRAFT":
        return HttpResponse(
            '<p class="small text-body-secondary mb-0">No agreement figures: a draft is not '
            "used to judge conversations yet.</p>"
        )
    return render(
        request,
        "qa/_agreement_table.html",
        {
            "va": selectors.version_agreement(version=version, changes=0),
            "version": version,
            "t": _thresholds(),
            "fragment": True,
        },
    )


@page_for("qa_stats")
@require_GET
@replica_reads
def stats_disagreements(request: HttpRequest, version_pk: int, key: str) -> HttpResponse:
    """The reviews (the reader may read) where the AI and the person answered a criterion
    differently."""
    from apps.common.errors import NotFound
    from apps.rubrics import selectors as rubrics

    version = rubrics.version_by_id(pk=version_pk)
    if version is None:
        raise NotFound("No such rubric version.")
    structure = rubrics.frozen_structure(version=version)
    criterion = next((c for c in structure.criteria if c.key == key), None)
    if criterion is None:
        raise NotFound("No such criterion in this version.")
    reviews, pairs = selectors.disagreements(
        user=request.user, version_id=version.pk, criterion_key=key
    )
    paged = _page(request, reviews)
    rows = [(review, pairs.get(review.pk)) for review in paged["page"].object_list]
    return render(
        request,
        "qa/disagreements.html",
        {
            "version": version,
            "criterion": criterion,
            "rows": rows,
            "labels": selectors.OUTCOME_LABELS,
            "total": len(pairs),
            **paged,
        },
    )


# Calibration -------------------------------------------------------------------------------------

CALIBRATION_PICKER_SIZE = 150


@page_for("qa_review")
@require_GET
def calibration_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    status = status if status in CalibrationStatus.values else ""
    sessions = calibration.session_list(user=request.user, status=status)
    return render(
        request,
        "qa/calibration_list.html",
        {
            "status": status,
            "statuses": CalibrationStatus.choices,
            "can_run": can_use(request.user, "qa_calibration_admin"),
            **_page(request, sessions),
        },
    )


def _calibration_form(request: HttpRequest) -> tuple[CalibrationForm, list[Any]]:
    people = accounts.user_choices(features=["qa_review"])
    recent = conversations.conversation_list(user=request.user)[:CALIBRATION_PICKER_SIZE]
    return CalibrationForm(
        request.POST or None,
        versions=calibration_services.version_choices(user=request.user),
        conversations=[(c.pk, str(c.pk)) for c in recent],
        reviewers=[(u.pk, f"{u} ({u.get_role_display()})") for u in people],
        initial={"deadline": timezone.localtime() + timedelta(days=7)},
    ), list(recent)


@page_for("qa_calibration_admin")
@require_http_methods(["GET", "POST"])
def calibration_create(request: HttpRequest) -> HttpResponse:
    form, recent = _calibration_form(request)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            session = calibration_services.calibration_session_create(
                user=request.user,
                data=calibration_services.SessionInput(
                    name=data["name"],
                    description=data["description"],
                    rubric_version_id=data["rubric_version"],
                    conversation_ids=form.conversation_id_list(),
                    participant_ids=data["participants"],
                    include_ai=data["include_ai"],
                    blind=data["blind"],
                    deadline=data["deadline"],
                    benchmark_mode=data["benchmark_mode"],
                    expert_id=data["expert"],
                ),
            )
        except ValidationFailed as error:
            add_service_errors(
                form,
                error.errors,
                aliases={
                    "rubric_version_id": "rubric_version",
                    "conversation_ids": "conversation_ids",
                    "participant_ids": "participants",
                    "expert_id": "expert",
                },
            )
        else:
            messages.success(
                request,
                f"“{session.name}” is open: each participant has its conversations in their queue.",
            )
            return redirect("qa-calibration", pk=session.pk)
    chosen = set()
    if form.is_bound:
        chosen = {i for v in request.POST.getlist("conversations") if (i := parse_id(v))}
    return render(
        request,
        "qa/calibration_form.html",
        {"form": form, "recent": recent, "chosen": chosen},
    )


@page_for("qa_review")
@require_GET
def calibration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = calibration.session_get(user=request.user, pk=pk)
    visible = calibration.results_visible(session, request.user)
    progress = calibration.session_progress(session)
    is_admin = can_use(request.user, "qa_calibration_admin")
    return render(
        request,
        "qa/calibration_detail.html",
        {
            "session": session,
            "progress": progress,
            "mine": next((p for p in progress if p.user.pk == request.user.pk), None),
            "results": calibration.session_results(session) if visible else None,
            "visible": visible,
            "can_run": is_admin,
            "can_edit_benchmark": is_admin and not session.is_open,
            "outcome_choices": [("MET", "Met"), ("NOT_MET", "Not met"), ("NA", "N/A")],
        },
    )


@page_for("qa_calibration_admin")
@require_http_methods(["GET", "POST"])
def calibration_close(request: HttpRequest, pk: int) -> HttpResponse:
    session = calibration.session_get(user=request.user, pk=pk)
    if request.method == "POST":
        try:
            calibration_services.calibration_session_close(
                user=request.user, session=session, discussion=request.POST.get("discussion")
            )
        except ApplicationError as error:
            messages.error(request, error.message + _detail(error))
        else:
            messages.success(
                request, "Closed: the answers and results are visible to the participants."
            )
        return redirect("qa-calibration", pk=pk)
    progress = calibration.session_progress(session)
    return render(request, "qa/calibration_close.html", {"session": session, "progress": progress})


@page_for("qa_calibration_admin")
@require_POST
def calibration_benchmark(request: HttpRequest, pk: int) -> HttpResponse:
    session = calibration.session_get(user=request.user, pk=pk)
    try:
        changed = calibration_services.calibration_benchmark_set(
            user=request.user,
            session=session,
            changes=calibration_services.benchmark_changes_from(request.POST),
        )
    except ApplicationError as error:
        messages.error(request, error.message + _detail(error))
    else:
        messages.success(
            request,
            f"Benchmark saved ({changed} answer{'s' if changed != 1 else ''} changed)."
            if changed
            else "Nothing changed in the benchmark.",
        )
    return redirect(reverse("qa-calibration", args=[pk]) + "#benchmark")
