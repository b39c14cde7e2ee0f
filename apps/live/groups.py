"""Names of the live groups: one group per scope, never one global group filtered later.

Services broadcast to these (``apps.live.broadcast``); consumers join them once the user's
access to the scope is checked (``apps.live.consumers.ScopedGroupConsumer``). This module and
``broadcast`` import no app, so every app may use them.
"""

from __future__ import annotations


def conversation_group(conversation_id: int) -> str:
    """Everyone watching one conversation (its page, the QA review of it)."""
    return f"conversation.{conversation_id}"


def team_floor_group(team_id: int) -> str:
    """A team's live floor: its supervisors and coaches."""
    return f"floor.team.{team_id}"


def user_group(user_id: int) -> str:
    """One person's notifications, on whatever page they have open."""
    return f"user.{user_id}"
