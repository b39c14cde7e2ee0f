"""Serializers of a person's own resources: their notifications."""

from __future__ import annotations

from rest_framework import serializers

from ..models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "count", "created_at", "read_at"]
        read_only_fields = fields


class NotificationReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        allow_null=True,
        max_length=1000,
        help_text="The notifications to mark read; left out: all of them.",
    )


class UnreadSerializer(serializers.Serializer):
    unread = serializers.IntegerField()
