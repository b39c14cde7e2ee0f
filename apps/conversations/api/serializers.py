"""Read-only representations of conversations, participants and communications.

Serializers only shape rows the selectors already scoped and prefetched: no queries of their own.
"""

from __future__ import annotations

from rest_framework import serializers

from ..models import Communication, Conversation, Participant, TranscriptAccess


# Plain serializers for the accounts side: this app reads accounts rows, it does not own them.
class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="display_name", read_only=True)


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    slug = serializers.CharField(read_only=True)


class ParticipantSummarySerializer(serializers.ModelSerializer):
    """A participant as a conversation row shows it."""

    agent = AgentRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Participant
        fields = ["id", "twilio_id", "type", "name", "agent"]
        read_only_fields = fields


class ParticipantSerializer(serializers.ModelSerializer):
    agent = AgentRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Participant
        fields = [
            "id",
            "twilio_id",
            "conversation",
            "type",
            "name",
            "addresses",
            "profile_id",
            "agent",
            "joined_at",
            "left_at",
        ]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    team = TeamRefSerializer(read_only=True, allow_null=True)
    participants = ParticipantSummarySerializer(many=True, read_only=True)
    communication_count = serializers.IntegerField(read_only=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Conversation
        fields = [
            "id",
            "twilio_id",
            "name",
            "status",
            "channels",
            "call_sids",
            "queue",
            "team",
            "started_at",
            "ended_at",
            "duration_seconds",
            "participants",
            "communication_count",
            # Reading its transcript needs a reason (X-Access-Reason) when set.
            "sensitive",
        ]
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    participants = ParticipantSerializer(many=True, read_only=True)  # type: ignore[assignment]

    class Meta(ConversationSerializer.Meta):
        fields = [
            *ConversationSerializer.Meta.fields,
            "account_id",
            "configuration_id",
            "attributes",
            "is_placeholder",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CommunicationAuthorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Participant
        fields = ["id", "type", "name"]
        read_only_fields = fields


class CommunicationSerializer(serializers.ModelSerializer):
    author = CommunicationAuthorSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Communication
        fields = [
            "id",
            "twilio_id",
            "conversation",
            "author",
            "author_address",
            "channel",
            "content_type",
            "text",
            "occurred_at",
            "offset_ms",
            "duration_ms",
            "confidence",
            "channel_id",
        ]
        read_only_fields = fields


class TranscriptAccessSerializer(serializers.ModelSerializer):
    """One read of a transcript (the access log)."""

    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    conversation_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = TranscriptAccess
        fields = [
            "id",
            "created_at",
            "user_id",
            "username",
            "conversation_id",
            "conversation_twilio_id",
            "channel",
            "reason",
            "sensitive",
            "path",
            "ip",
        ]
        read_only_fields = fields
