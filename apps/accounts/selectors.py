"""Reads of users, teams and agents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from .choices import IdentityKind
from .models import Agent, Team, User
from .scoping import Reach, scope_for

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
