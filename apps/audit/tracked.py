"""What the audit pages know about each tracked model: a short name for URLs and filters, a
title, the page of the object itself, and the rows that belong to it (a rule's operators, a
policy's reviewers) whose events its history shows too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import models as m


@dataclass(frozen=True)
class Tracked:
    slug: str  # in URLs and the filter: /audit/rule/12/
    title: str
    events: Any  # the event model
    page: str = ""  # URL name of the object's own page (takes its pk), if it has one
    parts: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (slug, column) below it

    @property
    def tracked_model(self) -> Any:
        return self.events.pgh_tracked_model

    @property
    def table(self) -> str:
        return str(self.events._meta.db_table)

    def labels(self) -> dict[str, str]:
        """Column name (as in a snapshot) -> the field's name in words."""
        return {f.column: str(f.verbose_name) for f in self.tracked_model._meta.concrete_fields}


TRACKED: tuple[Tracked, ...] = (
    Tracked("user", "User", m.UserEvent, parts=(("user-team", "user_id"),)),
    Tracked("user-team", "Team membership", m.UserTeamEvent),
    Tracked("team", "Team", m.TeamEvent, parts=(("user-team", "team_id"),)),
    Tracked("agent", "Agent", m.AgentEvent, parts=(("agent-identity", "agent_id"),)),
    Tracked("agent-identity", "Agent identity", m.AgentIdentityEvent),
    Tracked(
        "rubric",
        "Rubric",
        m.RubricEvent,
        page="rubric-detail",
        parts=(("rubric-version", "rubric_id"),),
    ),
    Tracked(
        "rubric-version",
        "Rubric version",
        m.RubricVersionEvent,
        parts=(("section", "version_id"), ("criterion", "version_id")),
    ),
    Tracked("section", "Rubric section", m.SectionEvent),
    Tracked("criterion", "Rubric criterion", m.CriterionEvent),
    Tracked(
        "operator",
        "Operator",
        m.OperatorEvent,
        page="rules-operator-detail",
        parts=(("operator-version", "operator_id"),),
    ),
    Tracked("operator-version", "Operator version", m.OperatorVersionEvent),
    Tracked(
        "rule", "Rule", m.RuleEvent, page="rules-detail", parts=(("rule-operator", "rule_id"),)
    ),
    Tracked("rule-operator", "Rule operator", m.RuleOperatorEvent),
    Tracked("article", "Knowledge article", m.KnowledgeArticleEvent, page="knowledge-detail"),
    Tracked(
        "customer",
        "Customer profile",
        m.CustomerProfileEvent,
        page="knowledge-customer-detail",
        parts=(("observation", "profile_id"),),
    ),
    Tracked("observation", "Customer observation", m.ObservationEvent),
    Tracked(
        "policy",
        "Sampling policy",
        m.SamplingPolicyEvent,
        page="qa-policy",
        parts=(
            ("policy-team", "samplingpolicy_id"),
            ("policy-agent", "samplingpolicy_id"),
            ("policy-reviewer", "samplingpolicy_id"),
        ),
    ),
    Tracked("policy-team", "Sampling policy team", m.SamplingPolicyTeamEvent),
    Tracked("policy-agent", "Sampling policy agent", m.SamplingPolicyAgentEvent),
    Tracked("policy-reviewer", "Sampling policy reviewer", m.SamplingPolicyReviewerEvent),
    Tracked(
        "review",
        "Review",
        m.ReviewEvent,
        page="qa-review",
        parts=(("review-revision", "review_id"), ("dispute", "review_id")),
    ),
    Tracked("review-revision", "Review revision", m.ReviewRevisionEvent),
    Tracked("dispute", "Dispute", m.DisputeEvent, parts=(("dispute-item", "dispute_id"),)),
    Tracked("dispute-item", "Dispute item", m.DisputeItemEvent),
    Tracked(
        "calibration",
        "Calibration session",
        m.CalibrationSessionEvent,
        page="qa-calibration",
        parts=(
            ("calibration-conversation", "session_id"),
            ("calibration-participant", "session_id"),
            ("calibration-benchmark", "session_id"),
        ),
    ),
    Tracked("calibration-conversation", "Calibration conversation", m.CalibrationConversationEvent),
    Tracked("calibration-participant", "Calibration participant", m.CalibrationParticipantEvent),
    Tracked("calibration-benchmark", "Calibration benchmark", m.CalibrationBenchmarkEvent),
    Tracked(
        "session-template",
        "Coaching template",
        m.SessionTemplateEvent,
        page="coaching-template-edit",
    ),
    Tracked(
        "coaching-session",
        "Coaching session",
        m.CoachingSessionEvent,
        page="coaching-session",
        parts=(
            ("session-link", "session_id"),
            ("action-item", "session_id"),
            ("goal", "session_id"),
        ),
    ),
    Tracked("session-link", "Coaching session link", m.SessionLinkEvent),
    Tracked("action-item", "Action item", m.ActionItemEvent),
    Tracked("goal", "Coaching goal", m.GoalEvent),
    Tracked("alert-rule", "Floor alert rule", m.AlertRuleEvent),
)

BY_SLUG: dict[str, Tracked] = {t.slug: t for t in TRACKED}
