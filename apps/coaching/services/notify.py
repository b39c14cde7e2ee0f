"""What coaching tells people, under the bell (``apps.accounts.services.notify``). Callers run
these after commit (``transaction.on_commit``): a rolled-back write tells nobody."""

from __future__ import annotations

from django.urls import reverse

from apps.accounts import services as accounts_services
from apps.accounts.services import NotificationInput

from ..choices import NotificationKind
from ..models import ActionItem, CoachingSession


def session_planned(session: CoachingSession, *, agent_user_id: int) -> None:
    when = session.scheduled_at.strftime("%b %-d, %H:%M")
    accounts_services.notify(
        user_ids=[agent_user_id],
        notification=NotificationInput(
            kind=NotificationKind.SESSION_PLANNED,
            title="A coaching session was planned with you",
            body=f"{session.title}: {when}.",
            url=reverse("coaching-session", args=[session.pk]),
        ),
    )


def session_held(session: CoachingSession, *, agent_user_id: int) -> None:
    accounts_services.notify(
        user_ids=[agent_user_id],
        notification=NotificationInput(
            kind=NotificationKind.SESSION_HELD,
            title="Please acknowledge your coaching session",
            body=f"{session.title}: read the notes and action items, then acknowledge it.",
            url=reverse("coaching-session", args=[session.pk]) + "#acknowledge",
        ),
    )


def action_due(item: ActionItem, *, user_id: int) -> None:
    due = item.due_on.isoformat() if item.due_on else "now"
    url = (
        reverse("coaching-session", args=[item.session_id]) + "#actions"
        if item.session_id
        else reverse("coaching-sessions")
    )
    accounts_services.notify(
        user_ids=[user_id],
        notification=NotificationInput(
            kind=NotificationKind.ACTION_DUE,
            title="An action item is due",
            body=f"{item.text[:250]} (due {due})",
            url=url,
        ),
    )
