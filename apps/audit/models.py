"""The event tables of the audit trail, one per tracked model, all in this app.

django-pghistory generates each model from the model it tracks and installs three PostgreSQL
triggers on the tracked table (after INSERT, UPDATE of a snapshot field, DELETE) that copy the
row into the event table with the context of the statement (``pgh_context``: the user, URL and
method of a request, a Celery task's or a command's name, a service's reason). The triggers run
for every write, whatever wrote it: a service, a queryset ``.update()``, the admin, raw SQL.
Each event table is append-only (``PGHISTORY_APPEND_ONLY``: a trigger rejects UPDATE and DELETE).

What is tracked and what is not, and why: docs/security.md, "Audit trail". Fields left out of a
snapshot (``exclude``) are secrets (a password hash), bookkeeping that changes on its own (a
scheduler's next run, an autosaved draft, figures recomputed every hour) or derived columns; an
update that changes only such fields records no event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pghistory
from django.db import models

from apps.accounts.models import Agent, AgentIdentity, Team, User
from apps.coaching.models import ActionItem, CoachingSession, Goal, SessionLink, SessionTemplate
from apps.floor.models import AlertRule
from apps.intelligence.models import Operator, OperatorVersion, Rule, RuleOperator
from apps.knowledge.models import CustomerProfile, KnowledgeArticle, Observation
from apps.qa.models import (
    CalibrationBenchmark,
    CalibrationConversation,
    CalibrationParticipant,
    CalibrationSession,
    Dispute,
    DisputeItem,
    Review,
    ReviewRevision,
    SamplingPolicy,
)
from apps.rubrics.models import Criterion, Rubric, RubricVersion, Section

# In every snapshot: ``updated_at`` moves on each save and says nothing the event's own time
# does not.
ALWAYS_EXCLUDED = ("updated_at",)


def _events(
    tracked: type[models.Model],
    name: str,
    *,
    exclude: Sequence[str] = (),
    fields: Sequence[str] | None = None,
    trackers: Sequence[pghistory.Tracker] = (),
) -> Any:
    """The event model ``name`` for ``tracked``: its snapshot fields, its indexes and (from
    ``PGHISTORY_APPEND_ONLY``) the trigger that keeps it append-only."""
    return pghistory.create_event_model(
        tracked,
        *trackers,
        fields=list(fields) if fields is not None else None,
        exclude=[*ALWAYS_EXCLUDED, *exclude],
        obj_field=pghistory.ObjForeignKey(related_name="+", related_query_name="+"),
        model_name=name,
        app_label="audit",
        abstract=False,
        # Newest first across every table (the global page); one object's events in order
        # (its history, and the previous snapshot each change is compared with).
        meta={
            "indexes": [
                models.Index(fields=["pgh_created_at"]),
                models.Index(fields=["pgh_obj", "pgh_id"]),
            ]
        },
    )


# Accounts: people, their roles (User.role), teams and memberships. The password hash and the
# time of the last sign-in (every sign-in would be an event) are not kept.
# A password change is still an event (with no field shown): the condition watches the hash.
UserEvent = _events(
    User,
    "UserEvent",
    exclude=["password", "last_login"],
    trackers=(
        pghistory.InsertEvent(),
        pghistory.UpdateEvent(
            condition=pghistory.AnyChange(
                *(f.name for f in User._meta.concrete_fields if f.name != "last_login")
            )
        ),
        pghistory.DeleteEvent(),
    ),
)
UserTeamEvent = _events(User.teams.through, "UserTeamEvent")
TeamEvent = _events(Team, "TeamEvent")
AgentEvent = _events(Agent, "AgentEvent")
AgentIdentityEvent = _events(AgentIdentity, "AgentIdentityEvent")

# Rubrics: every version and its content (a draft's sections and criteria are replaced as a
# whole on each save: deletes and inserts).
RubricEvent = _events(Rubric, "RubricEvent")
RubricVersionEvent = _events(RubricVersion, "RubricVersionEvent")
SectionEvent = _events(Section, "SectionEvent")
CriterionEvent = _events(Criterion, "CriterionEvent")

# Intelligence: operators and their versions, rules and the operators they run.
OperatorEvent = _events(Operator, "OperatorEvent")
OperatorVersionEvent = _events(OperatorVersion, "OperatorVersionEvent")
RuleEvent = _events(Rule, "RuleEvent", exclude=["webhook_secret"])
RuleOperatorEvent = _events(RuleOperator, "RuleOperatorEvent")

# Knowledge and customer memory. The search vector is derived from the title and body.
KnowledgeArticleEvent = _events(
    KnowledgeArticle, "KnowledgeArticleEvent", exclude=["search_vector"]
)
CustomerProfileEvent = _events(CustomerProfile, "CustomerProfileEvent")
ObservationEvent = _events(Observation, "ObservationEvent")

# QA. A sampling policy's run bookkeeping (next and last run, the last run's figures) changes
# on every run; a review's autosaved draft and its AI snapshot are not decisions.
SamplingPolicyEvent = _events(
    SamplingPolicy, "SamplingPolicyEvent", exclude=["next_run_at", "last_run_at", "last_run"]
)
SamplingPolicyTeamEvent = _events(SamplingPolicy.teams.through, "SamplingPolicyTeamEvent")
SamplingPolicyAgentEvent = _events(SamplingPolicy.agents.through, "SamplingPolicyAgentEvent")
SamplingPolicyReviewerEvent = _events(
    SamplingPolicy.reviewers.through, "SamplingPolicyReviewerEvent"
)
ReviewEvent = _events(
    Review, "ReviewEvent", exclude=["draft", "draft_saved_at", "ai", "release_notified_at"]
)
ReviewRevisionEvent = _events(ReviewRevision, "ReviewRevisionEvent")
DisputeEvent = _events(Dispute, "DisputeEvent")
DisputeItemEvent = _events(DisputeItem, "DisputeItemEvent")
CalibrationSessionEvent = _events(CalibrationSession, "CalibrationSessionEvent")
CalibrationConversationEvent = _events(
    CalibrationConversation, "CalibrationConversationEvent", exclude=["ai"]
)
CalibrationParticipantEvent = _events(CalibrationParticipant, "CalibrationParticipantEvent")
CalibrationBenchmarkEvent = _events(CalibrationBenchmark, "CalibrationBenchmarkEvent")

# Coaching. A goal's progress is recomputed every hour from the rollups (its status, and when
# it was met, are kept); an action item's "due" notice is bookkeeping.
SessionTemplateEvent = _events(SessionTemplate, "SessionTemplateEvent")
CoachingSessionEvent = _events(CoachingSession, "CoachingSessionEvent")
SessionLinkEvent = _events(SessionLink, "SessionLinkEvent")
ActionItemEvent = _events(ActionItem, "ActionItemEvent", exclude=["due_notified_at"])
GoalEvent = _events(
    Goal,
    "GoalEvent",
    exclude=["progress", "progress_n", "progress_low", "progress_high", "computed_at"],
)

# The floor's alert rules (an admin's settings).
AlertRuleEvent = _events(AlertRule, "AlertRuleEvent")
