"""Reads of rubric impact previews: the previews an admin may see, their rows with filters, and
the stored human answers a preview re-scores from (set-wise, for thousands of conversations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import F, QuerySet

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound

from ..choices import PreviewStatus, ReviewStatus, Segment
from ..models import ImpactPreview, ImpactRow, Review, ReviewAnswer

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

ACTIVE_PREVIEW_STATUSES = (PreviewStatus.QUEUED, PreviewStatus.RUNNING)


def can_preview_impact(user: Person) -> bool:
    return can_use(user, "qa_impact")


def impact_preview_list(*, user: Person, version_id: int | None = None) -> QuerySet[ImpactPreview]:
    """Previews, newest first (admins only: everyone else gets none); of one version if given."""
    if not can_preview_impact(user):
        return ImpactPreview.objects.none()
    previews = ImpactPreview.objects.select_related(
        "rubric_version__rubric", "baseline_version", "created_by"
    )
    if version_id is not None:
        previews = previews.filter(rubric_version_id=version_id)
    return previews.order_by("-created_at", "-id")


def impact_preview_get(*, user: Person, pk: int) -> ImpactPreview:
    preview = impact_preview_list(user=user).filter(pk=pk).first()
    if preview is None:
        raise NotFound("No such impact preview.")
    return preview


@dataclass(frozen=True)
class RowFilters:
    team: int | None = None
    agent: int | None = None
    criterion: str = ""
    change: str = ""  # "down", "up", "same" or "" for every row


def impact_row_list(
    *, user: Person, preview: ImpactPreview, filters: RowFilters | None = None
) -> QuerySet[ImpactRow]:
    """A preview's conversations, the biggest drops first, with their agent and team."""
    if not can_preview_impact(user):
        return ImpactRow.objects.none()
    filters = filters or RowFilters()
    rows = ImpactRow.objects.filter(preview=preview).select_related("conversation", "agent", "team")
    if filters.team is not None:
        rows = rows.filter(team_id=filters.team)
    if filters.agent is not None:
        rows = rows.filter(agent_id=filters.agent)
    if filters.criterion:
        rows = rows.filter(newly_failing__contains=[filters.criterion])
    if filters.change in ("down", "up", "same"):
        lookup = {"down": "after__lt", "up": "after__gt", "same": "after"}[filters.change]
        rows = rows.filter(**{lookup: F("before")})
    return rows.order_by(
        (F("after") - F("before")).asc(nulls_last=True), "-conversation__started_at", "id"
    )


def stored_human_answers(
    *, conversation_ids: Sequence[int], rubric_id: int
) -> dict[int, dict[str, str]]:
    """``{conversation id: {criterion key: outcome}}``: the current revision's answers of each
    conversation's latest submitted review against ``rubric_id`` (any of its versions),
    calibration answers left out. The human agent's segment where it has one, else the AI
    agent's. One query per 5,000 conversations."""
    found: dict[int, dict[str, str]] = {}
    segments: dict[int, str] = {}
    ids = list(conversation_ids)
    for start in range(0, len(ids), 5000):
        latest = (
            Review.objects.filter(
                conversation_id__in=ids[start : start + 5000],
                status=ReviewStatus.SUBMITTED,
                is_calibration=False,
                rubric_version__rubric_id=rubric_id,
                current_revision__isnull=False,
            )
            .order_by("conversation_id", "-submitted_at", "-id")
            .distinct("conversation_id")
            .values("current_revision_id")
        )
        answers = ReviewAnswer.objects.filter(revision_id__in=latest).values_list(
            "revision__review__conversation_id", "segment", "criterion_key", "outcome"
        )
        for conversation_id, segment, key, outcome in answers:
            chosen = segments.get(conversation_id)
            if chosen is None or (chosen != Segment.HUMAN_AGENT and segment == Segment.HUMAN_AGENT):
                segments[conversation_id] = segment
                found[conversation_id] = {}
            if segments[conversation_id] == segment:
                found[conversation_id][key] = outcome
    return found
