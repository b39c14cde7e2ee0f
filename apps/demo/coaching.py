"""Coaching in the demo: session templates and three sessions of Linda (the `agent` login) with
Cora (the `coach` login), made through the coaching services as those people.

- a day after its calls, on the criterion Linda fails most in her reviews: held and
  acknowledged, two failing reviews linked with a line of each call pinned (and the reviews'
  comments), shared and private notes, three action items (one done by Linda);
- a day later, on the next criterion: held, waiting for Linda's acknowledgement;
- next week: planned, from a template.

Nothing is written directly: the sessions are planned with their dates in the past (the service
takes any date) and marked held at a past time, so no UPDATE is needed. Goals come separately
(``apps.demo.coaching_goals``). Idempotent: nothing is added once a demo session exists.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.coaching.choices import TemplateVisibility
from apps.coaching.selectors import sessions as coaching
from apps.coaching.services import actions, sessions, templates
from apps.conversations import selectors as conversations
from apps.qa import selectors as qa
from apps.rubrics import selectors as rubrics
from apps.rubrics.choices import Outcome

from .services import AGENT_LOGIN


@dataclass(frozen=True)
class DemoCoachingResult:
    created: bool
    sessions: int = 0
    pins: int = 0
    action_items: int = 0


TEMPLATES = (
    (
        "Weekly one-to-one",
        "1. How the week went, in your words\n2. One call that went well, one to replay\n"
        "3. The criterion to work on, with the lines from the calls\n4. Agree the next steps",
        TemplateVisibility.ALL,
    ),
    (
        "Closing the call",
        "1. Listen to the end of two calls together\n2. Practise the closing: summary, thanks, "
        "good wishes, further help\n3. Agree what to try this week",
        TemplateVisibility.TEAMS,
    ),
)


def _people() -> dict[str, Any]:
    users = get_user_model().objects.filter(username__in=["coach", AGENT_LOGIN])
    return {user.username: user for user in users}


def _failing_criteria(coach: Any, agent_id: int) -> list[str]:
    """The criteria Linda's reviews answer NOT_MET, most often first."""
    rows = (
        qa.review_list(user=coach, agent_id=agent_id)
        .filter(current_revision__answers__outcome=Outcome.NOT_MET)
        .values_list("pk", "current_revision__answers__criterion_key")
    )
    counts = Counter(key for _, key in rows)
    return [key for key, _ in counts.most_common()]


def _pins(coach: Any, reviews: list[int], criterion: str) -> list[sessions.PinInput]:
    """A line of each linked review's call where the step was due: the demo's reviewers attach
    no lines (their answers are the hand labels), so the agent's first line for an opening
    step, the last for a closing one, the second otherwise. With no comment given, each pin
    takes its review's comment on the criterion."""
    section = next(
        (c.section_key for c in rubrics_structure() if c.key == criterion), "understanding"
    )
    pins = []
    calls = qa.review_base(user=coach).filter(pk__in=reviews).values_list("conversation_id")
    for (conversation_id,) in calls:
        lines = list(
            conversations.communication_list(user=coach)
            .filter(conversation_id=conversation_id, author__agent__isnull=False)
            .order_by("occurred_at", "id")
            .values_list("pk", flat=True)
        )
        if not lines:
            continue
        index = {"opening": 0, "closing": -1}.get(section, min(1, len(lines) - 1))
        pins.append(sessions.PinInput(communication_id=lines[index], criterion_key=criterion))
    return pins


def _after_calls(coach: Any, reviews: list[int], latest: datetime) -> datetime:
    """A day after the latest of the reviewed calls, but no later than ``latest``."""
    started = [
        when
        for when in qa.review_base(user=coach)
        .filter(pk__in=reviews)
        .values_list("conversation__started_at", flat=True)
        if when is not None
    ]
    when = max(started) + timedelta(hours=22) if started else latest
    return min(when, latest).replace(minute=0, second=0, microsecond=0)


def rubrics_structure() -> list[Any]:
    rubric = rubrics.sole_published_rubric()
    version = rubrics.published_version(rubric=rubric) if rubric is not None else None
    return list(rubrics.frozen_structure(version=version).criteria) if version else []


def demo_coaching_load() -> DemoCoachingResult:
    people = _people()
    coach, agent_user = people.get("coach"), people.get(AGENT_LOGIN)
    if coach is None or agent_user is None:
        return DemoCoachingResult(False)
    if coaching.session_list(user=coach).filter(origin__demo=True).exists():
        return DemoCoachingResult(False)
    agent = accounts.agent_choices(user=coach).filter(user_id=agent_user.pk).first()
    if agent is None:
        return DemoCoachingResult(False)
    criteria = _failing_criteria(coach, agent.pk)
    if not criteria:
        return DemoCoachingResult(False)
    now = timezone.now()
    with transaction.atomic():
        made = {
            name: templates.template_create(
                user=coach,
                name=name,
                agenda=agenda,
                topics=criteria[:1] if visibility == TemplateVisibility.TEAMS else [],
                visibility=visibility,
            )
            for name, agenda, visibility in TEMPLATES
        }
        # Two weeks ago: the criterion she fails most, from the scorecard.
        first = coaching.session_prefill(
            user=coach, agent_id=agent.pk, criterion=criteria[0], origin="scorecard"
        )
        # Each session a day after the latest call it discusses (the demo's calls are recent).
        first_at = _after_calls(coach, first.review_ids[:2], now - timedelta(days=2))
        acknowledged = sessions.session_plan(
            user=coach,
            agent_id=agent.pk,
            scheduled_at=first_at,
            title=first.title,
            template_id=made["Weekly one-to-one"].pk,
            topics=first.topics,
            origin={**first.origin, "demo": True},
            review_ids=first.review_ids[:2],
            pins=_pins(coach, first.review_ids[:2], criteria[0]),
        )
        sessions.session_notes_save(
            user=coach,
            session=acknowledged,
            shared_notes="We listened to two calls together. Linda hears where the step was "
            "missed and will use the wording from the script for two weeks.",
            private_notes="Linda knows the script; she skips steps when the caller is in a "
            "hurry. Check the long-queue days first.",
        )
        done = actions.action_item_add(
            user=coach,
            session=acknowledged,
            text="Read the script's wording for this step aloud before each shift for a week",
            due_on=(first_at + timedelta(days=1)).date(),
        )
        actions.action_item_add(
            user=coach,
            session=acknowledged,
            text="Pick one of your calls where you did it well and bring it to the next session",
            due_on=(now + timedelta(days=5)).date(),
        )
        actions.action_item_add(
            user=coach,
            session=acknowledged,
            text="Send Linda the two call recordings",
            owner_id=coach.pk,
            due_on=first_at.date(),
        )
        sessions.session_hold(
            user=coach, session=acknowledged, held_at=first_at + timedelta(hours=1)
        )
        sessions.session_follow_up_set(
            user=coach, session=acknowledged, follow_up_on=(now + timedelta(days=7)).date()
        )
        actions.action_item_tick(user=agent_user, item=done)
        sessions.session_acknowledge(
            user=agent_user,
            session=acknowledged,
            comment="Thanks, hearing the calls helped. I'll bring a good one next time.",
        )
        # Three days ago: the next criterion; held, waiting for her acknowledgement.
        second_key = criteria[1] if len(criteria) > 1 else criteria[0]
        second = coaching.session_prefill(
            user=coach, agent_id=agent.pk, criterion=second_key, origin="scorecard"
        )
        second_at = max(
            _after_calls(coach, second.review_ids[:1], now - timedelta(hours=20)),
            first_at + timedelta(hours=20),
        )
        waiting = sessions.session_plan(
            user=coach,
            agent_id=agent.pk,
            scheduled_at=second_at,
            title=second.title,
            topics=second.topics,
            origin={**second.origin, "demo": True},
            review_ids=second.review_ids[:1],
            pins=_pins(coach, second.review_ids[:1], second_key),
        )
        sessions.session_notes_save(
            user=coach,
            session=waiting,
            shared_notes="Short one: we replayed the call and agreed one thing to try.",
        )
        actions.action_item_add(
            user=coach,
            session=waiting,
            text="Try the script's wording on your next five calls",
            due_on=(now + timedelta(days=4)).date(),
        )
        sessions.session_hold(user=coach, session=waiting, held_at=second_at + timedelta(hours=1))
        # Next week: planned from the template.
        sessions.session_plan(
            user=coach,
            agent_id=agent.pk,
            scheduled_at=(now + timedelta(days=7)).replace(
                hour=10, minute=0, second=0, microsecond=0
            ),
            title="Weekly one-to-one",
            template_id=made["Weekly one-to-one"].pk,
            topics=criteria[:1],
            origin={"from": "demo", "demo": True},
        )
    mine = coaching.session_list(user=coach).filter(origin__demo=True)
    return DemoCoachingResult(
        True,
        sessions=mine.count(),
        pins=sum(len(coaching.pin_list(session=s)) for s in mine),
        action_items=coaching.action_item_list(user=coach).filter(session__in=mine).count(),
    )
