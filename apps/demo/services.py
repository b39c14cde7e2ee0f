"""Load the Harper Valley demo calls, with teams, agents and one login per role.

Idempotent by construction: every row has a natural key (a slug, a name identity, a ``demo_...``
Twilio id, a username) and is only ever inserted when missing, never updated. A second run
therefore changes nothing, including timestamps and passwords a user has changed since.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.utils import timezone

from apps.accounts.choices import IdentityKind, Role
from apps.accounts.models import Agent, AgentIdentity, Team, User
from apps.common.errors import Conflict
from apps.conversations.choices import Channel, ContentType, ConversationStatus, ParticipantType
from apps.conversations.models import Communication, Conversation, Participant

from .dataset import DATA_DIR, DemoCall, read_calls
from .thresholds import DEMO_SEMANTIC_THRESHOLDS

DEMO_PASSWORD = "demo"
SOURCE = "harper-valley"

EAST = "harper-valley-east"
WEST = "harper-valley-west"
TEAMS = {EAST: "Harper Valley East", WEST: "Harper Valley West"}

# Fixed so the demo reads the same everywhere; Linda (the `agent` login) is in East.
AGENT_TEAMS = {
    "Linda": EAST,
    "Michael": EAST,
    "David": EAST,
    "Mary": EAST,
    "John": EAST,
    "Robert": WEST,
    "James": WEST,
    "Jennifer": WEST,
    "Patricia": WEST,
    "Elizabeth": WEST,
}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    first_name: str
    last_name: str
    role: Role
    sees: str
    teams: tuple[str, ...] = ()
    is_admin: bool = False


DEMO_LOGINS = (
    DemoLogin("admin", "Ada", "Admin", Role.ADMIN, "everything, and the admin site", is_admin=True),
    DemoLogin("qa", "Quinn", "Analyst", Role.QA_ANALYST, "every conversation"),
    DemoLogin("coach", "Cora", "Coach", Role.COACH, "Harper Valley East and West", (EAST, WEST)),
    DemoLogin("supervisor", "Sam", "Supervisor", Role.SUPERVISOR, "Harper Valley East", (EAST,)),
    DemoLogin("agent", "Linda", "Agent", Role.AGENT, "Linda's own conversations"),
)
AGENT_LOGIN, AGENT_LOGIN_NAME = "agent", "Linda"


@dataclass(frozen=True)
class LoadCount:
    label: str
    created: int
    present: int


@dataclass(frozen=True)
class DemoLoadResult:
    counts: tuple[LoadCount, ...]
    shift_days: int
    latest_call_on: date
    logins: tuple[DemoLogin, ...]


@transaction.atomic
def demo_load(
    *, calls: Sequence[DemoCall] | None = None, today: date | None = None
) -> DemoLoadResult:
    """Insert whatever part of the demo is missing; return what was created and what was there.

    Calls are moved forward by whole days so the latest one falls on the day before ``today``
    (default: the local date) at the first load; later loads reuse the shift already in the data.
    """
    calls = read_calls() if calls is None else calls
    counts: list[LoadCount] = []
    teams = _load_teams(counts)
    agents = _load_agents(calls=calls, teams=teams, counts=counts)
    shift = _date_shift(calls=calls, today=today or timezone.localdate())
    conversations = _load_conversations(calls=calls, agents=agents, shift=shift, counts=counts)
    participants = _load_participants(
        calls=calls, agents=agents, conversations=conversations, shift=shift, counts=counts
    )
    _load_communications(
        calls=calls,
        conversations=conversations,
        participants=participants,
        shift=shift,
        counts=counts,
    )
    _load_users(teams=teams, counts=counts)
    _link_agent_login(agent=agents[AGENT_LOGIN_NAME])
    latest = max(call.started_at for call in calls) + shift
    return DemoLoadResult(
        counts=tuple(counts),
        shift_days=shift.days,
        latest_call_on=timezone.localtime(latest).date(),
        logins=DEMO_LOGINS,
    )


def conversation_twilio_id(sid: str) -> str:
    return f"demo_conversation_{sid}"


def _load_teams(counts: list[LoadCount]) -> dict[str, Team]:
    by_slug = _insert_missing(
        Team,
        key="slug",
        rows=[Team(slug=slug, name=name) for slug, name in TEAMS.items()],
        label="teams",
        counts=counts,
    )
    if missing := set(TEAMS) - set(by_slug):
        # Only a team that already has one of our names under another slug gets here.
        raise Conflict(f"Teams named {sorted(TEAMS[s] for s in missing)} exist with other slugs.")
    return {team.slug: team for team in Team.objects.filter(slug__in=TEAMS)}


def _load_agents(
    *, calls: Sequence[DemoCall], teams: dict[str, Team], counts: list[LoadCount]
) -> dict[str, Agent]:
    """One agent per agent name, found again by its name identity (wherever its team is now)."""
    names = sorted({call.agent_name for call in calls})
    agents = {
        identity.value: identity.agent
        for identity in AgentIdentity.objects.filter(
            kind=IdentityKind.NAME, value__in=names
        ).select_related("agent")
    }
    missing = [name for name in names if name not in agents]
    before = Agent.objects.count()
    # An agent of that name may already be in the team without the identity: it is reused.
    Agent.objects.bulk_create(
        [Agent(display_name=name, team=teams[_team_slug(name)]) for name in missing],
        ignore_conflicts=True,
    )
    created = Agent.objects.count() - before
    for name in missing:
        agents[name] = Agent.objects.get(display_name__iexact=name, team=teams[_team_slug(name)])
    counts.append(LoadCount("agents", created=created, present=len(names) - created))

    identities = [
        AgentIdentity(agent=agents[name], kind=IdentityKind.NAME, value=name) for name in names
    ]
    identities += [
        AgentIdentity(agent=agents[name], kind=IdentityKind.SPEAKER_ID, value=str(speaker_id))
        for speaker_id, name in sorted(_unambiguous_speaker_ids(calls).items())
    ]
    wanted = {(identity.kind, identity.value) for identity in identities}
    matching = AgentIdentity.objects.filter(
        kind__in=[IdentityKind.NAME, IdentityKind.SPEAKER_ID],
        value__in=[identity.value for identity in identities],
    ).values_list("kind", "value")
    present_keys = set(matching) & wanted
    AgentIdentity.objects.bulk_create(
        [i for i in identities if (i.kind, i.value) not in present_keys], ignore_conflicts=True
    )
    created = len(set(matching.all()) & wanted) - len(present_keys)
    counts.append(LoadCount("agent identities", created=created, present=len(present_keys)))
    return agents


def _unambiguous_speaker_ids(calls: Iterable[DemoCall]) -> dict[int, str]:
    """Speaker ids that name one agent: only ever on the agent side, always under one name.

    In this data a speaker id often appears under several agent names, or also as a caller
    (see stats.md); such an id would link a participant to the wrong agent, so it is left out.
    """
    names: dict[int, set[str]] = {}
    callers = set()
    for call in calls:
        names.setdefault(call.agent_speaker_id, set()).add(call.agent_name)
        callers.add(call.caller_speaker_id)
    return {
        speaker_id: next(iter(agent_names))
        for speaker_id, agent_names in names.items()
        if len(agent_names) == 1 and speaker_id not in callers
    }


def _date_shift(*, calls: Sequence[DemoCall], today: date) -> timedelta:
    """Whole days that move the 2020 calls to now: the shift already loaded, else a new one."""
    by_twilio_id = {conversation_twilio_id(call.sid): call for call in calls}
    loaded = (
        Conversation.objects.filter(twilio_id__in=list(by_twilio_id), started_at__isnull=False)
        .values_list("twilio_id", "started_at")
        .order_by("twilio_id")
        .first()
    )
    if loaded is not None and (started_at := loaded[1]) is not None:
        since_source = started_at - by_twilio_id[loaded[0]].started_at
        return timedelta(days=round(since_source / timedelta(days=1)))
    latest = max(call.started_at for call in calls)
    yesterday = today - timedelta(days=1)
    shift = timedelta(days=(yesterday - timezone.localtime(latest).date()).days)
    # Across a DST change "N days later" can land an hour off; nudge it back onto yesterday.
    while (landed := timezone.localtime(latest + shift).date()) != yesterday:
        shift += timedelta(days=1 if landed < yesterday else -1)
    return shift


def _load_conversations(
    *,
    calls: Sequence[DemoCall],
    agents: dict[str, Agent],
    shift: timedelta,
    counts: list[LoadCount],
) -> dict[str, int]:
    rows = [
        Conversation(
            twilio_id=conversation_twilio_id(call.sid),
            name=f"{call.caller_name}: {call.task_type}",
            status=ConversationStatus.CLOSED,
            channels=[Channel.VOICE.value],
            call_sids=[call.call_sid],
            started_at=call.started_at + shift,
            ended_at=call.ended_at + shift,
            team_id=agents[call.agent_name].team_id,
            queue=call.task_type,
            attributes={
                "source": SOURCE,
                "sid": call.sid,
                "session": call.session,
                "tasks": list(call.tasks),
                "labels": call.labels,
                "surveys": {"agent": call.agent_survey, "caller": call.caller_survey},
                "caller_rating": call.caller_rating,
            },
        )
        for call in calls
    ]
    by_twilio_id = _insert_missing(
        Conversation, key="twilio_id", rows=rows, label="conversations", counts=counts
    )
    return {call.sid: by_twilio_id[conversation_twilio_id(call.sid)] for call in calls}


def _load_participants(
    *,
    calls: Sequence[DemoCall],
    agents: dict[str, Agent],
    conversations: dict[str, int],
    shift: timedelta,
    counts: list[LoadCount],
) -> dict[tuple[str, str], int]:
    """Two participants per call, keyed by (sid, speaker role)."""
    rows: list[Participant] = []
    for call in calls:
        common: dict[str, Any] = {
            "conversation_id": conversations[call.sid],
            "joined_at": call.started_at + shift,
            "left_at": call.ended_at + shift,
        }
        rows.append(
            Participant(
                twilio_id=_participant_twilio_id(call.sid, "caller"),
                type=ParticipantType.CUSTOMER,
                name=call.caller_name,
                addresses=[{"channel": Channel.VOICE.value, "address": call.caller_address}],
                **common,
            )
        )
        rows.append(
            Participant(
                twilio_id=_participant_twilio_id(call.sid, "agent"),
                type=ParticipantType.HUMAN_AGENT,
                name=call.agent_name,
                agent=agents[call.agent_name],
                **common,
            )
        )
    by_twilio_id = _insert_missing(
        Participant, key="twilio_id", rows=rows, label="participants", counts=counts
    )
    return {
        (call.sid, role): by_twilio_id[_participant_twilio_id(call.sid, role)]
        for call in calls
        for role in ("caller", "agent")
    }


def _participant_twilio_id(sid: str, role: str) -> str:
    return f"demo_participant_{sid}_{role}"


def _load_communications(
    *,
    calls: Sequence[DemoCall],
    conversations: dict[str, int],
    participants: dict[tuple[str, str], int],
    shift: timedelta,
    counts: list[LoadCount],
) -> None:
    """One transcription per segment with a human transcript; empty segments carry nothing."""
    rows = []
    for call in calls:
        started_at = call.started_at + shift
        for segment in call.segments:
            if not segment.text:
                continue
            metadata: dict[str, Any] = {
                "source": SOURCE,
                "speaker_role": segment.role,
                "asr_text": segment.asr_text,
                "emotion": asdict(segment.emotion),
            }
            if segment.dialog_acts:
                metadata["dialog_acts"] = list(segment.dialog_acts)
            rows.append(
                Communication(
                    twilio_id=f"demo_communication_{call.sid}_{segment.index}",
                    conversation_id=conversations[call.sid],
                    author_id=participants[(call.sid, segment.role)],
                    author_address=call.caller_address if segment.role == "caller" else "",
                    channel=Channel.VOICE.value,
                    content_type=ContentType.TRANSCRIPTION,
                    text=segment.text,
                    occurred_at=started_at + timedelta(milliseconds=segment.start_ms),
                    offset_ms=segment.start_ms,
                    duration_ms=segment.duration_ms,
                    channel_id=call.call_sid,
                    metadata=metadata,
                )
            )
    _insert_missing(
        Communication, key="twilio_id", rows=rows, label="communications", counts=counts
    )


def _load_users(*, teams: dict[str, Team], counts: list[LoadCount]) -> None:
    """Create the demo logins that do not exist; an existing user is left exactly as it is."""
    usernames = [login.username for login in DEMO_LOGINS]
    present = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    # One hash for all: the password is printed for everyone to read, and each PBKDF2 hash costs
    # a noticeable fraction of a second. Set directly, so the validators (which would reject
    # "demo") are bypassed on purpose.
    password = make_password(DEMO_PASSWORD)
    created = 0
    for login in DEMO_LOGINS:
        if login.username in present:
            continue
        user = User.objects.create(
            username=login.username,
            first_name=login.first_name,
            last_name=login.last_name,
            role=login.role,
            is_staff=login.is_admin,
            is_superuser=login.is_admin,
            password=password,
        )
        user.teams.set([teams[slug] for slug in login.teams])
        created += 1
    counts.append(LoadCount("users", created=created, present=len(present)))


def _link_agent_login(*, agent: Agent) -> None:
    """Let the `agent` login be Linda, unless either is already linked to someone else."""
    user = User.objects.filter(username=AGENT_LOGIN, role=Role.AGENT).first()
    if user is None or agent.user_id is not None or Agent.objects.filter(user=user).exists():
        return
    Agent.objects.filter(pk=agent.pk, user__isnull=True).update(
        user=user, updated_at=timezone.now()
    )


def _team_slug(agent_name: str) -> str:
    if agent_name in AGENT_TEAMS:
        return AGENT_TEAMS[agent_name]
    # A name a future version of the data adds: still always the same team.
    return (EAST, WEST)[hashlib.sha256(agent_name.encode()).digest()[0] % 2]


M = TypeVar("M", bound=models.Model)


def _insert_missing(
    model: type[M], *, key: str, rows: list[M], label: str, counts: list[LoadCount]
) -> dict[str, int]:
    """Insert the rows whose ``key`` is not in the table yet; return ``{key: pk}`` for all rows.

    Rows already there are never touched: no UPDATE, so no ``updated_at`` moves.
    """
    keys = [getattr(row, key) for row in rows]
    present = set(model._default_manager.filter(**{f"{key}__in": keys}).values_list(key, flat=True))
    model._default_manager.bulk_create(
        [row for row in rows if getattr(row, key) not in present],
        ignore_conflicts=True,
        batch_size=500,
    )
    pks = dict(model._default_manager.filter(**{f"{key}__in": keys}).values_list(key, "pk"))
    counts.append(LoadCount(label, created=len(pks) - len(present), present=len(present)))
    return pks


# ---------------------------------------------------------------------------------------------
# Intelligence for the demo: the bank's script as a rubric, a small knowledge base, and the
# default rules run over every demo call so the pages have results from the start.
# ---------------------------------------------------------------------------------------------

RUBRIC_PATH = DATA_DIR.parent / "harper-valley-script.rubric.json"
KNOWLEDGE_PATH = DATA_DIR.parent / "knowledge.json"


@dataclass(frozen=True)
class DemoIntelligenceResult:
    rubric_created: bool
    articles_created: int
    executions: int


def demo_intelligence_load(*, shadow: bool = True) -> DemoIntelligenceResult:
    """Idempotent: the rubric and articles are added once (by name / title), rules run once.

    ``shadow`` also runs the suggestions rule at every turn of every call (about 1,500 runs,
    some 15 s), so insights can compare each suggestion with what the agent said.
    """
    from apps.floor import services as floor
    from apps.intelligence import services as intelligence
    from apps.knowledge import services as knowledge_services
    from apps.rubrics import services as rubrics
    from apps.rubrics.imports import rubric_import
    from apps.rubrics.models import Rubric

    intelligence.defaults_ensure()
    floor.alert_rules_ensure()
    admin = User.objects.filter(username="admin").first()
    document = json.loads(RUBRIC_PATH.read_text(encoding="utf-8"))
    name = document.get("rubric", {}).get("name") or document.get("name") or "Bank call script"
    rubric_created = False
    if admin is not None and not Rubric.objects.filter(name=name).exists():
        draft = rubric_import(fmt="json", document=document, actor=admin, name=name)
        rubrics.version_publish(version=draft, actor=admin)
        rubric_created = True
    if admin is not None:
        _adherence_thresholds_ensure(admin=admin)
    knowledge = json.loads(KNOWLEDGE_PATH.read_text(encoding="utf-8"))
    articles = knowledge_services.knowledge_seed(articles=knowledge["articles"], user=admin)
    ids = list(
        Conversation.objects.filter(twilio_id__startswith="demo_conversation_").values_list(
            "pk", flat=True
        )
    )
    # Suggestions at every turn, as the agents would have seen them live ("shadow mode"):
    # insights compares each with what the agent said next.
    ran = intelligence.conversations_backfill(
        conversation_ids=ids, every_point=["live-suggestions"] if shadow else []
    )
    return DemoIntelligenceResult(
        rubric_created=rubric_created, articles_created=articles, executions=ran["executions"]
    )


ADHERENCE_OPERATOR_KEY = "script-adherence"


def _adherence_thresholds_ensure(*, admin: User) -> bool:
    """Give the built-in Script Adherence operator the demo rubric's tuned semantic thresholds
    (a new operator version), unless its latest version sets thresholds already (never
    overwrites an admin's choice). True if a version was added."""
    from apps.intelligence import selectors as intelligence_selectors
    from apps.intelligence import services as intelligence

    operator = (
        intelligence_selectors.operator_list(user=admin).filter(key=ADHERENCE_OPERATOR_KEY).first()
    )
    latest = intelligence_selectors.latest_version(operator=operator) if operator else None
    if operator is None or latest is None or "semantic_thresholds" in latest.parameters:
        return False
    intelligence.operator_version_create(
        user=admin,
        operator=operator,
        parameters={**latest.parameters, "semantic_thresholds": dict(DEMO_SEMANTIC_THRESHOLDS)},
        note="Demo: the bank rubric's semantic thresholds, tuned on the tuning half of the demo "
        "calls (docs/operator-quality.md, section 0.4).",
    )
    return True
