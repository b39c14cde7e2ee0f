from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail: an append-only history of every change to what people configure and
    decide (rules, rubrics, reviews, coaching, users…), written by PostgreSQL triggers."""

    name = "apps.audit"
    label = "audit"
