"""Sampling policies: which conversations QA reviews beyond the flagged ones.

A run picks, for each agent, the conversations the quota still asks for in the current period
(day, ISO week or month, in TIME_ZONE): closed conversations that ended in the period, match the
filters and are not in the queue already. The order is random but fixed for a (policy, period,
agent): the same conversations come first in a preview and in the run, and a second run in the
period only tops up. Each item keeps why it was picked (``QueueItem.pick``) and says it in words
("sampled by Weekly: 3 per agent per week, #2 of 3"). Picks are spread evenly over the policy's
reviewers, never to someone whose own conversation it is; with no reviewers (or none who may
take one) they go to the pool.

The item's source key is ``policy:<id>:<period>``: one item per conversation, policy and period,
so a policy run twice in a period, even at once, creates no duplicate (the policy row is also
locked during a run).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from celery.schedules import crontab
from django.db import transaction
from django.db.models import CharField, DurationField, ExpressionWrapper, F, Q, QuerySet, Value
from django.db.models.functions import MD5, Cast, Concat
from django.urls import reverse
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.accounts import services as accounts_services
from apps.accounts.scoping import can_use
from apps.accounts.services import NotificationInput
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.conversations import selectors as conversations
from apps.conversations.choices import ConversationStatus
from apps.intelligence import selectors as intelligence

from ..choices import (
    ItemSource,
    ItemStatus,
    NotificationKind,
    ParticipantMix,
    Period,
    Priority,
    QuotaKind,
    Sentiment,
)
from ..models import QueueItem, SamplingPolicy
from . import notify
from .queue import queue_item_add
from .reviewers import spread_evenly

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

NAME_MAX = 120
QUOTA_MAX = 1000
DUE_DAYS_MAX = 365
PREVIEW_LIMIT = 500
_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


# The policy as plain data (saved or not) ----------------------------------------------------------


@dataclass(frozen=True)
class PolicySpec:
    name: str
    description: str = ""
    is_active: bool = True
    team_ids: tuple[int, ...] = ()
    agent_ids: tuple[int, ...] = ()
    queues: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    participant_mix: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()
    adherence_min: Decimal | None = None
    adherence_max: Decimal | None = None
    duration_min_seconds: int | None = None
    duration_max_seconds: int | None = None
    quota_kind: str = QuotaKind.PER_AGENT
    quota_count: int = 3
    percent: Decimal | None = None
    minimum: int = 1
    period: str = Period.WEEK
    reviewer_ids: tuple[int, ...] = ()
    priority: int = Priority.NORMAL
    due_days: int = 7
    schedule: str = "0 6 * * *"
    policy_id: int | None = None

    @property
    def quota_text(self) -> str:
        period = Period(self.period).label
        if self.quota_kind == QuotaKind.PERCENT:
            return f"{_trim(self.percent)}% per agent per {period}, at least {self.minimum}"
        return f"{self.quota_count} per agent per {period}"


def _trim(value: Decimal | None) -> str:
    if value is None:
        return "0"
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:f}".rstrip("0")


def spec_of(policy: SamplingPolicy) -> PolicySpec:
    """A saved policy as a spec (its many-to-many ids read once: prefetch them for lists)."""
    return PolicySpec(
        name=policy.name,
        description=policy.description,
        is_active=policy.is_active,
        team_ids=tuple(sorted(t.pk for t in policy.teams.all())),
        agent_ids=tuple(sorted(a.pk for a in policy.agents.all())),
        queues=tuple(policy.queues),
        channels=tuple(policy.channels),
        participant_mix=tuple(policy.participant_mix),
        sentiments=tuple(policy.sentiments),
        adherence_min=policy.adherence_min,
        adherence_max=policy.adherence_max,
        duration_min_seconds=policy.duration_min_seconds,
        duration_max_seconds=policy.duration_max_seconds,
        quota_kind=policy.quota_kind,
        quota_count=policy.quota_count,
        percent=policy.percent,
        minimum=policy.minimum,
        period=policy.period,
        reviewer_ids=tuple(sorted(u.pk for u in policy.reviewers.all())),
        priority=policy.priority,
        due_days=policy.due_days,
        schedule=policy.schedule,
        policy_id=policy.pk,
    )


def _strings(
    value: Any, path: str, errors: dict[str, list[str]], allowed: Iterable[str] = ()
) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = [part for part in value.replace("\n", ",").split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors[path] = ["Give a list of texts."]
        return ()
    cleaned = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    allowed = set(allowed)
    if allowed and (unknown := [v for v in cleaned if v not in allowed]):
        errors[path] = [f"Not a choice: {', '.join(unknown[:5])}."]
    if any(len(v) > 120 for v in cleaned):
        errors[path] = ["Each at most 120 characters."]
    return cleaned


def _ids(value: Any, path: str, errors: dict[str, list[str]]) -> tuple[int, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        errors[path] = ["Give a list of ids."]
        return ()
    return tuple(sorted(set(value)))


def _number(
    value: Any,
    path: str,
    errors: dict[str, list[str]],
    *,
    low: float,
    high: float,
    integer: bool = False,
) -> Any:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[path] = ["Give a number."]
        return None
    if not number.is_finite() or number < low or number > high:
        errors[path] = [f"Between {low:g} and {high:g}."]
        return None
    if integer:
        if number != number.to_integral():
            errors[path] = ["Give a whole number."]
            return None
        return int(number)
    return number.quantize(Decimal("0.01"))


def cron_parts(schedule: str) -> dict[str, str] | None:
    """``"0 6 * * mon-fri"`` as crontab's five fields, or None when it is not one."""
    parts = schedule.split()
    if len(parts) != len(_CRON_FIELDS):
        return None
    try:
        crontab(**dict(zip(_CRON_FIELDS, parts, strict=True)))
    except Exception:
        return None
    return dict(zip(_CRON_FIELDS, parts, strict=True))


def policy_spec_clean(data: dict[str, Any], *, policy_id: int | None = None) -> PolicySpec:
    """Check a policy as sent (form or API): every problem at once, by field."""
    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors["name"] = ["Give the policy a name."]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"At most {NAME_MAX} characters."]
    elif SamplingPolicy.objects.filter(name__iexact=name).exclude(pk=policy_id or 0).exists():
        errors["name"] = ["Another policy has this name."]
    quota_kind = data.get("quota_kind") or QuotaKind.PER_AGENT
    if quota_kind not in QuotaKind.values:
        errors["quota_kind"] = ["Choose a kind of quota."]
    period = data.get("period") or Period.WEEK
    if period not in Period.values:
        errors["period"] = ["Choose day, week or month."]
    quota_count = _number(
        data.get("quota_count", 3), "quota_count", errors, low=1, high=QUOTA_MAX, integer=True
    )
    percent = _number(data.get("percent"), "percent", errors, low=0.01, high=100)
    minimum = _number(
        data.get("minimum", 1), "minimum", errors, low=0, high=QUOTA_MAX, integer=True
    )
    if quota_kind == QuotaKind.PERCENT and percent is None and "percent" not in errors:
        errors["percent"] = ["Give the share of each agent's conversations to review."]
    if quota_kind == QuotaKind.PER_AGENT and quota_count is None and "quota_count" not in errors:
        errors["quota_count"] = ["Give how many conversations per agent."]
    adherence_min = _number(data.get("adherence_min"), "adherence_min", errors, low=0, high=100)
    adherence_max = _number(data.get("adherence_max"), "adherence_max", errors, low=0, high=100)
    if adherence_min is not None and adherence_max is not None and adherence_min > adherence_max:
        errors["adherence_max"] = ["At least the lowest score."]
    duration_min = _number(
        data.get("duration_min_seconds"),
        "duration_min_seconds",
        errors,
        low=0,
        high=86_400,
        integer=True,
    )
    duration_max = _number(
        data.get("duration_max_seconds"),
        "duration_max_seconds",
        errors,
        low=0,
        high=86_400,
        integer=True,
    )
    if duration_min is not None and duration_max is not None and duration_min > duration_max:
        errors["duration_max_seconds"] = ["At least the shortest duration."]
    priority = _number(
        data.get("priority", Priority.NORMAL), "priority", errors, low=1, high=4, integer=True
    )
    due_days = _number(
        data.get("due_days", 7), "due_days", errors, low=0, high=DUE_DAYS_MAX, integer=True
    )
    schedule = " ".join(str(data.get("schedule") or PolicySpec.schedule).split())
    if cron_parts(schedule) is None:
        errors["schedule"] = [
            "Five crontab fields: minute hour day-of-month month day-of-week, "
            "e.g. “0 6 * * mon-fri”."
        ]
    team_ids = _ids(data.get("team_ids"), "team_ids", errors)
    agent_ids = _ids(data.get("agent_ids"), "agent_ids", errors)
    reviewer_ids = _ids(data.get("reviewer_ids"), "reviewer_ids", errors)
    if set(team_ids) - accounts.existing_team_ids(ids=team_ids):
        errors["team_ids"] = ["No such team."]
    if set(agent_ids) - accounts.existing_agent_ids(ids=agent_ids):
        errors["agent_ids"] = ["No such agent."]
    reviewers = {u.pk for u in accounts.user_choices(features=["qa_review"])}
    if set(reviewer_ids) - reviewers:
        errors["reviewer_ids"] = [
            "Only people who review conversations (admins, QA analysts, coaches)."
        ]
    spec = PolicySpec(
        name=name,
        description=str(data.get("description") or "").strip()[:5000],
        is_active=bool(data.get("is_active", True)),
        team_ids=team_ids,
        agent_ids=agent_ids,
        queues=_strings(data.get("queues"), "queues", errors),
        channels=tuple(c.upper() for c in _strings(data.get("channels"), "channels", errors)),
        participant_mix=_strings(
            data.get("participant_mix"), "participant_mix", errors, ParticipantMix.values
        ),
        sentiments=_strings(data.get("sentiments"), "sentiments", errors, Sentiment.values),
        adherence_min=adherence_min,
        adherence_max=adherence_max,
        duration_min_seconds=duration_min,
        duration_max_seconds=duration_max,
        quota_kind=quota_kind,
        quota_count=quota_count or 1,
        percent=percent if quota_kind == QuotaKind.PERCENT else None,
        minimum=minimum if minimum is not None else 1,
        period=period,
        reviewer_ids=reviewer_ids,
        priority=priority or Priority.NORMAL,
        due_days=due_days if due_days is not None else 7,
        schedule=schedule,
        policy_id=policy_id,
    )
    if errors:
        raise ValidationFailed(errors)
    return spec


# Periods and schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    key: str  # 2026-12-06, 2026-W49, 2026-12


def period_window(period: str, now: datetime) -> Window:
    """The period (in TIME_ZONE) that ``now`` falls in."""
    local = timezone.localtime(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Aware arithmetic on local wall-clock times: a DST change inside a week or a month still
    # puts both ends on local midnight.
    if period == Period.DAY:
        start = midnight
        end = start + timedelta(days=1)
        key = start.date().isoformat()
    elif period == Period.MONTH:
        start = midnight.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        key = f"{start:%Y-%m}"
    else:
        start = midnight - timedelta(days=local.weekday())
        end = start + timedelta(days=7)
        year, week, _ = start.isocalendar()
        key = f"{year}-W{week:02d}"
    return Window(start=start, end=end, key=key)


def next_run(schedule: str, after: datetime) -> datetime | None:
    """The first time after ``after`` (to the minute, in TIME_ZONE) that ``schedule`` fires; day
    of month and day of week must both match (as in Celery's crontab). None within a year: never.
    """
    parts = cron_parts(schedule)
    if parts is None:
        return None
    cron = crontab(**parts)
    local = timezone.localtime(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
    tz = timezone.get_current_timezone()
    day = local.replace(hour=0, minute=0)
    for offset in range(367):
        date = (day + timedelta(days=offset)).date()
        if (
            date.month not in cron.month_of_year
            or date.day not in cron.day_of_month
            or date.isoweekday() % 7 not in cron.day_of_week
        ):
            continue
        for hour in sorted(cron.hour):
            for minute in sorted(cron.minute):
                at = timezone.make_aware(
                    datetime(date.year, date.month, date.day, hour, minute), tz
                )
                if at >= local:
                    return at
    return None


# Picking ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    conversation_id: int
    agent_id: int | None
    rank: int  # #rank of target for this agent in the period
    target: int
    population: int  # the agent's matching conversations in the period


@dataclass
class Picking:
    window: Window
    picks: list[Pick] = field(default_factory=list)
    matching: int = 0  # conversations matching the filters in the period so far
    already: int = 0  # picked by earlier runs in this period
    queued: int = 0  # matching ones in the queue already (from any source)
    agents: int = 0


def _source_key(policy_id: int, window: Window) -> str:
    return f"policy:{policy_id}:{window.key}"


def _matching(spec: PolicySpec, window: Window, now: datetime) -> QuerySet[Any]:
    found: QuerySet[Any] = conversations.conversations_unscoped().filter(
        status=ConversationStatus.CLOSED, ended_at__gte=window.start, ended_at__lte=now
    )
    if spec.team_ids:
        found = found.filter(team_id__in=spec.team_ids)
    if spec.queues:
        found = found.filter(queue__in=spec.queues)
    if spec.channels:
        found = found.filter(channels__overlap=list(spec.channels))
    if spec.duration_min_seconds is not None or spec.duration_max_seconds is not None:
        found = found.annotate(
            length=ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
        )
        if spec.duration_min_seconds is not None:
            found = found.filter(length__gte=timedelta(seconds=spec.duration_min_seconds))
        if spec.duration_max_seconds is not None:
            found = found.filter(length__lte=timedelta(seconds=spec.duration_max_seconds))
    found = conversations.with_agent_columns(found)
    if spec.agent_ids:
        found = found.filter(primary_agent_id__in=spec.agent_ids)
    if spec.participant_mix:
        mixes = Q()
        for mix in spec.participant_mix:
            if mix == ParticipantMix.AI:
                mixes |= Q(has_ai_agent=True, has_human_agent=False)
            elif mix == ParticipantMix.HANDOFF:
                mixes |= Q(has_ai_agent=True, has_human_agent=True)
            else:
                mixes |= Q(has_ai_agent=False)
        found = found.filter(mixes)
    if spec.sentiments:
        found = intelligence.with_customer_sentiment(found).filter(
            customer_sentiment__in=list(spec.sentiments)
        )
    if spec.adherence_min is not None or spec.adherence_max is not None:
        found = intelligence.with_ai_adherence_score(found)
        if spec.adherence_min is not None:
            found = found.filter(ai_adherence_score__gte=float(spec.adherence_min))
        if spec.adherence_max is not None:
            found = found.filter(ai_adherence_score__lte=float(spec.adherence_max))
    return found


def _target(spec: PolicySpec, population: int) -> int:
    if spec.quota_kind == QuotaKind.PERCENT:
        share = math.ceil(float(spec.percent or 0) * population / 100)
        return min(max(spec.minimum, share), population)
    return min(spec.quota_count, population)


def policy_pick(
    spec: PolicySpec, *, now: datetime | None = None, limit: int | None = None
) -> Picking:
    """What a run of ``spec`` would pick at ``now``; changes nothing (the preview, and the run's
    first step)."""
    now = now or timezone.now()
    window = period_window(spec.period, now)
    matching = _matching(spec, window, now)
    population: dict[int | None, int] = {}
    for agent_id in matching.values_list("primary_agent_id", flat=True).order_by():
        population[agent_id] = population.get(agent_id, 0) + 1
    picking = Picking(window=window, matching=sum(population.values()), agents=len(population))
    already: dict[int | None, int] = {}
    taken = QueueItem.objects.none()
    if spec.policy_id is not None:
        key = _source_key(spec.policy_id, window)
        taken = QueueItem.objects.filter(source_key=key)
        for agent_id in taken.exclude(status=ItemStatus.REMOVED).values_list("agent_id", flat=True):
            already[agent_id] = already.get(agent_id, 0) + 1
        picking.already = sum(already.values())
    # Not in the queue already (from any source, unless removed), nor taken by this policy in
    # this period (even if removed since: a removal is a decision, not a gap to refill).
    in_queue = QueueItem.objects.exclude(status=ItemStatus.REMOVED).values("conversation_id")
    picking.queued = matching.filter(pk__in=in_queue).count()
    seed = f"{spec.policy_id or 'new'}:{window.key}"
    candidates = (
        matching.exclude(pk__in=in_queue)
        .exclude(pk__in=taken.values("conversation_id"))
        .annotate(draw=MD5(Concat(Cast("pk", CharField()), Value(":" + seed))))
        .order_by("draw", "pk")
        .values_list("pk", "primary_agent_id")
    )
    need = {
        agent_id: _target(spec, count) - already.get(agent_id, 0)
        for agent_id, count in population.items()
    }
    got: dict[int | None, int] = {}
    for conversation_id, agent_id in candidates:
        if got.get(agent_id, 0) >= need.get(agent_id, 0):
            continue
        got[agent_id] = got.get(agent_id, 0) + 1
        picking.picks.append(
            Pick(
                conversation_id=conversation_id,
                agent_id=agent_id,
                rank=already.get(agent_id, 0) + got[agent_id],
                target=_target(spec, population[agent_id]),
                population=population[agent_id],
            )
        )
        if limit is not None and len(picking.picks) >= limit:
            break
    return picking


def reason_for(spec: PolicySpec, pick: Pick) -> str:
    return f"Sampled by “{spec.name}”: {spec.quota_text}, #{pick.rank} of {pick.target}"


# Writing ----------------------------------------------------------------------------------------


def _require_manager(user: Any) -> None:
    if not can_use(user, "qa_manage"):
        raise PermissionDenied("Only admins manage sampling policies.")


def _save(policy: SamplingPolicy, spec: PolicySpec) -> SamplingPolicy:
    for name in (
        "name",
        "description",
        "is_active",
        "adherence_min",
        "adherence_max",
        "duration_min_seconds",
        "duration_max_seconds",
        "quota_kind",
        "quota_count",
        "percent",
        "minimum",
        "period",
        "priority",
        "due_days",
        "schedule",
    ):
        setattr(policy, name, getattr(spec, name))
    policy.queues = list(spec.queues)
    policy.channels = list(spec.channels)
    policy.participant_mix = list(spec.participant_mix)
    policy.sentiments = list(spec.sentiments)
    policy.next_run_at = next_run(spec.schedule, timezone.now()) if spec.is_active else None
    policy.save()
    policy.teams.set(spec.team_ids)
    policy.agents.set(spec.agent_ids)
    policy.reviewers.set(spec.reviewer_ids)
    return policy


@transaction.atomic
def policy_create(*, user: Person, data: dict[str, Any]) -> SamplingPolicy:
    _require_manager(user)
    spec = policy_spec_clean(data)
    return _save(SamplingPolicy(created_by=accounts.signed_in(user)), spec)


@transaction.atomic
def policy_update(*, user: Person, policy: SamplingPolicy, data: dict[str, Any]) -> SamplingPolicy:
    _require_manager(user)
    locked = SamplingPolicy.objects.select_for_update().filter(pk=policy.pk).first()
    if locked is None:
        raise NotFound("No such sampling policy.")
    spec = policy_spec_clean(data, policy_id=locked.pk)
    return _save(locked, spec)


@transaction.atomic
def policy_delete(*, user: Person, policy: SamplingPolicy) -> None:
    """Delete a policy; the items it made stay in the queue (they keep their reason)."""
    _require_manager(user)
    SamplingPolicy.objects.filter(pk=policy.pk).delete()


@dataclass(frozen=True)
class RunResult:
    policy_id: int
    period: str
    created: int
    matching: int
    already: int
    to_pool: int
    assigned: dict[int, int]


@transaction.atomic
def policy_run(*, policy_id: int, user: Any = None, now: datetime | None = None) -> RunResult:
    """Run a policy now: pick, queue and assign. Safe to run twice (one item per conversation,
    policy and period; the policy row is locked while it runs)."""
    if user is not None:
        _require_manager(user)
    policy = (
        SamplingPolicy.objects.select_for_update(of=("self",))
        .prefetch_related("teams", "agents", "reviewers")
        .filter(pk=policy_id)
        .first()
    )
    if policy is None:
        raise NotFound("No such sampling policy.")
    now = now or timezone.now()
    spec = spec_of(policy)
    picking = policy_pick(spec, now=now)
    key = _source_key(policy.pk, picking.window)
    people = conversations.conversation_people(ids=[p.conversation_id for p in picking.picks])
    load: dict[int, int] = {}
    for assignee in QueueItem.objects.filter(source_key=key, assignee__isnull=False).values_list(
        "assignee_id", flat=True
    ):
        load[assignee] = load.get(assignee, 0) + 1
    chosen = spread_evenly(
        [(p.conversation_id, people[p.conversation_id]) for p in picking.picks],
        list(policy.reviewers.all()),
        load,
    )
    created = to_pool = 0
    assigned: dict[int, int] = {}
    due = now + timedelta(days=policy.due_days)
    for pick in picking.picks:
        reviewer = chosen.get(pick.conversation_id)
        item, new = queue_item_add(
            conversation_id=pick.conversation_id,
            source=ItemSource.SAMPLING,
            source_key=key,
            reason=reason_for(spec, pick),
            priority=policy.priority,
            due_at=due,
            assignee_id=reviewer,
            created_by=user,
            announce=False,
        )
        if not new:
            continue
        QueueItem.objects.filter(pk=item.pk).update(
            policy=policy,
            period=picking.window.key,
            agent_id=pick.agent_id,
            pick={
                "policy": policy.pk,
                "policy_name": policy.name,
                "period": picking.window.key,
                "quota": spec.quota_text,
                "rank": pick.rank,
                "target": pick.target,
                "population": pick.population,
                "agent": pick.agent_id,
                "filters": filters_text(spec),
                "reviewer": reviewer,
                "at": now.isoformat(),
            },
        )
        created += 1
        if reviewer is None:
            to_pool += 1
        else:
            assigned[reviewer] = assigned.get(reviewer, 0) + 1
    summary = {
        "at": now.isoformat(),
        "period": picking.window.key,
        "created": created,
        "matching": picking.matching,
        "already": picking.already,
        "to_pool": to_pool,
        "assigned": {str(k): v for k, v in assigned.items()},
    }
    SamplingPolicy.objects.filter(pk=policy.pk).update(
        last_run_at=now,
        last_run=summary,
        next_run_at=next_run(policy.schedule, now) if policy.is_active else None,
    )
    _announce(key, assigned, to_pool)
    return RunResult(
        policy.pk, picking.window.key, created, picking.matching, picking.already, to_pool, assigned
    )


def _announce(key: str, assigned: dict[int, int], to_pool: int) -> None:
    def send() -> None:
        for reviewer, count in assigned.items():
            accounts_services.notify(
                user_ids=[reviewer],
                notification=NotificationInput(
                    kind=NotificationKind.ITEM_ASSIGNED,
                    title="Sampled conversations to review were assigned to you",
                    url=reverse("qa-queue"),
                    key=f"qa.assigned.{key}",
                    count=count,
                ),
            )
        notify.pool_grew(to_pool)

    transaction.on_commit(send)


def policies_run_due(*, now: datetime | None = None) -> list[RunResult]:
    """Run every active policy whose time has come (beat, every few minutes). A policy without a
    next run yet gets one and waits for it."""
    now = now or timezone.now()
    for policy in SamplingPolicy.objects.filter(is_active=True, next_run_at__isnull=True):
        SamplingPolicy.objects.filter(pk=policy.pk, next_run_at__isnull=True).update(
            next_run_at=next_run(policy.schedule, now)
        )
    due = SamplingPolicy.objects.filter(is_active=True, next_run_at__lte=now).values_list(
        "pk", flat=True
    )
    return [policy_run(policy_id=pk, now=now) for pk in list(due)]


def filters_text(spec: PolicySpec) -> list[str]:
    """The policy's filters in words (what a pick records and the policy page shows)."""
    parts = []
    if spec.team_ids:
        parts.append(f"{len(spec.team_ids)} team(s)")
    if spec.agent_ids:
        parts.append(f"{len(spec.agent_ids)} agent(s)")
    if spec.queues:
        parts.append("queues: " + ", ".join(spec.queues))
    if spec.channels:
        parts.append("channels: " + ", ".join(spec.channels))
    if spec.participant_mix:
        parts.append(", ".join(ParticipantMix(m).label for m in spec.participant_mix))
    if spec.sentiments:
        parts.append("customer " + " or ".join(spec.sentiments))
    if spec.adherence_min is not None or spec.adherence_max is not None:
        high = _trim(spec.adherence_max) if spec.adherence_max is not None else "100"
        parts.append(f"AI adherence {_trim(spec.adherence_min)} to {high}")
    if spec.duration_min_seconds is not None or spec.duration_max_seconds is not None:
        low = spec.duration_min_seconds or 0
        high = (
            f"{spec.duration_max_seconds} s"
            if spec.duration_max_seconds is not None
            else "any length"
        )
        parts.append(f"{low} s to {high}")
    return parts or ["every closed conversation"]
