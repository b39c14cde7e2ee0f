"""Who may review a conversation, and spreading picks evenly over a pool of reviewers.

A reviewer needs the ``qa_review`` feature, a scope that covers the conversation (admins and QA
analysts: all; coaches: their teams, by the conversation's team or an agent's), and must not be
one of its agents: nobody reviews their own conversation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from apps.accounts.scoping import Reach, can_use, scope_for
from apps.conversations.selectors import ConversationPeople

if TYPE_CHECKING:
    from apps.accounts.models import User
    from apps.accounts.scoping import Person


def may_review(user: Person, people: ConversationPeople) -> bool:
    if not can_use(user, "qa_review") or user.pk in people.agent_user_ids:
        return False
    scope = scope_for(user)
    if scope.reach is Reach.EVERYTHING:
        return True
    if scope.reach is Reach.TEAMS:
        teams = {people.team_id, *people.agent_team_ids}
        return bool(teams & scope.team_ids)
    return False


def spread_evenly(
    picks: Sequence[tuple[int, ConversationPeople]],
    reviewers: Iterable[User],
    load: dict[int, int],
) -> dict[int, int | None]:
    """``{conversation id: reviewer id}`` for ``picks`` (conversation id, its people), each to
    the eligible reviewer with the fewest items so far (``load``, updated as picks are made;
    ties go to the lower user id). None where no reviewer may take it: it stays in the pool."""
    pool = sorted(reviewers, key=lambda user: user.pk)
    chosen: dict[int, int | None] = {}
    for conversation_id, people in picks:
        eligible = [user for user in pool if may_review(user, people)]
        if not eligible:
            chosen[conversation_id] = None
            continue
        best = min(eligible, key=lambda user: (load.get(user.pk, 0), user.pk))
        load[best.pk] = load.get(best.pk, 0) + 1
        chosen[conversation_id] = best.pk
    return chosen
