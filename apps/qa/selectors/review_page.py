"""Everything the review page shows, in one read: the transcript with line numbers and the
handoff seam, the form (segments → sections → criteria, each with the AI's suggestion and the
answer), the scores, the history of revisions and disputes, and what the reader may do.

A draft shows its saved draft; a submitted review its current revision, or an earlier one
(``revision``), which is how the history is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.conversations import selectors as conversations
from apps.relay import selectors as relay
from apps.rubrics.choices import Outcome
from apps.rubrics.structure import CriterionSpec

from .. import answers as A
from .. import seam as seams
from ..choices import DisputeStatus, ReviewStatus, Segment, TrustTier
from ..services import (
    ai_outcomes,
    criterion_tier,
    dispute_deadline,
    draft_answers,
    may_decide,
    review_structure,
    revision_answers,
)

if TYPE_CHECKING:
    from apps.accounts.scoping import Person
    from apps.conversations.models import Communication

    from ..models import Dispute, Review, ReviewRevision

OUTCOME_LABELS: dict[str, str] = {Outcome.MET: "Met", Outcome.NOT_MET: "Not met", Outcome.NA: "N/A"}
OUTCOME_COLOURS: dict[str, str] = {
    Outcome.MET: "success",
    Outcome.NOT_MET: "danger",
    Outcome.NA: "secondary",
}


@dataclass(frozen=True)
class LineRef:
    pk: int
    number: int | None  # its number in the transcript shown (None: not a line of it)
    quote: str
    found: bool = True


@dataclass(frozen=True)
class AiView:
    outcome: str | None
    reason: str
    evidence: list[LineRef]

    @property
    def label(self) -> str:
        return (
            OUTCOME_LABELS.get(self.outcome, "No suggestion") if self.outcome else "No suggestion"
        )

    @property
    def colour(self) -> str:
        return OUTCOME_COLOURS.get(self.outcome, "secondary") if self.outcome else "secondary"


@dataclass
class CriterionView:
    key: str
    spec: CriterionSpec
    answer: A.Answer
    ai: AiView | None
    evidence: list[LineRef]
    disputed: list[Any] = field(default_factory=list)  # DisputeItem rows about it
    errors: list[str] = field(default_factory=list)  # what a failed save or submit said
    typed_evidence: str | None = None  # what a failed save or submit sent, shown again
    tier: str = TrustTier.REVIEW  # the AI's trust tier for it when the review started

    @property
    def trusted(self) -> bool:
        return self.tier == TrustTier.TRUSTED

    @property
    def foldable(self) -> bool:
        """A trusted criterion the AI answered: its answer is accepted, shown in a fold."""
        return self.trusted and self.ai is not None and self.ai.outcome is not None

    @property
    def collapsed(self) -> bool:
        """Folded: still on the AI's answer, with nothing to fix."""
        return (
            self.foldable
            and self.ai is not None
            and self.answer.outcome == self.ai.outcome
            and not self.errors
        )

    @property
    def overridden(self) -> bool:
        return (
            self.ai is not None
            and self.ai.outcome is not None
            and self.answer.outcome is not None
            and self.answer.outcome != self.ai.outcome
        )

    @property
    def outcome_label(self) -> str:
        return (
            OUTCOME_LABELS.get(self.answer.outcome, "Unanswered")
            if self.answer.outcome
            else "Unanswered"
        )

    @property
    def outcome_colour(self) -> str:
        return (
            OUTCOME_COLOURS.get(self.answer.outcome, "warning")
            if self.answer.outcome
            else "warning"
        )

    @property
    def evidence_numbers(self) -> str:
        if self.typed_evidence is not None:
            return self.typed_evidence
        return ", ".join(str(ref.number) for ref in self.evidence if ref.number is not None)

    def retype(self, outcome: str | None, comment: str | None, evidence: str | None) -> None:
        """Show what a form sent instead of what is saved (after a failed save or submit)."""
        self.answer = A.Answer(
            outcome if outcome in A.OUTCOMES else None,
            comment if comment is not None else self.answer.comment,
            self.answer.evidence,
        )
        self.typed_evidence = evidence


@dataclass
class SectionView:
    key: str
    name: str
    description: str
    criteria: list[CriterionView]


@dataclass
class SegmentView:
    key: str
    label: str
    sections: list[SectionView]
    score: A.SegmentScore

    @property
    def criteria(self) -> list[CriterionView]:
        return [c for section in self.sections for c in section.criteria]


@dataclass
class ReviewPage:
    review: Review
    lines: list[Communication]
    numbers: dict[int, int]
    segments: list[SegmentView]
    revision: ReviewRevision | None  # the one shown (None: the draft)
    revisions: list[ReviewRevision]
    disputes: list[Dispute]
    strengths: str
    improvements: str
    seam: seams.Seam | None
    ai: dict[str, Any]
    agreement: tuple[int, int]  # (kept the AI's answer, changed it) over criteria it answered
    dispute_deadline: datetime | None
    actions: dict[str, bool]
    criterion_names: dict[str, str]
    ai_hidden: bool = False  # a blind calibration session, still open

    @property
    def is_draft(self) -> bool:
        return self.review.status == ReviewStatus.DRAFT

    @property
    def headline(self) -> A.SegmentScore:
        return next(
            s.score for s in self.segments if s.key == A.primary_segment(self.review.segments)
        )

    @property
    def criteria(self) -> list[CriterionView]:
        return [c for segment in self.segments for c in segment.criteria]

    @property
    def open_disputes(self) -> list[Dispute]:
        return [d for d in self.disputes if d.status == DisputeStatus.OPEN]


def _line_ref(
    pk: Any, numbers: dict[int, int], texts: dict[int, str], quote: str = "", found: bool = True
) -> LineRef | None:
    if not isinstance(pk, int):
        return None
    return LineRef(pk=pk, number=numbers.get(pk), quote=quote or texts.get(pk, ""), found=found)


def _ai_view(item: Any, numbers: dict[int, int], texts: dict[int, str]) -> AiView | None:
    if not isinstance(item, dict):
        return None
    evidence = []
    for e in item.get("evidence") or []:
        if isinstance(e, dict) and (
            ref := _line_ref(
                e.get("communication"),
                numbers,
                texts,
                str(e.get("quote") or ""),
                bool(e.get("found", True)),
            )
        ):
            evidence.append(ref)
    outcome = item.get("outcome")
    return AiView(
        outcome=outcome if outcome in A.OUTCOMES else None,
        reason=str(item.get("reason") or ""),
        evidence=evidence,
    )


def _seam(review: Review, lines: list[Communication]) -> seams.Seam | None:
    if Segment.AI_AGENT not in review.segments:
        return None
    conversation = review.conversation
    handoffs = relay.handoffs_of(
        conversation_id=conversation.pk, call_sids=list(conversation.call_sids)
    )
    handoff = handoffs[0] if handoffs else None
    context = (
        seams.HandoffContext(
            reason=handoff.reason or handoff.reason_code,
            summary=handoff.summary,
            sentiment=handoff.sentiment,
            at=handoff.created_at,
        )
        if handoff is not None
        else None
    )
    return seams.find_seam(
        [
            seams.SeamLine(
                pk=line.pk,
                author_type=line.author.type if line.author else None,
                at=line.occurred_at,
                duration_ms=line.duration_ms,
                text=line.text,
            )
            for line in lines
        ],
        context,
    )


def ai_hidden(review: Review) -> bool:
    """The AI's answers are not shown in a blind calibration session until it closes: they are
    another participant's answers."""
    session = review.calibration if review.calibration_id is not None else None
    return session is not None and session.blind and session.is_open


def review_page(*, user: Person, review: Review, revision_number: int | None = None) -> ReviewPage:
    """The review page of ``review`` (already read with ``review_get`` for ``user``)."""
    lines = list(conversations.communication_timeline(conversation=review.conversation))
    numbers = {line.pk: i for i, line in enumerate(lines, start=1)}
    texts = {line.pk: line.text for line in lines}
    structure = review_structure(review)
    keys = A.form_keys(structure, review.segments)
    revisions = list(review.revisions.all())
    shown: ReviewRevision | None = None
    if review.status == ReviewStatus.SUBMITTED and revisions:
        shown = next((r for r in revisions if r.number == revision_number), revisions[-1])
        answers = revision_answers(shown)
        strengths, improvements = shown.strengths, shown.improvements
    else:
        answers = draft_answers(review)
        draft = review.draft if isinstance(review.draft, dict) else {}
        strengths, improvements = draft.get("strengths", ""), draft.get("improvements", "")
    ai = review.ai if isinstance(review.ai, dict) else {}
    hidden = ai_hidden(review)
    if hidden:
        ai = {}
    ai_criteria = ai.get("criteria") or {}
    disputes = list(review.disputes.all())
    disputed: dict[str, list[Any]] = {}
    for dispute in disputes:
        for item in dispute.items.all():
            disputed.setdefault(A.answer_key(item.segment, item.criterion_key), []).append(item)
    scores = A.segment_scores(structure, review.segments, answers)
    segments = []
    for segment in review.segments:
        sections = []
        for section in structure.sections:
            criteria = []
            for spec in section.criteria:
                if not A.applies(spec, segment):
                    continue
                key = A.answer_key(segment, spec.key)
                answer = answers.get(key, A.Answer(None))
                # Tiers are about the AI's answers: only the segment it judged has them.
                tier = (
                    criterion_tier(review, spec.key)
                    if ai.get("segment") == segment
                    else TrustTier.REVIEW
                )
                # MANUAL: people judge it without the AI's answer (shown once submitted).
                manual_draft = tier == TrustTier.MANUAL and review.status == ReviewStatus.DRAFT
                criteria.append(
                    CriterionView(
                        key=key,
                        spec=spec,
                        answer=answer,
                        ai=_ai_view(ai_criteria.get(spec.key), numbers, texts)
                        if ai.get("segment") == segment and not manual_draft
                        else None,
                        tier=tier,
                        evidence=[
                            ref for pk in answer.evidence if (ref := _line_ref(pk, numbers, texts))
                        ],
                        disputed=disputed.get(key, []),
                    )
                )
            if criteria:
                sections.append(
                    SectionView(section.key, section.name, section.description, criteria)
                )
        segments.append(SegmentView(segment, Segment(segment).label, sections, scores[segment]))
    kept = changed = 0
    for key, ai_outcome in (ai_outcomes(review, keys) if ai else {}).items():
        given = answers.get(key, A.Answer(None)).outcome
        if ai_outcome is None or given is None:
            continue
        if given == ai_outcome:
            kept += 1
        else:
            changed += 1
    return ReviewPage(
        review=review,
        lines=lines,
        numbers=numbers,
        segments=segments,
        revision=shown,
        revisions=revisions,
        disputes=disputes,
        strengths=strengths,
        improvements=improvements,
        seam=_seam(review, lines),
        ai=ai,
        agreement=(kept, changed),
        dispute_deadline=dispute_deadline(review),
        actions=_actions(user, review, disputes),
        criterion_names={c.key: c.name for c in structure.criteria},
        ai_hidden=hidden,
    )


def _actions(user: Person, review: Review, disputes: list[Dispute]) -> dict[str, bool]:
    submitted = review.status == ReviewStatus.SUBMITTED
    is_reviewer = review.reviewer_id == user.pk
    manager = can_use(user, "qa_manage")
    is_agent = (
        review.agent is not None
        and review.agent.user_id is not None
        and review.agent.user_id == user.pk
    )
    open_count = sum(1 for d in disputes if d.status == DisputeStatus.OPEN)
    deadline = dispute_deadline(review)
    released = review.is_released
    return {
        "edit": review.status == ReviewStatus.DRAFT and is_reviewer,
        "revise": submitted and (is_reviewer or manager),
        "release": submitted
        and not released
        and not review.is_calibration
        and (is_reviewer or manager),
        "acknowledge": is_agent
        and released
        and review.acknowledged_revision != review.revision_count,
        "dispute": is_agent
        and released
        and deadline is not None
        and timezone.now() <= deadline
        and open_count < settings.QA_DISPUTE_MAX_OPEN,
        "decide": submitted and may_decide(user, review),
        "is_agent": is_agent,
    }
