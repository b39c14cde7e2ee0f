"""API over rubrics and their versions: read for the staff roles, change for admins.

Reads: admins, QA analysts, coaches and supervisors (``FEATURES["rubrics"]``); anyone else gets
403 on every route. Writes (import, new draft, publish, retire, discard, push to Twilio): admins
only (403 JSON otherwise). Every write is one call to a service; the services check the same
permission, validate, lock and audit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.common.errors import ValidationFailed
from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from .. import services
from ..imports import rubric_import
from ..jsonformat import export_document
from ..models import Rubric, RubricVersion
from ..scripttext import export_script
from ..selectors import (
    can_manage_rubrics,
    can_read_rubrics,
    rubric_list,
    version_data,
    version_diff,
    version_structure,
)
from ..twilio_publish import version_push_to_twilio
from .filters import VersionFilter
from .serializers import (
    DiffSerializer,
    ImportErrorSerializer,
    ImportSerializer,
    RubricDetailSerializer,
    RubricDocumentSerializer,
    RubricSerializer,
    VersionDetailSerializer,
    VersionSummarySerializer,
)

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

_PEOPLE = ("created_by", "published_by", "retired_by")

_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such row.")
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer, description="Not signed in, or not a role that may do this."
)
_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="The version is not in a state this action starts from."
)
_IMPORT_REFUSED = OpenApiResponse(
    ImportErrorSerializer,
    description="Nothing was imported: the script's problems with their line numbers, or the "
    "document's with their paths.",
)


class CanReadRubrics(BasePermission):
    message = "Only admins, QA analysts, coaches and supervisors may see rubrics."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_read_rubrics(request.user)


class CanManageRubrics(BasePermission):
    message = "Only admins may change rubrics."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_manage_rubrics(request.user)


READ = [IsAuthenticated, CanReadRubrics]
MANAGE = [IsAuthenticated, CanManageRubrics]


def version_list(*, user: Person) -> QuerySet[RubricVersion]:
    """Every version ``user`` may read, across rubrics: by rubric name, newest version first.

    (``selectors.version_list`` lists one rubric's versions; the API lists them all.)"""
    return (
        RubricVersion.objects.for_user(user)
        .select_related("rubric", "based_on", *_PEOPLE)
        .order_by("rubric__name", "rubric_id", "-number")
    )


def _version_detail(version: RubricVersion, *, code: int = status.HTTP_200_OK) -> Response:
    data = version_data(version=version)
    serializer = VersionDetailSerializer(version, context={"sections": data["sections"]})
    return Response(serializer.data, status=code)


# Rubrics ------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List rubrics",
        responses={200: RubricSerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get a rubric",
        description="One rubric with a summary of each of its versions, newest first.",
        responses={200: RubricDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class RubricViewSet(ScopedReadOnlyViewSet):
    """Script-adherence rubrics, by name, with the numbers of their published and draft
    versions."""

    selector = rubric_list
    serializer_class = RubricSerializer
    permission_classes = READ
    ordering_fields = ["name", "updated_at"]

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if self.action == "retrieve":
            versions = RubricVersion.objects.select_related("based_on", *_PEOPLE).order_by(
                "-number"
            )
            queryset = queryset.prefetch_related(Prefetch("versions", queryset=versions))
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "retrieve":
            return RubricDetailSerializer
        return RubricSerializer

    @extend_schema(
        summary="Import a new rubric",
        operation_id="rubrics_import",
        description="Create a rubric from a Twilio Script Adherence script (`format=twilio`, "
        "`text`, `name`) or a `ccportal.rubric` JSON document (`format=json`, `document`). "
        "The content becomes its draft version 1. Nothing is written when anything is wrong.",
        request=ImportSerializer,
        responses={
            201: VersionDetailSerializer,
            400: _IMPORT_REFUSED,
            403: _FORBIDDEN,
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        permission_classes=MANAGE,
        filter_backends=[],
        pagination_class=None,
    )
    def import_new(self, request: Request) -> Response:
        return self._import(request, rubric=None)

    @extend_schema(
        summary="Import a new version of a rubric",
        operation_id="rubrics_import_version",
        description="Start the rubric's next draft from a script or document (see Import a new "
        "rubric). The rubric keeps its name; 409 when it already has a draft.",
        request=ImportSerializer,
        responses={
            201: VersionDetailSerializer,
            400: _IMPORT_REFUSED,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        permission_classes=MANAGE,
        filter_backends=[],
    )
    def import_version(self, request: Request, pk: str | None = None) -> Response:
        return self._import(request, rubric=self.get_object())

    def _import(self, request: Request, *, rubric: Rubric | None) -> Response:
        incoming = ImportSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        fields = incoming.validated_data
        version = rubric_import(
            fmt=fields["format"],
            actor=request.user,
            text=fields.get("text"),
            document=fields.get("document"),
            rubric=rubric,
            name=fields.get("name", ""),
            description=fields.get("description", ""),
        )
        return _version_detail(version, code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Start a new draft",
        description="The rubric's next version as a draft, copying the published (or latest "
        "retired) content. 409 when it already has a draft.",
        request=None,
        responses={201: VersionDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="new-draft",
        permission_classes=MANAGE,
        filter_backends=[],
    )
    def new_draft(self, request: Request, pk: str | None = None) -> Response:
        draft = services.version_new_draft(rubric=self.get_object(), actor=request.user)
        return _version_detail(draft, code=status.HTTP_201_CREATED)


# Versions -----------------------------------------------------------------------------------------


class TwilioScriptRenderer(BaseRenderer):
    """The Script Adherence operator's ``script`` text."""

    media_type = "text/plain"
    format = "twilio"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        return data.encode() if isinstance(data, str) else json.dumps(data).encode()


class ExportNegotiation(DefaultContentNegotiation):
    """``?format=`` names the export format; an unknown one is a 400, not DRF's 404."""

    def filter_renderers(
        self, renderers: Iterable[BaseRenderer], format: str
    ) -> list[BaseRenderer]:
        found = [renderer for renderer in renderers if renderer.format == format]
        if not found:
            formats = ", ".join(renderer.format for renderer in renderers)
            raise ValidationFailed({"format": [f"Choose one of: {formats}."]})
        return found


@extend_schema_view(
    list=extend_schema(
        summary="List rubric versions",
        responses={
            200: VersionSummarySerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="A filter value is invalid."),
            403: _FORBIDDEN,
        },
    ),
    retrieve=extend_schema(
        summary="Get a rubric version",
        description="One version with its whole content: sections and their criteria in order.",
        responses={200: VersionDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class RubricVersionViewSet(ScopedReadOnlyViewSet):
    """Versions of every rubric (drafts included), by rubric and newest first."""

    selector = version_list
    serializer_class = VersionSummarySerializer
    permission_classes = READ
    filterset_class = VersionFilter
    ordering_fields = ["number", "created_at", "published_at"]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _version_detail(self.get_object())

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        # Errors are JSON, also when the export asked for the script as text.
        if not isinstance(getattr(self.request, "accepted_renderer", None), JSONRenderer):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(
        summary="Compare two versions",
        description="What changed from version `against` to this one, by section and "
        "criterion key. Without `against`, the version this one was copied from.",
        parameters=[
            OpenApiParameter(
                "against", OpenApiTypes.INT, description="Id of the version to compare with."
            )
        ],
        responses={200: DiffSerializer, 400: ErrorSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    )
    @action(detail=True, filter_backends=[])
    def diff(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        raw = request.query_params.get("against")
        if raw is None:
            if version.based_on is None:
                raise ValidationFailed(
                    {"against": ["Name a version to compare with: this one was not copied."]}
                )
            against = version.based_on
        else:
            if not raw.isdecimal():
                raise ValidationFailed({"against": ["A version id (a whole number)."]})
            against = self.get_queryset().filter(pk=int(raw)).first()
            if against is None:
                raise Http404("No such rubric version.")
        changes = version_diff(old=against, new=version)
        return Response({"version": version.pk, "against": against.pk, "changes": changes})

    @extend_schema(
        summary="Export a version",
        description="`format=twilio`: the Script Adherence operator's `script` text "
        "(text/plain); it carries names, goals, actions, required phrases, criteria and "
        "section weights. `format=json` (default): a `ccportal.rubric` document with every "
        "field, which the import takes back unchanged.",
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "twilio"],
                description="Export format (default json).",
            )
        ],
        responses={
            (200, "application/json"): RubricDocumentSerializer,
            (200, "text/plain"): OpenApiTypes.STR,
            (400, "application/json"): ErrorSerializer,
            (403, "application/json"): _FORBIDDEN,
            (404, "application/json"): _NOT_FOUND,
        },
    )
    @action(
        detail=True,
        filter_backends=[],
        renderer_classes=[JSONRenderer, TwilioScriptRenderer],
        content_negotiation_class=ExportNegotiation,
    )
    def export(self, request: Request, pk: str | None = None) -> Response:
        version = self.get_object()
        slug = f"{version.rubric.slug}-v{version.number}"
        if request.accepted_renderer.format == TwilioScriptRenderer.format:
            body: Any = export_script(version_structure(version=version))
            filename = f"{slug}.txt"
        else:
            body = export_document(
                version_data(version=version),
                source={
                    "rubric_id": version.rubric_id,
                    "rubric_slug": version.rubric.slug,
                    "version_number": version.number,
                    "status": version.status,
                    "exported_at": timezone.now(),
                },
            )
            filename = f"{slug}.json"
        return Response(body, headers={"Content-Disposition": f'inline; filename="{filename}"'})

    @extend_schema(
        summary="Publish a draft",
        description="After full validation; the version in force is retired. 400 lists what "
        "blocks publication, by field path.",
        request=None,
        responses={
            200: VersionDetailSerializer,
            400: ErrorSerializer,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    )
    @action(detail=True, methods=["post"], permission_classes=MANAGE, filter_backends=[])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        version = services.version_publish(version=self.get_object(), actor=request.user)
        return _version_detail(version)

    @extend_schema(
        summary="Retire the published version",
        description="The rubric then has no version in force until the next publication.",
        request=None,
        responses={200: VersionDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], permission_classes=MANAGE, filter_backends=[])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        version = services.version_retire(version=self.get_object(), actor=request.user)
        return _version_detail(version)

    @extend_schema(
        summary="Discard a draft",
        request=None,
        responses={204: None, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], permission_classes=MANAGE, filter_backends=[])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        services.draft_discard(version=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send the published version to Twilio",
        description="Sets the `script` parameter of the Script Adherence operator in the "
        "configured Conversation Intelligence rule to this version's Twilio export. 503 when "
        "not configured, 502 when Twilio refuses.",
        request=None,
        responses={
            200: inline_serializer(
                "TwilioPushResult",
                {
                    "configuration_id": serializers.CharField(),
                    "rule_id": serializers.CharField(),
                    "configuration_version": serializers.IntegerField(allow_null=True),
                    "script": serializers.CharField(),
                },
            ),
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
            502: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="push-to-twilio",
        permission_classes=MANAGE,
        filter_backends=[],
    )
    def push_to_twilio(self, request: Request, pk: str | None = None) -> Response:
        result = version_push_to_twilio(version=self.get_object(), actor=request.user)
        return Response(
            {
                "configuration_id": result.configuration_id,
                "rule_id": result.rule_id,
                "configuration_version": result.configuration_version,
                "script": result.script,
            }
        )
