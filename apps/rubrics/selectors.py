"""Reads of rubrics and their versions.

Who may read: the staff roles of ``FEATURES["rubrics"]`` in ``apps.accounts.scoping`` (admin,
QA analyst, coach, supervisor) see every rubric, with all its versions (drafts included) and its
history; agents and outsiders see none. Managing (every service in ``services``) is
``FEATURES["rubrics_manage"]``: admins. ``version_structure``, ``version_data`` and
``published_version`` take an already-authorised object and are also for system code (the
operator, the scorer), so they do not scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound

from .choices import VersionStatus
from .diff import Change, structure_diff
from .models import Criterion, Rubric, RubricAuditEntry, RubricVersion, Section
from .structure import CriterionSpec, PhraseSpec, RubricStructure, SectionSpec

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def can_read_rubrics(user: Person) -> bool:
    return can_use(user, "rubrics")


def can_manage_rubrics(user: Person) -> bool:
    return can_use(user, "rubrics_manage")


def _version_number(status: str) -> Subquery:
    return Subquery(
        RubricVersion.objects.filter(rubric=OuterRef("pk"), status=status).values("number")[:1]
    )


def rubric_list(*, user: Person) -> QuerySet[Rubric]:
    """Rubrics ``user`` may read, by name, each annotated with ``published_number`` and
    ``draft_number`` (None when there is none), in one query."""
    return (
        Rubric.objects.for_user(user)
        .select_related("created_by")
        .annotate(
            published_number=_version_number(VersionStatus.PUBLISHED),
            draft_number=_version_number(VersionStatus.DRAFT),
        )
        .order_by("name", "id")
    )


def rubric_get(*, user: Person, pk: int) -> Rubric:
    """One rubric ``user`` may read; 404 otherwise, so ids do not leak."""
    rubric = rubric_list(user=user).filter(pk=pk).first()
    if rubric is None:
        raise NotFound("No such rubric.")
    return rubric


def version_list(*, user: Person, rubric: Rubric) -> QuerySet[RubricVersion]:
    """The versions of ``rubric``, newest first."""
    return (
        RubricVersion.objects.for_user(user)
        .filter(rubric=rubric)
        .select_related("created_by", "published_by", "retired_by", "based_on")
        .order_by("-number")
    )


def version_get(*, user: Person, pk: int) -> RubricVersion:
    """One version ``user`` may read, with its rubric and people; 404 otherwise."""
    version = (
        RubricVersion.objects.for_user(user)
        .select_related("rubric", "created_by", "published_by", "retired_by", "based_on")
        .filter(pk=pk)
        .first()
    )
    if version is None:
        raise NotFound("No such rubric version.")
    return version


def published_version(*, rubric: Rubric) -> RubricVersion | None:
    """The version in force for ``rubric``, or None when none is published."""
    return RubricVersion.objects.filter(rubric=rubric, status=VersionStatus.PUBLISHED).first()


def rubric_by_id(*, pk: int) -> Rubric | None:
    """A rubric by id, unscoped: for the engine, which acts for no particular person."""
    return Rubric.objects.filter(pk=pk).first()


def sole_published_rubric() -> Rubric | None:
    """The rubric with a published version, when exactly one has one (the default to judge by)."""
    published = list(Rubric.objects.filter(versions__status=VersionStatus.PUBLISHED).distinct()[:2])
    return published[0] if len(published) == 1 else None


def draft_version(*, rubric: Rubric) -> RubricVersion | None:
    return RubricVersion.objects.filter(rubric=rubric, status=VersionStatus.DRAFT).first()


def _sections_with_criteria(version: RubricVersion) -> list[Section]:
    return list(
        Section.objects.filter(version=version)
        .order_by("position", "id")
        .prefetch_related(
            Prefetch("criteria", queryset=Criterion.objects.order_by("position", "id"))
        )
    )


def version_structure(*, version: RubricVersion) -> RubricStructure:
    """``version`` as frozen dataclasses for scoring and the operator, in two queries."""
    sections = tuple(
        SectionSpec(
            key=section.key,
            name=section.name,
            description=section.description,
            weight=section.weight,
            position=section.position,
            criteria=tuple(
                CriterionSpec(
                    key=c.key,
                    name=c.name,
                    section_key=section.key,
                    kind=c.kind,
                    weight=c.weight,
                    na_allowed=c.na_allowed,
                    applies_to=c.applies_to,
                    description=c.description,
                    expected_action=c.expected_action,
                    required_phrases=tuple(
                        PhraseSpec(text=p["text"], tolerance=p["tolerance"])
                        for p in c.required_phrases
                    ),
                    window_seconds=c.window_seconds,
                    window_anchor=c.window_anchor,
                    position=c.position,
                )
                for c in section.criteria.all()
            ),
        )
        for section in _sections_with_criteria(version)
    )
    return RubricStructure(
        weighting=version.weighting,
        critical_mode=version.critical_mode,
        sections=sections,
        rubric_id=version.rubric_id,
        version_id=version.pk,
        version_number=version.number,
    )


_FROZEN: dict[int, RubricStructure] = {}


def frozen_structure(*, version: RubricVersion) -> RubricStructure:
    """``version_structure``, kept per process for published and retired versions: they never
    change, and operators and reviews read them again and again. Drafts are read each time."""
    if version.status == VersionStatus.DRAFT:
        return version_structure(version=version)
    structure = _FROZEN.get(version.pk)
    if structure is None:
        structure = version_structure(version=version)
        if len(_FROZEN) > 256:
            _FROZEN.clear()
        _FROZEN[version.pk] = structure
    return structure


def version_data(*, version: RubricVersion) -> dict[str, Any]:
    """``version`` in the editable format (``apps.rubrics.validation``), already clean.

    Feeding it back to ``services.draft_update`` changes nothing; forms use it as initial data
    and the exporter as its source. Weights are Decimals (``structure.jsonable`` for JSON).
    """
    rubric = version.rubric
    return {
        "name": rubric.name,
        "description": rubric.description,
        "notes": version.notes,
        "weighting": version.weighting,
        "critical_mode": version.critical_mode,
        "sections": [
            {
                "key": section.key,
                "name": section.name,
                "description": section.description,
                "weight": section.weight,
                "criteria": [
                    {
                        "key": c.key,
                        "name": c.name,
                        "description": c.description,
                        "expected_action": c.expected_action,
                        "required_phrases": [
                            {"text": p["text"], "tolerance": p["tolerance"]}
                            for p in c.required_phrases
                        ],
                        "window_seconds": c.window_seconds,
                        "window_anchor": c.window_anchor,
                        "weight": c.weight,
                        "kind": c.kind,
                        "na_allowed": c.na_allowed,
                        "applies_to": c.applies_to,
                    }
                    for c in section.criteria.all()
                ],
            }
            for section in _sections_with_criteria(version)
        ],
    }


def version_diff(*, old: RubricVersion, new: RubricVersion) -> list[Change]:
    """What changed from ``old`` to ``new`` (format: ``apps.rubrics.diff``), by key."""
    return structure_diff(version_data(version=old), version_data(version=new))


def rubric_audit_list(*, user: Person, rubric: Rubric) -> QuerySet[RubricAuditEntry]:
    """``rubric``'s history, newest first, for users who may read rubrics."""
    if not can_read_rubrics(user):
        return RubricAuditEntry.objects.none()
    return (
        RubricAuditEntry.objects.filter(rubric=rubric)
        .select_related("actor", "version")
        .order_by("-at", "-id")
    )


def version_by_id(*, pk: int) -> RubricVersion | None:
    """A version by id, with its rubric, unscoped: for system code that already holds a reference
    (a review's pinned version, an operator result's)."""
    return RubricVersion.objects.select_related("rubric").filter(pk=pk).first()


def versions_by_id(*, ids: list[int]) -> dict[int, RubricVersion]:
    return {v.pk: v for v in RubricVersion.objects.select_related("rubric").filter(pk__in=ids)}


@dataclass(frozen=True)
class CriterionName:
    key: str
    name: str
    kind: str
    order: tuple[int, int]  # (section position, criterion position) in its latest version


def criterion_names(*, keys: Iterable[str]) -> dict[str, CriterionName]:
    """The name of each criterion key in the latest version (published first) that has it:
    what reports show for the keys operator results and reviews carry."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = (
        Criterion.objects.filter(key__in=wanted)
        .order_by(
            "key",
            F("version__published_at").desc(nulls_last=True),
            "-version__number",
            "-id",
        )
        .values_list("key", "name", "kind", "section__position", "position")
    )
    names: dict[str, CriterionName] = {}
    for key, name, kind, section_position, position in rows:
        names.setdefault(key, CriterionName(key, name, kind, (section_position, position)))
    return names


def versions_in_use() -> list[RubricVersion]:
    """Every published or retired version (frozen: what conversations are judged by), with its
    rubric; rubrics by name, then newest version first. Unscoped: for QA statistics, which are
    gated by their own feature."""
    return list(
        RubricVersion.objects.filter(status__in=[VersionStatus.PUBLISHED, VersionStatus.RETIRED])
        .select_related("rubric")
        .order_by("rubric__name", "-number")
    )
