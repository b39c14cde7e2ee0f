"""Reads of users, teams and agents."""

from __future__ import annotations

import time
from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.db.models import Q, QuerySet

from .choices import IdentityKind
from .middleware import session_idle_expired
from .models import Agent, AgentIdentity, ApiToken, Notification, Team, User
from .scoping import Reach, can_use, scope_for

if TYPE_CHECKING:
    from .scoping import Person


def agent_find_by_identity(
    *,
    participant_id: str = "",
    addresses: Iterable[str] = (),
    name: str = "",
) -> Agent | None:
    """The agent that one of these Twilio identities names, most specific first.

    Participant ids beat addresses (phone, client identity, worker SID), which beat display names,
    since names are the least unique.
    """
    candidates: list[tuple[str, str]] = []
    if participant_id:
        candidates.append((IdentityKind.PARTICIPANT_ID, participant_id))
    for address in addresses:
        if address:
            candidates.append((IdentityKind.ADDRESS, address))
            candidates.append((IdentityKind.WORKER_SID, address))
    if name:
        candidates.append((IdentityKind.NAME, name))
    if not candidates:
        return None
    condition = Q()
    for kind, value in candidates:
        condition |= Q(identities__kind=kind, identities__value__iexact=value)
    rank = {kind: i for i, (kind, _) in enumerate(candidates)}
    matches = list(
        Agent.objects.filter(condition, is_active=True)
        .select_related("team")
        .prefetch_related("identities")
        .distinct()
    )
    if not matches:
        return None

    def best(agent: Agent) -> int:
        return min((rank.get(identity.kind, 99) for identity in agent.identities.all()), default=99)

    return min(matches, key=best)


def signed_in(user: Person | None) -> User | None:
    """``user`` if signed in, else None: what a row's ``created_by`` may hold."""
    return user if isinstance(user, User) and user.is_authenticated else None


def user_reloaded(*, user_id: int) -> User | None:
    """The user as stored now: a long-lived socket's user object keeps the scope it had when it
    connected (``scoping.scope_for`` caches it on the object)."""
    return User.objects.filter(pk=user_id).first()


def session_signs_in(*, session_key: str | None, user_id: int) -> bool:
    """Whether the session a long-lived socket opened with still signs ``user_id`` in: not
    signed out since (its row gone or flushed), nor idle past SESSION_IDLE_TIMEOUT_SECONDS. The
    socket's own copy of the session is as it was at connect; this reads the stored one."""
    if not session_key:
        return False
    stored = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return str(stored.get(SESSION_KEY)) == str(user_id) and not session_idle_expired(
        stored, time.time()
    )


def agent_choices(*, user: Person | None) -> QuerySet[Agent]:
    """Agents ``user`` may filter by: all for full reach, their teams' agents, or themselves."""
    scope = scope_for(user)
    agents = Agent.objects.select_related("team").order_by("display_name", "id")
    if scope.reach is Reach.EVERYTHING:
        return agents
    if scope.reach is Reach.TEAMS:
        return agents.filter(team_id__in=scope.team_ids)
    if scope.reach is Reach.OWN and scope.user_id is not None:
        return agents.filter(user_id=scope.user_id)
    return agents.none()


def team_choices(*, user: Person | None) -> QuerySet[Team]:
    """Teams ``user`` may filter by: all for full reach, the teams they lead, or their own team."""
    scope = scope_for(user)
    teams = Team.objects.order_by("name")
    if scope.reach is Reach.EVERYTHING:
        return teams
    if scope.reach is Reach.TEAMS:
        return teams.filter(id__in=scope.team_ids)
    if scope.reach is Reach.OWN and scope.user_id is not None:
        member_of = Q(members__id=scope.user_id) | Q(agents__user_id=scope.user_id)
        return teams.filter(id__in=Team.objects.filter(member_of).values("id"))
    return teams.none()


def notification_list(*, user: Person | None) -> QuerySet[Notification]:
    """``user``'s own notifications, newest first (nobody else's, whatever their role)."""
    if user is None or not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def notification_unread_count(*, user: Person | None) -> int:
    return notification_list(user=user).filter(read_at__isnull=True).count()


def users_with_role(*, roles: Iterable[str]) -> QuerySet[User]:
    """Active users holding one of ``roles`` (e.g. whom to tell about new QA work)."""
    return User.objects.filter(is_active=True, role__in=list(roles)).order_by("username")


def user_choices(*, features: Iterable[str]) -> list[User]:
    """Active users whose role includes every one of ``features`` (``scoping.FEATURES``):
    reviewers for a sampling policy, assignees for a queue item."""
    wanted = list(features)
    users = (
        User.objects.filter(is_active=True)
        .prefetch_related("teams")
        .order_by("first_name", "last_name", "username")
    )
    return [user for user in users if all(can_use(user, feature) for feature in wanted)]


def agent_user_ids(*, agent_ids: Iterable[int]) -> dict[int, int]:
    """``{agent id: the user id of their login}`` for agents who have one."""
    return dict(
        Agent.objects.filter(pk__in=list(agent_ids), user__isnull=False).values_list(
            "pk", "user_id"
        )
    )


def existing_team_ids(*, ids: Iterable[int]) -> set[int]:
    return set(Team.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))


def existing_agent_ids(*, ids: Iterable[int]) -> set[int]:
    return set(Agent.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))


def agent_ids_of_user(*, user_id: int) -> list[int]:
    """The agents a login speaks as (usually one)."""
    return list(Agent.objects.filter(user_id=user_id).values_list("pk", flat=True))


def team_names(*, ids: Iterable[int]) -> dict[int, str]:
    return dict(Team.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def agent_names(*, ids: Iterable[int]) -> dict[int, tuple[str, int | None]]:
    """``{agent id: (display name, team id)}``."""
    return {
        pk: (name, team_id)
        for pk, name, team_id in Agent.objects.filter(pk__in=list(ids)).values_list(
            "pk", "display_name", "team_id"
        )
    }


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """``user``'s own API tokens, newest first (revoked and expired ones too)."""
    return (
        ApiToken.objects.filter(user=user)
        .select_related("revoked_by")
        .order_by("-created_at", "-id")
    )


def identity_values_known(*, values: Iterable[str]) -> set[str]:
    """Which of these values some active agent's identity has, of any kind, compared as
    ``agent_find_by_identity`` compares them (case-insensitive, by the database): one query for
    a batch, so that the lookup runs only for the names that can find an agent."""
    wanted = sorted({value for value in values if value})
    if not wanted:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT v.value FROM unnest(%s::text[]) AS v(value)
             WHERE EXISTS (
                   SELECT 1 FROM {AgentIdentity._meta.db_table} i
                     JOIN {Agent._meta.db_table} a ON a.id = i.agent_id
                    WHERE a.is_active AND UPPER(i.value::text) = UPPER(v.value))
            """,
            [wanted],
        )
        return {row[0] for row in cursor.fetchall()}
