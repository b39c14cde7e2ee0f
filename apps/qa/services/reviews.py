"""Reviews: started from a claimed item with the AI's answers prefilled, saved as drafts,
submitted (revision 1, frozen), revised with a reason, released to the agent, acknowledged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.scoping import can_use
from apps.common.audit import audit_reason
from apps.common.changes import conversations_changed
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations
from apps.intelligence import selectors as intelligence
from apps.rubrics import selectors as rubrics
from apps.rubrics.checks import agent_type_of
from apps.rubrics.structure import RubricStructure

from .. import answers as A
from ..choices import CalibrationStatus, ItemStatus, ReviewStatus, RevisionSource, TrustTier
from ..models import (
    CalibrationConversation,
    CalibrationSession,
    QueueItem,
    Review,
    ReviewAnswer,
    ReviewRevision,
)
from . import notify
from .trust import trust_recompute_soon, trust_tiers

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

REASON_MAX = 2000


# Reading what a review is judged on --------------------------------------------------------------


def review_structure(review: Review) -> RubricStructure:
    """The pinned version's criteria (published or retired: frozen, so kept per process)."""
    return rubrics.frozen_structure(version=review.rubric_version)


def review_keys(review: Review, structure: RubricStructure | None = None) -> dict[str, Any]:
    return A.form_keys(structure or review_structure(review), review.segments)


def draft_answers(review: Review) -> dict[str, A.Answer]:
    raw = review.draft.get("answers") if isinstance(review.draft, dict) else None
    return {key: A.answer_from_json(value) for key, value in (raw or {}).items()}


def ai_outcomes(review: Review, keys: Mapping[str, Any]) -> dict[str, str | None]:
    """The AI's outcome per answer key (None where it gave none, or for a segment it did not
    judge)."""
    ai = review.ai if isinstance(review.ai, dict) else {}
    criteria = ai.get("criteria") or {}
    segment = ai.get("segment")
    found: dict[str, str | None] = {}
    for key in keys:
        seg, criterion = A.split_key(key)
        item = criteria.get(criterion) if seg == segment else None
        outcome = item.get("outcome") if isinstance(item, dict) else None
        found[key] = outcome if outcome in A.OUTCOMES else None
    return found


def prefill_outcomes(review: Review, keys: Mapping[str, Any]) -> dict[str, str | None]:
    """The AI's outcomes a reviewer is shown and must explain a change of: those of
    ``ai_outcomes`` except the criteria trusted MANUAL when the review started (people judge
    those without the AI's answer; it is kept in ``ai`` only to go on measuring agreement)."""
    manual = _tiers(review).get("MANUAL", set())
    return {
        key: None if A.split_key(key)[1] in manual else outcome
        for key, outcome in ai_outcomes(review, keys).items()
    }


def _stored_tiers(review: Review) -> dict[str, Any]:
    ai = review.ai if isinstance(review.ai, dict) else {}
    tiers = ai.get("tiers")
    return tiers if isinstance(tiers, dict) else {}


def _tiers(review: Review) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for key, tier in _stored_tiers(review).items():
        found.setdefault(str(tier), set()).add(str(key))
    return found


def criterion_tier(review: Review, criterion_key: str) -> str:
    """The trust tier a criterion had when the review started (REVIEW when none was set)."""
    return str(_stored_tiers(review).get(criterion_key) or TrustTier.REVIEW)


def _line_pks(conversation_id: int) -> set[int]:
    return set(conversations.communication_ids(conversation_id=conversation_id))


# Starting ----------------------------------------------------------------------------------------


class NoRubric(Conflict):
    pass


def review_start(*, item: QueueItem, reviewer: Person) -> Review:
    """The review of an item ``reviewer`` claimed, made once: its draft prefilled with the AI's
    answers (the latest script-adherence result on the rubric version the conversation is
    judged by). With no rubric to review by, the item goes back to the queue and NoRubric says
    why."""
    try:
        return _review_start(item=item, reviewer=reviewer)
    except NoRubric:
        from .queue import queue_item_unclaim

        queue_item_unclaim(user=reviewer, item=item)
        raise


@transaction.atomic
def _review_start(*, item: QueueItem, reviewer: Person) -> Review:
    existing = Review.objects.filter(item=item).first()
    if existing is not None:
        return existing
    if item.status != ItemStatus.CLAIMED or item.claimed_by_id != reviewer.pk:
        raise Conflict("Claim the item before reviewing it.")
    if item.calibration_id is not None:
        return _calibration_review_start(item=item, reviewer=reviewer)
    conversation_id = item.conversation_id
    version_id = intelligence.review_rubric_version_id(conversation_id=conversation_id)
    if version_id is None:
        raise NoRubric(
            "There is no rubric to review this conversation against: publish a rubric first. "
            "It stays in the queue."
        )
    version = rubrics.version_by_id(pk=version_id)
    assert version is not None
    segments, ai = ai_answers(conversation_id=conversation_id, rubric_version_id=version_id)
    if ai:
        # The tiers as they stand now: TRUSTED criteria show collapsed, MANUAL ones unfilled.
        tiers = trust_tiers(version_id=version_id)
        ai["tiers"] = {k: t for k, t in tiers.items() if t != TrustTier.REVIEW}
    review = Review(
        conversation_id=conversation_id,
        item=item,
        rubric_version=version,
        reviewer=accounts.signed_in(reviewer),
        agent_id=item.agent_id,
        segments=segments,
        ai=ai,
    )
    keys = review_keys(review)
    review.draft = {
        "answers": {
            key: A.Answer(outcome).as_json()
            for key, outcome in prefill_outcomes(review, keys).items()
        },
        "strengths": "",
        "improvements": "",
    }
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError:  # started at the same moment by a second request of the reviewer's
        return Review.objects.get(item=item)
    return review


def _calibration_review_start(*, item: QueueItem, reviewer: Person) -> Review:
    """A calibration answer: the session's rubric version and the AI's answers as the session
    took them (kept for the agreement figures), but an empty form: a prefill would anchor the
    participant to the AI's answers, which is what calibration measures."""
    entry = (
        CalibrationConversation.objects.select_related("session")
        .filter(session_id=item.calibration_id, conversation_id=item.conversation_id)
        .first()
    )
    if entry is None:
        raise NotFound("This conversation is no longer part of the calibration session.")
    session = entry.session
    if session.status != CalibrationStatus.OPEN:
        raise Conflict("This calibration session is closed: its answers are final.")
    review = Review(
        conversation_id=item.conversation_id,
        item=item,
        rubric_version_id=session.rubric_version_id,
        reviewer=accounts.signed_in(reviewer),
        agent_id=item.agent_id,
        segments=list(entry.segments),
        ai=entry.ai if isinstance(entry.ai, dict) else {},
        calibration=session,
        is_calibration=True,
        draft={"answers": {}, "strengths": "", "improvements": ""},
    )
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError:  # one answer per participant and conversation
        return Review.objects.get(
            calibration=session, conversation_id=item.conversation_id, reviewer_id=reviewer.pk
        )
    return review


def calibration_still_open(review: Review) -> None:
    """A calibration answer changes only while its session is open."""
    if review.calibration_id is None:
        return
    if not CalibrationSession.objects.filter(
        pk=review.calibration_id, status=CalibrationStatus.OPEN
    ).exists():
        raise Conflict("This calibration session is closed: its answers are final.")


def ai_answers(*, conversation_id: int, rubric_version_id: int) -> tuple[list[str], dict[str, Any]]:
    """The segments a review of the conversation answers for, and the AI's answers to them as a
    review keeps them (``Review.ai``; empty when the AI has judged it by no result on that
    version): the latest script-adherence result on ``rubric_version_id``."""
    people = conversations.conversation_people(ids=[conversation_id])[conversation_id]
    segments = A.segments_for(people.participant_types)
    line_ids = {
        row.twilio_id: row.pk
        for row in conversations.transcript_rows(conversation_id=conversation_id)
    }
    suggestion = intelligence.adherence_suggestion(
        conversation_id=conversation_id, rubric_version_id=rubric_version_id, line_pks=line_ids
    )
    return segments, _ai_snapshot(suggestion, people.participant_types, segments)


def _ai_snapshot(
    suggestion: intelligence.AdherenceSuggestion | None,
    participant_types: frozenset[str],
    segments: list[str],
) -> dict[str, Any]:
    if suggestion is None:
        return {}
    # The operator judges the conversation as one kind of agent's (the human's when a human
    # took part); its answers prefill that segment only.
    segment = agent_type_of(participant_types) or segments[-1]
    return {
        "result": suggestion.result_pk,
        "source": suggestion.source,
        "operator": suggestion.operator,
        "operator_version": suggestion.operator_version,
        "when": suggestion.when.isoformat(),
        "final": suggestion.final,
        "score": suggestion.score,
        "segment": segment,
        "problems": list(suggestion.problems),
        "criteria": {
            key: {
                "outcome": c.outcome,
                "reason": c.reason,
                "evidence": [
                    {
                        "communication": e.communication_pk,
                        "quote": e.quote,
                        "found": e.found,
                        "score": e.score,
                    }
                    for e in c.evidence
                ],
            }
            for key, c in suggestion.criteria.items()
        },
    }


# Drafts ------------------------------------------------------------------------------------------


def review_locked(review: Review) -> Review:
    locked = Review.objects.select_for_update(of=("self",)).filter(pk=review.pk).first()
    if locked is None:
        raise NotFound("No such review.")
    return locked


def _require_reviewer(review: Review, user: Person) -> None:
    if review.reviewer_id != user.pk:
        raise PermissionDenied("Only its reviewer may change this review.")


def _apply(
    review: Review,
    *,
    answers: Mapping[str, Any] | None,
    strengths: str | None,
    improvements: str | None,
    base: dict[str, A.Answer],
    keys: dict[str, Any],
) -> tuple[dict[str, A.Answer], str, str]:
    """``base`` with the changes applied; ValidationFailed with every problem, nothing changed."""
    changes, errors = A.clean_answers(
        answers or {}, keys=keys, line_pks=_line_pks(review.conversation_id)
    )
    texts = {}
    for name, value in (("strengths", strengths), ("improvements", improvements)):
        if value is not None and len(value) > A.FEEDBACK_MAX:
            errors[name] = [f"At most {A.FEEDBACK_MAX} characters."]
        texts[name] = value
    if errors:
        raise ValidationFailed(errors)
    result = dict(base)
    for key, change in changes.items():
        result[key] = A.merged(result.get(key, A.Answer(None)), change)
    draft = review.draft if isinstance(review.draft, dict) else {}
    return (
        result,
        (
            texts["strengths"] if texts["strengths"] is not None else draft.get("strengths", "")
        ).strip(),
        (
            texts["improvements"]
            if texts["improvements"] is not None
            else draft.get("improvements", "")
        ).strip(),
    )


@transaction.atomic
def review_draft_save(
    *,
    user: Person,
    review: Review,
    answers: Mapping[str, Any] | None = None,
    strengths: str | None = None,
    improvements: str | None = None,
) -> Review:
    """Save what the reviewer changed in a draft (only the parts given change)."""
    review = review_locked(review)
    _require_reviewer(review, user)
    if review.status != ReviewStatus.DRAFT:
        raise Conflict("This review is submitted: change it with a new revision and a reason.")
    calibration_still_open(review)
    keys = review_keys(review)
    merged, strengths_text, improvements_text = _apply(
        review,
        answers=answers,
        strengths=strengths,
        improvements=improvements,
        base=draft_answers(review),
        keys=keys,
    )
    now = timezone.now()
    review.draft = {
        "answers": {key: answer.as_json() for key, answer in merged.items() if key in keys},
        "strengths": strengths_text,
        "improvements": improvements_text,
    }
    Review.objects.filter(pk=review.pk, status=ReviewStatus.DRAFT).update(
        draft=review.draft, draft_saved_at=now, updated_at=now
    )
    review.draft_saved_at = now
    return review


# Revisions ---------------------------------------------------------------------------------------


def revision_write(
    review: Review,
    *,
    answers: Mapping[str, A.Answer],
    strengths: str,
    improvements: str,
    source: str,
    reason: str,
    user: Any,
    keys: dict[str, Any],
    structure: RubricStructure,
    dispute_id: int | None = None,
) -> ReviewRevision:
    """Freeze ``answers`` as the review's next revision and make it current."""
    scores = A.segment_scores(structure, review.segments, answers)
    primary = scores[A.primary_segment(review.segments)].result
    passed = all(score.result.passed_critical for score in scores.values())
    number = review.revision_count + 1
    revision = ReviewRevision.objects.create(
        review=review,
        number=number,
        source=source,
        reason=reason[:REASON_MAX],
        created_by=user if getattr(user, "pk", None) else None,
        score=primary.score,
        passed_critical=passed,
        segment_scores={segment: score.as_json() for segment, score in scores.items()},
        strengths=strengths,
        improvements=improvements,
        dispute_id=dispute_id,
    )
    ai = ai_outcomes(review, keys)
    ReviewAnswer.objects.bulk_create(
        ReviewAnswer(
            revision=revision,
            segment=A.split_key(key)[0],
            criterion_key=A.split_key(key)[1],
            outcome=answer.outcome,
            ai_outcome=ai.get(key) or "",
            agreed=None if ai.get(key) is None else ai.get(key) == answer.outcome,
            comment=answer.comment,
            evidence=list(answer.evidence),
            position=position,
        )
        for position, key in enumerate(keys)
        if (answer := answers.get(key)) is not None and answer.outcome is not None
    )
    now = timezone.now()
    Review.objects.filter(pk=review.pk, revision_count=review.revision_count).update(
        current_revision=revision,
        revision_count=number,
        score=primary.score,
        passed_critical=passed,
        updated_at=now,
    )
    review.current_revision = revision
    review.revision_count = number
    review.score = primary.score
    review.passed_critical = passed
    conversations_changed([review.conversation_id])
    return revision


def current_revision(review: Review) -> ReviewRevision:
    """The revision a submitted review shows, with its answers."""
    if review.current_revision_id is None:
        raise Conflict("This review has no submitted revision yet.")
    return ReviewRevision.objects.prefetch_related("answers").get(pk=review.current_revision_id)


def revision_answers(revision: ReviewRevision) -> dict[str, A.Answer]:
    return {
        A.answer_key(a.segment, a.criterion_key): A.Answer(a.outcome, a.comment, tuple(a.evidence))
        for a in revision.answers.all()
    }


@transaction.atomic
def review_submit(
    *,
    user: Person,
    review: Review,
    answers: Mapping[str, Any] | None = None,
    strengths: str | None = None,
    improvements: str | None = None,
) -> Review:
    """Submit a draft (with any last changes): every criterion answered, every change of the
    AI's answer explained. Writes revision 1, finishes the conversation's queue items, resolves
    its flags, and releases the review to the agent (now, or after QA_RELEASE_DELAY_HOURS)."""
    review = review_locked(review)
    _require_reviewer(review, user)
    if review.status != ReviewStatus.DRAFT:
        raise Conflict("This review is submitted already.")
    calibration_still_open(review)
    structure = review_structure(review)
    keys = review_keys(review, structure)
    final, strengths_text, improvements_text = _apply(
        review,
        answers=answers,
        strengths=strengths,
        improvements=improvements,
        base=draft_answers(review),
        keys=keys,
    )
    problems = A.submit_problems(final, keys=keys, ai_outcomes=_explain_against(review, keys))
    if problems:
        raise ValidationFailed(problems, message=_count_message(problems))
    now = timezone.now()
    revision_write(
        review,
        answers=final,
        strengths=strengths_text,
        improvements=improvements_text,
        source=RevisionSource.SUBMITTED,
        reason="",
        user=user,
        keys=keys,
        structure=structure,
    )
    release_at = (
        None if review.is_calibration else now + timedelta(hours=settings.QA_RELEASE_DELAY_HOURS)
    )
    Review.objects.filter(pk=review.pk, status=ReviewStatus.DRAFT).update(
        status=ReviewStatus.SUBMITTED,
        submitted_at=now,
        release_at=release_at,
        draft={},
        updated_at=now,
    )
    review.refresh_from_db()
    from .queue import queue_items_done

    queue_items_done(conversation_id=review.conversation_id, review=review, user=user)
    if release_at is not None and release_at <= now:
        _announce_release(review)
    trust_recompute_soon(version_id=review.rubric_version_id)
    return review


def _explain_against(review: Review, keys: Mapping[str, Any]) -> dict[str, str | None]:
    """The AI answers a change must be explained against: none in calibration, whose
    participants answer on their own (and, blind, never see the AI's)."""
    return {} if review.is_calibration else prefill_outcomes(review, keys)


def _count_message(problems: dict[str, list[str]]) -> str:
    n = len(problems)
    return f"{n} thing{'s' if n != 1 else ''} to finish before submitting."


@audit_reason()
@transaction.atomic
def review_revise(
    *,
    user: Person,
    review: Review,
    reason: str,
    answers: Mapping[str, Any] | None = None,
    strengths: str | None = None,
    improvements: str | None = None,
) -> Review:
    """Change a submitted review: a new revision with a reason; the earlier ones are kept. Its
    reviewer or an admin."""
    review = review_locked(review)
    if review.status != ReviewStatus.SUBMITTED or review.current_revision_id is None:
        raise Conflict("Only a submitted review is revised; a draft is simply saved.")
    calibration_still_open(review)
    if review.reviewer_id != user.pk and not can_use(user, "qa_manage"):
        raise PermissionDenied("Only its reviewer or an admin may revise this review.")
    if not reason.strip():
        raise ValidationFailed({"reason": ["Say why the review changes."]})
    current = current_revision(review)
    structure = review_structure(review)
    keys = review_keys(review, structure)
    base = revision_answers(current)
    final, strengths_text, improvements_text = _apply(
        review,
        answers=answers,
        strengths=strengths if strengths is not None else current.strengths,
        improvements=improvements if improvements is not None else current.improvements,
        base=base,
        keys=keys,
    )
    if (
        final == base
        and strengths_text == current.strengths
        and improvements_text == current.improvements
    ):
        raise ValidationFailed({"answers": ["Nothing would change."]})
    problems = A.submit_problems(final, keys=keys, ai_outcomes=_explain_against(review, keys))
    if problems:
        raise ValidationFailed(problems, message=_count_message(problems))
    revision_write(
        review,
        answers=final,
        strengths=strengths_text,
        improvements=improvements_text,
        source=RevisionSource.REVISED,
        reason=reason.strip(),
        user=user,
        keys=keys,
        structure=structure,
    )
    return review


# Release and acknowledgement -------------------------------------------------------------------


def agent_user_id_of(review: Review) -> int | None:
    if review.agent_id is None:
        return None
    return accounts.agent_user_ids(agent_ids=[review.agent_id]).get(review.agent_id)


def _announce_release(review: Review) -> None:
    """Tell the agent once (guarded: a second call does nothing)."""
    now = timezone.now()
    marked = Review.objects.filter(
        pk=review.pk, release_notified_at__isnull=True, status=ReviewStatus.SUBMITTED
    ).update(release_notified_at=now)
    user_id = agent_user_id_of(review)
    if marked and user_id is not None:
        transaction.on_commit(lambda: notify.review_released(review, agent_user_id=user_id))


@transaction.atomic
def review_release(*, user: Person, review: Review) -> Review:
    """Release a submitted review to the agent now (its reviewer or an admin)."""
    review = review_locked(review)
    if review.reviewer_id != user.pk and not can_use(user, "qa_manage"):
        raise PermissionDenied("Only its reviewer or an admin may release this review.")
    if review.status != ReviewStatus.SUBMITTED or review.is_calibration:
        raise Conflict("Only a submitted review is released to an agent.")
    now = timezone.now()
    if review.release_at is None or review.release_at > now:
        Review.objects.filter(pk=review.pk).update(release_at=now, updated_at=now)
        review.release_at = now
    _announce_release(review)
    return review


def reviews_release_due() -> int:
    """Tell agents about reviews whose release time has come (beat; safe to run twice)."""
    due = list(
        Review.objects.filter(
            status=ReviewStatus.SUBMITTED,
            release_notified_at__isnull=True,
            release_at__lte=timezone.now(),
        ).order_by("release_at")[:500]
    )
    for review in due:
        with transaction.atomic():
            _announce_release(review)
    return len(due)


@transaction.atomic
def review_acknowledge(*, user: Person, review: Review, comment: str = "") -> Review:
    """The agent says they have read the review (its current revision), optionally commenting."""
    review = review_locked(review)
    if agent_user_id_of(review) != user.pk or not review.is_released:
        raise NotFound("No such review.")
    if len(comment) > A.COMMENT_MAX:
        raise ValidationFailed({"comment": [f"At most {A.COMMENT_MAX} characters."]})
    if review.acknowledged_revision == review.revision_count:
        raise Conflict("You have acknowledged this review already.")
    now = timezone.now()
    Review.objects.filter(pk=review.pk).update(
        acknowledged_at=now,
        acknowledged_revision=review.revision_count,
        acknowledgement=comment.strip(),
        updated_at=now,
    )
    review.refresh_from_db()
    return review
