"""The volume generator (benchmarks, trying the dashboards): it writes with COPY, past the
models' defaults, so a new NOT NULL column on a table it fills must be written here too."""

from __future__ import annotations

import pytest

from apps.conversations.models import Communication, Conversation, Participant
from apps.demo.generate import generate_conversations

pytestmark = pytest.mark.django_db


def test_generate_conversations_writes_complete_rows():
    counts = generate_conversations(conversations=40, days=10, seed=3)

    assert counts.conversations == 40
    assert Conversation.objects.count() == 40
    assert Communication.objects.count() == counts.communications > 40
    assert Participant.objects.count() == counts.participants
    # Rows read back through the models: every column the model has is filled.
    conversation = Conversation.objects.order_by("pk").first()
    assert conversation is not None
    assert conversation.sensitive is False
    assert conversation.sensitive_reason == ""
    assert conversation.communications.exists()
