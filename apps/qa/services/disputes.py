"""Disputes: an agent contests a released review (whole, or criterion by criterion) within the
window; an admin or a QA analyst other than the reviewer decides. What a decision changes is a
new revision of the review, with its score recomputed; the earlier revision stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.choices import Role
from apps.accounts.scoping import can_use
from apps.common.audit import audit_reason
from apps.common.changes import conversations_changed
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from .. import answers as A
from ..choices import DECISION_STATUS, Decision, DisputeStatus, RevisionSource
from ..models import Dispute, DisputeItem, Review
from . import notify
from .reviews import (
    agent_user_id_of,
    current_revision,
    review_keys,
    review_locked,
    review_structure,
    revision_answers,
    revision_write,
)
from .trust import trust_recompute_soon

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

REASON_MAX = 5000


def dispute_deadline(review: Review) -> Any:
    """Until when the agent may dispute ``review`` (None: not released yet)."""
    if review.release_at is None:
        return None
    return review.release_at + timedelta(days=settings.QA_DISPUTE_WINDOW_DAYS)


@audit_reason()
@transaction.atomic
def dispute_open(
    *,
    user: Person,
    review: Review,
    reason: str,
    items: Sequence[Mapping[str, Any]] = (),
    proposal: str = "",
) -> Dispute:
    """The agent contests ``review``: ``items`` (``{"key": "<segment>:<criterion>",
    "proposed_outcome": ...}``) for single criteria, none for the whole review (then
    ``proposal`` says what they propose). A reason is required."""
    review = review_locked(review)
    if agent_user_id_of(review) != user.pk or not review.is_released:
        raise NotFound("No such review.")
    now = timezone.now()
    deadline = dispute_deadline(review)
    if deadline is not None and now > deadline:
        raise Conflict(
            f"The {settings.QA_DISPUTE_WINDOW_DAYS}-day window to dispute this review closed on "
            f"{timezone.localtime(deadline):%b %-d, %Y}."
        )
    open_count = Dispute.objects.filter(review=review, status=DisputeStatus.OPEN).count()
    if open_count >= settings.QA_DISPUTE_MAX_OPEN:
        raise Conflict(
            f"This review has {open_count} open dispute{'s' if open_count != 1 else ''}: wait "
            "for a decision before opening another."
        )
    current = current_revision(review)
    answers = revision_answers(current)
    keys = review_keys(review)
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = ["Say why you disagree."]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"At most {REASON_MAX} characters."]
    rows: list[DisputeItem] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = str(item.get("key") or "") if isinstance(item, Mapping) else ""
        proposed = item.get("proposed_outcome") if isinstance(item, Mapping) else None
        criterion = keys.get(key)
        if criterion is None or key not in answers:
            errors[f"items.{i}.key"] = ["Not an answered criterion of this review."]
            continue
        if key in seen:
            errors[f"items.{i}.key"] = ["Listed twice."]
            continue
        seen.add(key)
        current_outcome = answers[key].outcome or ""
        if proposed not in A.OUTCOMES or (proposed == "NA" and not criterion.na_allowed):
            errors[f"items.{i}.proposed_outcome"] = [f"Propose an outcome for “{criterion.name}”."]
            continue
        if proposed == current_outcome:
            errors[f"items.{i}.proposed_outcome"] = [
                f"“{criterion.name}” is already {current_outcome.replace('_', ' ').lower()}."
            ]
            continue
        segment, criterion_key = A.split_key(key)
        rows.append(
            DisputeItem(
                segment=segment,
                criterion_key=criterion_key,
                current_outcome=current_outcome,
                proposed_outcome=proposed,
            )
        )
    if not items and not proposal.strip():
        errors["proposal"] = ["Say what you propose, or pick the criteria you dispute."]
    if errors:
        raise ValidationFailed(errors)
    dispute = Dispute.objects.create(
        review=review,
        revision_number=review.revision_count,
        opened_by=accounts.signed_in(user),
        whole_review=not rows,
        reason=reason.strip(),
        proposal=proposal.strip()[:REASON_MAX],
    )
    for row in rows:
        row.dispute = dispute
    DisputeItem.objects.bulk_create(rows)
    conversations_changed([review.conversation_id])
    deciders = _deciders(review)
    transaction.on_commit(lambda: notify.dispute_opened(dispute, user_ids=deciders))
    return dispute


def _deciders(review: Review) -> list[int]:
    """Whom to tell about a new dispute: its reviewer, and the QA analysts and admins who may
    decide it (everyone but the reviewer)."""
    people = accounts.users_with_role(roles=[Role.QA_ANALYST, Role.ADMIN]).values_list(
        "pk", flat=True
    )
    found = set(people)
    if review.reviewer_id is not None:
        found.add(review.reviewer_id)
    return sorted(found)


def may_decide(user: Any, review: Review) -> bool:
    return can_use(user, "qa_decide") and review.reviewer_id != user.pk


@audit_reason()
@transaction.atomic
def dispute_decide(
    *,
    user: Person,
    dispute: Dispute,
    decision: str,
    reason: str,
    outcomes: Mapping[str, str] | None = None,
) -> Dispute:
    """Decide an open dispute. ACCEPT applies every proposed outcome; PARTIAL applies
    ``outcomes`` (``{"<segment>:<criterion>": outcome}``: the contested criteria accepted, with
    the outcome decided); REJECT changes nothing. For a whole-review dispute, ACCEPT and PARTIAL
    take their changes from ``outcomes`` too. A change makes a new revision; the agent and the
    reviewer are told."""
    review = review_locked(dispute.review)
    locked = Dispute.objects.select_for_update().filter(pk=dispute.pk).first()
    if locked is None:
        raise NotFound("No such dispute.")
    dispute = locked
    if not may_decide(user, review):
        raise PermissionDenied(
            "Disputes are decided by an admin or a QA analyst other than the reviewer."
        )
    if dispute.status != DisputeStatus.OPEN:
        raise Conflict(f"This dispute is {dispute.get_status_display().lower()} already.")
    errors: dict[str, list[str]] = {}
    if decision not in Decision.values:
        errors["decision"] = ["Accept, accept in part, or reject."]
    if not reason.strip():
        errors["reason"] = ["Say why: the agent reads it."]
    if errors:
        raise ValidationFailed(errors)
    items = {A.answer_key(i.segment, i.criterion_key): i for i in dispute.items.all()}
    current = current_revision(review)
    answers = revision_answers(current)
    changes = {
        key: outcome
        for key, outcome in _decided_changes(
            dispute, decision, items, outcomes or {}, review
        ).items()
        if answers.get(key, A.Answer(None)).outcome != outcome
    }
    now = timezone.now()
    status = DECISION_STATUS[Decision(decision)]
    revision = None
    if changes:
        structure = review_structure(review)
        keys = review_keys(review, structure)
        for key, outcome in changes.items():
            answers[key] = A.merged(answers.get(key, A.Answer(None)), {"outcome": outcome})
        revision = revision_write(
            review,
            answers=answers,
            strengths=current.strengths,
            improvements=current.improvements,
            source=RevisionSource.DISPUTE,
            reason=f"Dispute {dispute.pk} {status.label.lower()}: {reason.strip()}",
            user=user,
            keys=keys,
            structure=structure,
            dispute_id=dispute.pk,
        )
    for key, item in items.items():
        accepted = key in changes
        DisputeItem.objects.filter(pk=item.pk).update(
            accepted=accepted, final_outcome=changes.get(key, item.current_outcome)
        )
    Dispute.objects.filter(pk=dispute.pk, status=DisputeStatus.OPEN).update(
        status=status,
        decided_by=user,
        decided_at=now,
        decision_reason=reason.strip()[:REASON_MAX],
        resulting_revision=revision,
        updated_at=now,
    )
    dispute.refresh_from_db()
    conversations_changed([review.conversation_id])
    told = {review.reviewer_id, agent_user_id_of(review)} - {None, user.pk}
    transaction.on_commit(lambda: notify.dispute_decided(dispute, user_ids=told))  # type: ignore[arg-type]
    # A decision may be one the AI would have lost: its criteria's tiers are looked at again.
    trust_recompute_soon(version_id=review.rubric_version_id)
    return dispute


def _decided_changes(
    dispute: Dispute,
    decision: str,
    items: dict[str, DisputeItem],
    outcomes: Mapping[str, str],
    review: Review,
) -> dict[str, str]:
    if decision == Decision.REJECT:
        return {}
    keys = review_keys(review)
    if decision == Decision.ACCEPT and items:
        return {key: item.proposed_outcome for key, item in items.items()}
    errors: dict[str, list[str]] = {}
    changes: dict[str, str] = {}
    for key, outcome in outcomes.items():
        criterion = keys.get(key)
        if criterion is None or (items and key not in items):
            errors[f"outcomes.{key}"] = ["Not a criterion contested in this dispute."]
        elif outcome not in A.OUTCOMES or (outcome == "NA" and not criterion.na_allowed):
            errors[f"outcomes.{key}"] = [f"Choose an outcome for “{criterion.name}”."]
        else:
            changes[key] = outcome
    if not changes and not errors:
        errors["outcomes"] = [
            "Say which outcomes change (for a whole-review dispute, or in part); or reject."
        ]
    if errors:
        raise ValidationFailed(errors)
    return changes
