from __future__ import annotations

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Retention schedules and customers' erasure requests, across every app."""

    name = "apps.privacy"
    label = "privacy"
