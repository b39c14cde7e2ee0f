"""Rubric impact preview: before a draft version is published, re-score the stored closed
conversations of a window with it and show who would gain or lose, and what newly fails.

Per conversation (``impact_preview_run``), each criterion of the draft is judged so that the
delta reflects the rubric change only:

* **unchanged** from the baseline (the rubric's published version; the same spec, ignoring
  weight, kind, section and position, which change the score, not the answer): the stored answer,
  i.e. the current revision's human answer of the latest submitted, non-calibration review of
  the conversation (against any version of this rubric), else the AI's stored script-adherence
  outcome for the baseline version;
* **changed or new**, with a deterministic check (required phrases, a time window): the check
  (``apps.rubrics.checks``) over the stored transcript. A changed criterion whose baseline spec
  has a check too is judged by the check on *both* sides (the old spec before, the new after), so
  its delta is the wording change, not the difference between a person (or the language model)
  and the phrase matcher;
* changed without a check (a new description for a criterion people judge): the stored answer;
* new without a check: nobody has answered it yet, so it is left out of the score and counted as
  unjudged.

"Before" is the baseline scored from the same stored answers; both with ``apps.rubrics.scoring``.
A criterion nothing answered (no review, no AI result) leaves that side's score, as N/A would.
Without a published baseline every criterion is new and "before" is empty.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.scoping import can_use
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.common.tasks import enqueue
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.rubrics import selectors as rubrics
from apps.rubrics.checks import Line, agent_type_of, check_criterion
from apps.rubrics.choices import CriterionKind, Outcome, VersionStatus
from apps.rubrics.scoring import NOTE_NOT_FOR_PARTICIPANT, score
from apps.rubrics.structure import CriterionSpec, RubricStructure, jsonable

from .. import stats
from ..choices import PreviewStatus
from ..models import ImpactPreview, ImpactRow
from ..selectors.impact import ACTIVE_PREVIEW_STATUSES, stored_human_answers

if TYPE_CHECKING:
    from apps.accounts.scoping import Person
    from apps.rubrics.models import RubricVersion

logger = logging.getLogger(__name__)

MAX_DAYS = 365
# How often a running preview writes its progress (conversations).
PROGRESS_EVERY = 500
# A queued or running preview older than this is taken for lost (its worker died, its message
# was dropped): a new start replaces it, and a redelivered task may take it over.
STALE_AFTER = timedelta(minutes=15)

UNCHANGED, CHANGED, NEW = "unchanged", "changed", "new"
# What an answer depends on; weight, kind, section and position only change the score.
_SCORING_ONLY = ("weight", "kind", "section_key", "position")


def structure_hash(*, version: RubricVersion) -> str:
    """A fingerprint of what the version scores by (sections, criteria, weighting): a later
    edit of the draft changes it, a new note does not."""
    data = rubrics.version_data(version=version)
    content = {k: data[k] for k in ("weighting", "critical_mode", "sections")}
    text = json.dumps(jsonable(content), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def is_stale(*, preview: ImpactPreview) -> bool:
    """Whether the draft changed since ``preview`` was made (or is no longer a draft)."""
    version = preview.rubric_version
    if version.status != VersionStatus.DRAFT:
        return True
    return structure_hash(version=version) != preview.structure_hash


@transaction.atomic
def impact_preview_start(*, user: Person, version: RubricVersion, days: int = 30) -> ImpactPreview:
    """Queue a preview of the draft ``version`` over the closed conversations of the last
    ``days`` days. A preview of the same draft content that is still queued or running is
    returned instead of a second one."""
    if not can_use(user, "qa_impact"):
        raise PermissionDenied("Only admins may preview a rubric's impact.")
    if version.status != VersionStatus.DRAFT:
        raise Conflict(
            f"Version {version.number} is {version.get_status_display().lower()}: only a draft "
            "can be previewed (its impact is what publishing it would do)."
        )
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise ValidationFailed({"days": [f"A number of days from 1 to {MAX_DAYS}."]})
    digest = structure_hash(version=version)
    # One start at a time per draft: two clicks must not queue two previews.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"qa-impact:{version.pk}"])
    active = ImpactPreview.objects.filter(
        rubric_version=version, structure_hash=digest, days=days, status__in=ACTIVE_PREVIEW_STATUSES
    )
    lost = timezone.now() - STALE_AFTER
    current = active.filter(Q(created_at__gte=lost) | Q(started_at__gte=lost)).first()
    if current is not None:
        return current
    active.update(
        status=PreviewStatus.FAILED,
        finished_at=timezone.now(),
        error="Lost: it never finished (a worker stopped); started again.",
    )
    published = rubrics.published_version(rubric=version.rubric)
    preview = ImpactPreview.objects.create(
        rubric_version=version,
        baseline_version=published,
        structure_hash=digest,
        days=days,
        created_by_id=getattr(user, "pk", None),
    )
    # Never fails the request: with the broker down the preview stays queued, and a new start
    # replaces it once it is older than STALE_AFTER.
    transaction.on_commit(lambda: enqueue("apps.qa.tasks.run_impact_preview", preview.pk))
    return preview


# Running ---------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What the draft changes, worked out once before the conversations are read."""

    draft: RubricStructure
    baseline: RubricStructure | None
    status: dict[str, str]  # draft key -> UNCHANGED / CHANGED / NEW
    removed: list[str]
    check_after: list[CriterionSpec]  # judged on the transcript with the draft's spec
    check_before: list[CriterionSpec]  # ... and with the baseline's spec
    unjudged: list[str]  # new criteria without a check: nobody answered them yet

    @property
    def needs_transcripts(self) -> bool:
        return bool(self.check_after or self.check_before)


_ANSWER_FIELDS = tuple(f.name for f in fields(CriterionSpec) if f.name not in _SCORING_ONLY)
_OUTCOMES = frozenset(Outcome.values)


def _same_answer(old: CriterionSpec, new: CriterionSpec) -> bool:
    return all(getattr(old, name) == getattr(new, name) for name in _ANSWER_FIELDS)


def _checkable(spec: CriterionSpec) -> bool:
    return bool(spec.required_phrases) or spec.window_seconds is not None


def _plan(draft: RubricStructure, baseline: RubricStructure | None) -> _Plan:
    old = {c.key: c for c in baseline.criteria} if baseline is not None else {}
    status: dict[str, str] = {}
    check_after: list[CriterionSpec] = []
    check_before: list[CriterionSpec] = []
    unjudged: list[str] = []
    for spec in draft.criteria:
        before = old.get(spec.key)
        if before is not None and _same_answer(before, spec):
            status[spec.key] = UNCHANGED
            continue
        status[spec.key] = CHANGED if before is not None else NEW
        if _checkable(spec):
            check_after.append(spec)
            if before is not None and _checkable(before):
                check_before.append(before)
        elif before is None and spec.kind != CriterionKind.INFORMATIONAL:
            unjudged.append(spec.key)
    removed = [key for key in old if key not in status]
    return _Plan(draft, baseline, status, removed, check_after, check_before, unjudged)


@dataclass(frozen=True, slots=True)
class _Scored:
    score: Decimal | None
    failing: frozenset[str]


class _Scorer:
    """``scoring.score`` with the criteria nobody answered left out, remembered by outcomes:
    thousands of conversations share a few hundred combinations of answers."""

    def __init__(self, structure: RubricStructure) -> None:
        self.structure = structure
        self.keys = tuple(
            c.key for c in structure.criteria if c.kind != CriterionKind.INFORMATIONAL
        )
        self._cache: dict[tuple[Any, ...], _Scored] = {}
        self._without: dict[frozenset[str], RubricStructure] = {}

    def __call__(self, outcomes: dict[str, str | None], participant_type: str | None) -> _Scored:
        values = tuple(outcomes.get(key) for key in self.keys)
        cache_key = (participant_type, values)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        missing = frozenset(k for k, v in zip(self.keys, values, strict=True) if v is None)
        structure = self._without.get(missing)
        if structure is None:
            structure = self._without[missing] = self.structure.without(missing)
        given = {k: v for k, v in zip(self.keys, values, strict=True) if v is not None}
        result = score(structure, given, participant_type=participant_type, missing=Outcome.NA)
        found = _Scored(
            score=result.score,
            failing=frozenset(
                c.key
                for c in result.criteria
                if c.effective == Outcome.NOT_MET
                and c.kind != CriterionKind.INFORMATIONAL
                and c.note != NOTE_NOT_FOR_PARTICIPANT
            ),
        )
        self._cache[cache_key] = found
        return found


@dataclass
class _Timer:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, phase: str, began: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] += now - began
        return now


def impact_preview_run(
    *, preview_id: int, on_progress: Callable[[int, int], None] | None = None
) -> ImpactPreview | None:
    """Run a queued preview (guarded: QUEUED to RUNNING, so a second run does nothing; a
    RUNNING one whose worker died is taken over after ``STALE_AFTER``). Writes its rows and
    summary in one transaction at the end; FAILED with the error on an exception."""
    now = timezone.now()
    claimed = ImpactPreview.objects.filter(
        Q(status=PreviewStatus.QUEUED)
        | Q(status=PreviewStatus.RUNNING, started_at__lt=now - STALE_AFTER),
        pk=preview_id,
    ).update(status=PreviewStatus.RUNNING, started_at=now, done=0, error="")
    if not claimed:
        return None
    preview = ImpactPreview.objects.select_related("rubric_version__rubric").get(pk=preview_id)
    try:
        _run(preview, on_progress)
    except Exception as error:
        logger.exception("Impact preview %s failed", preview_id)
        ImpactPreview.objects.filter(pk=preview_id, status=PreviewStatus.RUNNING).update(
            status=PreviewStatus.FAILED,
            finished_at=timezone.now(),
            error=f"{type(error).__name__}: {error}"[:2000],
        )
    preview.refresh_from_db()
    return preview


def _run(preview: ImpactPreview, on_progress: Callable[[int, int], None] | None) -> None:
    timer = _Timer()
    began = time.perf_counter()
    draft_version = preview.rubric_version
    baseline_version = preview.baseline_version
    draft = rubrics.version_structure(version=draft_version)
    baseline = (
        rubrics.frozen_structure(version=baseline_version) if baseline_version is not None else None
    )
    plan = _plan(draft, baseline)
    since = timezone.now() - timedelta(days=preview.days)
    briefs = conversations.closed_conversations_brief(
        since=since, limit=settings.QA_IMPACT_MAX_CONVERSATIONS
    )
    briefs.sort(key=lambda b: b.pk)  # the transcripts stream in conversation order
    total = len(briefs)
    ImpactPreview.objects.filter(pk=preview.pk).update(total=total)
    ids = [b.pk for b in briefs]
    human = stored_human_answers(conversation_ids=ids, rubric_id=draft_version.rubric_id)
    ai = (
        intelligence.adherence_outcomes(conversation_ids=ids, rubric_version_id=baseline_version.pk)
        if baseline_version is not None
        else {}
    )
    mark = timer.add("read", began)

    lines_of: Iterable[tuple[int, list[Any]]] = (
        conversations.agent_lines_by_conversation(conversation_ids=ids)
        if plan.needs_transcripts
        else ()
    )
    stream = iter(lines_of)
    pending = next(stream, None)
    mark = timer.add("read", mark)
    score_after = _Scorer(draft)
    score_before = _Scorer(baseline) if baseline is not None else None
    rows: list[ImpactRow] = []
    for done, brief in enumerate(briefs, start=1):
        lines: list[Line] = []
        if plan.needs_transcripts:
            while pending is not None and pending[0] < brief.pk:
                pending = next(stream, None)
            if pending is not None and pending[0] == brief.pk:
                lines = [Line(*line) for line in pending[1]]
                pending = next(stream, None)
            mark = timer.add("read", mark)
        participant_type = agent_type_of(brief.participant_types)
        stored = {
            k: v
            for k, v in (ai.get(brief.pk, {}) | human.get(brief.pk, {})).items()
            if v in _OUTCOMES
        }
        after: dict[str, str | None] = {key: stored.get(key) for key in plan.status}
        for key in plan.unjudged:
            after[key] = None
        before: dict[str, str | None] = dict(stored)
        for spec in plan.check_after:
            after[spec.key] = str(
                check_criterion(spec, lines, participant_type=participant_type).outcome
            )
        for spec in plan.check_before:
            before[spec.key] = str(
                check_criterion(spec, lines, participant_type=participant_type).outcome
            )
        mark = timer.add("check", mark)
        scored_after = score_after(after, participant_type)
        scored_before = (
            score_before(before, participant_type)
            if score_before is not None
            else _Scored(None, frozenset())
        )
        mark = timer.add("score", mark)
        rows.append(
            ImpactRow(
                preview_id=preview.pk,
                conversation_id=brief.pk,
                agent_id=brief.agent_id,
                team_id=brief.team_id if brief.team_id is not None else brief.agent_team_id,
                before=scored_before.score,
                after=scored_after.score,
                newly_failing=sorted(scored_after.failing - scored_before.failing),
            )
        )
        if done % PROGRESS_EVERY == 0 or done == total:
            ImpactPreview.objects.filter(pk=preview.pk, status=PreviewStatus.RUNNING).update(
                done=done
            )
            if on_progress is not None:
                on_progress(done, total)
            mark = timer.add("progress", mark)

    summary = _summary(plan, rows, timer)
    summary["limit"] = settings.QA_IMPACT_MAX_CONVERSATIONS
    summary["capped"] = total >= settings.QA_IMPACT_MAX_CONVERSATIONS
    mark = timer.add("summary", mark)
    with transaction.atomic():
        # Guarded: another run that took the preview over (or a cancel) wins.
        finished = ImpactPreview.objects.filter(pk=preview.pk, status=PreviewStatus.RUNNING).update(
            status=PreviewStatus.DONE,
            done=total,
            total=total,
            finished_at=timezone.now(),
            summary=summary,
        )
        if not finished:
            transaction.set_rollback(True)
            return
        ImpactRow.objects.filter(preview_id=preview.pk).delete()
        _insert(rows)
        mark = timer.add("write", mark)
        summary["seconds"] = {k: round(v, 3) for k, v in timer.seconds.items()}
        summary["seconds"]["total"] = round(time.perf_counter() - began, 3)
        ImpactPreview.objects.filter(pk=preview.pk).update(summary=summary)


def _insert(rows: Sequence[ImpactRow]) -> None:
    """The rows with COPY: ten thousand in a fraction of a second, where INSERTs take seconds."""
    table = ImpactRow._meta.db_table
    columns = ("preview_id", "conversation_id", "agent_id", "team_id", "before", "after")
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        with raw.copy(f"COPY {table} ({', '.join(columns)}, newly_failing) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row.preview_id,
                        row.conversation_id,
                        row.agent_id,
                        row.team_id,
                        row.before,
                        row.after,
                        row.newly_failing,
                    )
                )


# The summary -----------------------------------------------------------------------------------


def _number(value: float | None, places: int = 1) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, places)


def _group(
    rows: Sequence[ImpactRow], key: Callable[[ImpactRow], int | None]
) -> dict[int | None, dict[str, Any]]:
    groups: dict[int | None, list[ImpactRow]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return {k: _figures(members) for k, members in groups.items()}


def _figures(rows: Sequence[ImpactRow]) -> dict[str, Any]:
    befores = [float(r.before) for r in rows if r.before is not None]
    afters = [float(r.after) for r in rows if r.after is not None]
    deltas = [
        float(r.after) - float(r.before)
        for r in rows
        if r.before is not None and r.after is not None
    ]
    low, high = stats.mean_interval(deltas) if len(deltas) >= 2 else (math.nan, math.nan)
    # A score moves by 100 points at most: the t interval knows no bounds, the page should.
    low, high = max(low, -100.0), min(high, 100.0)
    return {
        "conversations": len(rows),
        "n": len(deltas),
        "before": _number(sum(befores) / len(befores)) if befores else None,
        "after": _number(sum(afters) / len(afters)) if afters else None,
        "delta": _number(sum(deltas) / len(deltas), 2) if deltas else None,
        "low": _number(low, 2),
        "high": _number(high, 2),
        "newly_failing": sum(1 for r in rows if r.newly_failing),
    }


def _sort_by_delta(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The biggest drops first; groups without a delta last."""
    return sorted(
        entries,
        key=lambda e: (e["delta"] is None, e["delta"] if e["delta"] is not None else 0, e["name"]),
    )


def _summary(plan: _Plan, rows: Sequence[ImpactRow], timer: _Timer) -> dict[str, Any]:
    team_figures = _group(rows, lambda r: r.team_id)
    agent_figures = _group(rows, lambda r: r.agent_id)
    team_names = accounts.team_names(ids=[k for k in team_figures if k is not None])
    agent_names = accounts.agent_names(ids=[k for k in agent_figures if k is not None])
    teams = [
        {"id": k, "name": team_names.get(k, "No team") if k else "No team", **v}
        for k, v in team_figures.items()
    ]
    agents = []
    for k, v in agent_figures.items():
        name, team_id = agent_names.get(k, ("No agent", None)) if k else ("No agent linked", None)
        agents.append(
            {"id": k, "name": name, "team": team_names.get(team_id) if team_id else None, **v}
        )
    failing: dict[str, int] = defaultdict(int)
    for row in rows:
        for key in row.newly_failing:
            failing[key] += 1
    names = {c.key: c.name for c in plan.draft.criteria}
    if plan.baseline is not None:
        names = {c.key: c.name for c in plan.baseline.criteria} | names
    return {
        "overall": _figures(rows),
        "teams": _sort_by_delta(teams),
        "agents": _sort_by_delta(agents),
        "newly_failing": [
            {"key": key, "name": names.get(key, key), "count": count}
            for key, count in sorted(failing.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "criteria": {
            "changed": [k for k, s in plan.status.items() if s == CHANGED],
            "new": [k for k, s in plan.status.items() if s == NEW],
            "removed": plan.removed,
            "unchanged": sum(1 for s in plan.status.values() if s == UNCHANGED),
            "checked": [c.key for c in plan.check_after],
            "unjudged": plan.unjudged,
            "names": names,
        },
        "seconds": {k: round(v, 3) for k, v in timer.seconds.items()},
    }
