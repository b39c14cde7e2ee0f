"""Insights for the demo: the classifiers that give each call its topic and outcome, the rule
that runs them when a call ends, and a full rebuild once everything is loaded."""

from __future__ import annotations

from dataclasses import dataclass

from apps.accounts import selectors as accounts
from apps.accounts.choices import Role
from apps.insights import services as insights
from apps.intelligence import selectors as intelligence_selectors
from apps.intelligence import services as intelligence

RULE_NAME = "Topic and outcome at the end"

# What a bank's customers call about, in their own words (the customer's lines only).
TOPIC = {
    "labels": [
        {"label": "replace card", "keywords": ["lost", "stolen", "replacement", "damaged"],
         "phrases": ["new card", "replace my card"]},
        {"label": "check balance", "keywords": ["balance"], "phrases": ["how much money"]},
        {"label": "transfer money", "keywords": ["transfer"], "phrases": ["move money"]},
        {"label": "pay bill", "keywords": ["bill", "payment"], "phrases": ["pay my"]},
        {"label": "reset password", "keywords": ["password", "locked"],
         "phrases": ["log in", "reset my"]},
        {"label": "order checks", "keywords": ["checks", "checkbook"],
         "phrases": ["check book"]},
        {"label": "schedule appointment", "keywords": ["appointment", "banker"],
         "phrases": ["set up a meeting"]},
        {"label": "branch hours", "keywords": ["hours"], "phrases": ["what time", "are you open"]},
    ],
    "default_label": "other",
    "speaker": "customer",
}  # fmt: skip

# How the call ended, from what the agent (human or AI) said.
OUTCOME = {
    "labels": [
        {"label": "resolved", "phrases": ["anything else i can help", "have a great day",
                                          "all set", "went through"]},
        {"label": "follow-up", "phrases": ["call you back", "follow up", "get back to you",
                                           "business days", "someone will contact you"]},
        {"label": "escalated", "keywords": ["supervisor", "manager", "escalate"],
         "phrases": ["connect you with an agent", "transfer you to"]},
    ],
    "default_label": "unclear",
    "speaker": "agent",
}  # fmt: skip


@dataclass(frozen=True)
class DemoInsightsResult:
    created: bool
    conversations: int
    rollup_rows: int


def demo_insights_operators() -> bool:
    """The topic and outcome classifiers and their end-of-call rule, once (by rule name)."""
    admin = accounts.users_with_role(roles=[Role.ADMIN]).filter(username="admin").first()
    if (
        admin is None
        or intelligence_selectors.rule_list(user=admin).filter(name=RULE_NAME).exists()
    ):
        return False
    topic = intelligence.operator_create(
        user=admin,
        kind="CLASSIFIER",
        key="topic",
        name="Topic",
        description="What the customer called about, from their own words.",
        parameters=TOPIC,
    )
    outcome = intelligence.operator_create(
        user=admin,
        kind="CLASSIFIER",
        key="outcome",
        name="Outcome",
        description="Resolved, follow-up or escalated, from what the agent said.",
        parameters=OUTCOME,
    )
    intelligence.rule_create(
        user=admin,
        data=intelligence.RuleInput(
            name=RULE_NAME,
            description="The call's topic and outcome for insights, once it has ended.",
            trigger_on="CONVERSATION_END",
            operators=(
                intelligence.RuleOperatorInput(operator_id=topic.pk),
                intelligence.RuleOperatorInput(operator_id=outcome.pk),
            ),
        ),
    )
    return True


def demo_insights_load() -> DemoInsightsResult:
    """Every fact and rollup rebuilt from what the demo loaded."""
    report = insights.insights_rebuild()
    return DemoInsightsResult(True, report.conversations, report.rollup_rows)
