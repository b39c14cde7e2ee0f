"""Writes of rubrics and their versions. Every service writes one audit entry.

Lifecycle of a version: DRAFT --publish--> PUBLISHED --retire (or a newer publish)--> RETIRED.
A draft can also be discarded (deleted). Only drafts are edited; published and retired versions
are frozen (``VersionNotEditable``). A rubric has at most one draft and one published version
(partial unique constraints back the checks here).

Concurrency: services that change a version lock the rubric row first (``select_for_update``),
so edits, publications and new drafts of one rubric run one at a time, and each transition is
then a guarded conditional UPDATE (``filter(pk=…, status=…).update(…)``) whose row count is
checked, so a stale object or a racing request fails cleanly instead of acting twice.

Permissions: ``actor`` must be allowed to manage rubrics (admins; ``selectors.can_manage_rubrics``)
or be None for system work (management commands, data migrations), which the audit records as
no actor. Pages and APIs always pass the signed-in user.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from apps.common.audit import audit_reason
from apps.common.errors import PermissionDenied, ValidationFailed

from .choices import AuditAction, VersionStatus
from .diff import structure_diff
from .errors import DraftExists, InvalidTransition, VersionInUse, VersionNotEditable
from .models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section
from .selectors import can_manage_rubrics, published_version, version_data
from .structure import NAME_MAX_LENGTH, jsonable
from .validation import clean_rubric_fields, clean_structure, validate_structure

_EDIT_ACTIONS = (AuditAction.EDIT, AuditAction.IMPORT)


def _require_manager(actor: Any) -> None:
    if actor is not None and not can_manage_rubrics(actor):
        raise PermissionDenied("Only admins may change rubrics.")


def _audit(
    *,
    rubric: Rubric,
    version: RubricVersion | None,
    actor: Any,
    action: str,
    changes: dict[str, Any],
    version_number: int | None = None,
) -> RubricAuditEntry:
    return RubricAuditEntry.objects.create(
        rubric=rubric,
        version=version,
        version_number=version.number if version is not None else version_number,
        actor=actor,
        action=action,
        at=timezone.now(),
        changes=jsonable(changes),
    )


def _lock_rubric(rubric_id: int) -> Rubric:
    return Rubric.objects.select_for_update().get(pk=rubric_id)


def _reload(version: RubricVersion) -> RubricVersion:
    """The version as it is now (after the rubric lock), whatever the caller's copy says."""
    return RubricVersion.objects.select_related("rubric").get(pk=version.pk)


def _label(version: RubricVersion) -> str:
    return f"Version {version.number} of “{version.rubric.name}”"


def _check_name_free(name: str, *, exclude_pk: int | None = None) -> None:
    taken = Rubric.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationFailed({"name": [f"A rubric named “{name}” already exists."]})


def _unique_slug(name: str) -> str:
    base = (slugify(name) or "rubric")[: NAME_MAX_LENGTH - 8]
    slug, n = base, 1
    while Rubric.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def rubric_create(*, name: str, description: str = "", actor: Any) -> Rubric:
    """Create a rubric with an empty draft, version 1 (BY_SECTION, FAIL_CONVERSATION).

    Raises ValidationFailed (``name``) for an empty, too long or taken name (ignoring case).
    """
    _require_manager(actor)
    cleaned, errors = clean_rubric_fields(name=name, description=description)
    if errors:
        raise ValidationFailed(errors)
    _check_name_free(cleaned["name"])
    try:
        with transaction.atomic():
            rubric = Rubric.objects.create(
                name=cleaned["name"],
                slug=_unique_slug(cleaned["name"]),
                description=cleaned["description"],
                created_by=actor,
            )
    except IntegrityError as exc:  # the same name created concurrently
        raise ValidationFailed(
            {"name": [f"A rubric named “{cleaned['name']}” already exists."]}
        ) from exc
    version = RubricVersion.objects.create(rubric=rubric, number=1, created_by=actor)
    _audit(
        rubric=rubric,
        version=version,
        actor=actor,
        action=AuditAction.CREATE,
        changes={"name": rubric.name, "description": rubric.description, "number": 1},
    )
    return rubric


@transaction.atomic
def draft_update(
    *,
    version: RubricVersion,
    actor: Any,
    data: dict[str, Any],
    audit_action: str = AuditAction.EDIT,
    audit_extra: dict[str, Any] | None = None,
) -> RubricVersion:
    """Replace a draft's content with ``data`` (the editable format, ``apps.rubrics.validation``).

    ``data`` is the whole content: sections and criteria are replaced in the given order (a
    section or criterion left out is removed). ``name``/``description``, when present, rename
    or re-describe the rubric itself (not versioned). A draft may be saved incomplete: only the
    storable checks run here, the rest at publication. Nothing is written, not even an audit
    entry, when nothing changed.

    The audit entry (``audit_action`` EDIT, or IMPORT for the script importer, which may add
    ``audit_extra`` such as the source) holds ``{"diff": structure_diff(old, new), **extra}``.

    Raises ValidationFailed with field-keyed errors, VersionNotEditable for a published or
    retired version, PermissionDenied.
    """
    _require_manager(actor)
    if audit_action not in _EDIT_ACTIONS:
        raise ValueError(f"audit_action must be EDIT or IMPORT, not {audit_action!r}")
    _lock_rubric(version.rubric_id)
    current = _reload(version)
    if current.status != VersionStatus.DRAFT:
        raise VersionNotEditable(
            f"{_label(current)} is {current.get_status_display().lower()} and can no longer be "
            "changed. Create a new draft to make changes."
        )
    new, errors = clean_structure(data, publishing=False)
    if errors:
        raise ValidationFailed(errors)
    rubric = current.rubric
    if "name" in new:
        _check_name_free(new["name"], exclude_pk=rubric.pk)
    old = version_data(version=current)
    changes = structure_diff(old, new)
    if not changes:
        return current

    if "name" in new or "description" in new:
        rubric.name = new.get("name", rubric.name)
        rubric.description = new.get("description", rubric.description)
        rubric.save(update_fields=["name", "description", "updated_at"])
    current.weighting = new["weighting"]
    current.critical_mode = new["critical_mode"]
    current.notes = new["notes"]
    current.save(update_fields=["weighting", "critical_mode", "notes", "updated_at"])
    _replace_content(current, new["sections"])
    _audit(
        rubric=rubric,
        version=current,
        actor=actor,
        action=audit_action,
        changes={"diff": changes, **(audit_extra or {})},
    )
    return current


def _replace_content(version: RubricVersion, sections: list[dict[str, Any]]) -> None:
    """Delete the version's sections and criteria and create ``sections`` (cleaned) in order.

    Simpler than matching rows up, and safe: nothing may point at a draft's rows.
    """
    Section.objects.filter(version=version).delete()  # cascades to criteria
    created = Section.objects.bulk_create(
        Section(
            version=version,
            key=s["key"],
            name=s["name"],
            description=s["description"],
            weight=s["weight"],
            position=position,
        )
        for position, s in enumerate(sections)
    )
    Criterion.objects.bulk_create(
        Criterion(
            version=version,
            section=section,
            key=c["key"],
            name=c["name"],
            description=c["description"],
            expected_action=c["expected_action"],
            required_phrases=c["required_phrases"],
            window_seconds=c["window_seconds"],
            window_anchor=c["window_anchor"],
            weight=c["weight"],
            kind=c["kind"],
            na_allowed=c["na_allowed"],
            applies_to=c["applies_to"],
            position=position,
        )
        for section, s in zip(created, sections, strict=True)
        for position, c in enumerate(s["criteria"])
    )


@audit_reason(lambda kwargs: kwargs["version"].notes)  # what the version changes, and why
@transaction.atomic
def version_publish(*, version: RubricVersion, actor: Any) -> RubricVersion:
    """Publish a draft after full validation; the previously published version is retired.

    Raises ValidationFailed (errors keyed by the paths of ``version_data``'s order, so they line
    up with the form) when the content is not publishable, InvalidTransition when the version is
    not (or no longer) a draft, PermissionDenied.
    """
    _require_manager(actor)
    _lock_rubric(version.rubric_id)
    current = _reload(version)
    if current.status != VersionStatus.DRAFT:
        raise InvalidTransition(
            f"{_label(current)} is {current.get_status_display().lower()}; only a draft can be "
            "published."
        )
    errors = validate_structure(version_data(version=current), publishing=True)
    if errors:
        raise ValidationFailed(errors, "This version cannot be published yet.")
    now = timezone.now()
    previous = (
        RubricVersion.objects.filter(rubric_id=current.rubric_id, status=VersionStatus.PUBLISHED)
        .exclude(pk=current.pk)
        .first()
    )
    # Retire first: the "one published version" constraint is checked per statement.
    if previous is not None:
        RubricVersion.objects.filter(pk=previous.pk, status=VersionStatus.PUBLISHED).update(
            status=VersionStatus.RETIRED, retired_at=now, retired_by=actor, updated_at=now
        )
    updated = RubricVersion.objects.filter(pk=current.pk, status=VersionStatus.DRAFT).update(
        status=VersionStatus.PUBLISHED, published_at=now, published_by=actor, updated_at=now
    )
    if updated != 1:  # unreachable under the rubric lock; kept as the transition's guard
        raise InvalidTransition(f"{_label(current)} was published or discarded meanwhile.")
    current.refresh_from_db()
    if previous is not None:
        _audit(
            rubric=current.rubric,
            version=previous,
            actor=actor,
            action=AuditAction.RETIRE,
            changes={"number": previous.number, "replaced_by": current.number},
        )
    _audit(
        rubric=current.rubric,
        version=current,
        actor=actor,
        action=AuditAction.PUBLISH,
        changes={
            "number": current.number,
            "retired": previous.number if previous is not None else None,
        },
    )
    return current


@transaction.atomic
def version_retire(*, version: RubricVersion, actor: Any) -> RubricVersion:
    """Retire the published version; the rubric then has none in force until the next publish.

    Raises InvalidTransition unless the version is published, PermissionDenied.
    """
    _require_manager(actor)
    _lock_rubric(version.rubric_id)
    current = _reload(version)
    now = timezone.now()
    updated = RubricVersion.objects.filter(pk=current.pk, status=VersionStatus.PUBLISHED).update(
        status=VersionStatus.RETIRED, retired_at=now, retired_by=actor, updated_at=now
    )
    if updated != 1:
        raise InvalidTransition(
            f"{_label(current)} is {current.get_status_display().lower()}; only the published "
            "version can be retired."
        )
    current.refresh_from_db()
    _audit(
        rubric=current.rubric,
        version=current,
        actor=actor,
        action=AuditAction.RETIRE,
        changes={"number": current.number, "replaced_by": None},
    )
    return current


@transaction.atomic
def version_new_draft(*, rubric: Rubric, actor: Any) -> RubricVersion:
    """Start the next version: a DRAFT numbered after the highest, copying the current content.

    The copy comes from the published version or, when none is published, the latest retired
    one (``based_on`` names it); with neither, the draft starts empty. Weighting, critical mode,
    sections and criteria are copied; ``notes`` start empty (they describe the new version).

    Raises DraftExists when the rubric already has a draft, PermissionDenied.
    """
    _require_manager(actor)
    rubric = _lock_rubric(rubric.pk)
    existing = RubricVersion.objects.filter(rubric=rubric, status=VersionStatus.DRAFT).first()
    if existing is not None:
        raise DraftExists(
            f"“{rubric.name}” already has a draft (version {existing.number}); publish or "
            "discard it first."
        )
    source = (
        published_version(rubric=rubric)
        or RubricVersion.objects.filter(rubric=rubric, status=VersionStatus.RETIRED)
        .order_by("-number")
        .first()
    )
    highest = RubricVersion.objects.filter(rubric=rubric).aggregate(n=Max("number"))["n"] or 0
    draft = RubricVersion(rubric=rubric, number=highest + 1, created_by=actor, based_on=source)
    if source is not None:
        draft.weighting = source.weighting
        draft.critical_mode = source.critical_mode
    draft.save()
    if source is not None:
        _replace_content(draft, version_data(version=source)["sections"])
    _audit(
        rubric=rubric,
        version=draft,
        actor=actor,
        action=AuditAction.NEW_VERSION,
        changes={
            "number": draft.number,
            "based_on": source.number if source is not None else None,
        },
    )
    return draft


@transaction.atomic
def draft_discard(*, version: RubricVersion, actor: Any) -> None:
    """Delete a draft and its content. The audit entry keeps the number and a snapshot.

    Raises InvalidTransition for a published or retired version, VersionInUse when something
    pins the draft (a protected foreign key), PermissionDenied.
    """
    _require_manager(actor)
    rubric = _lock_rubric(version.rubric_id)
    current = _reload(version)
    if current.status != VersionStatus.DRAFT or current.is_used:
        raise InvalidTransition(
            f"{_label(current)} is {current.get_status_display().lower()}; only an unused "
            "draft can be discarded."
        )
    snapshot = version_data(version=current)
    number = current.number
    try:
        with transaction.atomic():
            deleted, _ = RubricVersion.objects.filter(
                pk=current.pk, status=VersionStatus.DRAFT, published_at__isnull=True
            ).delete()
    except ProtectedError as exc:
        raise VersionInUse(f"{_label(current)} is in use and cannot be discarded.") from exc
    if not deleted:  # unreachable under the rubric lock; kept as the transition's guard
        raise InvalidTransition(f"{_label(current)} was published or discarded meanwhile.")
    _audit(
        rubric=rubric,
        version=None,
        version_number=number,
        actor=actor,
        action=AuditAction.DELETE_DRAFT,
        changes={"number": number, "snapshot": snapshot},
    )
