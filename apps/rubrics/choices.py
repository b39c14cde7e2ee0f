from __future__ import annotations

from django.db import models


class VersionStatus(models.TextChoices):
    """DRAFT is editable; PUBLISHED (at most one per rubric) and RETIRED are frozen."""

    DRAFT = "DRAFT", "Draft"
    PUBLISHED = "PUBLISHED", "Published"
    RETIRED = "RETIRED", "Retired"


class Weighting(models.TextChoices):
    BY_SECTION = "BY_SECTION", "By section"
    BY_CRITERION = "BY_CRITERION", "By criterion"


class CriticalMode(models.TextChoices):
    FAIL_CONVERSATION = "FAIL_CONVERSATION", "A failed critical criterion fails the conversation"
    SEPARATE_SCORE = "SEPARATE_SCORE", "Critical criteria give a separate pass/fail score"


class CriterionKind(models.TextChoices):
    SCORED = "SCORED", "Scored"
    CRITICAL = "CRITICAL", "Critical"
    INFORMATIONAL = "INFORMATIONAL", "Informational"


class WindowAnchor(models.TextChoices):
    """Where a criterion's time window starts counting."""

    CONVERSATION_START = "CONVERSATION_START", "Conversation start"
    AGENT_FIRST_TURN = "AGENT_FIRST_TURN", "Agent's first turn"


class AppliesTo(models.TextChoices):
    HUMAN_AGENT = "HUMAN_AGENT", "Human agents"
    AI_AGENT = "AI_AGENT", "AI agents"
    BOTH = "BOTH", "Human and AI agents"


class Outcome(models.TextChoices):
    """How one conversation did on one criterion (the input of ``scoring.score``)."""

    MET = "MET", "Met"
    NOT_MET = "NOT_MET", "Not met"
    NA = "NA", "Not applicable"


class AuditAction(models.TextChoices):
    CREATE = "CREATE", "Created"
    EDIT = "EDIT", "Edited"
    PUBLISH = "PUBLISH", "Published"
    RETIRE = "RETIRE", "Retired"
    IMPORT = "IMPORT", "Imported"
    NEW_VERSION = "NEW_VERSION", "New version"
    DELETE_DRAFT = "DELETE_DRAFT", "Draft deleted"
