from __future__ import annotations

from rest_framework import serializers


class AuditChangeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    field = serializers.CharField(source="column")
    name = serializers.CharField(source="field")
    before = serializers.JSONField()
    after = serializers.JSONField()


class AuditEventSerializer(serializers.Serializer):  # type: ignore[type-arg]
    kind = serializers.CharField()
    object_id = serializers.CharField()
    action = serializers.ChoiceField(choices=["insert", "update", "delete"])
    at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor = serializers.CharField(source="actor_name")
    origin = serializers.CharField(source="source")  # "POST /rules/…", "task …", "command …"
    reason = serializers.CharField()
    metadata = serializers.DictField(source="context")  # the whole context recorded
    changes = AuditChangeSerializer(many=True)
