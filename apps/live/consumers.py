"""WebSocket consumers of the pages that update live.

Services broadcast to a scope's group (``apps.common.live``); a consumer checks that its user
may see the scope before joining that group, and forwards every event as it is. Events carry
ids only: the page fetches what changed over HTTP, through the same permission checks.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.common.live import conversation_group
from apps.conversations import selectors as conversations

# An application close code (4000-4999) after HTTP's 403: the page's script stops retrying.
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def _may_see(user: Any, conversation_id: int) -> bool:
    return conversations.conversation_list(user=user).filter(pk=conversation_id).exists()


class ConversationConsumer(AsyncJsonWebsocketConsumer):
    """``ws/conversations/<pk>/``: the live events of one conversation the user may see."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        pk = int(self.scope["url_route"]["kwargs"]["pk"])
        if user is None or not user.is_authenticated or not await _may_see(user, pk):
            # Accept, then close with a code: a handshake refused before accept reaches the
            # browser as a bare 1006, and the script could not tell "no" from "network down".
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Join before accepting: once the client sees the socket open, it gets every event.
        self.group = conversation_group(pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The browser only listens; anything it sends is ignored."""

    async def live_event(self, message: dict[str, Any]) -> None:
        """A ``apps.common.live.broadcast`` message ("live.event"), forwarded as it is."""
        await self.send_json({"event": message["event"], "payload": message["payload"]})
