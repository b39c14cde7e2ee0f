"""Coaching pages: sessions (the list, the plan form with "Coach on this" prefill, the session
page with its links, evidence, notes, action items and status), and session templates.

Thin views over ``selectors.sessions`` and ``services``: what a service refuses shows next to
the form's fields or as a message; a row the reader may not see is the 404 page. Agents see
their own sessions only, and never the private notes (the template does not receive them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, re_path, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.accounts import selectors as accounts
from apps.accounts.decorators import page_for
from apps.accounts.scoping import Reach, scope_for
from apps.common.errors import ApplicationError, ValidationFailed
from apps.common.forms import add_service_errors, parse_id
from apps.common.pagination import CappedPaginator
from apps.conversations import access
from apps.conversations import selectors as conversations

from ..choices import Metric, SessionStatus, TemplateVisibility
from ..forms_goals import GoalForm
from ..selectors import goals as goal_selectors
from ..selectors import sessions as selectors
from ..services import actions as action_services
from ..services import sessions as services
from ..services import templates as template_services
from .goals import STATUS_BADGES

PAGE_SIZE = 25
_CONTROL = {"class": "form-control"}
_SELECT = {"class": "form-select"}
_CHECK = {"class": "form-check-input"}


def _page(request: HttpRequest, rows: Any) -> dict[str, Any]:
    paginator = CappedPaginator(rows, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return {
        "page": page,
        "page_range": paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    }


def _topic_choices() -> list[tuple[str, str]]:
    version = services._version()
    if version is None:
        return []
    from apps.rubrics import selectors as rubrics

    return [(c.key, c.name) for c in rubrics.frozen_structure(version=version).criteria]


# Forms ------------------------------------------------------------------------------------------


class PlanForm(forms.Form):
    agent = forms.TypedChoiceField(
        coerce=int, choices=[], widget=forms.Select(attrs=_SELECT), label="Agent"
    )
    scheduled_at = forms.DateTimeField(
        label="When",
        widget=forms.DateTimeInput(attrs={**_CONTROL, "type": "datetime-local"}),
    )
    title = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs=_CONTROL),
        help_text="Left empty: “Coaching: ” and the first topic.",
    )
    template = forms.TypedChoiceField(
        coerce=int,
        choices=[],
        required=False,
        empty_value=None,
        widget=forms.Select(attrs=_SELECT),
        label="Template",
        help_text="Its agenda and topics fill what you leave empty.",
    )
    agenda = forms.CharField(required=False, widget=forms.Textarea(attrs={**_CONTROL, "rows": 4}))
    topics = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
        label="Topics (rubric criteria)",
    )
    reviews = forms.TypedMultipleChoiceField(
        coerce=int,
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
        label="Reviews to link",
    )
    conversations = forms.TypedMultipleChoiceField(
        coerce=int,
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
        label="Conversations to link",
    )
    pins = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
        label="Evidence to pin",
    )
    origin = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, prefill: selectors.Prefill, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        agents = accounts.agent_choices(user=user)
        self._choices(
            "agent", [("", "Choose an agent…"), *((a.pk, a.display_name) for a in agents)]
        )
        templates = selectors.template_list(user=user)
        self._choices("template", [("", "No template")] + [(t.pk, t.name) for t in templates])
        self._choices("topics", _topic_choices())
        self._choices("reviews", [(pk, f"Review {pk}") for pk in prefill.review_ids])
        self._choices(
            "conversations", [(pk, f"Conversation {pk}") for pk in prefill.conversation_ids]
        )
        self._choices("pins", [(_pin_value(p), _pin_value(p)) for p in prefill.pins])

    def _choices(self, name: str, choices: list[Any]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices


def _pin_value(pin: dict[str, Any]) -> str:
    return f"{pin['review']}:{pin['communication']}:{pin['criterion']}"


def _pin_input(value: str) -> services.PinInput | None:
    review, _, rest = value.partition(":")
    communication, _, criterion = rest.partition(":")
    if not (review.isdigit() and communication.isdigit()):
        return None
    return services.PinInput(
        communication_id=int(communication), criterion_key=criterion, review_id=int(review)
    )


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs=_CONTROL))
    agenda = forms.CharField(required=False, widget=forms.Textarea(attrs={**_CONTROL, "rows": 6}))
    topics = forms.MultipleChoiceField(
        choices=[],
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs=_CHECK),
        label="Topics (rubric criteria)",
    )
    visibility = forms.ChoiceField(
        choices=TemplateVisibility.choices,
        widget=forms.Select(attrs=_SELECT),
        label="Who may use it",
    )
    is_active = forms.BooleanField(
        required=False,
        initial=True,
        label="In use (offered when planning)",
        widget=forms.CheckboxInput(attrs=_CHECK),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["topics"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = _topic_choices()


def _own_only(request: HttpRequest) -> bool:
    return scope_for(request.user).reach is Reach.OWN


# The list ---------------------------------------------------------------------------------------


@page_for("coaching")
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    status = status if status in SessionStatus.values else ""
    agent_id = parse_id(request.GET.get("agent"))
    coach_id = parse_id(request.GET.get("coach"))
    sessions = selectors.session_list(
        user=request.user, status=status, agent_id=agent_id, coach_id=coach_id
    )
    manage = selectors.can_manage(request.user)
    context = _page(request, sessions)
    rows = list(context["page"].object_list)
    names = selectors.criterion_name_map(sorted({k for s in rows for k in s.topics}))
    for session in rows:
        session.topic_names = [names.get(k, k) for k in session.topics]
    return render(
        request,
        "coaching/session_list.html",
        {
            "rows": rows,
            "status": status,
            "statuses": SessionStatus.choices,
            "agent_id": agent_id,
            "coach_id": coach_id,
            "agents": [] if _own_only(request) else accounts.agent_choices(user=request.user),
            "coaches": selectors.coach_choices(user=request.user) if manage else [],
            "can_manage": manage,
            "filtered": bool(status or agent_id or coach_id),
            "now": timezone.now(),
            **context,
        },
    )


# Planning ---------------------------------------------------------------------------------------


def _prefill(request: HttpRequest) -> selectors.Prefill:
    return selectors.session_prefill(
        user=request.user,
        agent_id=parse_id(request.GET.get("agent")),
        criterion=(request.GET.get("criterion") or "")[:64],
        review_id=parse_id(request.GET.get("review")),
        conversation_id=parse_id(request.GET.get("conversation")),
        origin=(request.GET.get("from") or "")[:20],
    )


@page_for("coaching_manage")
@require_http_methods(["GET", "POST"])
def session_new(request: HttpRequest) -> HttpResponse:
    prefill = _prefill(request)
    initial = {
        "agent": prefill.agent.pk if prefill.agent else None,
        "title": prefill.title,
        "topics": prefill.topics,
        "reviews": prefill.review_ids,
        "conversations": prefill.conversation_ids,
        "pins": [_pin_value(p) for p in prefill.pins],
        "scheduled_at": (timezone.localtime() + timedelta(days=1))
        .replace(hour=10, minute=0, second=0, microsecond=0)
        .strftime("%Y-%m-%dT%H:%M"),
    }
    if request.method == "POST":
        form = PlanForm(request.POST, user=request.user, prefill=prefill)
        if form.is_valid():
            data = form.cleaned_data
            pins = [p for v in data["pins"] if (p := _pin_input(v)) is not None]
            try:
                session = services.session_plan(
                    user=request.user,
                    agent_id=data["agent"],
                    scheduled_at=data["scheduled_at"],
                    title=data["title"],
                    agenda=data["agenda"],
                    template_id=data["template"],
                    topics=data["topics"],
                    origin=prefill.origin,
                    review_ids=data["reviews"],
                    conversation_ids=data["conversations"],
                    pins=pins,
                )
            except ValidationFailed as error:
                add_service_errors(
                    form,
                    error.errors,
                    {"review": "reviews", "conversation": "conversations", "communication": "pins"},
                )
            else:
                messages.success(request, "Session planned. The agent was told.")
                return redirect("coaching-session", pk=session.pk)
    else:
        form = PlanForm(initial=initial, user=request.user, prefill=prefill)
    return _plan_page(request, form, prefill)


def _plan_page(request: HttpRequest, form: PlanForm, prefill: selectors.Prefill) -> HttpResponse:
    """The plan form, with the prefilled reviews, conversations and lines to keep or drop."""
    chosen = {
        name: {
            str(v)
            for v in (request.POST.getlist(name) if form.is_bound else form.initial.get(name, []))
        }
        for name in ("reviews", "conversations", "pins")
    }
    reviews = (
        {
            r.pk: r
            for r in selectors.qa.review_base(user=request.user).filter(pk__in=prefill.review_ids)
        }
        if prefill.review_ids
        else {}
    )
    ids = [p["communication"] for p in prefill.pins]
    lines = (
        {c.pk: c for c in conversations.communication_list(user=request.user).filter(pk__in=ids)}
        if ids
        else {}
    )
    return render(
        request,
        "coaching/session_form.html",
        {
            "form": form,
            "prefill": prefill,
            "topic_names": list(selectors.criterion_name_map(prefill.topics).values()),
            "review_rows": [
                {"pk": pk, "review": reviews.get(pk), "checked": str(pk) in chosen["reviews"]}
                for pk in prefill.review_ids
            ],
            "conversation_rows": [
                {"pk": pk, "checked": str(pk) in chosen["conversations"]}
                for pk in prefill.conversation_ids
            ],
            "pin_rows": [
                {
                    "value": _pin_value(p),
                    "review": p["review"],
                    "line": lines.get(p["communication"]),
                    "checked": _pin_value(p) in chosen["pins"],
                }
                for p in prefill.pins
            ],
        },
        status=400 if form.errors else 200,
    )


# The session page -------------------------------------------------------------------------------


def _session(request: HttpRequest, pk: int) -> Any:
    return selectors.session_get(user=request.user, pk=pk)


def _lines(page: selectors.SessionPage, user: Any) -> dict[int, list[Any]]:
    """The transcript lines of each linked conversation, for the pin form (one query)."""
    ids = [view.link.conversation_id for view in page.links]
    if not ids:
        return {}
    lines: dict[int, list[Any]] = {}
    for line in (
        conversations.communication_list(user=user)
        .filter(conversation_id__in=ids)
        .order_by("conversation_id", "occurred_at", "offset_ms", "id")
    ):
        lines.setdefault(line.conversation_id, []).append(line)
    return lines


@page_for("coaching")
@require_GET
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    page = selectors.session_page(user=request.user, session=session)
    context: dict[str, Any] = {
        "p": page,
        "session": session,
        "statuses": SessionStatus,
        "today": timezone.localdate(),
    }
    context["goal_rows"] = _goal_rows(request, session)
    if page.can_manage:
        lines = _lines(page, request.user)
        for view in page.links:
            view.lines = lines.get(view.link.conversation_id, [])
        context["topic_choices"] = _topic_choices()
        context["private_notes"] = session.private_notes
        if session.status != SessionStatus.CANCELLED:
            context["goal_form"] = GoalForm(
                user=request.user,
                initial={
                    "agent": session.agent_id,
                    "session": session.pk,
                    "metric": Metric.CRITERION_PASS if session.topics else Metric.QA_SCORE,
                    "criterion_key": session.topics[0] if session.topics else "",
                },
            )
    # Pinned lines (and, for those who pin, each linked call's lines) are transcript text.
    access.excerpts_read(
        request, [view.link.conversation_id for view in page.links if view.pins or view.lines]
    )
    return render(request, "coaching/session_detail.html", context)


def _goal_rows(request: HttpRequest, session: Any) -> list[tuple[Any, str, str]]:
    """The goals set in this session, with their labels and status badges (one query)."""
    goals = goal_selectors.goal_list(user=request.user, agent_id=session.agent_id).filter(
        session_id=session.pk
    )
    names = goal_selectors.published_criteria()
    return [
        (goal, goal_selectors.metric_label(goal, names), STATUS_BADGES.get(goal.status, ""))
        for goal in goals
    ]


@page_for("coaching_manage")
@require_http_methods(["GET", "POST"])
def session_edit(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(request, pk)
    if session.status != SessionStatus.PLANNED:
        messages.error(request, "Only a planned session's plan can change.")
        return redirect("coaching-session", pk=pk)
    form = PlanForm(
        request.POST or None,
        user=request.user,
        prefill=selectors.Prefill(),
        initial={
            "agent": session.agent_id,
            "title": session.title,
            "agenda": session.agenda,
            "topics": session.topics,
            "scheduled_at": timezone.localtime(session.scheduled_at).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    form.fields["agent"].required = False
    form.fields["agent"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.session_update(
                user=request.user,
                session=session,
                title=data["title"] or session.title,
                scheduled_at=data["scheduled_at"],
                agenda=data["agenda"],
                topics=data["topics"],
            )
        except ValidationFailed as error:
            add_service_errors(form, error.errors)
        except ApplicationError as error:
            if error.status == 404:
                raise
            messages.error(request, error.message)
            return redirect("coaching-session", pk=pk)
        else:
            messages.success(request, "Plan saved.")
            return redirect("coaching-session", pk=pk)
    return render(
        request,
        "coaching/session_form.html",
        {"form": form, "session": session, "prefill": selectors.Prefill(), "editing": True},
        status=400 if form.errors else 200,
    )


def _act(request: HttpRequest, pk: int, write: Any, done: str, anchor: str = "") -> HttpResponse:
    """Run one service on the session; its refusal is a message on the session page."""
    session = _session(request, pk)
    try:
        write(session)
    except ValidationFailed as error:
        for field_messages in error.errors.values():
            for message in field_messages:
                messages.error(request, message)
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
    else:
        if done:
            messages.success(request, done)
    return redirect(reverse("coaching-session", args=[pk]) + anchor)


_TRANSITIONS = {
    "hold": (services.session_hold, "Marked held. The agent is asked to acknowledge it."),
    "close": (services.session_close, "Session closed."),
    "cancel": (services.session_cancel, "Session cancelled."),
}


@page_for("coaching_manage")
@require_POST
def session_transition(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    service, done = _TRANSITIONS[action]
    return _act(request, pk, lambda s: service(user=request.user, session=s), done)


@page_for("coaching")
@require_POST
def session_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    comment = (request.POST.get("comment") or "")[:5000]
    return _act(
        request,
        pk,
        lambda s: services.session_acknowledge(user=request.user, session=s, comment=comment),
        "Acknowledged. Thank you.",
        "#acknowledge",
    )


@page_for("coaching_manage")
@require_POST
def session_notes(request: HttpRequest, pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda s: services.session_notes_save(
            user=request.user,
            session=s,
            private_notes=request.POST.get("private_notes"),
            shared_notes=request.POST.get("shared_notes"),
        ),
        "Notes saved.",
        "#notes",
    )


@page_for("coaching_manage")
@require_POST
def session_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    field = forms.DateField(required=False)
    try:
        when = field.clean(request.POST.get("follow_up_on"))
    except forms.ValidationError:
        messages.error(request, "Enter the follow-up as a date.")
        return redirect("coaching-session", pk=pk)
    return _act(
        request,
        pk,
        lambda s: services.session_follow_up_set(user=request.user, session=s, follow_up_on=when),
        "Follow-up saved." if when else "Follow-up removed.",
    )


@page_for("coaching_manage")
@require_POST
def session_link(request: HttpRequest, pk: int) -> HttpResponse:
    review_id = parse_id(request.POST.get("review"))
    conversation_id = parse_id(request.POST.get("conversation"))
    if review_id is None and conversation_id is None:
        messages.error(request, "Enter the number of a review or of a conversation to link.")
        return redirect(reverse("coaching-session", args=[pk]) + "#evidence")
    return _act(
        request,
        pk,
        lambda s: services.session_link_add(
            user=request.user, session=s, review_id=review_id, conversation_id=conversation_id
        ),
        "Linked.",
        "#evidence",
    )


@page_for("coaching_manage")
@require_POST
def session_unlink(request: HttpRequest, pk: int, link_pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda s: services.session_link_remove(user=request.user, session=s, link_id=link_pk),
        "Unlinked.",
        "#evidence",
    )


@page_for("coaching_manage")
@require_POST
def session_pin(request: HttpRequest, pk: int) -> HttpResponse:
    communication_id = parse_id(request.POST.get("communication"))
    if communication_id is None:
        messages.error(request, "Choose the line to pin.")
        return redirect(reverse("coaching-session", args=[pk]) + "#evidence")
    comment = request.POST.get("comment")
    return _act(
        request,
        pk,
        lambda s: services.evidence_pin_add(
            user=request.user,
            session=s,
            communication_id=communication_id,
            criterion_key=(request.POST.get("criterion") or "")[:64],
            comment=comment.strip()[:5000] if comment and comment.strip() else None,
        ),
        "Line pinned.",
        "#evidence",
    )


@page_for("coaching_manage")
@require_POST
def session_unpin(request: HttpRequest, pk: int, pin_pk: int) -> HttpResponse:
    return _act(
        request,
        pk,
        lambda s: services.evidence_pin_remove(user=request.user, session=s, pin_id=pin_pk),
        "Unpinned.",
        "#evidence",
    )


@page_for("coaching_manage")
@require_POST
def action_add(request: HttpRequest, pk: int) -> HttpResponse:
    due = forms.DateField(required=False)
    try:
        due_on = due.clean(request.POST.get("due_on"))
    except forms.ValidationError:
        messages.error(request, "Enter the due date as a date.")
        return redirect(reverse("coaching-session", args=[pk]) + "#actions")
    return _act(
        request,
        pk,
        lambda s: action_services.action_item_add(
            user=request.user,
            session=s,
            text=request.POST.get("text") or "",
            owner_id=parse_id(request.POST.get("owner")),
            due_on=due_on,
        ),
        "Action item added.",
        "#actions",
    )


@page_for("coaching")
@require_POST
def action_tick(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.action_item_get(user=request.user, pk=pk)
    done = request.POST.get("done", "1") == "1"
    try:
        action_services.action_item_tick(user=request.user, item=item, done=done)
    except ApplicationError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
    target = (
        reverse("coaching-session", args=[item.session_id]) + "#actions"
        if item.session_id
        else reverse("coaching-sessions")
    )
    return redirect(target)


# Templates --------------------------------------------------------------------------------------


@page_for("coaching_templates")
@require_GET
def template_list(request: HttpRequest) -> HttpResponse:
    templates = selectors.template_list(user=request.user, active_only=False).order_by(
        "-is_active", "name", "id"
    )
    found = list(templates)
    names = selectors.criterion_name_map(sorted({k for t in found for k in t.topics}))
    rows = [
        {
            "t": template,
            "topic_names": [names.get(k, k) for k in template.topics],
            "editable": template_services.may_edit(request.user, template),
        }
        for template in found
    ]
    return render(request, "coaching/template_list.html", {"rows": rows})


def _template_form(request: HttpRequest, template: Any = None) -> HttpResponse:
    initial = (
        {
            "name": template.name,
            "agenda": template.agenda,
            "topics": template.topics,
            "visibility": template.visibility,
            "is_active": template.is_active,
        }
        if template
        else {"visibility": TemplateVisibility.ALL, "is_active": True}
    )
    form = TemplateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if template is None:
                template_services.template_create(
                    user=request.user,
                    name=data["name"],
                    agenda=data["agenda"],
                    topics=data["topics"],
                    visibility=data["visibility"],
                )
            else:
                template_services.template_update(user=request.user, template=template, **data)
        except ValidationFailed as error:
            add_service_errors(form, error.errors)
        else:
            messages.success(request, "Template saved.")
            return redirect("coaching-templates")
    return render(
        request,
        "coaching/template_form.html",
        {"form": form, "template": template},
        status=400 if form.errors else 200,
    )


@page_for("coaching_templates")
@require_http_methods(["GET", "POST"])
def template_new(request: HttpRequest) -> HttpResponse:
    return _template_form(request)


@page_for("coaching_templates")
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = selectors.template_get(user=request.user, pk=pk)
    if not template_services.may_edit(request.user, template):
        messages.error(request, "Only its author or an admin changes a template.")
        return redirect("coaching-templates")
    return _template_form(request, template)


@page_for("coaching_templates")
@require_POST
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = selectors.template_get(user=request.user, pk=pk)
    try:
        template_services.template_delete(user=request.user, template=template)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("coaching-templates")


urlpatterns = [
    path("sessions/", session_list, name="coaching-sessions"),
    path("sessions/new/", session_new, name="coaching-session-new"),
    path("sessions/<int:pk>/", session_detail, name="coaching-session"),
    path("sessions/<int:pk>/edit/", session_edit, name="coaching-session-edit"),
    re_path(
        r"^sessions/(?P<pk>[0-9]+)/(?P<action>hold|close|cancel)/$",
        session_transition,
        name="coaching-session-transition",
    ),
    path(
        "sessions/<int:pk>/acknowledge/",
        session_acknowledge,
        name="coaching-session-acknowledge",
    ),
    path("sessions/<int:pk>/notes/", session_notes, name="coaching-session-notes"),
    path("sessions/<int:pk>/follow-up/", session_follow_up, name="coaching-session-follow-up"),
    path("sessions/<int:pk>/links/", session_link, name="coaching-session-link"),
    path(
        "sessions/<int:pk>/links/<int:link_pk>/delete/",
        session_unlink,
        name="coaching-session-unlink",
    ),
    path("sessions/<int:pk>/pins/", session_pin, name="coaching-session-pin"),
    path(
        "sessions/<int:pk>/pins/<int:pin_pk>/delete/",
        session_unpin,
        name="coaching-session-unpin",
    ),
    path("sessions/<int:pk>/actions/", action_add, name="coaching-action-add"),
    path("actions/<int:pk>/tick/", action_tick, name="coaching-action-tick"),
    path("templates/", template_list, name="coaching-templates"),
    path("templates/new/", template_new, name="coaching-template-new"),
    path("templates/<int:pk>/", template_edit, name="coaching-template-edit"),
    path("templates/<int:pk>/delete/", template_delete, name="coaching-template-delete"),
]
