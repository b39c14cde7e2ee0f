"""Reads of coaching sessions, their links, pins and action items, session templates, and the
"Coach on this" prefill; every one scoped to who is asking (the models' ``for_user``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.db.models import Case, Count, F, IntegerField, Q, QuerySet, Value, When

from apps.accounts import selectors as accounts
from apps.accounts.scoping import Reach, can_use, scope_for
from apps.common.errors import NotFound
from apps.conversations import selectors as conversations
from apps.qa import selectors as qa
from apps.rubrics import selectors as rubrics
from apps.rubrics.choices import Outcome

from ..choices import SessionStatus, TemplateVisibility
from ..models import ActionItem, CoachingSession, EvidencePin, SessionLink, SessionTemplate

if TYPE_CHECKING:
    from apps.accounts.models import Agent, User
    from apps.accounts.scoping import Person

# "Coach on this" from a scorecard criterion or a heatmap cell links this many of the agent's
# latest reviews that failed the criterion.
PREFILL_REVIEWS = 3


def can_manage(user: Person) -> bool:
    return can_use(user, "coaching_manage")


def session_base(*, user: Person) -> QuerySet[CoachingSession]:
    sessions = cast("QuerySet[CoachingSession]", CoachingSession.objects.for_user(user))
    return sessions.select_related(
        "agent", "agent__team", "coach", "template", "rubric_version__rubric"
    ).annotate(
        open_actions=Count("actions", filter=Q(actions__done_at__isnull=True)),
        link_count=Count("links", distinct=True),
    )


def session_list(
    *,
    user: Person,
    status: str = "",
    agent_id: int | None = None,
    coach_id: int | None = None,
) -> QuerySet[CoachingSession]:
    """Sessions ``user`` may see: planned ones first, soonest first; then the rest, newest first."""
    sessions = session_base(user=user)
    if status:
        sessions = sessions.filter(status=status)
    if agent_id is not None:
        sessions = sessions.filter(agent_id=agent_id)
    if coach_id is not None:
        sessions = sessions.filter(coach_id=coach_id)
    return sessions.annotate(
        upcoming=Case(
            When(status=SessionStatus.PLANNED, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        planned_at=Case(When(status=SessionStatus.PLANNED, then=F("scheduled_at"))),
    ).order_by("upcoming", F("planned_at").asc(nulls_last=True), "-scheduled_at", "-id")


def session_get(*, user: Person, pk: int) -> CoachingSession:
    session = session_base(user=user).filter(pk=pk).first()
    if session is None:
        raise NotFound("No such coaching session.")
    return session


def action_item_list(*, user: Person, open_only: bool = False) -> QuerySet[ActionItem]:
    items = ActionItem.objects.for_user(user).select_related("agent", "owner", "done_by", "session")
    return items.filter(done_at__isnull=True) if open_only else items


def action_item_get(*, user: Person, pk: int) -> ActionItem:
    item = action_item_list(user=user).filter(pk=pk).first()
    if item is None:
        raise NotFound("No such action item.")
    return item


def link_list(*, session: CoachingSession) -> QuerySet[SessionLink]:
    return SessionLink.objects.filter(session=session).select_related(
        "conversation", "review", "review__reviewer"
    )


def pin_list(*, session: CoachingSession) -> QuerySet[EvidencePin]:
    return EvidencePin.objects.filter(session=session).select_related(
        "communication", "communication__author", "link"
    )


# The session page ---------------------------------------------------------------------------------


@dataclass
class PinView:
    pin: EvidencePin
    criterion_name: str

    @property
    def speaker(self) -> str:
        author = self.pin.communication.author
        if author is None:
            return self.pin.communication.author_address or "Unknown"
        return author.name or author.get_type_display()

    @property
    def speaker_type(self) -> str:
        author = self.pin.communication.author
        return author.type if author is not None else ""

    @property
    def at(self) -> str:
        """Where in the call: mm:ss from its start (or the clock time for messages)."""
        offset = self.pin.communication.offset_ms
        if offset is None:
            return self.pin.communication.occurred_at.strftime("%H:%M")
        seconds = max(offset, 0) // 1000
        return f"{seconds // 60}:{seconds % 60:02d}"


@dataclass
class LinkView:
    link: SessionLink
    readable: bool  # the reader may open the review (an agent: once released to them)
    pins: list[PinView] = field(default_factory=list)
    lines: list[Any] = field(default_factory=list)  # the call's lines, for the pin form


@dataclass
class SessionPage:
    session: CoachingSession
    topics: list[tuple[str, str]]  # (key, name)
    links: list[LinkView]
    actions: list[ActionItem]
    owners: list[tuple[int, str]]  # who an action item may be given to
    can_manage: bool
    is_agent: bool

    @property
    def editable(self) -> bool:
        return self.session.status in (SessionStatus.PLANNED, SessionStatus.HELD)

    @property
    def pin_count(self) -> int:
        return sum(len(link.pins) for link in self.links)

    @property
    def may_acknowledge(self) -> bool:
        return (
            self.is_agent
            and self.session.status in (SessionStatus.HELD, SessionStatus.CLOSED)
            and self.session.acknowledged_at is None
        )


def criterion_name_map(keys: list[str]) -> dict[str, str]:
    return {key: found.name for key, found in rubrics.criterion_names(keys=keys).items()}


def is_agent_of(user: Person, session: CoachingSession) -> bool:
    return session.agent.user_id is not None and session.agent.user_id == user.pk


def session_page(*, user: Person, session: CoachingSession) -> SessionPage:
    """Everything the session page shows, in a fixed number of queries."""
    links = list(link_list(session=session))
    pins = list(pin_list(session=session))
    actions = list(
        ActionItem.objects.filter(session=session)
        .select_related("owner", "done_by")
        .order_by(F("due_on").asc(nulls_last=True), "id")
    )
    keys = sorted({*session.topics, *(p.criterion_key for p in pins if p.criterion_key)})
    names = criterion_name_map(keys)
    review_ids = [link.review_id for link in links if link.review_id]
    readable = (
        set(qa.review_base(user=user).filter(pk__in=review_ids).values_list("pk", flat=True))
        if review_ids
        else set()
    )
    views = {link.pk: LinkView(link, link.review_id in readable) for link in links}
    for pin in pins:
        views[pin.link_id].pins.append(PinView(pin, names.get(pin.criterion_key, "")))
    owners: list[tuple[int, str]] = []
    if session.agent.user_id:
        owners.append((session.agent.user_id, f"{session.agent.display_name} (agent)"))
    if session.coach_id:
        owners.append((session.coach_id, f"{session.coach} (coach)"))
    return SessionPage(
        session=session,
        topics=[(key, names.get(key, key)) for key in session.topics],
        links=list(views.values()),
        actions=actions,
        owners=owners,
        can_manage=can_manage(user),
        is_agent=is_agent_of(user, session),
    )


# Templates --------------------------------------------------------------------------------------


def template_list(*, user: Person, active_only: bool = True) -> QuerySet[SessionTemplate]:
    """Templates ``user`` may use: every coach's, their own private ones, and those of coaches
    who share a team with them. Admins see all."""
    if not can_use(user, "coaching_templates"):
        return SessionTemplate.objects.none()
    templates = SessionTemplate.objects.select_related("created_by")
    if active_only:
        templates = templates.filter(is_active=True)
    scope = scope_for(user)
    if scope.reach is Reach.EVERYTHING:
        return templates
    visible = Q(visibility=TemplateVisibility.ALL) | Q(created_by_id=user.pk)
    if scope.team_ids:
        visible |= Q(visibility=TemplateVisibility.TEAMS, created_by__teams__in=scope.team_ids)
    return templates.filter(visible).distinct()


def template_get(*, user: Person, pk: int) -> SessionTemplate:
    template = template_list(user=user, active_only=False).filter(pk=pk).first()
    if template is None:
        raise NotFound("No such session template.")
    return template


# "Coach on this" --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionAnswer:
    review_id: int
    criterion_key: str
    outcome: str
    comment: str
    evidence: tuple[int, ...]


def review_criterion_answers(
    *, user: Person, review_ids: list[int], criterion_key: str
) -> list[CriterionAnswer]:
    """The current answers on ``criterion_key`` of the reviews ``user`` may read (every segment
    that has one), with the reviewer's comment and the transcript lines attached as evidence."""
    if not review_ids or not criterion_key:
        return []
    rows = (
        qa.review_base(user=user)
        .filter(pk__in=review_ids, current_revision__answers__criterion_key=criterion_key)
        .order_by()
        .values_list(
            "pk",
            "current_revision__answers__outcome",
            "current_revision__answers__comment",
            "current_revision__answers__evidence",
        )
    )
    return [
        CriterionAnswer(pk, criterion_key, outcome or "", comment or "", tuple(evidence or ()))
        for pk, outcome, comment, evidence in rows
    ]


def failed_reviews(
    *, user: Person, agent_id: int, criterion_key: str, limit: int = PREFILL_REVIEWS
) -> list[int]:
    """The agent's latest reviews (readable by ``user``) that answered ``criterion_key``
    NOT_MET, newest first."""
    ids = (
        qa.review_list(user=user, agent_id=agent_id)
        .filter(
            current_revision__answers__criterion_key=criterion_key,
            current_revision__answers__outcome=Outcome.NOT_MET,
        )
        .values_list("pk", flat=True)
    )
    seen: list[int] = []
    for pk in ids[: limit * 3]:
        if pk not in seen:
            seen.append(pk)
    return seen[:limit]


@dataclass
class Prefill:
    """What "Coach on this" puts in a new session's plan."""

    agent: Agent | None = None
    topics: list[str] = field(default_factory=list)
    title: str = ""
    review_ids: list[int] = field(default_factory=list)
    conversation_ids: list[int] = field(default_factory=list)
    pins: list[dict[str, Any]] = field(default_factory=list)  # review, communication, criterion
    origin: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what could not be used, said on the page


ORIGINS = ("review", "scorecard", "heatmap")


def session_prefill(
    *,
    user: Person,
    agent_id: int | None = None,
    criterion: str = "",
    review_id: int | None = None,
    conversation_id: int | None = None,
    origin: str = "",
) -> Prefill:
    """The plan of a session started from where a problem was seen: a review (its evidence on
    the criterion, with the review's comment), a scorecard criterion or a heatmap cell (the
    agent's latest reviews that failed it, up to ``PREFILL_REVIEWS``, with their evidence)."""
    prefill = Prefill()
    review = None
    if review_id is not None:
        review = qa.review_base(user=user).filter(pk=review_id, is_calibration=False).first()
        if review is None:
            prefill.notes.append("That review is not one you may read; it was left out.")
        elif agent_id is None:
            agent_id = review.agent_id
    if agent_id is not None:
        prefill.agent = accounts.agent_choices(user=user).filter(pk=agent_id).first()
        if prefill.agent is None:
            prefill.notes.append("That agent is not one you coach.")
    agent = prefill.agent
    if agent is None:
        return prefill
    names = criterion_name_map([criterion]) if criterion else {}
    if criterion and criterion in names:
        prefill.topics = [criterion]
        prefill.title = f"Coaching: {names[criterion]}"
    elif criterion:
        prefill.notes.append(f"No criterion “{criterion}” in the rubrics; pick the topics below.")
        criterion = ""
    reviews: list[int] = []
    if review is not None:
        if review.agent_id != agent.pk:
            prefill.notes.append("That review is of another agent; it was left out.")
        else:
            reviews = [review.pk]
    elif criterion and origin in ("scorecard", "heatmap", ""):
        reviews = failed_reviews(user=user, agent_id=agent.pk, criterion_key=criterion)
    prefill.review_ids = reviews
    for answer in review_criterion_answers(user=user, review_ids=reviews, criterion_key=criterion):
        for line in answer.evidence:
            pin = {"review": answer.review_id, "communication": line, "criterion": criterion}
            if pin not in prefill.pins:
                prefill.pins.append(pin)
    if conversation_id is not None and review is None:
        visible = (
            conversations.conversations_of(user=user)
            .filter(pk=conversation_id, participants__agent_id=agent.pk)
            .exists()
        )
        if visible:
            prefill.conversation_ids = [conversation_id]
        else:
            prefill.notes.append("That conversation is not one of this agent's you may see.")
    prefill.origin = {
        key: value
        for key, value in {
            "from": origin if origin in ORIGINS else "",
            "criterion": criterion,
            "review": review.pk if review is not None else None,
            "conversation": conversation_id if prefill.conversation_ids else None,
        }.items()
        if value
    }
    return prefill


def coach_choices(*, user: Person) -> list[User]:
    """People who plan sessions, for the list's filter."""
    return accounts.user_choices(features=["coaching_manage"])
