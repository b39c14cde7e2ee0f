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
from apps.conversations import access
from apps.conversations import selectors as conversations
from apps.floor import selectors as floor

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
    """Joins the groups of a scope its user may see; forwards their events as they are.

    Subclasses give ``group_name`` (from the URL's kwargs) and ``may_join`` (a database read,
    run off the event loop), or ``groups_for`` when a socket joins several groups (the floor:
    one per team). Anyone who may join none is accepted and closed with ``CLOSE_FORBIDDEN``.
    """

    joined: tuple[str, ...] = ()
    recheck: asyncio.Task[None] | None = None

    def group_name(self, kwargs: dict[str, Any]) -> str:
        raise NotImplementedError

    def may_join(self, user: Person, kwargs: dict[str, Any]) -> bool:
        raise NotImplementedError

    def groups_for(self, user: Person, kwargs: dict[str, Any]) -> list[str]:
        """The groups ``user`` may join here (none: refused). A database read."""
        return [self.group_name(kwargs)] if self.may_join(user, kwargs) else []

    def admit(self, user: Person, kwargs: dict[str, Any]) -> bool:
        """Once, when the socket connects and may join: a last word before it does (the
        conversation socket records the read, or refuses it when a reason is missing)."""
        return True

    def _groups_on_connect(self, user: Person, kwargs: dict[str, Any]) -> list[str]:
        groups = self.groups_for(user, kwargs)
        return groups if groups and self.admit(user, kwargs) else []

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        groups: list[str] = []
        if user is not None and user.is_authenticated:
            groups = await database_sync_to_async(self._groups_on_connect)(user, kwargs)
        if not groups:
            # Accept, then close with a code: a handshake refused before accept reaches the
            # browser as a bare 1006, and the script could not tell "no" from "network down".
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Join before accepting: once the client sees the socket open, it gets every event.
        await self._join(groups)
        await self.accept()
        self.recheck = asyncio.create_task(self._keep_checking(kwargs))

    async def _join(self, groups: list[str]) -> None:
        for group in groups:
            if group not in self.joined:
                await self.channel_layer.group_add(group, self.channel_name)
        for group in self.joined:
            if group not in groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = tuple(groups)

    async def _keep_checking(self, kwargs: dict[str, Any]) -> None:
        """Scopes change while a socket stays open (a supervisor moves team, an account is
        deactivated, its session is signed out or goes idle): check again every
        LIVE_SCOPE_RECHECK_SECONDS; follow a changed set of groups, and leave and close when
        none is left."""
        while True:
            await asyncio.sleep(settings.LIVE_SCOPE_RECHECK_SECONDS)
            groups = await database_sync_to_async(self._groups_now)(kwargs)
            if not groups:
                await self._leave()
                await self.close(code=CLOSE_FORBIDDEN)
                return
            if set(groups) != set(self.joined):
                await self._join(groups)
                await self.send_json({"event": "rescoped", "payload": {}})

    def _groups_now(self, kwargs: dict[str, Any]) -> list[str]:
        user = accounts.user_reloaded(user_id=self.scope["user"].pk)
        if user is None or not user.is_active:
            return []
        # Signed out elsewhere, or the session went idle (docs/security.md): the socket goes too.
        session_key = getattr(self.scope.get("session"), "session_key", None)
        if not accounts.session_signs_in(session_key=session_key, user_id=user.pk):
            return []
        return self.groups_for(user, kwargs)

    async def _leave(self) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = ()

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
        if not self.joined:
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

    def admit(self, user: Person, kwargs: dict[str, Any]) -> bool:
        """Joining a conversation's live transcript is a read (the access log, channel LIVE),
        with the reason the page asked for; refused when one is needed and none was given."""
        pk = int(kwargs["pk"])
        sensitive = conversations.sensitivity_of(conversation_ids=[pk]).get(pk, False)
        client = self.scope.get("client") or [None]
        return access.live_join(
            user=user,
            session=self.scope.get("session"),
            conversation_id=pk,
            sensitive=sensitive,
            ip=client[0],
        )


class NotificationConsumer(ScopedGroupConsumer):
    """``ws/notifications/``: the signed-in user's own notifications (the bell on every page)."""

    def group_name(self, kwargs: dict[str, Any]) -> str:
        return user_group(self.scope["user"].pk)

    def may_join(self, user: Person, kwargs: dict[str, Any]) -> bool:
        return bool(user.is_active)


class FloorConsumer(ScopedGroupConsumer):
    """``ws/floor/``: tiles of the live conversations of every team the user may watch (one
    group per team; admins and QA analysts: the group of everything)."""

    def groups_for(self, user: Person, kwargs: dict[str, Any]) -> list[str]:
        return floor.floor_groups(user)
