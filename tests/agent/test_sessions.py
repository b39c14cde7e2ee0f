"""Recording sessions and turns: one row per session and turn index, closed once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.agent.choices import SessionOutcome
from apps.agent.models import AgentSession, AgentTurn
from apps.agent.selectors import scoreboard_for_calls, session_task_success
from apps.agent.services import sessions
from apps.agent.services.dialog import Handoff

pytestmark = pytest.mark.django_db


def _session() -> AgentSession:
    return sessions.session_start(session_id="VX1", call_sid="CA1")


def test_a_repeated_setup_finds_the_same_session():
    assert _session().pk == _session().pk
    assert AgentSession.objects.count() == 1


def test_a_turn_recorded_twice_is_one_row_with_the_latest_figures():
    session = _session()
    turn = sessions.TurnRecord(index=0, prompt="hi", reply="hello", prompted_at=timezone.now())
    sessions.turn_record(session_id=session.pk, turn=turn)
    sessions.turn_record(
        session_id=session.pk,
        turn=sessions.TurnRecord(**{**turn.__dict__, "interrupted": True, "heard": "hel"}),
    )
    (row,) = AgentTurn.objects.all()
    assert row.interrupted and row.heard == "hel"


def test_a_session_closes_once_and_the_first_outcome_stands():
    session = _session()
    handoff = Handoff("asked-for-person", "The caller asked for a person.", "Sum.", "negative")
    assert sessions.session_end(
        session_id=session.pk, handoff=handoff, sentiment="negative", summary=""
    )
    assert not sessions.session_end(
        session_id=session.pk, handoff=None, sentiment="positive", summary=""
    )
    session.refresh_from_db()
    assert session.outcome == SessionOutcome.HANDED_OFF and session.sentiment == "negative"


def test_a_session_closed_without_a_caller_turn_is_abandoned_with_one_it_is_contained():
    empty = _session()
    sessions.session_end(session_id=empty.pk, handoff=None, sentiment="", summary="")
    asked = sessions.session_start(session_id="VX2", call_sid="CA2")
    sessions.turn_record(
        session_id=asked.pk,
        turn=sessions.TurnRecord(index=0, prompt="hours?", reply="9-5", prompted_at=timezone.now()),
    )
    sessions.session_end(session_id=asked.pk, handoff=None, sentiment="", summary="")
    outcomes = dict(AgentSession.objects.values_list("session_id", "outcome"))
    assert outcomes == {"VX1": SessionOutcome.ABANDONED, "VX2": SessionOutcome.CONTAINED}
    board = scoreboard_for_calls(call_sids=["CA1", "CA2"])
    assert (board.contained, board.abandoned, board.task_success) == (1, 1, 0)


@pytest.mark.parametrize(
    ("outcome", "cited", "closing", "success"),
    [
        (SessionOutcome.CONTAINED, True, True, True),
        (SessionOutcome.CONTAINED, True, False, False),  # hung up without thanks or goodbye
        (SessionOutcome.CONTAINED, False, True, False),  # thanked, but nothing was answered
        (SessionOutcome.HANDED_OFF, True, True, False),
        (SessionOutcome.ABANDONED, False, False, None),
        (SessionOutcome.IN_PROGRESS, True, True, None),
    ],
)
def test_task_success_is_contained_with_a_cited_answer_and_a_goodbye(
    outcome, cited, closing, success
):
    assert session_task_success(outcome=outcome, cited=cited, closing=closing) is success
