"""The one place that decides what a user may see.

Every queryset that shows conversation data to a person goes through ``scope_for(user)`` (via the
models' ``for_user`` querysets). Admins and QA analysts see everything, supervisors and coaches
their teams, agents their own conversations, everyone else nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

from .choices import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from .models import User

    # Whoever is asking: a signed-in user, or the anonymous one (who may see nothing).
    Person: TypeAlias = User | AnonymousUser


class Reach(Enum):
    NOTHING = "nothing"
    TEAMS = "teams"
    OWN = "own"
    EVERYTHING = "everything"


@dataclass(frozen=True)
class Scope:
    reach: Reach
    team_ids: frozenset[int] = field(default_factory=frozenset)
    user_id: int | None = None


_EVERYTHING_ROLES = {Role.ADMIN, Role.QA_ANALYST}
_TEAM_ROLES = {Role.SUPERVISOR, Role.COACH}


def scope_for(user: Person | None) -> Scope:
    """Return what ``user`` may see. Cached on the user object for the request."""
    cached = getattr(user, "_ccportal_scope", None)
    if cached is not None:
        return cached
    scope = _compute_scope(user)
    if user is not None and user.is_authenticated:
        setattr(user, "_ccportal_scope", scope)  # noqa: B010 (not a field of either user type)
    return scope


def _compute_scope(user: Person | None) -> Scope:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Scope(Reach.NOTHING)
    if user.is_superuser or user.role in _EVERYTHING_ROLES:
        return Scope(Reach.EVERYTHING)
    if user.role in _TEAM_ROLES:
        team_ids = frozenset(user.teams.values_list("id", flat=True))
        return Scope(Reach.TEAMS, team_ids=team_ids) if team_ids else Scope(Reach.NOTHING)
    if user.role == Role.AGENT:
        return Scope(Reach.OWN, user_id=user.pk)
    return Scope(Reach.NOTHING)


# What each role may open in the navigation; views check the same table.
FEATURES: dict[str, set[str]] = {
    "conversations": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    "api_docs": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    "admin_site": {Role.ADMIN},
    # One's own API tokens (the API then sees what its owner sees).
    "api_tokens": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    # The transcript access log: who read which transcript, how and why (search and export).
    "access_log": {Role.ADMIN},
    # Marking a conversation sensitive by hand (its transcript is then read with a reason).
    "conversation_sensitive": {Role.ADMIN, Role.QA_ANALYST},
    # Reading rubrics (and their versions and history); agents work to the script, not with it.
    "rubrics": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR},
    "rubrics_manage": {Role.ADMIN},
    # Operators, rules and their results: reading them is for staff; changing them for admins.
    "intelligence": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR},
    "intelligence_manage": {Role.ADMIN},
    # Running a rule on demand on a conversation the user may see.
    "intelligence_run": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR},
    # The knowledge base is read by everyone who talks to customers, written by admins.
    "knowledge": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    "knowledge_manage": {Role.ADMIN},
    # Customer memory, for the customers of conversations the user may see.
    "memory": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    # Deleting anyone's observation (others delete only their own).
    "memory_manage": {Role.ADMIN},
    # QA: the queue and reviewing (coaches review their teams' conversations only, by scope).
    "qa_review": {Role.ADMIN, Role.QA_ANALYST, Role.COACH},
    # Reading submitted reviews of the conversations in one's scope (supervisors: their teams).
    "qa_reviews": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR},
    # An agent's own released reviews: acknowledging and disputing them.
    "qa_my_reviews": {Role.AGENT},
    # Sending a conversation to the QA queue by hand.
    "qa_send": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR},
    # Deciding disputes (never on one's own review).
    "qa_decide": {Role.ADMIN, Role.QA_ANALYST},
    # Sampling policies, and reassigning or removing anyone's queue items.
    "qa_manage": {Role.ADMIN},
    # Running calibration sessions (participants answer through "qa_review").
    "qa_calibration_admin": {Role.ADMIN},
    # Agreement statistics: the AI as a rater, trust tiers, confidence of scores.
    "qa_stats": {Role.ADMIN, Role.QA_ANALYST, Role.COACH},
    # Rubric impact previews (of a draft version, before it is published).
    "qa_impact": {Role.ADMIN},
    # The live floor of one's teams (admins and QA: all), its alerts, and tips to agents.
    "floor": {Role.ADMIN, Role.QA_ANALYST, Role.SUPERVISOR, Role.COACH},
    # Coaching: scorecards, sessions, goals, action items, within one's scope (agents: their own;
    # never a coach's private notes).
    "coaching": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    # Planning and holding sessions, setting goals, private notes (coaches: their teams).
    "coaching_manage": {Role.ADMIN, Role.COACH},
    # Session templates (admins and coaches; each template says who may use it).
    "coaching_templates": {Role.ADMIN, Role.COACH},
    # Each team's coaching coverage (sessions held per agent per month) on the coach's home.
    "coaching_coverage": {Role.ADMIN, Role.SUPERVISOR},
    # Dashboards and exports, within one's scope (agents: their own figures).
    "insights": {Role.ADMIN, Role.QA_ANALYST, Role.COACH, Role.SUPERVISOR, Role.AGENT},
    # Retention schedules and customers' erasure requests (apps/privacy).
    "privacy": {Role.ADMIN},
    # The audit trail: every change to what people configure and decide, and who made it
    # (snapshots hold fields not every viewer of an object may read, e.g. private notes).
    "audit": {Role.ADMIN},
}


def can_use(user: Person | None, feature: str) -> bool:
    role = getattr(user, "role", None)  # the anonymous user has none
    if user is None or not user.is_authenticated or not user.is_active or role is None:
        return False
    if user.is_superuser:
        return True
    return role in FEATURES.get(feature, set())
