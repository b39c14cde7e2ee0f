from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q, TextField
from django.db.models.functions import Cast


def rows_holding(*needles: str) -> dict[str, int]:
    """Every table's text, JSON and array columns scanned for any of ``needles``
    (case-insensitive): ``{"app.Model.field": rows}`` where one is still found."""
    found: dict[str, int] = {}
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(
                field, models.CharField | models.TextField | models.JSONField | ArrayField
            ):
                continue
            holding = Q()
            for needle in needles:
                holding |= Q(_as_text__icontains=needle)
            queryset: Any = model._base_manager.annotate(
                _as_text=Cast(field.name, output_field=TextField())
            ).filter(holding)
            count = queryset.count()
            if count:
                found[f"{model._meta.label}.{field.name}"] = count
    return found
