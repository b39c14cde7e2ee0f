"""Coaching sessions: planned for an agent (from a template, with rubric criteria as topics),
linked to reviews and conversations, evidence pinned, notes written, held, acknowledged by the
agent, closed or cancelled.

Every state change is a guarded UPDATE (``filter(pk=..., status=...).update(...)`` and a rowcount
check), so two clicks or two tabs never both win; notifications go out after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts.selectors import signed_in
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations
from apps.qa import selectors as qa
from apps.rubrics import selectors as rubrics

from ..choices import SessionStatus
from ..models import CoachingSession, EvidencePin, SessionLink
from ..selectors import sessions as reads
from . import notify

if TYPE_CHECKING:
    from apps.accounts.scoping import Person
    from apps.rubrics.models import RubricVersion

TITLE_MAX = 200
OPEN_STATUSES = (SessionStatus.PLANNED, SessionStatus.HELD)


@dataclass(frozen=True)
class PinInput:
    communication_id: int
    criterion_key: str = ""
    comment: str | None = None  # None: the linked review's comment on the criterion
    review_id: int | None = None


def _require_manage(user: Person) -> None:
    if not reads.can_manage(user):
        raise PermissionDenied("Only coaches and admins plan and run coaching sessions.")


def _require_session(user: Person, session: CoachingSession) -> CoachingSession:
    """``session`` as ``user`` may manage it (in their scope), or 403/404."""
    _require_manage(user)
    if not CoachingSession.objects.for_user(user).filter(pk=session.pk).exists():
        raise NotFound("No such coaching session.")
    return session


def _version() -> RubricVersion | None:
    rubric = rubrics.sole_published_rubric()
    return rubrics.published_version(rubric=rubric) if rubric is not None else None


def _criterion_keys(version: RubricVersion | None) -> list[str]:
    if version is None:
        return []
    return [c.key for c in rubrics.frozen_structure(version=version).criteria]


def _clean_topics(
    topics: Iterable[str], version: RubricVersion | None, errors: dict[str, list[str]]
) -> list[str]:
    keys = _criterion_keys(version)
    chosen: list[str] = []
    for topic in topics:
        topic = str(topic).strip()
        if not topic or topic in chosen:
            continue
        if topic not in keys:
            errors.setdefault("topics", []).append(
                f"“{topic[:64]}” is not a criterion of the published rubric."
            )
            continue
        chosen.append(topic)
    return chosen


def _clean_title(title: str, errors: dict[str, list[str]]) -> str:
    title = (title or "").strip()
    if not title:
        errors.setdefault("title", []).append("Give the session a title.")
    elif len(title) > TITLE_MAX:
        errors.setdefault("title", []).append(f"At most {TITLE_MAX} characters.")
    return title


@transaction.atomic
def session_plan(
    *,
    user: Person,
    agent_id: int | None,
    scheduled_at: datetime | None,
    title: str = "",
    agenda: str | None = None,
    template_id: int | None = None,
    topics: Sequence[str] = (),
    origin: dict[str, Any] | None = None,
    review_ids: Sequence[int] = (),
    conversation_ids: Sequence[int] = (),
    pins: Sequence[PinInput] = (),
    follow_up_on: date | None = None,
) -> CoachingSession:
    """Plan a session with an agent ``user`` coaches. An empty ``agenda`` or ``topics`` comes
    from the template; the title defaults to the first topic's name. The agent hears of it."""
    _require_manage(user)
    errors: dict[str, list[str]] = {}
    agent = (
        accounts.agent_choices(user=user).filter(pk=agent_id).first()
        if agent_id is not None
        else None
    )
    if agent is None:
        errors["agent"] = ["Choose an agent you coach."]
    if scheduled_at is None:
        errors["scheduled_at"] = ["Choose when the session is."]
    template = None
    if template_id is not None:
        template = reads.template_list(user=user).filter(pk=template_id).first()
        if template is None:
            errors["template"] = ["No such template, or not one you may use."]
    version = _version()
    if template is not None:
        agenda = agenda if agenda else template.agenda
        topics = topics or [t for t in template.topics if t in _criterion_keys(version)]
    chosen = _clean_topics(topics, version, errors)
    if not (title or "").strip() and chosen:
        names = reads.criterion_name_map(chosen[:1])
        title = f"Coaching: {names.get(chosen[0], chosen[0])}"
    title = _clean_title(title, errors)
    if errors:
        raise ValidationFailed(errors)
    assert agent is not None and scheduled_at is not None
    session = CoachingSession.objects.create(
        agent=agent,
        coach=signed_in(user),
        title=title,
        scheduled_at=scheduled_at,
        template=template,
        agenda=agenda or "",
        rubric_version=version,
        topics=chosen,
        origin=origin or {},
        follow_up_on=follow_up_on,
        created_by=signed_in(user),
    )
    for review_id in review_ids:
        session_link_add(user=user, session=session, review_id=review_id)
    for conversation_id in conversation_ids:
        session_link_add(user=user, session=session, conversation_id=conversation_id)
    for pin in pins:
        evidence_pin_add(
            user=user,
            session=session,
            communication_id=pin.communication_id,
            criterion_key=pin.criterion_key,
            comment=pin.comment,
        )
    agent_user_id = agent.user_id
    if agent_user_id is not None:
        transaction.on_commit(lambda: notify.session_planned(session, agent_user_id=agent_user_id))
    return session


def _guarded(session: CoachingSession, statuses: Iterable[str], message: str, **values: Any) -> int:
    updated = CoachingSession.objects.filter(pk=session.pk, status__in=list(statuses)).update(
        **values, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict(message)
    return updated


def _fresh(session: CoachingSession) -> CoachingSession:
    session.refresh_from_db()
    return session


@transaction.atomic
def session_update(
    *,
    user: Person,
    session: CoachingSession,
    title: str | None = None,
    scheduled_at: datetime | None = None,
    agenda: str | None = None,
    topics: Sequence[str] | None = None,
) -> CoachingSession:
    """Change a planned session's title, time, agenda or topics (only what is given)."""
    _require_session(user, session)
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if title is not None:
        values["title"] = _clean_title(title, errors)
    if scheduled_at is not None:
        values["scheduled_at"] = scheduled_at
    if agenda is not None:
        values["agenda"] = agenda
    if topics is not None:
        version = session.rubric_version or _version()
        values["topics"] = _clean_topics(topics, version, errors)
        if session.rubric_version_id is None and version is not None:
            values["rubric_version"] = version
    if errors:
        raise ValidationFailed(errors)
    if values:
        _guarded(
            session,
            [SessionStatus.PLANNED],
            "Only a planned session's plan can change; this one is "
            f"{session.get_status_display().lower()}.",
            **values,
        )
    return _fresh(session)


@transaction.atomic
def session_notes_save(
    *,
    user: Person,
    session: CoachingSession,
    private_notes: str | None = None,
    shared_notes: str | None = None,
) -> CoachingSession:
    """The coach's notes: private ones (coaches only) and shared ones (the agent reads them)."""
    _require_session(user, session)
    values = {
        name: value
        for name, value in (("private_notes", private_notes), ("shared_notes", shared_notes))
        if value is not None
    }
    if values:
        _guarded(
            session,
            OPEN_STATUSES,
            "Notes are written while a session is planned or held; this one is "
            f"{session.get_status_display().lower()}.",
            **values,
        )
    return _fresh(session)


@transaction.atomic
def session_follow_up_set(
    *, user: Person, session: CoachingSession, follow_up_on: date | None
) -> CoachingSession:
    _require_session(user, session)
    _guarded(
        session,
        [SessionStatus.PLANNED, SessionStatus.HELD, SessionStatus.CLOSED],
        "A cancelled session has no follow-up.",
        follow_up_on=follow_up_on,
    )
    return _fresh(session)


@transaction.atomic
def session_hold(
    *, user: Person, session: CoachingSession, held_at: datetime | None = None
) -> CoachingSession:
    """Planned → held; the agent is asked to acknowledge it."""
    _require_session(user, session)
    _guarded(
        session,
        [SessionStatus.PLANNED],
        "Only a planned session can be marked held.",
        status=SessionStatus.HELD,
        held_at=held_at or timezone.now(),
    )
    session = _fresh(session)
    agent_user_id = accounts.agent_user_ids(agent_ids=[session.agent_id]).get(session.agent_id)
    if agent_user_id is not None:
        transaction.on_commit(lambda: notify.session_held(session, agent_user_id=agent_user_id))
    return session


@transaction.atomic
def session_close(*, user: Person, session: CoachingSession) -> CoachingSession:
    """Held → closed."""
    _require_session(user, session)
    _guarded(
        session,
        [SessionStatus.HELD],
        "Only a held session can be closed.",
        status=SessionStatus.CLOSED,
        closed_at=timezone.now(),
    )
    return _fresh(session)


@transaction.atomic
def session_cancel(*, user: Person, session: CoachingSession) -> CoachingSession:
    """Planned → cancelled."""
    _require_session(user, session)
    _guarded(
        session,
        [SessionStatus.PLANNED],
        "Only a planned session can be cancelled.",
        status=SessionStatus.CANCELLED,
        cancelled_at=timezone.now(),
    )
    return _fresh(session)


@transaction.atomic
def session_acknowledge(
    *, user: Person, session: CoachingSession, comment: str = ""
) -> CoachingSession:
    """The agent acknowledges a held (or since closed) session, once, with a comment."""
    if not reads.is_agent_of(user, session):
        raise PermissionDenied("Only the session's agent acknowledges it.")
    if len(comment) > 5000:
        raise ValidationFailed({"comment": ["At most 5,000 characters."]})
    updated = CoachingSession.objects.filter(
        pk=session.pk,
        status__in=[SessionStatus.HELD, SessionStatus.CLOSED],
        acknowledged_at__isnull=True,
    ).update(acknowledged_at=timezone.now(), acknowledgement=comment.strip())
    if not updated:
        fresh = _fresh(session)
        if fresh.acknowledged_at is not None:
            raise Conflict("You already acknowledged this session.")
        raise Conflict("A session is acknowledged once it has been held.")
    return _fresh(session)


# Links and evidence -------------------------------------------------------------------------------


def _require_open(session: CoachingSession) -> None:
    if session.status not in OPEN_STATUSES:
        raise Conflict(
            f"This session is {session.get_status_display().lower()}: its links and evidence "
            "no longer change."
        )


@transaction.atomic
def session_link_add(
    *,
    user: Person,
    session: CoachingSession,
    review_id: int | None = None,
    conversation_id: int | None = None,
    note: str = "",
) -> SessionLink:
    """Link a review (of the session's agent, one ``user`` may read) or a conversation (one of
    the agent's that ``user`` may see). A conversation is linked once; linking its review later
    adds the review to that link."""
    _require_session(user, session)
    _require_open(session)
    review = None
    if review_id is not None:
        review = (
            qa.review_base(user=user)
            .filter(pk=review_id, is_calibration=False)
            .order_by()
            .values_list("pk", "agent_id", "conversation_id")
            .first()
        )
        if review is None:
            raise ValidationFailed({"review": ["No such review, or not one you may read."]})
        if review[1] != session.agent_id:
            raise ValidationFailed({"review": ["That review is of another agent."]})
        conversation_id = review[2]
    elif conversation_id is not None:
        visible = (
            conversations.conversations_of(user=user)
            .filter(pk=conversation_id, participants__agent_id=session.agent_id)
            .exists()
        )
        if not visible:
            raise ValidationFailed(
                {"conversation": ["No such conversation of this agent, or not one you may see."]}
            )
    else:
        raise ValidationFailed({"review": ["Choose a review or a conversation to link."]})
    link = SessionLink.objects.filter(session=session, conversation_id=conversation_id).first()
    if link is None:
        position = SessionLink.objects.filter(session=session).count()
        try:
            with transaction.atomic():
                link = SessionLink.objects.create(
                    session=session,
                    conversation_id=conversation_id,
                    review_id=review[0] if review else None,
                    note=note,
                    position=position,
                )
        except IntegrityError:  # linked at the same moment elsewhere
            link = SessionLink.objects.get(session=session, conversation_id=conversation_id)
    elif review is not None and link.review_id != review[0]:
        SessionLink.objects.filter(pk=link.pk).update(review_id=review[0])
        link.review_id = review[0]
    return link


@transaction.atomic
def session_link_remove(*, user: Person, session: CoachingSession, link_id: int) -> None:
    """Unlink (and unpin the evidence from that conversation)."""
    _require_session(user, session)
    _require_open(session)
    deleted, _ = SessionLink.objects.filter(pk=link_id, session=session).delete()
    if not deleted:
        raise NotFound("No such link on this session.")


@transaction.atomic
def evidence_pin_add(
    *,
    user: Person,
    session: CoachingSession,
    communication_id: int,
    criterion_key: str = "",
    comment: str | None = None,
) -> EvidencePin:
    """Pin a transcript line of a linked conversation, with the criterion it shows and a comment;
    no comment given: the linked review's comment on that criterion. Pinning the same line for
    the same criterion twice keeps the first pin."""
    _require_session(user, session)
    _require_open(session)
    line = (
        conversations.communication_list(user=user)
        .filter(pk=communication_id)
        .values_list("conversation_id", flat=True)
        .first()
    )
    link = (
        SessionLink.objects.filter(session=session, conversation_id=line).first()
        if line is not None
        else None
    )
    if link is None:
        raise ValidationFailed(
            {"communication": ["Pin a line of a conversation linked to this session."]}
        )
    criterion_key = (criterion_key or "").strip()
    if criterion_key:
        version = session.rubric_version or _version()
        known = _criterion_keys(version) if version is not None else []
        if criterion_key not in known and criterion_key not in session.topics:
            raise ValidationFailed(
                {"criterion": [f"“{criterion_key[:64]}” is not a criterion of the rubric."]}
            )
    if comment is None:
        comment = ""
        if link.review_id is not None and criterion_key:
            answers = reads.review_criterion_answers(
                user=user, review_ids=[link.review_id], criterion_key=criterion_key
            )
            comment = next((a.comment for a in answers if a.comment), "")
    existing = EvidencePin.objects.filter(
        session=session, communication_id=communication_id, criterion_key=criterion_key
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return EvidencePin.objects.create(
                session=session,
                link=link,
                communication_id=communication_id,
                criterion_key=criterion_key,
                comment=comment.strip(),
                position=EvidencePin.objects.filter(link=link).count(),
            )
    except IntegrityError:  # the same pin at the same moment
        return EvidencePin.objects.get(
            session=session, communication_id=communication_id, criterion_key=criterion_key
        )


@transaction.atomic
def evidence_pin_remove(*, user: Person, session: CoachingSession, pin_id: int) -> None:
    _require_session(user, session)
    _require_open(session)
    deleted, _ = EvidencePin.objects.filter(pk=pin_id, session=session).delete()
    if not deleted:
        raise NotFound("No such pin on this session.")
