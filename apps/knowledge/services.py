"""Writes of Enterprise Knowledge and Conversation Memory.

Articles are written by admins (``knowledge_manage``). Observations come from operators
(``observations_add``, no user: the engine calls it with a conversation) and from people
(``observation_add`` / ``observation_delete``, which check the person's access first).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.accounts.selectors import signed_in
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.common.redaction import redact_configured
from apps.conversations import selectors as conversations

from . import selectors
from .choices import ObservationSource
from .models import CustomerProfile, KnowledgeArticle, Observation, ObservationDeletion

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

OBSERVATION_MAX_LENGTH = 2000


# Enterprise Knowledge ----------------------------------------------------------------------------


def clean_tags(tags: Any) -> list[str]:
    """Tags as stored: lower case, single spaces, at most 50 characters, each once."""
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned: list[str] = []
    for tag in tags or []:
        value = " ".join(str(tag).split()).lower()[:50]
        if value and value not in cleaned:
            cleaned.append(value)
    return cleaned


def _article_errors(*, title: str, body: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not title.strip():
        errors["title"] = ["Give the article a title."]
    elif len(title) > 255:
        errors["title"] = ["Keep the title under 255 characters."]
    if not body.strip():
        errors["body"] = ["Write the article's text."]
    return errors


@transaction.atomic
def knowledge_article_create(
    *, user: Person, title: str, body: str, tags: Any = (), is_published: bool = True
) -> KnowledgeArticle:
    if not can_use(user, "knowledge_manage"):
        raise PermissionDenied("Only admins may write knowledge articles.")
    errors = _article_errors(title=title, body=body)
    if errors:
        raise ValidationFailed(errors)
    return KnowledgeArticle.objects.create(
        title=title.strip(),
        body=body.strip(),
        tags=clean_tags(tags),
        is_published=is_published,
        created_by=signed_in(user),
        updated_by=signed_in(user),
    )


@transaction.atomic
def knowledge_article_update(
    *,
    user: Person,
    article: KnowledgeArticle,
    title: str,
    body: str,
    tags: Any = (),
    is_published: bool = True,
) -> KnowledgeArticle:
    if not can_use(user, "knowledge_manage"):
        raise PermissionDenied("Only admins may edit knowledge articles.")
    errors = _article_errors(title=title, body=body)
    if errors:
        raise ValidationFailed(errors)
    KnowledgeArticle.objects.filter(pk=article.pk).update(
        title=title.strip(),
        body=body.strip(),
        tags=clean_tags(tags),
        is_published=is_published,
        updated_by=signed_in(user),
        updated_at=timezone.now(),
    )
    return KnowledgeArticle.objects.get(pk=article.pk)


@transaction.atomic
def knowledge_article_delete(*, user: Person, article: KnowledgeArticle) -> None:
    if not can_use(user, "knowledge_manage"):
        raise PermissionDenied("Only admins may delete knowledge articles.")
    KnowledgeArticle.objects.filter(pk=article.pk).delete()


@transaction.atomic
def knowledge_seed(*, articles: list[dict[str, Any]], user: Person | None = None) -> int:
    """Add the articles whose title is not there yet (demo data, imports); returns how many."""
    existing = set(KnowledgeArticle.objects.values_list("title", flat=True))
    rows = [
        KnowledgeArticle(
            title=item["title"],
            body=item["body"],
            tags=clean_tags(item.get("tags")),
            created_by=signed_in(user),
            updated_by=signed_in(user),
        )
        for item in articles
        if item["title"] not in existing
    ]
    KnowledgeArticle.objects.bulk_create(rows)
    return len(rows)


# Conversation Memory -----------------------------------------------------------------------------


def _profile_key(*, profile_id: str, address: str) -> str:
    return f"profile:{profile_id}" if profile_id else f"address:{address.lower()}"


def profiles_link(*, conversation_id: int) -> None:
    """Link the conversation to its customers' profiles (Twilio profile id, else address),
    creating profiles on first sight."""
    wanted: dict[str, dict[str, str]] = {}
    for participant in conversations.participants_brief(conversation_id=conversation_id):
        if participant.type != "CUSTOMER":
            continue
        address = next(
            (
                str(item["address"])
                for item in participant.addresses or []
                if isinstance(item, dict) and item.get("address")
            ),
            "",
        )
        if participant.profile_id or address:
            key = _profile_key(profile_id=participant.profile_id, address=address)
            wanted[key] = {
                "profile_id": participant.profile_id,
                "address": address,
                "display_name": participant.name,
            }
    if not wanted:
        return
    linked = set(
        CustomerProfile.objects.filter(
            key__in=list(wanted), conversations__id=conversation_id
        ).values_list("key", flat=True)
    )
    for key, defaults in wanted.items():
        if key in linked:
            continue
        profile, _ = CustomerProfile.objects.get_or_create(key=key, defaults=defaults)
        profile.conversations.add(conversation_id)


def observation_digest(text: str) -> str:
    """What makes two observations the same: the text, case and spacing aside."""
    return hashlib.sha256(" ".join(text.lower().split()).encode()).hexdigest()


@dataclass(frozen=True)
class Remember:
    """What an operator's result asks to remember about a conversation's customer(s)."""

    conversation_id: int
    texts: list[str]
    source: str
    operator_result: Any = None
    quotes_conversation: bool = True


def observations_add(
    *,
    conversation_id: int | None = None,
    profile: CustomerProfile | None = None,
    texts: list[str],
    source: str,
    operator_result: Any = None,
    user: Person | None = None,
    quotes_conversation: bool = True,
) -> int:
    """Remember ``texts`` about the conversation's customer (or ``profile``); once per text.

    ``quotes_conversation`` (the default, to be safe): the texts hold words said in the
    conversation, so they stay with it (``Observation``). Texts are redacted as communications
    are before they are stored (and before they are compared: the digest is the redacted one's).
    """
    if profile is None:
        if conversation_id is None:
            return 0
        return observations_add_many(
            [Remember(conversation_id, texts, source, operator_result, quotes_conversation)]
        )
    rows = _observation_rows(
        [profile],
        texts,
        source=source,
        conversation_id=conversation_id,
        operator_result=operator_result,
        created_by=signed_in(user) if getattr(user, "is_authenticated", False) else None,
        quotes_conversation=quotes_conversation,
    )
    return _observations_insert(rows)


def observations_add_many(items: Iterable[Remember]) -> int:
    """``observations_add`` for many conversations' operator results at once (a batch of rule
    executions): the profiles linked once per conversation, then one read of the profiles, one
    of what they already remember and one INSERT for the whole batch."""
    items = [item for item in items if any(text.strip() for text in item.texts)]
    if not items:
        return 0
    conversation_ids = list(dict.fromkeys(item.conversation_id for item in items))
    for conversation_id in conversation_ids:
        profiles_link(conversation_id=conversation_id)
    targets: dict[int, list[CustomerProfile]] = {}
    links = CustomerProfile.conversations.through.objects.filter(
        conversation_id__in=conversation_ids
    ).select_related("customerprofile")
    for link in links.order_by("pk"):
        targets.setdefault(link.conversation_id, []).append(link.customerprofile)
    rows = [
        row
        for item in items
        for row in _observation_rows(
            targets.get(item.conversation_id, []),
            item.texts,
            source=item.source,
            conversation_id=item.conversation_id,
            operator_result=item.operator_result,
            created_by=None,
            quotes_conversation=item.quotes_conversation,
        )
    ]
    return _observations_insert(rows)


def _observation_rows(
    targets: list[CustomerProfile],
    texts: list[str],
    *,
    source: str,
    conversation_id: int | None,
    operator_result: Any,
    created_by: Any,
    quotes_conversation: bool,
) -> list[Observation]:
    redacted = [redact_configured(text.strip()).text for text in texts if text.strip()]
    return [
        Observation(
            profile=target,
            text=text[:OBSERVATION_MAX_LENGTH],
            digest=observation_digest(text),
            source=source,
            conversation_id=conversation_id,
            operator_result=operator_result,
            created_by=created_by,
            quotes_conversation=quotes_conversation,
        )
        for target in targets
        for text in redacted
    ]


def _observations_insert(rows: list[Observation]) -> int:
    """Store the rows a profile does not remember yet (once per profile and digest)."""
    if not rows:
        return 0
    known = set(
        Observation.objects.filter(
            profile__in={row.profile.pk for row in rows},
            digest__in={row.digest for row in rows},
        ).values_list("profile_id", "digest")
    )
    fresh: list[Observation] = []
    for row in rows:
        key = (row.profile.pk, row.digest)
        if key not in known:
            known.add(key)  # the same text twice in one batch is stored once
            fresh.append(row)
    # ignore_conflicts: a concurrent run may add the same observation between the two queries.
    Observation.objects.bulk_create(fresh, ignore_conflicts=True)
    return len(fresh)


def _check_memory_access(user: Person, profile: CustomerProfile) -> None:
    if not can_use(user, "memory"):
        raise PermissionDenied("Your role does not include customer memory.")
    if not selectors.profile_visible(user=user, profile=profile):
        raise NotFound("No such customer.")


@transaction.atomic
def observation_add(
    *, user: Person, profile: CustomerProfile, text: str
) -> tuple[Observation, bool]:
    """Remember ``text`` about the customer, as written by ``user``; once per text.

    Returns the observation and whether it is new: the same text again (ignoring case and
    spacing) finds the one already remembered.
    """
    _check_memory_access(user, profile)
    text = text.strip()
    if not text:
        raise ValidationFailed({"text": ["Write what you learnt about the customer."]})
    if len(text) > OBSERVATION_MAX_LENGTH:
        raise ValidationFailed({"text": [f"Keep it under {OBSERVATION_MAX_LENGTH} characters."]})
    text = redact_configured(text).text  # as observations_add stores it
    digest = observation_digest(text)  # the observation's identity (unique per profile)
    known = Observation.objects.filter(profile=profile, digest=digest).exists()
    observations_add(
        profile=profile,
        texts=[text],
        source=ObservationSource.USER,
        user=user,
        quotes_conversation=False,  # a person's note on the customer, for everyone
    )
    observation = (
        selectors.profile_observations(user=user, profile=profile).filter(digest=digest).first()
    )
    if observation is None:  # the same text came from a conversation ``user`` may not open
        raise ValidationFailed({"text": ["That is already remembered about this customer."]})
    return observation, not known


@transaction.atomic
def observation_delete(*, user: Person, observation: Observation) -> None:
    """Forget one observation (wrong, outdated, or not for the record): its author or an admin
    only, and the deletion is recorded (``ObservationDeletion``)."""
    _check_memory_access(user, observation.profile)
    if not selectors.can_delete_observation(user=user, observation=observation):
        raise PermissionDenied(
            "Only the person who wrote an observation, or an admin, may delete it."
        )
    deleted, _ = Observation.objects.filter(pk=observation.pk).delete()
    if deleted:  # not already gone (a double click)
        ObservationDeletion.objects.create(
            profile=observation.profile,
            observation_id=observation.pk,
            text=observation.text,
            source=observation.source,
            conversation_id=observation.conversation_id,
            author_id=observation.created_by_id,
            deleted_by=signed_in(user),
        )


# Erasure (apps/privacy) ---------------------------------------------------------------------------


@transaction.atomic
def memory_erase(*, profile_ids: Iterable[int], conversation_ids: Iterable[int]) -> dict[str, int]:
    """Forget a customer: these profiles with everything remembered about them, the
    observations any profile took from these conversations (they quote them), and the log of
    forgotten observations of both (it holds their text). Returns rows deleted per kind; a
    second call deletes nothing."""
    profile_ids = list(profile_ids)
    conversation_ids = list(conversation_ids)
    observations = (
        Observation.objects.filter(
            Q(profile_id__in=profile_ids) | Q(conversation_id__in=conversation_ids)
        )
        .delete()[1]
        .get(Observation._meta.label, 0)
    )
    ObservationDeletion.objects.filter(
        Q(profile_id__in=profile_ids) | Q(conversation_id__in=conversation_ids)
    ).delete()
    profiles = (
        CustomerProfile.objects.filter(pk__in=profile_ids)
        .delete()[1]
        .get(CustomerProfile._meta.label, 0)
    )
    return {"observations": observations, "profiles": profiles}
