"""API over Enterprise Knowledge (articles) and Conversation Memory (customer profiles).

Articles: everyone with a role reads the published ones (``FEATURES["knowledge"]``), admins
(``knowledge_manage``) also drafts, and only admins write; others get a 403 on every write, before
anything is looked up. Profiles: those of conversations the caller may see
(``CustomerProfile.objects.for_user``), each with what is remembered about the customer; anyone
who may see a profile may add an observation to it. Every read comes from ``selectors``, every
write is one service call.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.accounts.scoping import can_use
from ccportal.viewsets import ErrorSerializer, ScopedReadOnlyViewSet

from .. import selectors, services
from ..models import CustomerProfile, KnowledgeArticle
from .serializers import (
    ArticleQuerySerializer,
    CustomerObservationSerializer,
    CustomerProfileDetailSerializer,
    CustomerProfileSerializer,
    KnowledgeArticleSerializer,
    KnowledgeArticleWriteSerializer,
    ObservationCreateSerializer,
)

_NOT_FOUND = OpenApiResponse(
    ErrorSerializer, description="No such row, or not one the caller may see."
)
_FORBIDDEN = OpenApiResponse(
    ErrorSerializer, description="Not signed in, or not a role that may do this."
)
_INVALID = OpenApiResponse(
    ErrorSerializer,
    description="Nothing was written; the problems by field, in `errors` (or `extra.errors`).",
)


# Permissions --------------------------------------------------------------------------------------


class KnowledgePermission(BasePermission):
    """Reading: every role; writing: admins."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            self.message = "Your role does not include the knowledge base."
            return can_use(request.user, "knowledge")
        self.message = "Only admins may write knowledge articles."
        return selectors.can_manage_knowledge(request.user)


class CanUseMemory(BasePermission):
    message = "Your role does not include customer memory."

    def has_permission(self, request: Request, view: Any) -> bool:
        return can_use(request.user, "memory")


# Knowledge articles -------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="List knowledge articles",
        description="By title; with `q`, the best matches first (every word must appear, title "
        "matches rank above text matches). Drafts are listed for admins only.",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="Words to search for."),
            OpenApiParameter("tag", OpenApiTypes.STR, description="Only articles with this tag."),
        ],
        responses={200: KnowledgeArticleSerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get a knowledge article",
        responses={200: KnowledgeArticleSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary="Write a knowledge article",
        request=KnowledgeArticleWriteSerializer,
        responses={201: KnowledgeArticleSerializer, 400: _INVALID, 403: _FORBIDDEN},
    ),
    update=extend_schema(
        summary="Replace a knowledge article",
        description="Omitted `tags` become none, an omitted `is_published` true.",
        request=KnowledgeArticleWriteSerializer,
        responses={
            200: KnowledgeArticleSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    ),
    partial_update=extend_schema(
        summary="Change a knowledge article",
        description="Only the fields given change.",
        request=KnowledgeArticleWriteSerializer,
        responses={
            200: KnowledgeArticleSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    ),
    destroy=extend_schema(
        summary="Delete a knowledge article",
        responses={204: None, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class KnowledgeArticleViewSet(viewsets.ModelViewSet):
    """Enterprise knowledge: what agents look up and Next Best Response grounds its answers in."""

    serializer_class = KnowledgeArticleSerializer
    permission_classes = [IsAuthenticated, KnowledgePermission]
    # Searching orders by relevance, so there is no ?ordering=; q and tag are read below.
    filter_backends: list[Any] = []
    queryset = KnowledgeArticle.objects.none()  # for the schema; rows come from get_queryset

    def get_queryset(self) -> QuerySet[KnowledgeArticle]:
        if self.action == "list":
            # Checked like any input (a NUL character, which PostgreSQL cannot search, is a 400).
            params = ArticleQuerySerializer(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            return selectors.article_list(user=self.request.user, **params.validated_data)
        return selectors.article_list(user=self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = KnowledgeArticleWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        article = services.knowledge_article_create(user=request.user, **incoming.validated_data)
        return Response(KnowledgeArticleSerializer(article).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        article = self.get_object()
        partial = kwargs.get("partial", False)
        incoming = KnowledgeArticleWriteSerializer(data=request.data, partial=partial)
        incoming.is_valid(raise_exception=True)
        fields: dict[str, Any] = (
            {
                "title": article.title,
                "body": article.body,
                "tags": article.tags,
                "is_published": article.is_published,
            }
            if partial
            else {"tags": [], "is_published": True}
        )
        fields.update(incoming.validated_data)
        article = services.knowledge_article_update(user=request.user, article=article, **fields)
        return Response(KnowledgeArticleSerializer(article).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.knowledge_article_delete(user=request.user, article=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# Customer profiles --------------------------------------------------------------------------------


class ProfileFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", label="Part of the customer's name, address or Twilio profile id."
    )

    class Meta:
        model = CustomerProfile
        fields = ["q"]

    def search(
        self, queryset: QuerySet[CustomerProfile], name: str, value: str
    ) -> QuerySet[CustomerProfile]:
        return selectors.profile_search(queryset, value)


@extend_schema_view(
    list=extend_schema(
        summary="List customer profiles",
        description="Customers of the conversations the caller may see, by name.",
        responses={200: CustomerProfileSerializer(many=True), 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary="Get a customer profile",
        description="With everything remembered about the customer (newest first) and their "
        "conversations the caller may see.",
        responses={200: CustomerProfileDetailSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class CustomerProfileViewSet(ScopedReadOnlyViewSet):
    """Conversation Memory: one customer across conversations, with observations about them."""

    selector = selectors.profile_list
    serializer_class = CustomerProfileSerializer
    permission_classes = [IsAuthenticated, CanUseMemory]
    filterset_class = ProfileFilter
    ordering_fields = ["display_name", "created_at", "updated_at", "observation_count"]

    def get_queryset(self) -> QuerySet[CustomerProfile]:
        if self.action == "retrieve":
            return selectors.profile_detail_list(user=self.request.user)
        return super().get_queryset()

    def get_serializer_class(self) -> type[BaseSerializer[Any]]:
        if self.action == "retrieve":
            return CustomerProfileDetailSerializer
        return CustomerProfileSerializer

    @extend_schema(
        summary="Remember something about a customer",
        description="Adds an observation written by the caller (source `user`). The same text "
        "again (ignoring case and spacing) is remembered once: 200 with the one already there.",
        request=ObservationCreateSerializer,
        responses={
            201: CustomerObservationSerializer,
            200: CustomerObservationSerializer,
            400: _INVALID,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def observations(self, request: Request, pk: str | None = None) -> Response:
        profile = self.get_object()
        incoming = ObservationCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        observation, created = services.observation_add(
            user=request.user, profile=profile, text=incoming.validated_data["text"]
        )
        return Response(
            CustomerObservationSerializer(observation).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
