"""Operator and rule pages: lists, details, the admin's forms, and "run now" on a conversation.

Thin views over ``definitions`` (operator and rule writes, and their reads) and
``services.rule_run_on_demand``. Who may do what is decided once, in ``page_for``:
staff who may read operators and rules (``FEATURES["intelligence"]``) open the read pages,
admins (``"intelligence_manage"``) the forms, and the run form is for ``"intelligence_run"``;
anyone else gets the 403 page before anything is looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.decorators import page_for
from apps.common.display import Shown
from apps.common.errors import ApplicationError, NotFound, ValidationFailed
from apps.common.forms import add_service_errors
from apps.conversations import selectors as conversation_selectors

from . import selectors, services
from .choices import CUSTOM_KINDS, ConditionOp, ExecutionStatus, OperatorKind, TriggerOn
from .forms import (
    ActiveForm,
    OperatorCreateForm,
    OperatorVersionForm,
    RuleForm,
    RuleRunForm,
    pretty,
)
from .models import Operator, Rule

View = Callable[..., HttpResponse]
RESULTS_WINDOW = timedelta(days=30)
ACTIVITY_WINDOW = timedelta(days=7)
RECENT_EXECUTIONS = 25
RUN_CONVERSATION_CHOICES = 20

STATUS_BADGES: dict[str, str] = {
    ExecutionStatus.PENDING: "text-bg-light border",
    ExecutionStatus.RUNNING: "text-bg-info",
    ExecutionStatus.SUCCEEDED: "text-bg-success",
    ExecutionStatus.PARTIAL: "text-bg-warning",
    ExecutionStatus.FAILED: "text-bg-danger",
    ExecutionStatus.SKIPPED: "text-bg-secondary",
}
KIND_HELP = {
    OperatorKind.CLASSIFIER: "Labels a conversation by phrases (fuzzy), keywords and regular "
    "expressions, e.g. the reason for the call. Runs offline.",
    OperatorKind.EXTRACTOR: "Pulls values out of what was said: order numbers, amounts, "
    "products. Runs offline.",
    OperatorKind.LLM_PROMPT: "Asks a language model your question about the transcript and "
    "checks its answer against your JSON schema.",
}


MANAGE = "intelligence_manage"
RUN = "intelligence_run"


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


@page_for("intelligence")
def operator_list(request: HttpRequest) -> HttpResponse:
    listed = list(selectors.operator_list(user=request.user))
    used = selectors.rules_using(operator_ids=[o.pk for o in listed])
    operators = [Shown(operator, used_by=used.get(operator.pk, [])) for operator in listed]
    return render(
        request,
        "intelligence/operator_list.html",
        {
            "operators": operators,
            "can_manage": selectors.can_manage(request.user),
            "tab": "operators",
        },
    )


@page_for("intelligence")
def operator_detail(request: HttpRequest, pk: int) -> HttpResponse:
    operator = selectors.operator_get(user=request.user, pk=pk)
    versions = [
        Shown(
            version,
            parameters_json=pretty(version.parameters or {}),
            schema_json=pretty(version.output_schema or {}),
        )
        for version in operator.versions.all()
    ]
    since = timezone.now() - RESULTS_WINDOW
    return render(
        request,
        "intelligence/operator_detail.html",
        {
            "operator": operator,
            "versions": versions,
            "latest": versions[0] if versions else None,
            "rules": selectors.rules_using(operator_ids=[operator.pk])[operator.pk],
            "result_count": selectors.operator_result_count(
                user=request.user, operator=operator, since=since
            ),
            "result_days": RESULTS_WINDOW.days,
            "can_manage": selectors.can_manage(request.user),
        },
    )


@page_for("intelligence", MANAGE)
@require_http_methods(["GET", "POST"])
def operator_create(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    if kind not in CUSTOM_KINDS:
        return render(
            request,
            "intelligence/operator_form.html",
            {"kinds": [(k, k.label, KIND_HELP[k]) for k in CUSTOM_KINDS], "choosing": True},
        )
    form = OperatorCreateForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            operator = services.operator_create(
                user=request.user,
                kind=kind,
                name=data["name"],
                key=data["key"],
                description=data["description"],
                parameters=data.get("parameters"),
                prompt=data.get("prompt", ""),
                output_schema=data.get("output_schema"),
                note=data["note"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors)
        else:
            messages.success(
                request,
                f"Operator “{operator.name}” created. Add it to a rule to run it.",
            )
            return redirect("rules-operator-detail", pk=operator.pk)
    return render(
        request,
        "intelligence/operator_form.html",
        {
            "form": form,
            "kind": OperatorKind(kind),
            "kind_help": KIND_HELP[OperatorKind(kind)],
        },
    )


@page_for("intelligence", MANAGE)
@require_http_methods(["GET", "POST"])
def operator_new_version(request: HttpRequest, pk: int) -> HttpResponse:
    operator = selectors.operator_get(user=request.user, pk=pk)
    versions = list(operator.versions.all())
    latest = versions[0] if versions else None
    rubrics = (
        selectors.published_rubrics(user=request.user)
        if operator.kind == OperatorKind.SCRIPT_ADHERENCE
        else []
    )
    form = OperatorVersionForm(
        request.POST or None, operator=operator, latest=latest, rubrics=rubrics
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            version = services.operator_version_create(
                user=request.user,
                operator=operator,
                backend=data.get("backend") or None,
                parameters=data.get("parameters"),
                prompt=data.get("prompt"),
                output_schema=data.get("output_schema"),
                note=data["note"],
            )
        except ValidationFailed as exc:
            add_service_errors(form, exc.errors, {"parameters.rubric_id": "rubric"})
        else:
            messages.success(
                request,
                f"Version {version.number} of “{operator.name}” saved; rules running it use it "
                "from their next run (unless they pin a version).",
            )
            return redirect("rules-operator-detail", pk=operator.pk)
    return render(
        request,
        "intelligence/operator_form.html",
        {"form": form, "operator": operator, "latest": latest, "kind": OperatorKind(operator.kind)},
    )


@page_for("intelligence", MANAGE)
@require_POST
def operator_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    operator = selectors.operator_get(user=request.user, pk=pk)
    form = ActiveForm(request.POST)
    if form.is_valid():
        active = form.cleaned_data["active"]
        changed = services.operator_set_active(user=request.user, operator=operator, active=active)
        state = "on" if active else "off"
        if changed:
            messages.success(request, f"“{operator.name}” is switched {state}.")
        else:
            messages.info(request, f"“{operator.name}” was switched {state} already.")
    return redirect("rules-operator-detail", pk=operator.pk)


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


def _trigger_text(rule: Rule) -> str:
    if rule.trigger_on == TriggerOn.COMMUNICATION:
        return (
            "After every communication"
            if rule.every_n == 1
            else f"After every {rule.every_n} communications"
        )
    return str(TriggerOn(rule.trigger_on).label)


def _condition_text(rule: Rule) -> str:
    if not rule.flag:
        return ""
    if rule.flag_operator is None:
        return "on every run"
    subject = f"{rule.flag_operator.name}'s " + (
        f"“{rule.flag_field}”" if rule.flag_field else "result"
    )
    op = ConditionOp(rule.flag_op) if rule.flag_op in ConditionOp.values else ConditionOp.ANY
    if op == ConditionOp.ANY:
        return f"when {subject} is present"
    return f"when {subject} {op.label} “{rule.flag_value}”"


def _actions(rule: Rule) -> list[str]:
    actions = []
    if rule.store_results:
        actions.append("Store results")
    if rule.broadcast:
        actions.append("Broadcast")
    if rule.flag:
        actions.append(f"Flag {_condition_text(rule)}")
    if rule.webhook_url:
        actions.append(f"Webhook to {urlsplit(rule.webhook_url).hostname or rule.webhook_url}")
    return actions


def _describe(rule: Rule, **extras: Any) -> Shown[Rule]:
    return Shown(
        rule,
        trigger_text=_trigger_text(rule),
        actions=_actions(rule),
        condition_text=_condition_text(rule),
        **extras,
    )


@page_for("intelligence")
def rule_list(request: HttpRequest) -> HttpResponse:
    listed = list(selectors.rule_list(user=request.user))
    activity = selectors.rule_activity(
        user=request.user,
        rule_ids=[rule.pk for rule in listed],
        since=timezone.now() - ACTIVITY_WINDOW,
    )
    rules = [
        _describe(
            rule,
            activity=activity[rule.pk],
            status_counts=[
                (status, label, STATUS_BADGES[status], activity[rule.pk].counts[status])
                for status, label in ExecutionStatus.choices
                if activity[rule.pk].counts.get(status)
            ],
        )
        for rule in listed
    ]
    return render(
        request,
        "intelligence/rule_list.html",
        {
            "rules": rules,
            "can_manage": selectors.can_manage(request.user),
            "activity_days": ACTIVITY_WINDOW.days,
            "tab": "rules",
        },
    )


def _render_rule_detail(
    request: HttpRequest, rule: Rule, run_form: RuleRunForm | None = None, *, status: int = 200
) -> HttpResponse:
    can_run = selectors.can_run(request.user)
    executions = [
        Shown(
            execution,
            badge=STATUS_BADGES.get(execution.status, "text-bg-light"),
            duration=(
                execution.finished_at - execution.started_at
                if execution.finished_at and execution.started_at
                else None
            ),
        )
        for execution in selectors.execution_list(user=request.user).filter(rule=rule)[
            :RECENT_EXECUTIONS
        ]
    ]
    conversations = (
        list(conversation_selectors.conversation_list(user=request.user)[:RUN_CONVERSATION_CHOICES])
        if can_run
        else []
    )
    return render(
        request,
        "intelligence/rule_detail.html",
        {
            "rule": _describe(rule),
            "rule_operators": list(rule.rule_operators.all()),
            "executions": executions,
            "can_manage": selectors.can_manage(request.user),
            "can_run": can_run,
            "run_form": run_form if run_form is not None else RuleRunForm(),
            "conversations": conversations,
        },
        status=status,
    )


@page_for("intelligence")
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _render_rule_detail(request, selectors.rule_get(user=request.user, pk=pk))


def _rule_operators_offered(request: HttpRequest, rule: Rule | None) -> list[Operator]:
    """Active operators, and the rule's own even when switched off (so they can be dropped),
    the rule's own first."""
    mine = [item.operator_id for item in rule.rule_operators.all()] if rule else []
    offered = [
        operator
        for operator in selectors.operator_list(user=request.user)
        if operator.is_active or operator.pk in mine
    ]
    # The rule's own first, in its order; then the others as listed.
    return sorted(offered, key=lambda op: mine.index(op.pk) if op.pk in mine else len(mine))


def _rule_form_page(request: HttpRequest, rule: Rule | None) -> HttpResponse:
    operators = _rule_operators_offered(request, rule)
    initial: dict[str, Any] = {}
    if rule is not None:
        initial = {name: getattr(rule, name) for name in services.RULE_SCALAR_FIELDS}
    form = RuleForm(request.POST or None, operators=operators, rule=rule, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if rule is None:
                saved = services.rule_create(user=request.user, data=form.to_input())
            else:
                saved = services.rule_update(user=request.user, rule=rule, data=form.to_input())
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
        else:
            messages.success(
                request, f"Rule “{saved.name}” {'created' if rule is None else 'saved'}."
            )
            return redirect("rules-detail", pk=saved.pk)
    return render(request, "intelligence/rule_form.html", {"form": form, "rule": rule})


@page_for("intelligence", MANAGE)
@require_http_methods(["GET", "POST"])
def rule_create(request: HttpRequest) -> HttpResponse:
    return _rule_form_page(request, None)


@page_for("intelligence", MANAGE)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _rule_form_page(request, selectors.rule_get(user=request.user, pk=pk))


@page_for("intelligence", MANAGE)
@require_http_methods(["GET", "POST"])
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_get(user=request.user, pk=pk)
    if request.method == "POST":
        try:
            services.rule_delete(user=request.user, rule=rule)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("rules-detail", pk=rule.pk)
        messages.success(request, f"Rule “{rule.name}” deleted.")
        return redirect("rule-list")
    return render(
        request,
        "intelligence/rule_confirm_delete.html",
        {"rule": rule, "execution_count": rule.executions.count()},
    )


@page_for("intelligence", MANAGE)
@require_POST
def rule_set_active(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_get(user=request.user, pk=pk)
    form = ActiveForm(request.POST)
    if form.is_valid():
        active = form.cleaned_data["active"]
        changed = services.rule_set_active(user=request.user, rule=rule, active=active)
        state = "on" if active else "off"
        if changed:
            messages.success(request, f"Rule “{rule.name}” is switched {state}.")
        else:
            messages.info(request, f"Rule “{rule.name}” was switched {state} already.")
    return redirect("rules-detail", pk=rule.pk)


@page_for("intelligence", RUN)
@require_POST
def rule_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the rule now on a conversation, then show that conversation; a second submit of the
    same form (same request key) finds the first execution instead of running again."""
    rule = selectors.rule_get(user=request.user, pk=pk)
    form = RuleRunForm(request.POST)
    if not form.is_valid():
        return _render_rule_detail(request, rule, form)
    conversation_id = form.cleaned_data["conversation"]
    try:
        execution = services.rule_run_on_demand(
            user=request.user,
            rule_id=rule.pk,
            conversation_id=conversation_id,
            request_key=form.cleaned_data["request_key"],
        )
    except NotFound:
        form.add_error("conversation", f"There is no conversation {conversation_id} you may see.")
        return _render_rule_detail(request, rule, form, status=404)
    except ValidationFailed as exc:
        add_service_errors(form, exc.errors, {"rule": "__all__"})
        return _render_rule_detail(request, rule, form)
    messages.success(
        request,
        f"Rule “{rule.name}” is running on this conversation (execution {execution.pk}, "
        f"{execution.get_status_display().lower()}); its results appear here when done.",
    )
    return redirect("conversation-detail", pk=conversation_id)
