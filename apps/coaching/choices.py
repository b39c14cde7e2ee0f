from __future__ import annotations

from django.db import models


class SessionStatus(models.TextChoices):
    PLANNED = "PLANNED", "Planned"
    HELD = "HELD", "Held"
    CLOSED = "CLOSED", "Closed"
    CANCELLED = "CANCELLED", "Cancelled"


class TemplateVisibility(models.TextChoices):
    PRIVATE = "PRIVATE", "Only me"
    TEAMS = "TEAMS", "Coaches of my teams"
    ALL = "ALL", "Every coach"


class Metric(models.TextChoices):
    """What a goal measures, each from insights over a window of the agent's conversations."""

    QA_SCORE = "QA_SCORE", "QA score"
    CRITERION_PASS = "CRITERION_PASS", "A criterion's pass rate"
    AI_ADHERENCE = "AI_ADHERENCE", "AI adherence"
    SENTIMENT_DELTA = "SENTIMENT_DELTA", "Sentiment change"
    HANDLE_TIME = "HANDLE_TIME", "Handle time"


# Metrics where a lower value is better (the others: higher is better).
LOWER_IS_BETTER = frozenset({Metric.HANDLE_TIME})


class GoalStatus(models.TextChoices):
    ON_TRACK = "ON_TRACK", "On track"
    AT_RISK = "AT_RISK", "At risk"
    MET = "MET", "Met"
    MISSED = "MISSED", "Missed"
    NOT_ENOUGH_DATA = "NO_DATA", "Not enough data yet"


class NotificationKind(models.TextChoices):
    SESSION_PLANNED = "coaching.session_planned", "A coaching session planned with you"
    SESSION_HELD = "coaching.session_held", "A coaching session to acknowledge"
    ACTION_DUE = "coaching.action_due", "An action item due"
    GOAL_MET = "coaching.goal_met", "A goal met"
