"""The virtual agent's ConversationRelay socket through the whole ASGI stack and real Redis."""

from __future__ import annotations

import json
import logging

import pytest
from channels.db import database_sync_to_async

from apps.agent.choices import HandoffReason, SessionOutcome
from apps.agent.consumers import _Knowledge
from apps.agent.models import AgentSession, AgentTurn

from .conftest import relay_socket, reply_of, setup_message

# The consumer reads and writes the database from worker threads: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


async def _connected():
    communicator = relay_socket()
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to(setup_message())
    return communicator


def _session() -> AgentSession:
    return AgentSession.objects.get()


def _turns() -> list[AgentTurn]:
    return list(AgentTurn.objects.order_by("index"))


async def test_unsigned_or_wrongly_signed_connections_are_refused(knowledge):
    for communicator in (relay_socket(token=None), relay_socket(token="f" * 32)):
        connected, _ = await communicator.connect()
        assert not connected
        await communicator.wait()
    assert await database_sync_to_async(AgentSession.objects.count)() == 0


async def test_a_caller_who_hangs_up_before_any_turn_is_abandoned_not_contained(knowledge):
    communicator = await _connected()
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "what are", "lang": "en-US", "last": False}
    )  # a partial prompt is no turn: the caller hung up mid-sentence
    await communicator.disconnect()
    session = await database_sync_to_async(_session)()
    assert session.outcome == SessionOutcome.ABANDONED and session.ended_at is not None
    assert await database_sync_to_async(_turns)() == []


async def test_the_knowledge_is_ready_while_the_greeting_is_spoken(knowledge, settings):
    settings.VIRTUAL_AGENT_KNOWLEDGE_SECONDS = 3600
    _Knowledge.index = None  # a new process: no index, maybe no embedding model yet
    communicator = await _connected()
    await communicator.receive_nothing(timeout=0.5)  # setup handled; no prompt yet
    assert _Knowledge.index is not None  # the caller's first turn will not wait for it
    assert len(_Knowledge.index.articles) == knowledge  # every published article
    await communicator.disconnect()
    _Knowledge.index = None


async def test_thanks_after_an_answer_is_the_closing_turn(knowledge):
    communicator = await _connected()
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "what are your branch opening hours", "last": True}
    )
    await reply_of(communicator)
    await communicator.send_json_to({"type": "prompt", "voicePrompt": "thanks bye", "last": True})
    await reply_of(communicator)
    await communicator.disconnect()
    answered, thanked = await database_sync_to_async(_turns)()
    assert answered.article_title and not answered.closing
    assert thanked.closing and not thanked.article_title
    session = await database_sync_to_async(_session)()
    assert session.outcome == SessionOutcome.CONTAINED


async def test_a_question_in_the_knowledge_base_is_answered_from_its_article_and_cited(knowledge):
    communicator = await _connected()
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "what are your branch", "lang": "en-US", "last": False}
    )
    await communicator.send_json_to(
        {
            "type": "prompt",
            "voicePrompt": "what are your branch opening hours on saturday",
            "lang": "en-US",
            "last": True,
        }
    )
    text, messages = await reply_of(communicator)
    assert "Branch opening hours" in text
    assert "saturday" in text.lower()
    assert all(m["type"] == "text" for m in messages) and len(messages) > 5
    await communicator.disconnect()

    session = await database_sync_to_async(_session)()
    (turn,) = await database_sync_to_async(_turns)()
    assert session.outcome == SessionOutcome.CONTAINED and session.ended_at is not None
    assert turn.article_title == "Branch opening hours" and turn.article_id is not None
    assert turn.first_token_ms is not None and turn.first_helpful_ms == turn.first_token_ms
    assert turn.tokens_sent == len(messages) and not turn.handoff and not turn.interrupted


async def test_asking_for_a_person_hands_off_with_reason_summary_and_sentiment(knowledge):
    communicator = await _connected()
    await communicator.send_json_to(
        {
            "type": "prompt",
            "voicePrompt": "this is ridiculous my card was stolen and I am furious, "
            "let me talk to a real person",
            "last": True,
        }
    )
    text, _ = await reply_of(communicator)
    end = await communicator.receive_json_from(timeout=5)
    assert "connect you" in text
    assert end["type"] == "end"
    data = json.loads(end["handoffData"])  # a JSON string, as Twilio forwards it
    assert data["handoffReason"] == HandoffReason.ASKED_FOR_PERSON
    assert data["reason"] == "The caller asked for a person."
    assert "card was stolen" in data["callSummary"]
    assert data["sentiment"] == "negative"
    await communicator.disconnect()

    session = await database_sync_to_async(_session)()
    assert session.outcome == SessionOutcome.HANDED_OFF
    assert session.handoff_reason_code == HandoffReason.ASKED_FOR_PERSON
    (turn,) = await database_sync_to_async(_turns)()
    assert turn.handoff and turn.first_helpful_ms is None


async def test_a_question_the_knowledge_base_cannot_answer_is_handed_off(knowledge):
    communicator = await _connected()
    await communicator.send_json_to(
        {
            "type": "prompt",
            # Not "mortgage refinancing rates": the appointment article's "mortgage appointments"
            # is close enough for the sentence similarity (a known miss, docs/virtual-agent.md).
            "voicePrompt": "can you tell me the exchange rate for euros",
            "last": True,
        }
    )
    text, _ = await reply_of(communicator)
    end = await communicator.receive_json_from(timeout=5)
    assert text.startswith("I'm sorry, I don't have an answer")
    assert json.loads(end["handoffData"])["handoffReason"] == HandoffReason.NOT_IN_KNOWLEDGE
    await communicator.disconnect()


async def test_a_repeated_correction_is_handed_off(knowledge):
    communicator = await _connected()
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "i need to pay a bill", "last": True}
    )
    await reply_of(communicator)
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "no that's wrong", "last": True}
    )
    text, _ = await reply_of(communicator)
    assert text.startswith("Sorry, I misunderstood")
    await communicator.send_json_to({"type": "prompt", "voicePrompt": "no, not that", "last": True})
    await reply_of(communicator)
    end = await communicator.receive_json_from(timeout=5)
    assert json.loads(end["handoffData"])["handoffReason"] == HandoffReason.REPEATED_CORRECTION
    await communicator.disconnect()


async def test_an_interrupt_stops_the_stream_at_once_and_the_agent_recovers(knowledge, settings):
    settings.VIRTUAL_AGENT_TOKEN_PACE_MS = 200  # a stream long enough to talk over
    communicator = await _connected()
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "how do I replace my stolen card", "last": True}
    )
    first = await communicator.receive_json_from(timeout=5)
    assert first["type"] == "text" and not first["last"]
    await communicator.send_json_to(
        {
            "type": "interrupt",
            "utteranceUntilInterrupt": first["token"].strip(),
            "durationUntilInterruptMs": "460",  # a string in one rendition of the docs
        }
    )
    # Stopped: nothing more of that reply arrives, not even after several token paces.
    assert await communicator.receive_nothing(timeout=0.8)
    settings.VIRTUAL_AGENT_TOKEN_PACE_MS = 0
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "actually what is my account balance", "last": True}
    )
    text, _ = await reply_of(communicator)
    assert "Checking an account balance" in text
    await communicator.disconnect()

    first_turn, second_turn = await database_sync_to_async(_turns)()
    assert first_turn.interrupted and first_turn.heard == first["token"].strip()
    assert first_turn.interrupted_after_ms == 460 and first_turn.tokens_sent == 1
    assert first_turn.recovered is True
    assert not second_turn.interrupted and second_turn.recovered is None


async def test_an_interrupt_never_answered_afterwards_did_not_recover(knowledge, settings):
    settings.VIRTUAL_AGENT_TOKEN_PACE_MS = 200
    communicator = await _connected()
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "how do I order new checks", "last": True}
    )
    await communicator.receive_json_from(timeout=5)
    await communicator.send_json_to(
        {"type": "interrupt", "utteranceUntilInterrupt": "You", "durationUntilInterruptMs": 300}
    )
    await communicator.disconnect()
    (turn,) = await database_sync_to_async(_turns)()
    assert turn.interrupted and turn.recovered is False


async def test_pressing_zero_hands_off_and_other_digits_are_noted(knowledge):
    communicator = await _connected()
    await communicator.send_json_to({"type": "dtmf", "digit": "4"})
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.send_json_to({"type": "dtmf", "digit": "0"})
    text, _ = await reply_of(communicator)
    assert "connect you" in text
    end = await communicator.receive_json_from(timeout=5)
    assert json.loads(end["handoffData"])["handoffReason"] == HandoffReason.PRESSED_ZERO
    await communicator.disconnect()
    session = await database_sync_to_async(_session)()
    assert session.digits == "40" and session.outcome == SessionOutcome.HANDED_OFF


async def test_a_twilio_error_is_recorded_and_the_call_goes_on(knowledge, caplog):
    communicator = await _connected()
    with caplog.at_level(logging.WARNING, logger="apps.agent.consumers"):
        await communicator.send_json_to(
            {"type": "error", "description": "Invalid message received"}
        )
        await communicator.send_json_to(
            {"type": "prompt", "voicePrompt": "what are your branch opening hours", "last": True}
        )
        text, _ = await reply_of(communicator)
    assert "Branch opening hours" in text
    assert "Invalid message received" in caplog.text
    await communicator.disconnect()
    session = await database_sync_to_async(_session)()
    assert session.errors == ["Invalid message received"]


@pytest.mark.parametrize(
    "raw", ["{not json", "[1, 2]", '{"type": "mystery"}', '{"voicePrompt": "hi"}', '"setup"']
)
async def test_a_malformed_message_is_logged_and_closes_nothing(knowledge, caplog, raw):
    communicator = await _connected()
    with caplog.at_level(logging.WARNING, logger="apps.agent.consumers"):
        await communicator.send_to(text_data=raw)
        assert await communicator.receive_nothing(timeout=0.3)
    assert "malformed or unknown message" in caplog.text
    await communicator.send_json_to(
        {"type": "prompt", "voicePrompt": "how do I reset my online banking password", "last": True}
    )
    text, _ = await reply_of(communicator)
    assert "Resetting an online banking password" in text
    await communicator.disconnect()


async def test_browser_sockets_still_need_their_origin_and_session():
    from channels.testing import WebsocketCommunicator

    from ccportal.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/ping/")  # no Origin header
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.wait()
