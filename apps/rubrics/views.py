"""Rubric pages: the list, a rubric's versions, the draft editor, publication, diff, history
and a preview of a version's deterministic checks over one stored conversation.

Thin views over ``services`` (every write) and ``selectors`` (every read). Who may do what is
decided once, in ``page_for``: staff who may read rubrics (``FEATURES["rubrics"]``) open
the read pages, admins (``FEATURES["rubrics_manage"]``) the rest; anyone else gets the 403 page
before anything is looked up, so rubric ids do not leak either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.decorators import page_for
from apps.common.errors import ApplicationError, ValidationFailed
from apps.conversations import selectors as conversation_selectors

from . import preview, selectors, services, twilio_publish
from .choices import (
    AppliesTo,
    AuditAction,
    CriterionKind,
    CriticalMode,
    VersionStatus,
    Weighting,
    WindowAnchor,
)
from .editor import error_summary
from .forms import (
    Row,
    RubricCreateForm,
    RubricImportForm,
    blank_criterion,
    blank_phrase,
    blank_section,
    editor_data,
    editor_rows,
    weight_totals,
)
from .imports import rubric_import
from .jsonformat import export_document
from .models import Rubric, RubricAuditEntry, RubricVersion
from .scripttext import ScriptInvalid, export_script
from .validation import validate_structure

View = Callable[..., HttpResponse]
AUDIT_PAGE_SIZE = 50
PREVIEW_CONVERSATIONS = 50


def _rubric(request: HttpRequest, pk: int) -> Rubric:
    return selectors.rubric_get(user=request.user, pk=pk)


def _version(request: HttpRequest, rubric: Rubric, number: int) -> RubricVersion:
    version = selectors.version_list(user=request.user, rubric=rubric).filter(number=number).first()
    if version is None:
        raise Http404("No such version.")
    version.rubric = rubric
    return version


def _with_last_change(rubrics: QuerySet[Rubric]) -> QuerySet[Rubric]:
    """Each rubric with the time, action and actor of its latest audit entry (one query)."""
    latest = RubricAuditEntry.objects.filter(rubric=OuterRef("pk")).order_by("-at", "-id")
    return rubrics.annotate(
        last_change_at=Subquery(latest.values("at")[:1]),
        last_change_action=Subquery(latest.values("action")[:1]),
        last_change_by=Subquery(latest.values("actor__username")[:1]),
    )


def _fail(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, exc.message)


# The list and a rubric


@page_for("rubrics")
def rubric_list(request: HttpRequest) -> HttpResponse:
    rubrics = _with_last_change(selectors.rubric_list(user=request.user))
    return render(
        request,
        "rubrics/list.html",
        {
            "rubrics": rubrics,
            "can_manage": selectors.can_manage_rubrics(request.user),
            "action_labels": dict(AuditAction.choices),
        },
    )


@page_for("rubrics_manage")
@require_http_methods(["GET", "POST"])
def rubric_create(request: HttpRequest) -> HttpResponse:
    form = RubricCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            rubric = services.rubric_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                actor=request.user,
            )
        except ValidationFailed as exc:
            for path, problems in exc.errors.items():
                for problem in problems:
                    form.add_error(path if path in form.fields else None, problem)
        else:
            messages.success(
                request, f"“{rubric.name}” created. Add its sections and criteria to draft 1."
            )
            return redirect("rubric-version-edit", pk=rubric.pk, number=1)
    return render(request, "rubrics/create.html", {"form": form})


@page_for("rubrics")
def rubric_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    versions = list(selectors.version_list(user=request.user, rubric=rubric))
    can_manage = selectors.can_manage_rubrics(request.user)
    recent = (
        list(selectors.rubric_audit_list(user=request.user, rubric=rubric)[:5])
        if can_manage
        else []
    )
    return render(
        request,
        "rubrics/detail.html",
        {
            "rubric": rubric,
            "versions": versions,
            "draft": next((v for v in versions if v.status == VersionStatus.DRAFT), None),
            "published": next((v for v in versions if v.status == VersionStatus.PUBLISHED), None),
            "can_manage": can_manage,
            "recent": recent,
        },
    )


@page_for("rubrics_manage")
@require_POST
def rubric_new_draft(request: HttpRequest, pk: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    try:
        draft = services.version_new_draft(rubric=rubric, actor=request.user)
    except ApplicationError as exc:
        _fail(request, exc)
        return redirect("rubric-detail", pk=rubric.pk)
    source = f" from version {draft.based_on.number}" if draft.based_on else ""
    messages.success(request, f"Draft {draft.number} started{source}.")
    return redirect("rubric-version-edit", pk=rubric.pk, number=draft.number)


# A version: read-only, editor, lifecycle


@page_for("rubrics")
def version_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    structure = selectors.version_structure(version=version)
    return render(
        request,
        "rubrics/version.html",
        {
            "rubric": rubric,
            "version": version,
            "structure": structure,
            "can_manage": selectors.can_manage_rubrics(request.user),
            "exports": _exports(rubric, version),
            "can_push": version.status == VersionStatus.PUBLISHED
            and selectors.can_manage_rubrics(request.user)
            and twilio_publish.is_configured(),
            "by_section": version.weighting == Weighting.BY_SECTION,
        },
    )


def _exports(rubric: Rubric, version: RubricVersion) -> list[dict[str, str]]:
    return [
        {
            "kind": fmt,
            "label": label,
            "icon": icon,
            "url": reverse("rubric-version-export", args=[rubric.pk, version.number, fmt]),
        }
        for fmt, label, icon in EXPORTS
    ]


EXPORTS = [
    ("twilio", "Twilio script (.txt)", "bi-file-text"),
    ("json", "JSON document (.json)", "bi-filetype-json"),
]


@page_for("rubrics")
def version_export(request: HttpRequest, pk: int, number: int, fmt: str) -> HttpResponse:
    """The version as a Twilio Script Adherence script or a ccportal JSON document, to save."""
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    filename = f"{rubric.slug}-v{version.number}"
    if fmt == "twilio":
        body = export_script(selectors.version_structure(version=version))
        response = HttpResponse(body, content_type="text/plain; charset=utf-8")
        filename += ".txt"
    elif fmt == "json":
        document = export_document(
            selectors.version_data(version=version),
            source={
                "rubric_id": rubric.pk,
                "rubric_slug": rubric.slug,
                "version_number": version.number,
                "status": version.status,
                "exported_at": timezone.now(),
            },
        )
        body = json.dumps(document, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
        response = HttpResponse(body + "\n", content_type="application/json; charset=utf-8")
        filename += ".json"
    else:
        raise Http404("No such export format.")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@page_for("rubrics_manage")
@require_POST
def version_push(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Send the published version's script to the configured Twilio Intelligence rule."""
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    try:
        result = twilio_publish.version_push_to_twilio(version=version, actor=request.user)
    except ApplicationError as exc:
        _fail(request, exc)
    else:
        messages.success(
            request,
            f"Version {version.number} sent to Twilio: rule {result.rule_id} of configuration "
            f"{result.configuration_id} now checks this script.",
        )
    return redirect("rubric-version", pk=rubric.pk, number=version.number)


@page_for("rubrics_manage")
@require_http_methods(["GET", "POST"])
def rubric_import_page(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Import a Twilio script or a JSON document as a new rubric, or as a rubric's next draft."""
    rubric = _rubric(request, pk) if pk is not None else None
    if rubric is not None and selectors.draft_version(rubric=rubric) is not None:
        messages.info(request, f"“{rubric.name}” has a draft already; publish or discard it first.")
        return redirect("rubric-detail", pk=rubric.pk)
    form = RubricImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    if request.method == "POST" and form.is_valid():
        fields = form.cleaned_data
        try:
            document = json.loads(fields["text"]) if fields["format"] == "json" else None
            version = rubric_import(
                fmt=fields["format"],
                actor=request.user,
                text=fields["text"] if fields["format"] == "twilio" else None,
                document=document,
                rubric=rubric,
                name=fields["name"],
                description=fields["description"],
            )
        except json.JSONDecodeError as exc:
            form.add_error(
                "text", f"This is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            )
        except ScriptInvalid as exc:
            form.add_error(None, exc.message)
            problems = [str(error) for error in exc.errors]
        except ValidationFailed as exc:
            form.add_error(None, f"{exc.message} Nothing was imported.")
            for path, messages_ in exc.errors.items():
                if path in ("name", "description", "format") and rubric is None:
                    for message in messages_:
                        form.add_error(path, message)
                else:
                    problems += [f"{path}: {message}" for message in messages_]
        except ApplicationError as exc:
            _fail(request, exc)
            return redirect("rubric-detail", pk=rubric.pk) if rubric else redirect("rubric-list")
        else:
            messages.success(
                request,
                f"Imported into draft {version.number} of “{version.rubric.name}”. Review it, "
                "then publish.",
            )
            return redirect("rubric-version-edit", pk=version.rubric_id, number=version.number)
    return render(
        request,
        "rubrics/import.html",
        {"form": form, "rubric": rubric, "problems": problems},
    )


@page_for("rubrics_manage")
@require_http_methods(["GET", "POST"])
def version_edit(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    if not version.is_editable:
        messages.info(
            request,
            f"Version {version.number} is {version.get_status_display().lower()} and can no "
            "longer change; start a new draft to make changes.",
        )
        return redirect("rubric-version", pk=rubric.pk, number=version.number)

    if request.method == "POST":
        data = editor_data(request.POST)
        try:
            services.draft_update(version=version, actor=request.user, data=data)
        except ValidationFailed as exc:
            return _render_editor(
                request, rubric, version, data, exc.errors, state="invalid", status=200
            )
        except ApplicationError as exc:
            _fail(request, exc)
            return redirect("rubric-detail", pk=rubric.pk)
        if request.POST.get("then") == "publish":
            return redirect("rubric-version-publish", pk=rubric.pk, number=version.number)
        messages.success(request, f"Draft {version.number} saved.")
        return redirect("rubric-version-edit", pk=rubric.pk, number=version.number)

    data = selectors.version_data(version=version)
    # What stops publication, except on a new empty draft (its empty state says what to do)
    # unless publishing was just refused.
    check = bool(data["sections"]) or "check" in request.GET
    errors = validate_structure(data, publishing=True) if check else {}
    return _render_editor(request, rubric, version, data, errors, state="saved")


def _to_editor_checked(rubric: Rubric, version: RubricVersion) -> HttpResponse:
    address = reverse("rubric-version-edit", args=[rubric.pk, version.number])
    return redirect(f"{address}?check")


def _render_editor(
    request: HttpRequest,
    rubric: Rubric,
    version: RubricVersion,
    data: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    state: str,
    status: int = 200,
) -> HttpResponse:
    rows = editor_rows(data, errors)
    totals = weight_totals(data)
    weighting = data.get("weighting") or Weighting.BY_SECTION
    critical_mode = data.get("critical_mode") or CriticalMode.FAIL_CONVERSATION
    for index, row in enumerate(rows):
        row.values["subtotal"] = totals.by_section.get(index)
    context = {
        "rubric": rubric,
        "version": version,
        "values": {
            "name": data.get("name", rubric.name),
            "description": data.get("description", rubric.description),
            "notes": data.get("notes", ""),
            "weighting": weighting,
            "critical_mode": critical_mode,
        },
        "errors": errors,
        "data_errors": errors.get("__all__", []),  # templates cannot read "__all__"
        "summary": error_summary(data, errors),
        "state": state,  # "invalid": not saved; "saved": the stored draft, publish checks
        "sections": rows,
        "totals": totals,
        "by_section": weighting == Weighting.BY_SECTION,
        "separate_critical": critical_mode == CriticalMode.SEPARATE_SCORE,
        "weighting_choices": Weighting.choices,
        "critical_mode_choices": CriticalMode.choices,
        "kind_choices": CriterionKind.choices,
        "applies_choices": AppliesTo.choices,
        "anchor_choices": WindowAnchor.choices,
        "blank_section": blank_section("sections-__S__"),
        "blank_criterion": blank_criterion("sections-__S__-criteria-__C__"),
        "blank_phrase": blank_phrase("sections-__S__-criteria-__C__-phrases-__P__"),
        "empty_row": Row(prefix="", values={}),
    }
    return render(request, "rubrics/edit.html", context, status=status)


def _confirm(
    request: HttpRequest, rubric: Rubric, version: RubricVersion, action: str, **extra: Any
) -> HttpResponse:
    return render(
        request,
        "rubrics/confirm.html",
        {"rubric": rubric, "version": version, "action": action, **extra},
    )


@page_for("rubrics_manage")
@require_http_methods(["GET", "POST"])
def version_publish(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    if version.status != VersionStatus.DRAFT:
        messages.info(request, f"Version {version.number} is not a draft.")
        return redirect("rubric-version", pk=rubric.pk, number=version.number)
    if request.method == "POST":
        try:
            services.version_publish(version=version, actor=request.user)
        except ValidationFailed as exc:
            messages.error(request, f"{exc.message} Fix the problems marked below first.")
            return _to_editor_checked(rubric, version)
        except ApplicationError as exc:
            _fail(request, exc)
            return redirect("rubric-detail", pk=rubric.pk)
        messages.success(request, f"Version {version.number} is published and in force.")
        return redirect("rubric-version", pk=rubric.pk, number=version.number)

    if validate_structure(selectors.version_data(version=version), publishing=True):
        messages.warning(request, "This draft cannot be published yet: fix the problems below.")
        return _to_editor_checked(rubric, version)
    published = selectors.published_version(rubric=rubric)
    changes = selectors.version_diff(old=published, new=version) if published is not None else None
    return _confirm(
        request,
        rubric,
        version,
        "publish",
        published=published,
        changes=changes,
        structure=selectors.version_structure(version=version),
    )


@page_for("rubrics_manage")
@require_http_methods(["GET", "POST"])
def version_retire(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    if request.method == "POST":
        try:
            services.version_retire(version=version, actor=request.user)
        except ApplicationError as exc:
            _fail(request, exc)
        else:
            messages.success(
                request,
                f"Version {version.number} retired. No version of “{rubric.name}” is "
                "in force until you publish one.",
            )
        return redirect("rubric-detail", pk=rubric.pk)
    if version.status != VersionStatus.PUBLISHED:
        messages.info(request, f"Version {version.number} is not the published version.")
        return redirect("rubric-detail", pk=rubric.pk)
    return _confirm(request, rubric, version, "retire")


@page_for("rubrics_manage")
@require_http_methods(["GET", "POST"])
def version_discard(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    if request.method == "POST":
        try:
            services.draft_discard(version=version, actor=request.user)
        except ApplicationError as exc:
            _fail(request, exc)
        else:
            messages.success(request, f"Draft {number} discarded.")
        return redirect("rubric-detail", pk=rubric.pk)
    if version.status != VersionStatus.DRAFT:
        messages.info(request, f"Version {version.number} is not a draft.")
        return redirect("rubric-detail", pk=rubric.pk)
    return _confirm(request, rubric, version, "discard")


# Comparing versions and the history


@page_for("rubrics")
def rubric_diff(request: HttpRequest, pk: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    versions = list(selectors.version_list(user=request.user, rubric=rubric))
    by_number = {v.number: v for v in versions}
    old = by_number.get(_int(request.GET.get("old")) or 0)
    new = by_number.get(_int(request.GET.get("new")) or 0)
    if old is None or new is None:
        old, new = _default_pair(versions, old, new)
    changes = None
    if old is not None and new is not None:
        for v in (old, new):
            v.rubric = rubric
        changes = selectors.version_diff(old=old, new=new)
    return render(
        request,
        "rubrics/diff.html",
        {"rubric": rubric, "versions": versions, "old": old, "new": new, "changes": changes},
    )


def _default_pair(
    versions: list[RubricVersion], old: RubricVersion | None, new: RubricVersion | None
) -> tuple[RubricVersion | None, RubricVersion | None]:
    """The published version against the draft, else the two newest (``versions`` newest first)."""
    if new is None:
        new = next((v for v in versions if v.status == VersionStatus.DRAFT), None) or (
            versions[0] if versions else None
        )
    if old is None and new is not None:
        old = next(
            (v for v in versions if v.status == VersionStatus.PUBLISHED and v != new), None
        ) or next((v for v in versions if v.number < new.number), None)
    return old, new


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@page_for("rubrics_manage")
def rubric_audit(request: HttpRequest, pk: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    paginator = Paginator(
        selectors.rubric_audit_list(user=request.user, rubric=rubric), AUDIT_PAGE_SIZE
    )
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "rubrics/audit.html", {"rubric": rubric, "page": page})


# Preview of the deterministic checks


@page_for("rubrics")
def version_preview(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    rubric = _rubric(request, pk)
    version = _version(request, rubric, number)
    structure = selectors.version_structure(version=version)
    recent = list(
        conversation_selectors.conversation_list(user=request.user)[:PREVIEW_CONVERSATIONS]
    )
    context: dict[str, Any] = {
        "rubric": rubric,
        "version": version,
        "recent": recent,
        "structure": structure,
        "can_manage": selectors.can_manage_rubrics(request.user),
    }
    picked = _int(request.GET.get("conversation"))
    if picked is not None:
        conversation = conversation_selectors.conversation_get(user=request.user, pk=picked)
        timeline = list(conversation_selectors.communication_timeline(conversation=conversation))
        context |= preview.conversation_checked(structure, conversation, timeline)
        if all(c.pk != conversation.pk for c in recent):
            context["recent"] = [conversation, *recent]
    return render(request, "rubrics/preview.html", context)
