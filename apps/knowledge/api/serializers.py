"""Serializers of the knowledge API: articles, customer profiles and their observations."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..models import CustomerProfile, KnowledgeArticle, Observation
from ..services import OBSERVATION_MAX_LENGTH


class KnowledgeArticleSerializer(serializers.ModelSerializer):
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    updated_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = KnowledgeArticle
        fields = [
            "id",
            "title",
            "body",
            "tags",
            "is_published",
            "created_by",
            "created_at",
            "updated_by",
            "updated_at",
        ]
        read_only_fields = fields


class KnowledgeArticleWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    body = serializers.CharField()
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=50,
        help_text="Stored lower-case, without duplicates.",
    )
    is_published = serializers.BooleanField(
        required=False,
        help_text="Drafts (false) are seen by admins only and never used by Next Best Response. "
        "Default true.",
    )


class ProfileConversationSerializer(serializers.Serializer):
    """One of the customer's conversations the caller may see."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    channels = serializers.ListField(child=serializers.CharField())
    started_at = serializers.DateTimeField(allow_null=True)


class CustomerObservationSerializer(serializers.ModelSerializer):
    operator_name = serializers.CharField(
        source="operator_result.operator_name",
        allow_null=True,
        read_only=True,
        help_text="The operator whose result it came from (source `operator`).",
    )
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = Observation
        fields = [
            "id",
            "text",
            "source",
            "conversation",
            "operator_result",
            "operator_name",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class CustomerProfileSerializer(serializers.ModelSerializer):
    observation_count = serializers.IntegerField(read_only=True)
    conversation_count = serializers.IntegerField(
        read_only=True, help_text="Conversations the caller may see."
    )

    class Meta:
        model = CustomerProfile
        fields = [
            "id",
            "key",
            "profile_id",
            "address",
            "display_name",
            "observation_count",
            "conversation_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CustomerProfileDetailSerializer(CustomerProfileSerializer):
    observations = CustomerObservationSerializer(
        many=True, read_only=True, help_text="Newest first."
    )
    conversations = ProfileConversationSerializer(
        source="visible_conversations", many=True, read_only=True, help_text="Newest first."
    )

    class Meta(CustomerProfileSerializer.Meta):
        fields = [*CustomerProfileSerializer.Meta.fields, "observations", "conversations"]
        read_only_fields = fields


class ObservationCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=OBSERVATION_MAX_LENGTH)


class ArticleQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tag = serializers.CharField(required=False, allow_blank=True)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        values = super().to_internal_value(data)
        return {"query": values.get("q", ""), "tag": values.get("tag", "")}
