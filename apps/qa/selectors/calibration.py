"""Reads of calibration sessions: the list, each participant's progress, and the results
(agreement per criterion, alignment with the benchmark, the strictest and most lenient, the
most disputed criteria, and the answer grid), scoped by ``CalibrationSession.objects.for_user``.

Who sees the answers: the participants once the session is closed (or at once in an open,
not blind session); admins who do not take part at any time (they run the session and answer
nothing). ``results_visible`` is the one rule; the pages and the API ask it before reading.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.rubrics import selectors as rubrics

from .. import answers as A
from .. import stats
from ..choices import CalibrationStatus, ItemStatus, Segment
from ..models import (
    CalibrationBenchmark,
    CalibrationConversation,
    CalibrationParticipant,
    CalibrationSession,
    QueueItem,
)
from ..services.calibration import majority, session_answers

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

AI = "ai"  # the AI's rater key beside the participants' user ids
CATEGORIES = ("MET", "NOT_MET", "NA")
DISPUTED_SHOWN = 3


def _count(rows: QuerySet[Any], by: str = "session_id") -> Any:
    return Coalesce(
        Subquery(
            rows.order_by().values(by).annotate(n=Count("pk")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def session_list(*, user: Person, status: str = "") -> QuerySet[CalibrationSession]:
    """Sessions ``user`` may see, newest first, each with its conversation, participant and
    answer counts (one query)."""
    sessions = (
        CalibrationSession.objects.for_user(user)
        .select_related("rubric_version__rubric", "created_by", "expert")
        .annotate(
            conversation_count=_count(
                CalibrationConversation.objects.filter(session_id=OuterRef("pk"))
            ),
            participant_count=_count(
                CalibrationParticipant.objects.filter(session_id=OuterRef("pk"))
            ),
            answered_count=_count(
                QueueItem.objects.filter(calibration_id=OuterRef("pk"), status=ItemStatus.DONE),
                by="calibration_id",
            ),
        )
        .order_by("-created_at", "-id")
    )
    if status in CalibrationStatus.values:
        sessions = sessions.filter(status=status)
    return sessions


def session_get(*, user: Person, pk: int) -> CalibrationSession:
    """One session ``user`` may see, with its conversations and participants; 404 otherwise."""
    session = (
        session_list(user=user)
        .prefetch_related(
            Prefetch(
                "session_conversations",
                queryset=CalibrationConversation.objects.select_related("conversation").order_by(
                    "position", "id"
                ),
            ),
            Prefetch(
                "participants",
                queryset=CalibrationParticipant.objects.select_related("user").order_by(
                    "user__first_name", "user__username", "id"
                ),
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if session is None:
        raise NotFound("No such calibration session.")
    return session


def is_participant(session: CalibrationSession, user: Person) -> bool:
    return any(p.user_id == user.pk for p in session.participants.all())


def results_visible(session: CalibrationSession, user: Person) -> bool:
    """Whether ``user`` may read the session's answers and results now."""
    if not session.is_open or not session.blind:
        return True
    return can_use(user, "qa_calibration_admin") and not is_participant(session, user)


# Progress ----------------------------------------------------------------------------------------


@dataclass
class ParticipantProgress:
    user: Any
    answered: int
    total: int
    items: list[QueueItem]  # theirs, in the session's order of conversations

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.total) if self.total else 0


def session_progress(session: CalibrationSession) -> list[ParticipantProgress]:
    """Each participant's answered of total, with their items (one query)."""
    items = list(
        QueueItem.objects.filter(calibration_id=session.pk)
        .select_related("review", "conversation")
        .order_by("conversation_id", "id")
    )
    order = {c.conversation_id: c.position for c in session.session_conversations.all()}
    by_user: dict[int, list[QueueItem]] = {}
    for item in items:
        if item.assignee_id is not None:
            by_user.setdefault(item.assignee_id, []).append(item)
    total = len(order)
    rows = []
    for participant in session.participants.all():
        mine = sorted(
            by_user.get(participant.user_id, []), key=lambda i: order.get(i.conversation_id, 0)
        )
        rows.append(
            ParticipantProgress(
                user=participant.user,
                answered=sum(1 for i in mine if i.status == ItemStatus.DONE),
                total=total,
                items=mine,
            )
        )
    return rows


# Results -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rater:
    key: int | str  # a user id, or AI
    name: str

    @property
    def is_ai(self) -> bool:
        return self.key == AI


@dataclass
class CriterionAgreement:
    key: str  # "SEGMENT:criterion"
    name: str
    segment_label: str
    units: int  # conversations at least two raters answered
    pairs: int  # pairs of answers compared
    agreement: float | None  # mean pairwise agreement
    fleiss: float | None  # conversations every rater answered
    fleiss_units: int
    alpha: float | None  # missing answers allowed
    few: bool

    @property
    def percent(self) -> int | None:
        return None if self.agreement is None else round(100 * self.agreement)


@dataclass
class Alignment:
    rater: Rater
    n: int
    agreement: float | None
    kappa: float | None
    low: float | None
    high: float | None
    few: bool
    mean_delta: float | None  # their mean score minus the reference's, in points
    stricter: int  # NOT_MET where the reference says MET
    lenient: int  # MET where the reference says NOT_MET
    reference_met: int
    reference_not_met: int

    @property
    def percent(self) -> int | None:
        return None if self.agreement is None else round(100 * self.agreement)

    @property
    def strict_share(self) -> float | None:
        return self.stricter / self.reference_met if self.reference_met else None


@dataclass
class GridRow:
    key: str
    name: str
    answers: list[str | None]  # in the raters' order
    benchmark: str | None
    note: str
    disputed: bool


@dataclass
class GridConversation:
    entry: CalibrationConversation
    rows: list[GridRow]


@dataclass
class Results:
    raters: list[Rater]
    criteria: list[CriterionAgreement]
    alignment: list[Alignment]
    disputed: list[CriterionAgreement]
    grid: list[GridConversation]
    reference: str  # "benchmark" or "majority" (before one is set)
    benchmark_count: int
    units_total: int
    strictest: Alignment | None = None
    most_lenient: Alignment | None = None
    answered: dict[Any, int] = field(default_factory=dict)

    @property
    def overall_alpha(self) -> float | None:
        values = [c.alpha for c in self.criteria if c.alpha is not None]
        return sum(values) / len(values) if values else None


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _pairwise(outcomes: list[str]) -> tuple[int, int]:
    """(agreeing pairs, pairs) among one unit's answers."""
    n = len(outcomes)
    counts = Counter(outcomes)
    return sum(c * (c - 1) // 2 for c in counts.values()), n * (n - 1) // 2


def _ai_answers(entry: CalibrationConversation) -> dict[str, str]:
    ai = entry.ai if isinstance(entry.ai, dict) else {}
    segment = ai.get("segment")
    found = {}
    for criterion, item in (ai.get("criteria") or {}).items():
        outcome = item.get("outcome") if isinstance(item, dict) else None
        if segment and outcome in A.OUTCOMES:
            found[A.answer_key(segment, criterion)] = outcome
    return found


def session_results(session: CalibrationSession) -> Results:
    """The session's figures (ask ``results_visible`` first). A fixed number of queries."""
    structure = rubrics.frozen_structure(version=session.rubric_version)
    entries = list(session.session_conversations.all())
    participants = list(session.participants.all())
    raters = [Rater(p.user_id, str(p.user)) for p in participants]
    if session.include_ai:
        raters.append(Rater(AI, "The AI"))
    given = session_answers(session)
    answers: dict[Any, dict[tuple[int, str], str]] = {
        r.key: given.get(int(r.key), {}) for r in raters if not r.is_ai
    }
    if session.include_ai:
        answers[AI] = {
            (entry.conversation_id, key): outcome
            for entry in entries
            for key, outcome in _ai_answers(entry).items()
        }
    benchmarks = {
        (b.conversation_id, A.answer_key(b.segment, b.criterion_key)): b
        for b in CalibrationBenchmark.objects.filter(session=session)
    }
    keys_of = {e.conversation_id: A.form_keys(structure, e.segments) for e in entries}
    # The reference a participant is measured against: the benchmark once there is one, else
    # the people's majority so far.
    reference: dict[tuple[int, str], str] = {u: b.outcome for u, b in benchmarks.items()}
    reference_kind = "benchmark"
    if not reference:
        reference_kind = "majority"
        for entry in entries:
            for key in keys_of[entry.conversation_id]:
                unit = (entry.conversation_id, key)
                people = [
                    answers[r.key][unit] for r in raters if not r.is_ai and unit in answers[r.key]
                ]
                if (winner := majority(people)) is not None:
                    reference[unit] = winner
    # Agreement per criterion (answer key), over the session's conversations.
    ordered_keys: list[str] = []
    spec_of: dict[str, Any] = {}
    for entry in entries:
        for key, spec in keys_of[entry.conversation_id].items():
            if key not in spec_of:
                ordered_keys.append(key)
                spec_of[key] = spec
    segments_used = {A.split_key(k)[0] for k in ordered_keys}
    criteria = []
    for key in ordered_keys:
        units = [e.conversation_id for e in entries if key in keys_of[e.conversation_id]]
        agree = pairs = pairable = 0
        complete: list[list[int]] = []
        reliability = [[answers[r.key].get((u, key)) for u in units] for r in raters]
        for index in range(len(units)):
            outcomes = [row[index] for row in reliability if row[index] is not None]
            if len(outcomes) >= 2:
                a, p = _pairwise(outcomes)  # type: ignore[arg-type]
                agree += a
                pairs += p
                pairable += 1
            if len(outcomes) == len(raters) and len(raters) >= 2:
                complete.append([outcomes.count(c) for c in CATEGORIES])
        fleiss = _none_if_nan(stats.fleiss_kappa(complete)) if complete else None
        try:
            alpha = _none_if_nan(stats.krippendorff_alpha(reliability)) if pairable else None
        except ValueError:
            alpha = None
        segment = A.split_key(key)[0]
        criteria.append(
            CriterionAgreement(
                key=key,
                name=spec_of[key].name,
                segment_label=Segment(segment).label if len(segments_used) > 1 else "",
                units=pairable,
                pairs=pairs,
                agreement=agree / pairs if pairs else None,
                fleiss=fleiss,
                fleiss_units=len(complete),
                alpha=alpha,
                few=pairs < stats.MIN_PAIRS,
            )
        )
    disputed = sorted(
        (c for c in criteria if c.agreement is not None and c.agreement < 1),
        key=lambda c: (c.agreement, c.alpha if c.alpha is not None else 1, c.key),
    )[:DISPUTED_SHOWN]
    # Each rater against the reference.
    alignment = []
    for rater in raters:
        mine = answers[rater.key]
        pairs_ = [(mine[u], reference[u]) for u in reference if u in mine]
        summary = stats.pair_agreement(pairs_, resamples=500) if pairs_ else None
        scores = _scores(structure, entries, mine)
        # The reference scored on the same criteria only: a rater who left a criterion
        # unanswered (the AI, where it has no check) is not lenient for that.
        reference_scores = _scores(
            structure, entries, {u: o for u, o in reference.items() if u in mine}
        )
        deltas = [
            float(mine_score - theirs)
            for c, mine_score in scores.items()
            if mine_score is not None and (theirs := reference_scores.get(c)) is not None
        ]
        met = [u for u, o in reference.items() if o == "MET" and u in mine]
        not_met = [u for u, o in reference.items() if o == "NOT_MET" and u in mine]
        alignment.append(
            Alignment(
                rater=rater,
                n=summary.n if summary else 0,
                agreement=summary.agreement if summary else None,
                kappa=summary.kappa if summary else None,
                low=summary.low if summary else None,
                high=summary.high if summary else None,
                few=summary.few if summary else True,
                mean_delta=sum(deltas) / len(deltas) if deltas else None,
                stricter=sum(1 for u in met if mine[u] == "NOT_MET"),
                lenient=sum(1 for u in not_met if mine[u] == "MET"),
                reference_met=len(met),
                reference_not_met=len(not_met),
            )
        )
    # Strictest and most lenient: the mean score against the reference's; the share of MET
    # answers they failed breaks ties.
    ranked = [a for a in alignment if a.mean_delta is not None]
    ranked.sort(key=lambda a: (a.mean_delta, -(a.strict_share or 0)))
    strictest = ranked[0] if ranked and ranked[0].mean_delta < 0 else None  # type: ignore[operator]
    lenient = ranked[-1] if ranked and ranked[-1].mean_delta > 0 else None  # type: ignore[operator]
    # The grid.
    grid = []
    for entry in entries:
        rows = []
        for key, spec in keys_of[entry.conversation_id].items():
            unit = (entry.conversation_id, key)
            row_answers = [answers[r.key].get(unit) for r in raters]
            mark = benchmarks.get(unit)
            benchmark = mark.outcome if mark else None
            distinct = {a for a in row_answers if a is not None}
            rows.append(
                GridRow(
                    key=key,
                    name=spec.name,
                    answers=row_answers,
                    benchmark=benchmark,
                    note=mark.note if mark else "",
                    disputed=len(distinct) > 1
                    or (benchmark is not None and any(d != benchmark for d in distinct)),
                )
            )
        grid.append(GridConversation(entry=entry, rows=rows))
    return Results(
        raters=raters,
        criteria=criteria,
        alignment=alignment,
        disputed=disputed,
        grid=grid,
        reference=reference_kind,
        benchmark_count=len(benchmarks),
        units_total=sum(len(k) for k in keys_of.values()),
        strictest=strictest,
        most_lenient=lenient,
        answered={r.key: len({u[0] for u in answers[r.key]}) for r in raters},
    )


def _scores(
    structure: Any, entries: list[CalibrationConversation], given: dict[tuple[int, str], str]
) -> dict[int, Decimal | None]:
    """Each conversation's score (its primary segment) from ``given`` answers, where any."""
    scores: dict[int, Decimal | None] = {}
    for entry in entries:
        mine = {
            key: A.Answer(outcome)
            for (conversation_id, key), outcome in given.items()
            if conversation_id == entry.conversation_id
        }
        if not mine or not entry.segments:
            continue
        result = A.segment_scores(structure, entry.segments, mine)
        scores[entry.conversation_id] = result[A.primary_segment(list(entry.segments))].result.score
    return scores


def my_open_items(*, user: Person, session: CalibrationSession) -> QuerySet[QueueItem]:
    return QueueItem.objects.filter(
        calibration_id=session.pk,
        assignee_id=user.pk,
        status__in=[ItemStatus.OPEN, ItemStatus.CLAIMED],
    )


__all__ = [
    "AI",
    "Alignment",
    "CriterionAgreement",
    "ParticipantProgress",
    "Results",
    "is_participant",
    "my_open_items",
    "results_visible",
    "session_get",
    "session_list",
    "session_progress",
    "session_results",
]
