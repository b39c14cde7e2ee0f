from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import Wrapup


class WrapupVersionSerializer(serializers.Serializer):
    summary = serializers.CharField()
    topic = serializers.CharField()
    outcome = serializers.CharField()


class WrapupSerializer(serializers.ModelSerializer):
    """A saved wrap-up: the agent's version (what a CRM records) and the AI's beside it."""

    conversation = serializers.IntegerField(source="conversation_id")
    conversation_sid = serializers.CharField(source="conversation.twilio_id")
    call_sids = serializers.ListField(
        child=serializers.CharField(), source="conversation.call_sids"
    )
    agent = serializers.SerializerMethodField()
    ai = serializers.SerializerMethodField()
    saved_by = serializers.SerializerMethodField()

    class Meta:
        model = Wrapup
        fields = [
            "id", "conversation", "conversation_sid", "call_sids", "summary", "topic", "outcome",
            "ai", "summary_distance", "summary_change", "fields_changed", "agent", "saved_by",
            "saved_at", "due_at", "late", "revision",
        ]  # fmt: skip
        read_only_fields = fields

    def get_agent(self, wrapup: Wrapup) -> dict[str, Any] | None:
        if wrapup.agent is None:
            return None
        return {"id": wrapup.agent_id, "name": wrapup.agent.display_name}

    def get_saved_by(self, wrapup: Wrapup) -> str | None:
        return wrapup.saved_by.username if wrapup.saved_by else None

    def get_ai(self, wrapup: Wrapup) -> dict[str, Any]:
        return {
            "summary": wrapup.ai_summary,
            "topic": wrapup.ai_topic,
            "outcome": wrapup.ai_outcome,
            "summary_result": wrapup.ai_summary_result_id,
        }


class WrapupWriteSerializer(serializers.Serializer):
    summary = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=100_000)
    topic = serializers.CharField(allow_blank=True, required=False, default="", max_length=1000)
    outcome = serializers.CharField(allow_blank=True, max_length=100)
    revision = serializers.IntegerField(
        min_value=0, default=0, help_text="The revision edited (0: none saved yet)."
    )
    ai_summary_result = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The AI summary result the draft started from (as the proposal gives it).",
    )


class WrapupProposalSerializer(serializers.Serializer):
    ended = serializers.BooleanField()
    ended_at = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    can_edit = serializers.BooleanField()
    outcomes = serializers.ListField(child=serializers.CharField())
    ai = WrapupVersionSerializer()
    ai_summary_result = serializers.IntegerField(allow_null=True)
    saved = WrapupSerializer(allow_null=True)
