from __future__ import annotations

from rest_framework import serializers


class ChangeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    field = serializers.CharField(source="column")
    label = serializers.CharField(source="field")
    before = serializers.JSONField()
    after = serializers.JSONField()


class EventSerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.CharField()
    object_id = serializers.CharField()
    action = serializers.ChoiceField(choices=["insert", "update", "delete"])
    at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor = serializers.CharField(source="actor_name")
    source = serializers.CharField()
    reason = serializers.CharField()
    context = serializers.DictField()
    changes = ChangeSerializer(many=True)
