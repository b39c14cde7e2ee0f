"""The base of every API viewset (rows come from a selector called with the caller), and the
shape of the API's error answers for the schema.

Kept apart from ``ccportal.api`` because DRF's viewsets import the pagination class named in the
settings (``ccportal.api.Pagination``) while they load.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request


class IdFilter(django_filters.NumberFilter):
    """A row id. Give it ``field_name="<relation>__id"``: the schema then reads the id's type
    (integer) from the model, and PostgreSQL compares the foreign key column without a join."""

    field_class = forms.IntegerField


def _in_utc(value: datetime | None) -> datetime | None:
    """An aware date-time in UTC. PostgreSQL refuses offsets beyond about ±16 hours, which
    Python accepts ("+19:24" was a 500: found by tests/common/test_api_fuzz.py)."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # the first or last representable day, moved past it
        raise forms.ValidationError("Date-time out of range.", code="invalid") from None


class _UtcDateTimeField(forms.DateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        return _in_utc(super().to_python(value))


class _UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> datetime | None:
        return _in_utc(super().to_python(value))


class DateTimeFilter(django_filters.DateTimeFilter):
    """A date-time filter, compared in UTC whatever offset the caller gave."""

    field_class = _UtcDateTimeField


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time filter, compared in UTC whatever offset the caller gave."""

    field_class = _UtcIsoDateTimeField


class ErrorSerializer(serializers.Serializer):
    """A 4xx answer, as ``ccportal.api.exception_handler`` writes it."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not the attribute
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Invalid parameters, each with its messages (400 only).",
    )


class StableOrderingFilter(OrderingFilter):
    """``?ordering=`` with the primary key as the last key, so pages never repeat or skip rows."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(key.lstrip("-") in ("pk", "id") for key in ordering):
            ordering = [*ordering, "-pk" if ordering[-1].startswith("-") else "pk"]
        return ordering

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        fields = getattr(view, "ordering_fields", None)
        if isinstance(fields, list | tuple) and fields:
            names = ", ".join(f"`{field}`" for field in fields)
            for parameter in parameters:
                parameter["description"] = f"Sort by {names}; prefix with `-` for descending order."
        return parameters


class ScopedReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """A read-only resource whose rows all come from one selector called with the caller.

    This is the API's one choke point for scoping: lists, details and extra actions all start
    from ``get_queryset``, so a row the caller may not see is missing from lists and a 404 on
    detail. Subclasses set ``selector`` to a function taking ``user=`` and returning a scoped,
    prefetched queryset (``apps/<app>/selectors.py``).
    """

    selector: Callable[..., QuerySet[Any]]
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]

    def get_queryset(self) -> QuerySet[Any]:
        # Looked up on the class so a plain function works without staticmethod().
        return type(self).selector(user=self.request.user)
