"""WebSocket consumers of the pages that update live.

Services broadcast to a scope's group (``apps.live.broadcast``, names from ``apps.live.groups``);
a consumer checks that its user may see the scope before joining that group, and forwards every
event as it is. A conversation's events carry their data and a number (``apps.live.streams``):
the page applies them in order and asks over HTTP for any it missed, through the same
permission checks. A new live page subclasses ``ScopedGroupConsumer``: it names the group of
the scope in the URL and says who may join it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from apps.accounts import selectors as accounts
from apps.conversations import selectors as conversations

from .groups import conversation_group, user_group

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

# An application close code (4000-4999) after HTTP's 403: the page's script stops retrying.
CLOSE_FORBIDDEN = 4403


class PingConsumer(AsyncJsonWebsocketConsumer):
    """``ws/ping/``: echoes what it gets, proving the stack end to end (ASGI, auth, Redis)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        await self.send_json({"type": "pong", "echo": content})


class ScopedGroupConsumer(AsyncJsonWebsocketConsumer):
    """Joins one group, for users who may see its scope; forwards its events as they are.

    Subclasses give ``group_name`` (from the URL's kwargs) and ``may_join`` (a database read,
    run off the event loop). Anyone else is accepted and closed with ``CLOSE_FORBIDDEN``.
    """

    group: str | None = None
    recheck: asyncio.Task[None] | None = None

    def group_name(self, kwargs: dict[str, Any]) -> str:
        raise NotImplementedError

    def may_join(self, user: Person, kwargs: dict[str, Any]) -> bool:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        allowed = user is not None and user.is_authenticated
        if allowed:
            allowed = await database_sync_to_async(self.may_join)(user, kwargs)
        if not allowed:
            # Accept, then close with a code: a handshake refused before accept reaches the
            # browser as a bare 1006, and the script could not tell "no" from "network down".
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Join before accepting: once the client sees the socket open, it gets every event.
        self.group = self.group_name(kwargs)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.recheck = asyncio.create_task(self._keep_checking(kwargs))

    async def _keep_checking(self, kwargs: dict[str, Any]) -> None:
        """Scopes change while a socket stays open (a supervisor moves team, an account is
        deactivated): check again every LIVE_SCOPE_RECHECK_SECONDS, leave and close if no."""
        while True:
            await asyncio.sleep(settings.LIVE_SCOPE_RECHECK_SECONDS)
            if not await database_sync_to_async(self._still_allowed)(kwargs):
                await self._leave()
                await self.close(code=CLOSE_FORBIDDEN)
                return

    def _still_allowed(self, kwargs: dict[str, Any]) -> bool:
        user = accounts.user_reloaded(user_id=self.scope["user"].pk)
        return user is not None and user.is_active and self.may_join(user, kwargs)

    async def _leave(self) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def disconnect(self, code: int) -> None:
        if self.recheck is not None and self.recheck is not asyncio.current_task():
            self.recheck.cancel()
        self.recheck = None
        await self._leave()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The browser only listens; anything it sends is ignored."""

    async def live_event(self, message: dict[str, Any]) -> None:
        """A ``apps.live.broadcast`` message ("live.event"), forwarded as it is (with its number
        and epoch when it is a stored event of a stream)."""
        if self.group is None:
            return  # left: no longer allowed, or closing
        out = {"event": message["event"], "payload": message["payload"]}
        if "seq" in message:
            out |= {"seq": message["seq"], "epoch": message["epoch"]}
        await self.send_json(out)


class ConversationConsumer(ScopedGroupConsumer):
    """``ws/conversations/<pk>/``: the live events of one conversation the user may see."""

    def group_name(self, kwargs: dict[str, Any]) -> str:
        return conversation_group(int(kwargs["pk"]))

    def may_join(self, user: Person, kwargs: dict[str, Any]) -> bool:
        return conversations.conversations_of(user=user).filter(pk=int(kwargs["pk"])).exists()


class NotificationConsumer(ScopedGroupConsumer):
    """``ws/notifications/``: the signed-in user's own notifications (the bell on every page)."""

    def group_name(self, kwargs: dict[str, Any]) -> str:
        return user_group(self.scope["user"].pk)

    def may_join(self, user: Person, kwargs: dict[str, Any]) -> bool:
        return bool(user.is_active)
