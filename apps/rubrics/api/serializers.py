"""Representations of rubrics, versions, their content, diffs and the import request.

Content (sections, criteria) is shaped from ``selectors.version_data``, the editable format of
``apps.rubrics.validation``, so the API, the JSON document and the forms show the same fields.
Weights are decimal strings without trailing zeros ("40", "33.3"), as in the JSON document.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..choices import AppliesTo, CriterionKind, CriticalMode, VersionStatus, Weighting, WindowAnchor
from ..imports import FORMATS
from ..jsonformat import FORMAT, FORMAT_VERSION
from ..models import Rubric, RubricVersion
from ..structure import NAME_MAX_LENGTH, format_decimal


@extend_schema_field(OpenApiTypes.DECIMAL)
class WeightField(serializers.Field):
    """A weight in percent (or relative within a section), as a decimal string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return format_decimal(Decimal(str(value)))


class PhraseSerializer(serializers.Serializer):
    text = serializers.CharField()
    tolerance = serializers.IntegerField(
        min_value=0, max_value=100, help_text="Fuzzy-match threshold, 0-100."
    )


class CriterionSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    expected_action = serializers.CharField(allow_blank=True)
    required_phrases = PhraseSerializer(many=True)
    window_seconds = serializers.IntegerField(allow_null=True)
    window_anchor = serializers.ChoiceField(choices=WindowAnchor.choices)
    weight = WeightField()
    kind = serializers.ChoiceField(choices=CriterionKind.choices)
    na_allowed = serializers.BooleanField()
    applies_to = serializers.ChoiceField(choices=AppliesTo.choices)


class SectionSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True, help_text="The section's goal.")
    weight = WeightField()
    criteria = CriterionSerializer(many=True)


class VersionSummarySerializer(serializers.ModelSerializer):
    based_on = serializers.IntegerField(
        source="based_on.number",
        allow_null=True,
        read_only=True,
        help_text="Number of the version this one was copied from.",
    )
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    published_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()
    retired_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = RubricVersion
        fields = [
            "id",
            "rubric",
            "number",
            "status",
            "weighting",
            "critical_mode",
            "notes",
            "based_on",
            "created_by",
            "created_at",
            "updated_at",
            "published_at",
            "published_by",
            "retired_at",
            "retired_by",
        ]
        read_only_fields = fields


class VersionDetailSerializer(VersionSummarySerializer):
    """A version with its whole content. Give it ``context={"sections": [...]}`` (cleaned
    editable data) to avoid loading the content again."""

    rubric_name = serializers.CharField(source="rubric.name", read_only=True)
    sections = serializers.SerializerMethodField()

    class Meta(VersionSummarySerializer.Meta):
        fields = [*VersionSummarySerializer.Meta.fields, "rubric_name", "sections"]
        read_only_fields = fields

    @extend_schema_field(SectionSerializer(many=True))
    def get_sections(self, version: RubricVersion) -> Any:
        return SectionSerializer(self.context["sections"], many=True).data


class RubricSerializer(serializers.ModelSerializer):
    published_number = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Number of the version in force, if any."
    )
    draft_number = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Number of the draft, if any."
    )
    created_by: serializers.StringRelatedField[Any] = serializers.StringRelatedField()

    class Meta:
        model = Rubric
        fields = [
            "id",
            "name",
            "slug",
            "description",
            "published_number",
            "draft_number",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RubricDetailSerializer(RubricSerializer):
    versions = VersionSummarySerializer(many=True, read_only=True)

    class Meta(RubricSerializer.Meta):
        fields = [*RubricSerializer.Meta.fields, "versions"]
        read_only_fields = fields


class ChangeSerializer(serializers.Serializer):
    """One change, as ``apps.rubrics.diff.structure_diff`` describes it."""

    action = serializers.ChoiceField(choices=["added", "removed", "changed"])
    target = serializers.ChoiceField(choices=["rubric", "version", "section", "criterion"])
    key = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    section = serializers.CharField(required=False, help_text="Criteria: their section's key.")
    fields = serializers.DictField(  # type: ignore[assignment]  # a field, not the attribute
        child=serializers.JSONField(),
        required=False,
        help_text="Changed: {field: {before, after}}.",
    )
    before = serializers.JSONField(required=False, help_text="Removed: the item's fields.")
    after = serializers.JSONField(required=False, help_text="Added: the item's fields.")


class DiffSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Id of the version compared (the new side).")
    against = serializers.IntegerField(help_text="Id of the version compared with (the old side).")
    changes = ChangeSerializer(many=True)


class DocumentRubricSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    notes = serializers.CharField(allow_blank=True)
    weighting = serializers.ChoiceField(choices=Weighting.choices)
    critical_mode = serializers.ChoiceField(choices=CriticalMode.choices)


class DocumentSourceSerializer(serializers.Serializer):
    rubric_id = serializers.IntegerField()
    rubric_slug = serializers.CharField()
    version_number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=VersionStatus.choices)
    exported_at = serializers.DateTimeField()


class RubricDocumentSerializer(serializers.Serializer):
    """A ``ccportal.rubric`` JSON document (``apps.rubrics.jsonformat``); describes, never
    validates: the importer does that with errors keyed by document paths."""

    format = serializers.ChoiceField(choices=[FORMAT])
    version = serializers.ChoiceField(choices=[FORMAT_VERSION], help_text="Format version.")
    rubric = DocumentRubricSerializer()
    sections = SectionSerializer(many=True)
    source = DocumentSourceSerializer(  # type: ignore[assignment]  # a field, not the attribute
        required=False, help_text="Where an export came from; ignored on import."
    )


@extend_schema_field(RubricDocumentSerializer)
class DocumentField(serializers.JSONField):
    """Any JSON; the importer checks it field by field."""


class ImportSerializer(serializers.Serializer):
    format = serializers.ChoiceField(
        choices=list(FORMATS),
        help_text="`twilio`: a Script Adherence script in `text`; `json`: a `ccportal.rubric` "
        "document in `document`.",
    )
    text = serializers.CharField(
        required=False, trim_whitespace=False, max_length=200_000, help_text="The script."
    )
    document = DocumentField(required=False)
    name = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=NAME_MAX_LENGTH,
        help_text="The new rubric's name: required for a script, overrides a document's.",
    )
    description = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        needed = "text" if attrs["format"] == "twilio" else "document"
        if needed not in attrs:
            raise serializers.ValidationError({needed: [f"Required for format {attrs['format']}."]})
        return attrs


class ImportErrorSerializer(serializers.Serializer):
    """A refused import: nothing was written."""

    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="`invalid_script` (errors: a list of {line, message}), `validation_failed` "
        "(errors: {document path: [messages]}) or `invalid` (the request's own fields)."
    )
    extra = serializers.JSONField(required=False, help_text="`{errors: ...}` as `code` says.")
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not the attribute
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
