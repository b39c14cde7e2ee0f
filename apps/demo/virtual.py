"""Virtual-agent calls for the demo, so the AI side of insights (containment, handoffs, the AI's
first-word time) has something to show.

The Harper Valley recordings are human-to-human calls; these calls are made up around them,
deterministically: for some recorded calls, the same caller first reached the bank's virtual
assistant, said what they wanted in the words of their recording, and either got the answer
(balance and branch-hours questions, which the assistant can serve) or was handed to a person
(the recorded call's agent, in short lines written from the bank's knowledge base). Which calls,
the pauses and the assistant's answering time follow from a hash of the recording's id, so
every load makes the same calls. They are written through the ingest services, as Twilio's
events would be, and the handoffs through the virtual agent's action callback service.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.conversations import services as conversations
from apps.conversations.choices import (
    Channel,
    ContentType,
    ConversationStatus,
    ParticipantType,
)
from apps.intelligence.nlp.text import clean, content_words
from apps.relay import services as relay

from .dataset import DemoCall

PREFIX = "demo_conversation_va_"
ASSISTANT = "Harper Valley assistant"
# Tasks the assistant can finish alone (it answers from the knowledge base).
SELF_SERVICE = {"get branch hours", "check balance"}

GREETING = (
    "Hello, you've reached Harper Valley National Bank. I'm the virtual assistant. "
    "How can I help you today?"
)
ANSWERS = {
    "get branch hours": (
        "Our branches are open Monday to Friday from nine am to five pm and on Saturday from "
        "nine am to noon. They are closed on Sunday."
    ),
    "check balance": (
        "I've verified you by the phone number you're calling from. Your available balance "
        "and your current balance are in the app, and I've just sent both to you by text."
    ),
}
HANDING_OVER = (
    "I can't do that for you here, so I'll connect you with an agent who can. One moment please."
)
# What the human says to pick up and settle each task, from the knowledge base's articles.
PICK_UP = {
    "replace card": "I see you need a new card. I've frozen the old one so nobody can use it.",
    "pay bill": "I see you'd like to pay a bill. Which payee, and how much?",
    "transfer money": "I see you'd like to move money between your accounts. How much?",
    "reset password": "I see you're locked out of online banking. Let me verify you first.",
    "order checks": "I see you'd like to order checks. Is the address on file still right?",
    "schedule appointment": "I see you'd like to meet a banker. Which branch and which day?",
    "get branch hours": "I see you asked about our hours.",
    "check balance": "I see you'd like your balance. Let me verify you first.",
}
SETTLE = {
    "replace card": "Your replacement card is on its way and arrives in five to seven days.",
    "pay bill": "That payment is scheduled from your checking account today.",
    "transfer money": "Done, the transfer went through immediately and there's no fee.",
    "reset password": "I've sent a reset link to your email; it expires in thirty minutes.",
    "order checks": "Your checks are ordered and will arrive in about ten business days.",
    "schedule appointment": "You're booked, and you'll get a text to confirm the time.",
    "get branch hours": "We're open nine to five on weekdays and nine to noon on Saturday.",
    "check balance": "Your available balance is on its way to you by text message now.",
}

Line = tuple[str, float, str, float]  # who, start s, text, duration s


@dataclass(frozen=True)
class VirtualCall:
    sid: str
    kind: str  # contained, asked_for_person, handed_over
    lines: tuple[Line, ...]
    close_at: float
    agent_name: str
    caller_name: str
    task: str
    reason: str


def _digest(sid: str) -> bytes:
    return hashlib.sha256(f"virtual-agent:{sid}".encode()).digest()


def _request(call: DemoCall) -> tuple[str, float] | None:
    """The caller's first line that says something (at least three content words)."""
    for segment in call.segments:
        if segment.role == "caller" and len(content_words(segment.text)) >= 3:
            return clean(segment.text), max(segment.duration_ms / 1000, 1.0)
    return None


def plan(call: DemoCall) -> VirtualCall | None:
    """The virtual-agent call made up around ``call``, or None for calls that had none."""
    digest = _digest(call.sid)
    request = _request(call)
    if request is None:
        return None
    said, said_for = request
    if call.task_type in SELF_SERVICE:
        kind = "asked_for_person" if digest[0] % 5 == 0 else "contained"
    elif digest[0] % 3 == 0:
        kind = "handed_over"
    else:
        return None
    answer_after = 0.6 + (digest[1] % 16) / 10  # the assistant's answering time: 0.6-2.1 s
    lines: list[Line] = [("ai", 0.4, GREETING, 5.2), ("customer", 6.5, said, said_for)]
    t = 6.5 + said_for + answer_after
    reason = ""
    if kind in ("contained", "asked_for_person"):
        lines.append(("ai", t, ANSWERS[call.task_type], 7.0))
        t += 8.5
        if kind == "contained":
            lines += [("customer", t, "okay thank you", 1.2)]
            lines += [("ai", t + 2.0, "You're welcome. Have a great day.", 2.0)]
            return VirtualCall(
                call.sid, kind, tuple(lines), t + 5.0, "", call.caller_name, call.task_type, ""
            )
        lines += [("customer", t, "can i talk to a person please", 1.8)]
        lines += [("ai", t + 2.6, HANDING_OVER, 4.5)]
        reason = "The caller asked for a person."
        # Nobody had picked up when the caller hung up in the queue.
        return VirtualCall(
            call.sid, kind, tuple(lines), t + 30.0, "", call.caller_name, call.task_type, reason
        )
    lines.append(("ai", t, HANDING_OVER, 4.5))
    t += 4.5 + 8 + digest[2] % 40  # on hold for the human: 8-47 s
    name = call.agent_name
    lines += [
        ("human", t, f"Hi, this is {name}. {PICK_UP[call.task_type]}", 5.0),
        ("customer", t + 6.0, "yes please", 1.0),
        ("human", t + 8.0, SETTLE[call.task_type], 5.0),
        ("customer", t + 14.0, "great thank you", 1.2),
        ("human", t + 16.0, "Is there anything else I can help you with today?", 2.5),
        ("customer", t + 19.5, "no that's all", 1.0),
        ("human", t + 21.0, "Thank you for calling Harper Valley National Bank.", 2.5),
    ]
    reason = f"The assistant cannot {call.task_type}."
    return VirtualCall(
        call.sid, kind, tuple(lines), t + 25.0, name, call.caller_name, call.task_type, reason
    )


def demo_virtual_load(*, calls: Sequence[DemoCall], shift: timedelta) -> int:
    """Write the virtual-agent calls of ``calls`` (missing ones only); returns how many are
    there now."""
    made = 0
    for call in calls:
        virtual = plan(call)
        if virtual is None:
            continue
        # The same day as the recording, a little earlier: the caller tried the assistant.
        start = call.started_at + shift - timedelta(hours=2, minutes=call.start_time_ms % 50)
        _ingest(virtual, start=start)
        made += 1
    return made


def _at(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def _ingest(virtual: VirtualCall, *, start: datetime) -> None:
    twilio_id = PREFIX + virtual.sid
    call_sid = "CA" + hashlib.md5(twilio_id.encode()).hexdigest()
    conversations.conversation_apply(
        twilio_id=twilio_id,
        status=ConversationStatus.ACTIVE,
        version=start,
        created_at=start,
        name=f"{virtual.caller_name}: {virtual.task} (virtual assistant)",
    )
    people = {
        "customer": (ParticipantType.CUSTOMER, virtual.caller_name),
        "ai": (ParticipantType.AI_AGENT, ASSISTANT),
        "human": (ParticipantType.HUMAN_AGENT, virtual.agent_name),
    }
    joined: dict[str, float] = {}
    for who, at, _, _ in virtual.lines:
        joined.setdefault(who, at)
    for who, at in joined.items():
        kind, name = people[who]
        conversations.participant_apply(
            twilio_id=f"demo_participant_va_{virtual.sid}_{who}",
            conversation_twilio_id=twilio_id,
            type=kind,
            version=_at(start, at),
            name=name,
            joined_at=_at(start, at),
        )
    for index, (who, at, text, seconds) in enumerate(virtual.lines):
        if who == "human" and virtual.reason and index == _first(virtual, "human"):
            _handoff(virtual, twilio_id=twilio_id, call_sid=call_sid)
        conversations.communication_apply(
            conversations.CommunicationInput(
                twilio_id=f"demo_communication_va_{virtual.sid}_{index}",
                conversation_twilio_id=twilio_id,
                occurred_at=_at(start, at),
                text=text,
                author_participant_id=f"demo_participant_va_{virtual.sid}_{who}",
                channel=Channel.VOICE.value,
                content_type=ContentType.TRANSCRIPTION,
                duration_ms=int(seconds * 1000),
                channel_id=call_sid,
                version=_at(start, at),
            )
        )
    if virtual.kind == "asked_for_person":
        _handoff(virtual, twilio_id=twilio_id, call_sid=call_sid)
    conversations.conversation_apply(
        twilio_id=twilio_id,
        status=ConversationStatus.CLOSED,
        version=_at(start, virtual.close_at),
    )


def _first(virtual: VirtualCall, who: str) -> int:
    return next(i for i, line in enumerate(virtual.lines) if line[0] == who)


def _handoff(virtual: VirtualCall, *, twilio_id: str, call_sid: str) -> None:
    said = next(text for who, _, text, _ in virtual.lines if who == "customer")
    relay.handoff_record(
        relay.RelayAction(
            call_sid=call_sid,
            session_id="VX" + call_sid[2:],
            session_status="ended",
            session_duration=int(virtual.lines[2][1]),
            handoff_data=relay_data(
                reason=virtual.reason, summary=f"The caller said: {said}", conversation=twilio_id
            ),
        )
    )


def relay_data(*, reason: str, summary: str, conversation: str) -> str:
    """The ``HandoffData`` a virtual agent sends when it ends the session for a person."""
    return json.dumps(
        {
            "reasonCode": "live-agent-handoff",
            "reason": reason,
            "callSummary": summary,
            "conversationId": conversation,
        }
    )
