"""Calibration sessions: several people (and, if chosen, the AI) answer the same conversations
against one rubric version, blind or open, until an admin closes the session; then a benchmark
per conversation and criterion (an expert's answers, or the majority's, corrected after
discussion) says who was right.

Each participant's work is a queue item per conversation (source CALIBRATION, assigned to
them, due at the deadline), so it shows in their queue; its review is a calibration review
(``reviews._calibration_review_start``): no AI prefill, never counted in agents' scores, never
released to agents. The AI's answers are taken once, when the session is made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts import services as accounts_services
from apps.accounts.scoping import can_use
from apps.accounts.services import NotificationInput
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations
from apps.rubrics import selectors as rubrics
from apps.rubrics.choices import VersionStatus

from .. import answers as A
from ..choices import (
    BenchmarkMode,
    CalibrationStatus,
    ItemAction,
    ItemSource,
    ItemStatus,
    NotificationKind,
    Priority,
    ReviewStatus,
)
from ..models import (
    CalibrationBenchmark,
    CalibrationConversation,
    CalibrationParticipant,
    CalibrationSession,
    QueueItem,
    Review,
    ReviewAnswer,
)
from .queue import _event, queue_item_add
from .reviewers import may_review
from .reviews import ai_answers
from .trust import trust_recompute_soon

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

NAME_MAX = 200
DESCRIPTION_MAX = 5000
NOTE_MAX = 2000
MAX_CONVERSATIONS = 50
MAX_PARTICIPANTS = 30
CLOSE_REASON = "The calibration session closed before this was answered."


def calibration_source_key(session_id: int, user_id: int) -> str:
    """One item per session, participant and conversation (the key is unique per conversation)."""
    return f"calibration:{session_id}:{user_id}"


@dataclass(frozen=True)
class SessionInput:
    """What a calibration session is made of (the create form and the API send this)."""

    name: str
    rubric_version_id: int | None
    conversation_ids: Sequence[int]
    participant_ids: Sequence[int]
    description: str = ""
    blind: bool = True
    include_ai: bool = True
    deadline: datetime | None = None
    benchmark_mode: str = BenchmarkMode.CONSENSUS
    expert_id: int | None = None


def _require_admin(user: Person) -> None:
    if not can_use(user, "qa_calibration_admin"):
        raise PermissionDenied("Only admins run calibration sessions.")


def _unique(ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids))


def session_input_clean(*, user: Person, data: SessionInput) -> tuple[SessionInput, Any]:
    """``data`` checked, with its rubric version; ValidationFailed listing every problem."""
    errors: dict[str, list[str]] = {}
    name = data.name.strip()
    if not name:
        errors["name"] = ["Name the session (for instance “March greeting calibration”)."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    if len(data.description) > DESCRIPTION_MAX:
        errors["description"] = [f"At most {DESCRIPTION_MAX} characters."]
    version = (
        rubrics.version_by_id(pk=data.rubric_version_id)
        if data.rubric_version_id is not None
        else None
    )
    if version is None:
        errors["rubric_version_id"] = ["Choose a rubric version."]
    elif version.status not in (VersionStatus.PUBLISHED, VersionStatus.RETIRED):
        errors["rubric_version_id"] = [
            "Choose a published or retired version: a draft can still change under the answers."
        ]
    conversation_ids = _unique(data.conversation_ids)
    participant_ids = _unique(data.participant_ids)
    if not conversation_ids:
        errors["conversation_ids"] = ["Choose at least one conversation."]
    elif len(conversation_ids) > MAX_CONVERSATIONS:
        errors["conversation_ids"] = [f"At most {MAX_CONVERSATIONS} conversations a session."]
    people = conversations.conversation_people(ids=conversation_ids)
    visible = set(
        conversations.conversations_of(user=user)
        .filter(pk__in=conversation_ids)
        .values_list("pk", flat=True)
    )
    missing = [pk for pk in conversation_ids if pk not in people or pk not in visible]
    if missing:
        errors.setdefault("conversation_ids", []).append(
            "No such conversation: " + ", ".join(str(pk) for pk in missing) + "."
        )
    reviewers = {u.pk: u for u in accounts.user_choices(features=["qa_review"])}
    chosen = [reviewers[pk] for pk in participant_ids if pk in reviewers]
    strangers = [pk for pk in participant_ids if pk not in reviewers]
    if strangers:
        errors["participant_ids"] = [
            "Not someone who reviews (admins, QA analysts, coaches): "
            + ", ".join(str(pk) for pk in strangers)
            + "."
        ]
    elif not chosen:
        errors["participant_ids"] = ["Choose the people who answer."]
    elif len(chosen) > MAX_PARTICIPANTS:
        errors["participant_ids"] = [f"At most {MAX_PARTICIPANTS} participants."]
    elif len(chosen) + int(data.include_ai) < 2:
        errors["participant_ids"] = [
            "Agreement needs two answers a conversation: choose a second person, or include the AI."
        ]
    if chosen and not missing and conversation_ids:
        blocked = [
            f"{user_} may not review conversation {pk}"
            for pk in conversation_ids
            for user_ in chosen
            if not may_review(user_, people[pk])
        ]
        if blocked:
            errors.setdefault("participant_ids", []).append(
                "Every participant answers every conversation, and "
                + "; ".join(blocked[:5])
                + ("…" if len(blocked) > 5 else "")
                + " (outside their teams, or their own)."
            )
    if data.benchmark_mode not in BenchmarkMode.values:
        errors["benchmark_mode"] = ["Choose how the benchmark is set."]
    elif data.benchmark_mode == BenchmarkMode.EXPERT:
        if data.expert_id is None:
            errors["expert_id"] = ["Choose the expert whose answers are the benchmark."]
        elif data.expert_id not in participant_ids:
            errors["expert_id"] = ["The expert answers too: choose one of the participants."]
    if data.deadline is not None and data.deadline <= timezone.now():
        errors["deadline"] = ["The deadline is in the past."]
    if errors:
        raise ValidationFailed(errors)
    return (
        SessionInput(
            name=name,
            description=data.description.strip(),
            rubric_version_id=data.rubric_version_id,
            conversation_ids=conversation_ids,
            participant_ids=[u.pk for u in chosen],
            blind=data.blind,
            include_ai=data.include_ai,
            deadline=data.deadline,
            benchmark_mode=data.benchmark_mode,
            expert_id=data.expert_id if data.benchmark_mode == BenchmarkMode.EXPERT else None,
        ),
        version,
    )


@transaction.atomic
def calibration_session_create(*, user: Person, data: SessionInput) -> CalibrationSession:
    """Make a session (admins): its conversations with the AI's answers as they stand now, its
    participants, and a queue item per participant and conversation, assigned and due at the
    deadline. Each participant is told once, under the bell."""
    _require_admin(user)
    clean, version = session_input_clean(user=user, data=data)
    creator = accounts.signed_in(user)
    session = CalibrationSession.objects.create(
        name=clean.name,
        description=clean.description,
        rubric_version=version,
        blind=clean.blind,
        include_ai=clean.include_ai,
        deadline=clean.deadline,
        benchmark_mode=clean.benchmark_mode,
        expert_id=clean.expert_id,
        created_by=creator,
    )
    for position, conversation_id in enumerate(clean.conversation_ids):
        segments, ai = ai_answers(conversation_id=conversation_id, rubric_version_id=version.pk)
        CalibrationConversation.objects.create(
            session=session,
            conversation_id=conversation_id,
            position=position,
            segments=segments,
            ai=ai,
        )
    CalibrationParticipant.objects.bulk_create(
        CalibrationParticipant(session=session, user_id=pk) for pk in clean.participant_ids
    )
    reason = f"“{session.name}”: answer on your own" + (
        " (blind: nobody sees the others' answers until it closes)" if session.blind else ""
    )
    for user_id in clean.participant_ids:
        for conversation_id in clean.conversation_ids:
            queue_item_add(
                conversation_id=conversation_id,
                source=ItemSource.CALIBRATION,
                source_key=calibration_source_key(session.pk, user_id),
                reason=reason,
                priority=Priority.NORMAL,
                due_at=session.deadline,
                assignee_id=user_id,
                calibration_id=session.pk,
                created_by=user,
                announce=False,
            )
    count = len(clean.conversation_ids)
    transaction.on_commit(
        lambda: _announce(session, user_ids=list(clean.participant_ids), count=count)
    )
    return session


def _announce(session: CalibrationSession, *, user_ids: list[int], count: int) -> None:
    due = f", due {timezone.localtime(session.deadline):%b %-d %H:%M}" if session.deadline else ""
    accounts_services.notify(
        user_ids=user_ids,
        notification=NotificationInput(
            kind=NotificationKind.CALIBRATION_ASSIGNED,
            title=f"Calibration: {session.name}",
            body=f"{count} conversation{'s' if count != 1 else ''} to answer{due}.",
            url=reverse("qa-calibration", args=[session.pk]),
        ),
    )


def _locked(session: CalibrationSession) -> CalibrationSession:
    locked = CalibrationSession.objects.select_for_update().filter(pk=session.pk).first()
    if locked is None:
        raise NotFound("No such calibration session.")
    return locked


@transaction.atomic
def calibration_session_close(
    *, user: Person, session: CalibrationSession, discussion: str | None = None
) -> CalibrationSession:
    """Close an open session (admins): its answers become visible to the participants, the
    items nobody answered leave the queue (with the reason) and their drafts are discarded, and
    the benchmark is prefilled: the expert's answers, or the participants' majority."""
    _require_admin(user)
    if discussion is not None and len(discussion) > DESCRIPTION_MAX:
        raise ValidationFailed({"discussion": [f"At most {DESCRIPTION_MAX} characters."]})
    now = timezone.now()
    closer = accounts.signed_in(user)
    changes: dict[str, Any] = {
        "status": CalibrationStatus.CLOSED,
        "closed_at": now,
        "closed_by": closer,
        "updated_at": now,
    }
    if discussion is not None:
        changes["discussion"] = discussion.strip()
    closed = CalibrationSession.objects.filter(pk=session.pk, status=CalibrationStatus.OPEN).update(
        **changes
    )
    if not closed:
        raise Conflict("This calibration session is closed already.")
    unanswered = list(
        QueueItem.objects.select_for_update()
        .filter(calibration_id=session.pk, status__in=[ItemStatus.OPEN, ItemStatus.CLAIMED])
        .values_list("pk", flat=True)
    )
    Review.objects.filter(item_id__in=unanswered, status=ReviewStatus.DRAFT).delete()
    QueueItem.objects.filter(pk__in=unanswered).update(
        status=ItemStatus.REMOVED,
        removed_at=now,
        removed_by=closer,
        removed_reason=CLOSE_REASON,
        updated_at=now,
    )
    for item_id in unanswered:
        _event(item_id, ItemAction.REMOVED, actor=user, note=CLOSE_REASON)
    session.refresh_from_db()
    _benchmark_prefill(session)
    # Its answers now count in the AI-human agreement (a blind session's did not while open).
    trust_recompute_soon(version_id=session.rubric_version_id)
    return session


def session_answers(session: CalibrationSession) -> dict[int, dict[tuple[int, str], str]]:
    """``{user id: {(conversation id, answer key): outcome}}`` of the session's submitted
    answers (their current revisions), in one query."""
    found: dict[int, dict[tuple[int, str], str]] = {}
    rows = ReviewAnswer.objects.filter(
        revision__review__calibration_id=session.pk,
        revision__review__status=ReviewStatus.SUBMITTED,
        revision__review__current_revision_id=F("revision_id"),
    ).values_list(
        "revision__review__reviewer_id",
        "revision__review__conversation_id",
        "segment",
        "criterion_key",
        "outcome",
    )
    for reviewer_id, conversation_id, segment, key, outcome in rows:
        if reviewer_id is not None:
            found.setdefault(reviewer_id, {})[(conversation_id, A.answer_key(segment, key))] = (
                outcome
            )
    return found


def majority(outcomes: Iterable[str]) -> str | None:
    """The answer most gave; None on a tie for first place (or no answers)."""
    counts = Counter(outcomes).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def _benchmark_prefill(session: CalibrationSession) -> int:
    """Fill the benchmark where it is not set: the expert's answer (EXPERT), else the majority
    of the participants' answers (CONSENSUS; a tie stays open for the discussion)."""
    answers = session_answers(session)
    have = set(
        CalibrationBenchmark.objects.filter(session=session).values_list(
            "conversation_id", "segment", "criterion_key"
        )
    )
    rows: list[CalibrationBenchmark] = []
    if session.benchmark_mode == BenchmarkMode.EXPERT:
        chosen = answers.get(session.expert_id or 0, {})
        for (conversation_id, key), outcome in chosen.items():
            segment, criterion = A.split_key(key)
            if (conversation_id, segment, criterion) in have:
                continue
            rows.append(
                CalibrationBenchmark(
                    session=session,
                    conversation_id=conversation_id,
                    segment=segment,
                    criterion_key=criterion,
                    outcome=outcome,
                    note="The expert's answer.",
                )
            )
    else:
        by_unit: dict[tuple[int, str], list[str]] = {}
        for given in answers.values():
            for unit, outcome in given.items():
                by_unit.setdefault(unit, []).append(outcome)
        for (conversation_id, key), outcomes in by_unit.items():
            segment, criterion = A.split_key(key)
            winner = majority(outcomes)
            if winner is None or (conversation_id, segment, criterion) in have:
                continue
            share = sum(1 for o in outcomes if o == winner)
            rows.append(
                CalibrationBenchmark(
                    session=session,
                    conversation_id=conversation_id,
                    segment=segment,
                    criterion_key=criterion,
                    outcome=winner,
                    note=f"Majority: {share} of {len(outcomes)} answers.",
                )
            )
    CalibrationBenchmark.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


@dataclass(frozen=True)
class BenchmarkChange:
    conversation_id: int
    key: str  # "SEGMENT:criterion"
    outcome: str
    note: str = ""


@transaction.atomic
def calibration_benchmark_set(
    *, user: Person, session: CalibrationSession, changes: Sequence[BenchmarkChange]
) -> int:
    """Set (or correct) benchmark answers of a closed session (admins), each with an optional
    note; the whole set or nothing. How many changed."""
    _require_admin(user)
    session = _locked(session)
    if session.status != CalibrationStatus.CLOSED:
        raise Conflict("The benchmark is set after the session closes, when answers are visible.")
    entries = {
        e.conversation_id: e for e in CalibrationConversation.objects.filter(session=session)
    }
    structure = rubrics.frozen_structure(version=session.rubric_version)
    current = {
        (b.conversation_id, A.answer_key(b.segment, b.criterion_key)): b
        for b in CalibrationBenchmark.objects.filter(session=session)
    }
    errors: dict[str, list[str]] = {}
    wanted: list[tuple[BenchmarkChange, str, str]] = []
    for index, change in enumerate(changes):
        path = f"changes.{index}"
        entry = entries.get(change.conversation_id)
        if entry is None:
            errors[f"{path}.conversation_id"] = ["Not a conversation of this session."]
            continue
        spec = A.form_keys(structure, entry.segments).get(change.key)
        if spec is None:
            errors[f"{path}.key"] = ["Not a criterion this conversation is judged on."]
            continue
        if change.outcome not in A.OUTCOMES:
            errors[f"{path}.outcome"] = ["Choose met, not met or N/A."]
            continue
        if change.outcome == "NA" and not spec.na_allowed:
            errors[f"{path}.outcome"] = [f"“{spec.name}” cannot be N/A."]
            continue
        if len(change.note) > NOTE_MAX:
            errors[f"{path}.note"] = [f"At most {NOTE_MAX} characters."]
            continue
        segment, criterion = A.split_key(change.key)
        wanted.append((change, segment, criterion))
    if errors:
        raise ValidationFailed(errors)
    setter = accounts.signed_in(user)
    now = timezone.now()
    changed = 0
    for change, segment, criterion in wanted:
        old = current.get((change.conversation_id, change.key))
        note = change.note.strip()
        if old is not None and old.outcome == change.outcome and (not note or note == old.note):
            continue
        CalibrationBenchmark.objects.update_or_create(
            session=session,
            conversation_id=change.conversation_id,
            segment=segment,
            criterion_key=criterion,
            defaults={
                "outcome": change.outcome,
                "note": note or (old.note if old is not None else ""),
                "set_by": setter,
                "set_at": now,
            },
        )
        changed += 1
    return changed


def benchmark_changes_from(data: Mapping[str, Any]) -> list[BenchmarkChange]:
    """The benchmark editor's form: ``<conversation id>|<key>`` → outcome, ``…-note`` → note."""
    changes = []
    for name, value in data.items():
        if not name.startswith("b|") or name.endswith("|note"):
            continue
        _, conversation, key = name.split("|", 2)
        if not conversation.isdecimal() or not value:
            continue
        changes.append(
            BenchmarkChange(
                conversation_id=int(conversation),
                key=key,
                outcome=str(value),
                note=str(data.get(f"{name}|note", "")),
            )
        )
    return changes


def version_choices(*, user: Person) -> list[tuple[int, str]]:
    """The rubric versions a session may use (published or retired), for the create form."""
    found = []
    for rubric in rubrics.rubric_list(user=user):
        for version in rubrics.version_list(user=user, rubric=rubric):
            if version.status in (VersionStatus.PUBLISHED, VersionStatus.RETIRED):
                found.append(
                    (
                        version.pk,
                        f"{rubric.name} v{version.number} ({version.get_status_display()})",
                    )
                )
    return found
