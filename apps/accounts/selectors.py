"""Reads of users, teams and agents."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from .choices import IdentityKind
from .models import Agent


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
