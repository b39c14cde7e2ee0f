"""Synthetic conversations at volume (``manage.py generate_conversations``), for benchmarks and
for trying the dashboards on months of history.

Written with PostgreSQL's COPY, table by table, with ids reserved from each table's sequence
up front (run it while nothing else inserts conversations). What it writes is shaped like the
real thing, not like the demo: voice and messaging; human, AI-only and AI-to-human calls;
teams of agents who differ in skill (handle time, adherence, QA scores); communications that
alternate with realistic turn lengths and pauses; the latest sentiment and script adherence
result of each call, topic and outcome labels, next-best-response suggestions on the human's
turns, handoff records, resolved flags, and submitted reviews for a few percent of calls.
A seed makes it repeatable. Nothing here goes through the services (that is the point); the
facts are then built by ``insights_rebuild``.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.choices import IdentityKind
from apps.accounts.models import Agent, AgentIdentity, Team

TASKS = (
    ("replace card", 14, ["i lost my card", "my debit card was stolen", "i need a new card"]),
    ("check balance", 16, ["what's my balance", "how much money is in my checking account"]),
    ("transfer money", 12, ["i want to transfer money to savings", "move five hundred dollars"]),
    ("pay bill", 14, ["i need to pay my electric bill", "can i make a payment"]),
    ("reset password", 12, ["i'm locked out of online banking", "reset my password please"]),
    ("order checks", 8, ["i'd like to order checks", "i need a new checkbook"]),
    (
        "schedule appointment",
        9,
        ["i want an appointment with a banker", "can i schedule a meeting"],
    ),
    ("get branch hours", 15, ["what are your branch hours", "are you open on saturday"]),
)
AGENT_LINES = (
    "thank you for calling harper valley national bank how can i help you",
    "sure i can help with that", "can you confirm your date of birth please",
    "let me pull up your account", "one moment while i check that for you",
    "i've taken care of that for you", "is there anything else i can help you with today",
    "thank you for calling and have a great day", "i'm sorry about the trouble",
    "you should see that in your account within a few minutes",
)  # fmt: skip
CUSTOMER_LINES = (
    "yes that's right", "okay", "my date of birth is in march", "thank you",
    "that's all thanks", "no that's everything", "great", "can you repeat that",
    "i've been waiting a while", "perfect",
)  # fmt: skip
AI_LINES = (
    "hello you've reached harper valley national bank how can i help you today",
    "i can help with that", "let me look that up", "our branches are open nine to five",
    "i've sent the details to you by text message", "i'll connect you with an agent",
)  # fmt: skip
SUGGESTIONS = (
    "I can order a replacement card for you today",
    "Let me check your available balance for you",
    "I can schedule that payment from your checking account",
    "I've sent a reset link to the email on file",
    "Branches are open Monday to Friday from nine to five",
)
OUTCOMES = (("resolved", 78), ("follow-up", 14), ("escalated", 8))
CHANNELS = (("VOICE", 70), ("SMS", 15), ("CHAT", 15))
GENERIC_CRITERIA = ("greeting", "verify_identity", "offer_help", "confirm_action", "closing")


@dataclass
class Counts:
    conversations: int = 0
    participants: int = 0
    communications: int = 0
    results: int = 0
    handoffs: int = 0
    flags: int = 0
    reviews: int = 0


@dataclass
class AgentProfile:
    pk: int
    team_id: int | None
    skill: float  # 0..1: faster, closer to the script, better reviews
    handle_factor: float


@dataclass
class Batch:
    """Rows of one table waiting to be copied."""

    table: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([c[0] for c in choices], weights=[c[1] for c in choices])[0]


def _reserve(table: str, n: int) -> int:
    """The first of ``n`` ids reserved from ``table``'s sequence."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        cursor.execute("SELECT nextval(%s)", [sequence])
        first = cursor.fetchone()[0]
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + max(n, 1)])
    return first


def _copy(batch: Batch) -> None:
    if not batch.rows:
        return
    columns = ", ".join(batch.columns)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        with raw.copy(f"COPY {batch.table} ({columns}) FROM STDIN") as copy:
            for row in batch.rows:
                copy.write_row(row)
    batch.rows.clear()


def _agents(rng: random.Random, *, teams: int, per_team: int) -> list[AgentProfile]:
    """The demo's agents when loaded, else generated teams of agents (kept between runs)."""
    agents = list(Agent.objects.filter(is_active=True).values_list("pk", "team_id"))
    if not agents:
        for t in range(teams):
            team, _ = Team.objects.get_or_create(
                slug=f"generated-{t + 1}", defaults={"name": f"Generated team {t + 1}"}
            )
            for a in range(per_team):
                name = f"Agent {t + 1}-{a + 1}"
                agent, created = Agent.objects.get_or_create(display_name=name, team=team)
                if created:
                    AgentIdentity.objects.create(agent=agent, kind=IdentityKind.NAME, value=name)
        agents = list(Agent.objects.filter(is_active=True).values_list("pk", "team_id"))
    return [
        AgentProfile(pk, team_id, rng.random(), 0.7 + rng.random() * 0.8) for pk, team_id in agents
    ]


def _operator_versions() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (o.key) o.key, v.id FROM intelligence_operator o "
            "JOIN intelligence_operatorversion v ON v.operator_id = o.id "
            "WHERE o.key IN ('sentiment', 'script-adherence', 'next-best-response') "
            "ORDER BY o.key, v.number DESC"
        )
        return dict(cursor.fetchall())


def _rubric() -> tuple[int | None, list[tuple[str, str]]]:
    """The newest published rubric version and its criteria (key, kind), if there is one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM rubrics_rubricversion WHERE status = 'PUBLISHED' "
            "ORDER BY published_at DESC NULLS LAST, id DESC LIMIT 1"
        )
        row = cursor.fetchone()
        if row is None:
            return None, [(key, "SCORED") for key in GENERIC_CRITERIA]
        cursor.execute(
            "SELECT c.key, c.kind FROM rubrics_criterion c JOIN rubrics_section s "
            "ON s.id = c.section_id WHERE c.version_id = %s ORDER BY s.position, c.position",
            [row[0]],
        )
        return row[0], list(cursor.fetchall())


def _reviewer() -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM accounts_user WHERE role IN ('qa_analyst', 'admin') "
            "AND is_active ORDER BY id LIMIT 1"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _start_of(rng: random.Random, *, end: date, days: int, zone: ZoneInfo) -> datetime:
    """A start time in the last ``days`` days: busier on weekdays, in business hours."""
    while True:
        day = end - timedelta(days=rng.randrange(days))
        if day.weekday() < 5 or rng.random() < 0.4:
            break
    hour = min(19, max(8, int(rng.gauss(13, 3))))
    moment = time(hour, rng.randrange(60), rng.randrange(60))
    return datetime.combine(day, moment, tzinfo=zone)


def generate_conversations(
    *,
    conversations: int,
    days: int = 90,
    seed: int = 1,
    end: date | None = None,
    teams: int = 4,
    per_team: int = 8,
    progress: Callable[[int, int], None] | None = None,
) -> Counts:
    """Write ``conversations`` synthetic conversations started over the ``days`` days before
    ``end`` (default: yesterday), in chunks of 5,000 per transaction."""
    rng = random.Random(seed)
    zone = ZoneInfo(settings.TIME_ZONE)
    end = end or timezone.localdate() - timedelta(days=1)
    agents = _agents(rng, teams=teams, per_team=per_team)
    versions = _operator_versions()
    rubric_version, criteria = _rubric()
    reviewer = _reviewer()
    run = uuid.uuid4().hex[:10]
    counts = Counts()
    chunk = 5000
    for first in range(0, conversations, chunk):
        size = min(chunk, conversations - first)
        with transaction.atomic():
            _generate_chunk(
                rng,
                size=size,
                offset=first,
                run=run,
                end=end,
                days=days,
                zone=zone,
                agents=agents,
                versions=versions,
                rubric_version=rubric_version,
                criteria=criteria,
                reviewer=reviewer,
                counts=counts,
            )
        if progress:
            progress(first + size, conversations)
    with connection.cursor() as cursor:  # fresh statistics for the planner
        for table in (
            "conversations_conversation", "conversations_participant",
            "conversations_communication", "intelligence_operatorresult", "relay_handoff",
            "intelligence_flag", "qa_review", "qa_reviewrevision", "qa_reviewanswer",
        ):  # fmt: skip
            cursor.execute(f"ANALYZE {table}")
    return counts


def _generate_chunk(
    rng: random.Random,
    *,
    size: int,
    offset: int,
    run: str,
    end: date,
    days: int,
    zone: ZoneInfo,
    agents: list[AgentProfile],
    versions: dict[str, int],
    rubric_version: int | None,
    criteria: list[tuple[str, str]],
    reviewer: int | None,
    counts: Counts,
) -> None:
    now = timezone.now()
    month = date(now.astimezone(UTC).year, now.astimezone(UTC).month, 1)
    conv = Batch(
        "conversations_conversation",
        ("id", "created_at", "updated_at", "twilio_id", "account_id", "configuration_id", "name",
         "status", "channels", "call_sids", "started_at", "ended_at", "queue", "attributes",
         "source_updated_at", "is_placeholder", "team_id", "sensitive", "sensitive_reason"),
    )  # fmt: skip
    part = Batch(
        "conversations_participant",
        ("id", "created_at", "updated_at", "twilio_id", "type", "name", "addresses",
         "profile_id", "joined_at", "left_at", "agent_id", "conversation_id"),
    )  # fmt: skip
    comm = Batch(
        "conversations_communication",
        ("id", "created_at", "updated_at", "twilio_id", "author_address", "channel",
         "content_type", "text", "occurred_at", "offset_ms", "duration_ms", "channel_id",
         "resource_id", "metadata", "conversation_id", "author_id", "conversation_month"),
    )  # fmt: skip
    result = Batch(
        "intelligence_operatorresult",
        ("created_at", "updated_at", "result_id", "source", "call_sid", "account_id",
         "configuration_id", "configuration_name", "configuration_version", "rule_id",
         "operator_id", "operator_name", "operator_version", "output_format", "result",
         "trigger_on", "trigger_at", "communication_first", "communication_last", "channels",
         "reference_ids", "participants", "execution_details", "metadata", "date_created",
         "conversation_id", "error", "raw_output", "status", "definition_id",
         "conversation_month"),
    )  # fmt: skip
    handoff = Batch(
        "relay_handoff",
        ("created_at", "updated_at", "call_sid", "session_id", "conversation_twilio_id",
         "reason_code", "reason", "summary", "sentiment", "attributes", "session_status",
         "session_duration", "from_number", "to_number", "conversation_id"),
    )  # fmt: skip
    flag = Batch(
        "intelligence_flag",
        ("created_at", "updated_at", "reason", "status", "raised_count", "conversation_id",
         "resolution", "resolved_at"),
    )  # fmt: skip
    review = Batch(
        "qa_review",
        ("id", "created_at", "updated_at", "status", "segments", "draft", "ai", "submitted_at",
         "revision_count", "score", "passed_critical", "release_at", "release_notified_at",
         "acknowledgement", "is_calibration", "agent_id", "conversation_id", "reviewer_id",
         "rubric_version_id"),
    )  # fmt: skip
    revision = Batch(
        "qa_reviewrevision",
        ("id", "number", "source", "reason", "created_at", "score", "passed_critical",
         "segment_scores", "strengths", "improvements", "created_by_id", "review_id"),
    )  # fmt: skip
    answer = Batch(
        "qa_reviewanswer",
        ("segment", "criterion_key", "outcome", "ai_outcome", "agreed", "comment", "evidence",
         "position", "revision_id"),
    )  # fmt: skip

    plans = [_plan(rng, end=end, days=days, zone=zone, agents=agents) for _ in range(size)]
    conv_id = _reserve("conversations_conversation", size)
    part_id = _reserve("conversations_participant", size * 3)
    comm_id = _reserve("conversations_communication", sum(len(p.lines) for p in plans))
    reviewed = [(i, p) for i, p in enumerate(plans) if p.reviewed and rubric_version is not None]
    review_id = _reserve("qa_review", len(reviewed))
    revision_id = _reserve("qa_reviewrevision", len(reviewed))

    for n, plan in enumerate(plans):
        pk = conv_id + n
        twilio = f"gen_conversation_{run}_{offset + n:07d}"
        call_sid = f"CA{uuid.UUID(int=rng.getrandbits(128)).hex}" if plan.channel == "VOICE" else ""
        ended = plan.start + timedelta(seconds=plan.length)
        team = plan.agent.team_id if plan.agent else None
        conv.rows.append((
            pk, now, now, twilio, "", "", f"{plan.task} ({plan.mix.lower()})", "CLOSED",
            [plan.channel], [call_sid] if call_sid else [], plan.start, ended, plan.task,
            json.dumps({"generated": run}), ended, False, team, False, "",
        ))  # fmt: skip
        ids: dict[str, int] = {}
        for who in plan.people:
            ids[who] = part_id
            agent = plan.agent.pk if who == "human" and plan.agent else None
            part.rows.append((
                part_id, now, now, f"gen_participant_{run}_{offset + n:07d}_{who}",
                {"customer": "CUSTOMER", "human": "HUMAN_AGENT", "ai": "AI_AGENT"}[who],
                {"customer": "Customer", "human": "Agent", "ai": "Assistant"}[who],
                json.dumps([]), "", plan.start + timedelta(seconds=plan.joined[who]), ended,
                agent, pk,
            ))  # fmt: skip
            part_id += 1
        comm_ids = []
        for index, (who, at, text, length) in enumerate(plan.lines):
            comm_twilio = f"gen_communication_{run}_{offset + n:07d}_{index:03d}"
            comm_ids.append(comm_twilio)
            comm.rows.append((
                comm_id, now, now, comm_twilio, "", plan.channel,
                "TRANSCRIPTION" if plan.channel == "VOICE" else "TEXT", text,
                plan.start + timedelta(seconds=at), int(at * 1000), int(length * 1000),
                call_sid, "", "{}", pk, ids[who], month,
            ))  # fmt: skip
            comm_id += 1
            if (
                who == "customer"
                and plan.agent is not None
                and at > plan.human_from
                and rng.random() < 0.5
            ):
                result.rows.append(_result(
                    plan, pk, call_sid, versions.get("next-best-response"), "Next Best Response",
                    "JSON", {"text": rng.choice(SUGGESTIONS), "article": None,
                             "in_reply_to": comm_twilio, "alternatives": []},
                    at, comm_twilio, now,
                ))  # fmt: skip
        result.rows.extend(
            _closing_results(rng, plan, pk, call_sid, versions, criteria, comm_ids, now)
        )
        if plan.handoff_reason:
            handoff.rows.append((
                now, now, call_sid or f"CA{pk:032d}", f"VX{pk:032d}", twilio,
                "live-agent-handoff", plan.handoff_reason, "The caller needs a person.",
                "neutral", "{}", "ended", int(plan.human_from), "", "", pk,
            ))  # fmt: skip
        if rng.random() < 0.08 - 0.05 * (plan.agent.skill if plan.agent else 0.5):
            flag.rows.append((now, now, "Low adherence (generated)", "RESOLVED", 1, pk,
                              "generated", ended))  # fmt: skip
        counts.conversations += 1
        counts.communications += len(plan.lines)
        counts.participants += len(plan.people)
    for index, (position_in_chunk, plan) in enumerate(reviewed):
        pk = conv_id + position_in_chunk
        rid, vid = review_id + index, revision_id + index
        outcomes = _outcomes(rng, plan, criteria)
        met = sum(1 for o in outcomes if o == "MET")
        judged = sum(1 for o in outcomes if o != "NA") or 1
        score = round(100 * met / judged, 1)
        critical_ok = all(
            o != "NOT_MET" for (key, kind), o in zip(criteria, outcomes, strict=True)
            if kind == "CRITICAL"
        )  # fmt: skip
        submitted = plan.start + timedelta(days=rng.randrange(1, 4))
        assert plan.agent is not None  # only human-handled calls are reviewed
        review.rows.append((
            rid, submitted, submitted, "SUBMITTED", ["HUMAN_AGENT"], "{}", "{}", submitted, 1,
            score, critical_ok, submitted, submitted, "", False, plan.agent.pk, pk, reviewer,
            rubric_version,
        ))  # fmt: skip
        revision.rows.append((vid, 1, "SUBMITTED", "", submitted, score, critical_ok, "{}", "",
                              "", reviewer, rid))  # fmt: skip
        for position, ((key, _), outcome) in enumerate(zip(criteria, outcomes, strict=True)):
            answer.rows.append(("HUMAN_AGENT", key, outcome, outcome, True, "", [], position,
                                vid))  # fmt: skip
    counts.results += len(result.rows)
    counts.handoffs += len(handoff.rows)
    counts.flags += len(flag.rows)
    counts.reviews += len(review.rows)
    # The partition key: the conversations are created now (their created_at), so this month.
    result.rows = [(*row, month) for row in result.rows]
    for batch in (conv, part, comm, result, handoff, flag, review, revision, answer):
        _copy(batch)
    if reviewed:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE qa_review r SET current_revision_id = v.id FROM qa_reviewrevision v "
                "WHERE v.review_id = r.id AND r.id >= %s AND r.id < %s",
                [review_id, review_id + len(reviewed)],
            )


@dataclass
class Plan:
    start: datetime
    channel: str
    mix: str
    task: str
    agent: AgentProfile | None
    lines: list[tuple[str, float, str, float]]
    people: list[str]
    joined: dict[str, float]
    length: float
    human_from: float  # when the human joined (0 without an AI part)
    handoff_reason: str
    reviewed: bool


def _plan(
    rng: random.Random, *, end: date, days: int, zone: ZoneInfo, agents: list[AgentProfile]
) -> Plan:
    task, _, requests = rng.choices(TASKS, weights=[t[1] for t in TASKS])[0]
    channel = _weighted(rng, CHANNELS)
    mix = _weighted(rng, (("HUMAN", 65), ("AI", 17), ("HANDOFF", 18)))
    agent = rng.choice(agents) if mix != "AI" and agents else None
    voice = channel == "VOICE"
    lines: list[tuple[str, float, str, float]] = []
    t = rng.uniform(0.3, 2.5)
    handoff_reason = ""
    human_from = 0.0

    def say(who: str, text: str) -> None:
        nonlocal t
        length = max(0.6, len(text.split()) * rng.uniform(0.28, 0.45)) if voice else 0.0
        lines.append((who, round(t, 3), text, round(length, 3)))
        pause = rng.uniform(0.3, 2.2) if voice else rng.uniform(4, 60)
        t += length + pause

    if mix in ("AI", "HANDOFF"):
        say("ai", AI_LINES[0])
        say("customer", rng.choice(requests))
        t += rng.uniform(0.2, 1.6)  # the AI's answering time
        if mix == "AI" and rng.random() < 0.82:
            for _ in range(rng.randint(1, 3)):
                say("ai", rng.choice(AI_LINES[1:5]))
                say("customer", rng.choice(CUSTOMER_LINES))
        else:
            say("ai", AI_LINES[5])
            handoff_reason = rng.choice(
                [f"The assistant cannot {task}.", "The caller asked for a person."]
            )
            t += rng.uniform(5, 90)  # on hold for a person
            human_from = t
    if mix != "AI":
        slow = agent.handle_factor if agent else 1.0
        if mix == "HUMAN" and rng.random() < 0.3:
            say("customer", rng.choice(requests))  # messaging: the customer writes first
            t += rng.uniform(5, 120) * slow if not voice else 0
        say("human", AGENT_LINES[0])
        if not any(who == "customer" for who, *_ in lines):
            say("customer", rng.choice(requests))
        for _ in range(max(2, int(rng.gauss(6, 2) * slow))):
            say("human", rng.choice(AGENT_LINES[1:7]))
            say("customer", rng.choice(CUSTOMER_LINES))
        say("human", AGENT_LINES[7])
    people = sorted({who for who, *_ in lines}, key=["customer", "ai", "human"].index)
    joined = {who: next(at for w, at, *_ in lines if w == who) for who in people}
    joined["customer"] = 0.0
    return Plan(
        start=_start_of(rng, end=end, days=days, zone=zone),
        channel=channel,
        mix=mix,
        task=task,
        agent=agent,
        lines=lines,
        people=people,
        joined=joined,
        length=t + rng.uniform(0.5, 3),
        human_from=human_from,
        handoff_reason=handoff_reason,
        reviewed=agent is not None and rng.random() < 0.04,
    )


def _outcomes(rng: random.Random, plan: Plan, criteria: Sequence[tuple[str, str]]) -> list[str]:
    skill = plan.agent.skill if plan.agent else 0.5
    outcomes = []
    for index, _ in enumerate(criteria):
        chance = 0.62 + 0.35 * skill - 0.03 * (index % 4)
        outcomes.append(
            "MET" if rng.random() < chance else "NA" if rng.random() < 0.1 else "NOT_MET"
        )
    return outcomes


def _result(
    plan: Plan, pk: int, call_sid: str, definition: int | None, name: str, fmt: str,
    value: Any, at: float, last: str, now: datetime,
) -> tuple[Any, ...]:  # fmt: skip
    when = plan.start + timedelta(seconds=at)
    return (
        now, now, f"gen_result_{uuid.uuid4().hex}", "ccportal" if definition else "twilio",
        call_sid, "", "", "", "", "", name.lower().replace(" ", "-"), name, "", fmt,
        json.dumps(value), "COMMUNICATION", when, "", last, [plan.channel], [], "[]", "{}",
        "{}", when, pk, "", "", "ok", definition,
    )  # fmt: skip


def _closing_results(
    rng: random.Random,
    plan: Plan,
    pk: int,
    call_sid: str,
    versions: dict[str, int],
    criteria: Sequence[tuple[str, str]],
    comm_ids: list[str],
    now: datetime,
) -> Iterable[tuple[Any, ...]]:
    """The latest sentiment and adherence results, and the topic and outcome labels."""
    at, last = plan.length, comm_ids[-1]
    skill = plan.agent.skill if plan.agent else 0.6
    first = round(rng.uniform(-0.6, 0.3), 4)
    delta = round(max(-1.0, min(1.0, rng.gauss(0.12 + 0.2 * skill, 0.25))), 4)
    label = (
        "positive" if first + delta > 0.05 else "negative" if first + delta < -0.05 else "neutral"
    )
    yield _result(plan, pk, call_sid, versions.get("sentiment"), "Sentiment", "CLASSIFICATION",
                  {"label": label, "score": round(first + delta, 4),
                   "customer": {"label": label, "score": round(first + delta, 4)},
                   "delta": {"first": first, "last": round(first + delta, 4), "delta": delta,
                             "window_seconds": 30}}, at, last, now)  # fmt: skip
    outcomes = _outcomes(rng, plan, criteria)
    met = sum(1 for o in outcomes if o == "MET")
    judged = sum(1 for o in outcomes if o != "NA") or 1
    twilio = {"MET": "Succeeded", "NOT_MET": "Failed", "NA": "NotApplicable"}
    yield _result(plan, pk, call_sid, versions.get("script-adherence"), "Script Adherence",
                  "JSON", {"score": round(100 * met / judged, 1), "categories": [
                      {"category_key": "all", "criteria": [
                          {"criteria_key": key, "criteria_met": twilio[o]}
                          for (key, _), o in zip(criteria, outcomes, strict=True)]}]},
                  at, last, now)  # fmt: skip
    yield _result(plan, pk, call_sid, None, "Topic", "CLASSIFICATION", {"label": plan.task},
                  at, last, now)  # fmt: skip
    outcome = "escalated" if plan.mix == "AI" and plan.handoff_reason else _weighted(rng, OUTCOMES)
    yield _result(plan, pk, call_sid, None, "Outcome", "CLASSIFICATION", {"label": outcome},
                  at, last, now)  # fmt: skip
