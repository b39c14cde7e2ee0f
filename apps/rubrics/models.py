"""Script-adherence rubrics: a stable identity with numbered, immutable-once-published versions.

A :class:`Rubric` is what people name ("Card services script"). Its content lives in
:class:`RubricVersion` rows: sections, each with criteria. A version starts as a DRAFT (the only
editable state), becomes PUBLISHED (at most one per rubric; publishing retires the previous one)
and ends RETIRED. Published and retired versions never change, so scores, QA forms and operator
results that pin a version (later apps, with ``on_delete=PROTECT``) always mean what they meant.

All writes go through ``apps.rubrics.services``; nothing here enforces business rules beyond what
the database can guarantee (one draft and one published version per rubric, unique keys).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from apps.accounts.scoping import can_use
from apps.common.models import TimeStampedModel

from .choices import (
    AppliesTo,
    AuditAction,
    CriterionKind,
    CriticalMode,
    VersionStatus,
    Weighting,
    WindowAnchor,
)
from .structure import (
    KEY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    WEIGHT_DECIMAL_PLACES,
    WEIGHT_MAX_DIGITS,
)

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


class RubricQuerySet(models.QuerySet["Rubric"]):
    def for_user(self, user: Person) -> RubricQuerySet:
        """Every rubric for the staff roles that may read rubrics, none for anyone else."""
        return self if can_use(user, "rubrics") else self.none()


class Rubric(TimeStampedModel):
    """The stable identity of a rubric; its content lives in :class:`RubricVersion`.

    ``name`` is unique ignoring case and may be renamed; ``slug`` is set once from the name at
    creation and never changes, so links keep working after a rename.
    """

    name = models.CharField(max_length=NAME_MAX_LENGTH)
    slug = models.SlugField(max_length=NAME_MAX_LENGTH, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = RubricQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="rubric_unique_name_ci"),
        ]

    def __str__(self) -> str:
        return self.name


class RubricVersionQuerySet(models.QuerySet["RubricVersion"]):
    def for_user(self, user: Person) -> RubricVersionQuerySet:
        return self if can_use(user, "rubrics") else self.none()


class RubricVersion(TimeStampedModel):
    """One numbered version of a rubric (1, 2, 3…), with its scoring modes and sections.

    ``weighting``: BY_SECTION (sections carry weights totalling 100, criteria weights are relative
    within their section) or BY_CRITERION (criteria carry weights totalling 100 across the
    version). ``critical_mode``: FAIL_CONVERSATION (a failed critical criterion scores the
    conversation 0) or SEPARATE_SCORE (critical criteria give a separate pass/fail score and the
    main score excludes them). See ``apps.rubrics.scoring`` for the exact maths.

    ``based_on`` is the version this draft was copied from (None for a first version).
    """

    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT, db_index=True
    )
    weighting = models.CharField(
        max_length=12, choices=Weighting.choices, default=Weighting.BY_SECTION
    )
    critical_mode = models.CharField(
        max_length=17, choices=CriticalMode.choices, default=CriticalMode.FAIL_CONVERSATION
    )
    notes = models.TextField(blank=True, help_text="What this version changes, and why")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    based_on = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="derived_versions",
    )

    objects = RubricVersionQuerySet.as_manager()

    class Meta:
        ordering = ["rubric_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rubric", "number"], name="rubric_version_number"),
            models.UniqueConstraint(
                fields=["rubric"],
                condition=Q(status=VersionStatus.DRAFT),
                name="rubric_one_draft",
            ),
            models.UniqueConstraint(
                fields=["rubric"],
                condition=Q(status=VersionStatus.PUBLISHED),
                name="rubric_one_published",
            ),
            # Only a published version can be retired, so both carry a publication time.
            models.CheckConstraint(
                condition=Q(status=VersionStatus.DRAFT) | Q(published_at__isnull=False),
                name="rubric_version_published_at",
            ),
            models.CheckConstraint(
                condition=~Q(status=VersionStatus.RETIRED) | Q(retired_at__isnull=False),
                name="rubric_version_retired_at",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rubric} v{self.number}"

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT

    @property
    def is_used(self) -> bool:
        """A used version may never be deleted or changed.

        For now a version is used once it has been published (scores and forms may refer to it
        from then on). Later apps pin versions with ``on_delete=PROTECT`` foreign keys, which the
        database enforces on top of this.
        """
        return self.published_at is not None


class Section(models.Model):
    """A group of criteria in a version, shown and (BY_SECTION) weighted together.

    ``weight`` is a percentage of the whole score when the version weights by section, and
    empty when it weights by criterion.
    """

    version = models.ForeignKey(RubricVersion, on_delete=models.CASCADE, related_name="sections")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, help_text="The goal of this part of the call")
    position = models.PositiveIntegerField()
    weight = models.DecimalField(
        max_digits=WEIGHT_MAX_DIGITS,
        decimal_places=WEIGHT_DECIMAL_PLACES,
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["version_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="rubric_section_key"),
        ]

    def __str__(self) -> str:
        return self.name


class Criterion(models.Model):
    """One thing the agent should do, checked per conversation (MET / NOT_MET / NA).

    ``version`` repeats ``section.version`` so the database can keep criterion keys unique across
    the whole version (Twilio's operator output names criteria by key alone). Services always set
    it from the section.

    ``required_phrases``: ``[{"text": str, "tolerance": int 0-100}]``, the fuzzy-match threshold
    of each phrase (default 85). ``window_seconds`` (optional) limits when the action counts,
    measured from ``window_anchor``. ``weight``: BY_CRITERION, a percentage of the whole score;
    BY_SECTION, a weight relative to the section's other criteria, and when no criterion of the
    section has one, the section's criteria share it equally. ``kind``: SCORED and CRITICAL count
    (see ``scoring``), INFORMATIONAL never does. ``na_allowed``: whether "not applicable" is an
    acceptable outcome; elsewhere an N/A counts as NOT_MET.
    """

    version = models.ForeignKey(RubricVersion, on_delete=models.CASCADE, related_name="criteria")
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="criteria")
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, help_text="The goal of this criterion")
    expected_action = models.TextField(blank=True)
    required_phrases = models.JSONField(default=list, blank=True)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)
    window_anchor = models.CharField(
        max_length=18, choices=WindowAnchor.choices, default=WindowAnchor.CONVERSATION_START
    )
    weight = models.DecimalField(
        max_digits=WEIGHT_MAX_DIGITS,
        decimal_places=WEIGHT_DECIMAL_PLACES,
        null=True,
        blank=True,
    )
    kind = models.CharField(
        max_length=13, choices=CriterionKind.choices, default=CriterionKind.SCORED
    )
    na_allowed = models.BooleanField(default=False)
    applies_to = models.CharField(max_length=11, choices=AppliesTo.choices, default=AppliesTo.BOTH)
    position = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "criteria"
        ordering = ["section_id", "position", "id"]
        constraints = [
            # Unique across the version, hence also within the section.
            models.UniqueConstraint(fields=["version", "key"], name="rubric_criterion_key"),
        ]

    def __str__(self) -> str:
        return self.name


class RubricAuditEntry(models.Model):
    """Who did what to a rubric, and what changed.

    ``version`` is cleared when a discarded draft is deleted; ``version_number`` keeps the number.
    ``changes`` is a JSON object whose shape depends on ``action`` (see docs/rubrics.md); edits
    hold ``{"diff": [...]}`` in the format of ``apps.rubrics.diff.structure_diff``.
    """

    rubric = models.ForeignKey(Rubric, on_delete=models.CASCADE, related_name="audit_entries")
    version = models.ForeignKey(
        RubricVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    version_number = models.PositiveIntegerField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=12, choices=AuditAction.choices)
    at = models.DateTimeField(db_index=True)
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name_plural = "rubric audit entries"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["rubric", "-at"], name="rubric_audit_rubric_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.rubric_id} at {self.at:%Y-%m-%d %H:%M}"
