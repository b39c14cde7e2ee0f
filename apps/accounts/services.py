"""Writes to users, teams, agents, their API tokens and their notifications."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from apps.common.errors import ApplicationError, NotFound, ValidationFailed
from apps.live.broadcast import broadcast_on_commit
from apps.live.groups import user_group

from .models import ApiToken, Notification, User
from .scoping import can_use

# API tokens ---------------------------------------------------------------------------------------

API_TOKEN_PREFIX = "ccp_"
# How many characters of the secret name the token on pages ("ccp_" and 8 of the random part).
API_TOKEN_SHOWN = 12
# last_used_at is written at most this often per token: one UPDATE a minute, not one a request.
API_TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class TokenRefused(ApplicationError):
    """A token that does not authenticate: unknown, expired, revoked, or its owner inactive."""

    status = 401
    code = "token_refused"


def api_token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once; only its hash is stored


@transaction.atomic
def api_token_create(
    *, user: User, name: str, days: int | None = None, now: datetime | None = None
) -> IssuedToken:
    """A new API token for ``user``, valid ``days`` (API_TOKEN_DEFAULT_DAYS when None, at most
    API_TOKEN_MAX_DAYS). The secret is in the result and nowhere else."""
    name = name.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the token a name, e.g. what will use it."]
    elif len(name) > 100:
        errors["name"] = ["At most 100 characters."]
    days = settings.API_TOKEN_DEFAULT_DAYS if days is None else days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        errors["days"] = [f"Between 1 and {settings.API_TOKEN_MAX_DAYS} days."]
    if not user.is_active:
        errors["user"] = ["An inactive user cannot have tokens."]
    if errors:
        raise ValidationFailed(errors)
    now = now or timezone.now()
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:API_TOKEN_SHOWN],
        secret_hash=api_token_hash(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return IssuedToken(token=token, secret=secret)


def api_token_revoke(*, token_id: int, by: User) -> bool:
    """Revoke a token: its owner's own, or anyone's by an admin. Returns whether this call
    revoked it (False when it already was). Others' tokens are not found."""
    tokens = ApiToken.objects.filter(pk=token_id)
    if not can_use(by, "admin_site"):  # admins revoke anyone's
        tokens = tokens.filter(user=by)
    if not tokens.exists():
        raise NotFound("No such token.")
    return bool(
        tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_by=by)
    )


def api_tokens_revoke_named(*, user: User, name: str, by: User) -> int:
    """Revoke ``user``'s live tokens called ``name`` (``manage.py api_token --rotate``)."""
    return ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=by
    )


def api_token_authenticate(*, secret: str, now: datetime | None = None) -> ApiToken:
    """The live token whose secret this is, with its user; raises TokenRefused otherwise.
    Notes when it was used, at most once a minute (a conditional UPDATE, no read-modify-write)."""
    now = now or timezone.now()
    token = (
        ApiToken.objects.select_related("user").filter(secret_hash=api_token_hash(secret)).first()
    )
    if token is None:
        raise TokenRefused("Invalid token.")
    if token.revoked_at is not None:
        raise TokenRefused("Token revoked.")
    if token.expires_at <= now:
        raise TokenRefused("Token expired.")
    if not token.user.is_active:
        raise TokenRefused("User inactive or deleted.")
    if token.last_used_at is None or token.last_used_at <= now - API_TOKEN_USE_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - API_TOKEN_USE_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


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
