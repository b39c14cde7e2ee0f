from __future__ import annotations

from typing import Any

from django.http import Http404

from apps.accounts.scoping import Reach, scope_for

from .models import Handoff


def handoff_get(*, user: Any, pk: int) -> Handoff:
    """A handoff the user may see. One not yet tied to a conversation is for all-seeing roles."""
    handoffs = Handoff.objects.select_related("conversation", "conversation__team")
    if scope_for(user).reach is not Reach.EVERYTHING:
        handoffs = handoffs.for_user(user)
    handoff = handoffs.filter(pk=pk).first()
    if handoff is None:
        raise Http404("No such handoff.")
    return handoff
