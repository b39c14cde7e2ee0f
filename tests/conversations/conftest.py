"""Fixtures for conversation tests: many conversations at once, for query-count checks."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Agent
from apps.conversations.choices import ConversationStatus, ParticipantType
from apps.conversations.models import Conversation, Participant

_batch = itertools.count(1)


def bulk_conversations(*, count: int, agent: Agent) -> list[Conversation]:
    """``count`` closed voice calls between a customer and ``agent``, in two bulk inserts."""
    batch = next(_batch)
    now = timezone.now()
    conversations = Conversation.objects.bulk_create(
        Conversation(
            twilio_id=f"conv_bulk_{batch:04d}_{i:06d}",
            status=ConversationStatus.CLOSED,
            channels=["VOICE"],
            call_sids=[f"CAbulk{batch:04d}{i:022d}"],
            started_at=now - timedelta(minutes=i + 1),
            ended_at=now - timedelta(minutes=i),
            team=agent.team,
            queue="billing",
        )
        for i in range(count)
    )
    Participant.objects.bulk_create(
        participant
        for conversation in conversations
        for participant in (
            Participant(
                twilio_id=f"{conversation.twilio_id}_customer",
                conversation=conversation,
                type=ParticipantType.CUSTOMER,
                name=f"Customer {conversation.pk}",
                joined_at=conversation.started_at,
            ),
            Participant(
                twilio_id=f"{conversation.twilio_id}_agent",
                conversation=conversation,
                type=ParticipantType.HUMAN_AGENT,
                name=agent.display_name,
                agent=agent,
                joined_at=conversation.started_at,
            ),
        )
    )
    return conversations


@pytest.fixture
def many_conversations() -> Callable[..., list[Conversation]]:
    """``many_conversations(count=, agent=)`` bulk-creates calls handled by ``agent``."""
    return bulk_conversations
