from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import Q

from apps.accounts.scoping import Reach, scope_for
from apps.common.errors import NotFound
from apps.conversations import selectors as conversations

from .models import Handoff

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def _may_see(user: Person, handoff: Handoff) -> bool:
    if scope_for(user).reach is Reach.EVERYTHING:
        return True
    return (
        handoff.conversation is not None
        and conversations.conversations_of(user=user).filter(pk=handoff.conversation.pk).exists()
    )


def handoff_get(*, user: Person, pk: int) -> Handoff:
    """A handoff the user may see, scoped by its conversation; none known: all-seeing roles only.

    The relay callback is answered at once while the Orchestrator events of the same call may still
    wait in the inbox, so a handoff can be recorded before its conversation is known. Such a
    handoff is shown with (and scoped by) the conversation later found by its call SID.
    """
    handoff = (
        Handoff.objects.select_related("conversation", "conversation__team").filter(pk=pk).first()
    )
    if handoff is not None and handoff.conversation is None:
        handoff.conversation = conversations.conversation_for_call(call_sid=handoff.call_sid)
    if handoff is None or not _may_see(user, handoff):
        raise NotFound("No such handoff.")
    return handoff


def handoffs_of(*, conversation_id: int, call_sids: list[str]) -> list[Handoff]:
    """The handoffs of a conversation the caller already may see, oldest first: linked to it, or
    (recorded before its conversation was known) made on one of its calls."""
    match = Q(conversation_id=conversation_id)
    if call_sids:
        match |= Q(conversation__isnull=True, call_sid__in=call_sids)
    return list(Handoff.objects.filter(match).order_by("created_at", "id"))


def handoff_ids_for(
    *, conversation_ids: Iterable[int], numbers: Iterable[str], call_sids: Iterable[str]
) -> set[int]:
    """Handoffs of these conversations, or of calls from/to these numbers or with these SIDs
    (a handoff may come before its conversation is linked): what an erasure blanks."""
    numbers = [n for n in numbers if n]
    return set(
        Handoff.objects.filter(
            Q(conversation_id__in=list(conversation_ids))
            | Q(from_number__in=numbers)
            | Q(to_number__in=numbers)
            | Q(call_sid__in=[s for s in call_sids if s])
        ).values_list("pk", flat=True)
    )
