"""Writes to users, teams, agents and their notifications."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.live.broadcast import broadcast_on_commit
from apps.live.groups import user_group

from .models import Notification, User


@transaction.atomic
def api_token_issue(*, user: User, rotate: bool = False) -> tuple[Token, bool]:
    """The user's API token, created if they have none; ``rotate`` replaces an existing one.

    Returns the token and whether it is new. A user keeps one token: its key is the credential,
    so rotating is how a leaked key is revoked.
    """
    if rotate:
        Token.objects.filter(user=user).delete()
    token, created = Token.objects.get_or_create(user=user)
    return token, created


# Notifications ------------------------------------------------------------------------------------

NOTIFICATION_EVENT = "notification"


@dataclass(frozen=True)
class NotificationInput:
    kind: str
    title: str
    body: str = ""
    url: str = ""
    # Unread notifications with the same key fold into one that counts them ("3 new items").
    key: str = ""
    # How many things this one stands for (added to a folded notification's count).
    count: int = 1


_FOLD_SQL = """
INSERT INTO accounts_notification (user_id, kind, title, body, url, key, count, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (user_id, key) WHERE (read_at IS NULL AND NOT (key = ''))
DO UPDATE SET count = accounts_notification.count + EXCLUDED.count, kind = EXCLUDED.kind,
              title = EXCLUDED.title, body = EXCLUDED.body, url = EXCLUDED.url,
              created_at = EXCLUDED.created_at
RETURNING id
"""


def notify(*, user_ids: Iterable[int], notification: NotificationInput) -> list[int]:
    """Tell each of ``user_ids`` (inactive users are skipped), in the caller's transaction; their
    open pages hear of it after commit (``user.<id>`` group, event "notification").

    Returns the ids of the notifications written (a folded one keeps its id).
    """
    now = timezone.now()
    ids = sorted(
        set(User.objects.filter(pk__in=set(user_ids), is_active=True).values_list("pk", flat=True))
    )
    if not ids:
        return []
    written: list[int] = []
    if notification.key:
        with connection.cursor() as cursor:
            for user_id in ids:
                cursor.execute(_FOLD_SQL, _row(user_id, notification, now))
                written.append(cursor.fetchone()[0])
    else:
        rows = Notification.objects.bulk_create(
            Notification(
                user_id=user_id,
                kind=notification.kind,
                title=notification.title,
                body=notification.body,
                url=notification.url,
                count=max(notification.count, 1),
                created_at=now,
            )
            for user_id in ids
        )
        written = [row.pk for row in rows]
    _announce(dict(zip(ids, written, strict=True)), notification, now)
    return written


def _row(user_id: int, n: NotificationInput, now: datetime) -> list[int | str | datetime]:
    return [user_id, n.kind, n.title[:200], n.body, n.url[:500], n.key[:120], max(n.count, 1), now]


def _announce(by_user: dict[int, int], n: NotificationInput, now: datetime) -> None:
    unread = dict(
        Notification.objects.filter(user_id__in=list(by_user), read_at__isnull=True)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    counts = dict(Notification.objects.filter(pk__in=by_user.values()).values_list("pk", "count"))
    for user_id, pk in by_user.items():
        broadcast_on_commit(
            user_group(user_id),
            NOTIFICATION_EVENT,
            {
                "unread": unread.get(user_id, 0),
                "notification": {
                    "id": pk,
                    "kind": n.kind,
                    "title": n.title,
                    "body": n.body,
                    "url": n.url,
                    "count": counts.get(pk, 1),
                    "created_at": now.isoformat(),
                },
            },
        )


def notifications_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark ``user``'s notifications read (all of them when ``ids`` is None); returns how many.
    Others' ids are ignored. Their other open pages hear the new unread count."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    changed = unread.update(read_at=timezone.now())
    if changed:
        left = Notification.objects.filter(user=user, read_at__isnull=True).count()
        broadcast_on_commit(user_group(user.pk), NOTIFICATION_EVENT, {"unread": left})
    return changed


@transaction.atomic
def notifications_blank(*, urls: Iterable[str]) -> int:
    """Erasure (apps/privacy): blank the text of notifications pointing at these pages (a QA
    item's reason or a dispute's words were copied into them). Title, link and times stay.
    Returns how many changed; a second call none."""
    urls = list(urls)
    if not urls:
        return 0
    return Notification.objects.filter(url__in=urls).exclude(body="").update(body="")
