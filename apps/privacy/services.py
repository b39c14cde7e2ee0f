"""Customers' erasure requests: filing one (the customer's rows found by their identifier, the
identifier kept only as a keyed hash) and processing it, step by step, resumably.

Each step is one owning app's service over the ids found at filing time; each is idempotent
(what it changed is not matched again), runs in its own transaction, and records its counts
and its name in the request in that same transaction, so a run that dies between steps goes on
from the next one and never counts a row twice.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts import services as accounts
from apps.accounts.scoping import can_use
from apps.accounts.selectors import signed_in
from apps.audit import services as audit
from apps.coaching.services import privacy as coaching
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.common.redaction import PHONE_REGION
from apps.common.tasks import enqueue
from apps.conversations import selectors as conversations
from apps.conversations import services as conversation_services
from apps.floor import services as floor
from apps.insights import services as insights
from apps.intelligence.services import privacy as intelligence
from apps.knowledge import selectors as knowledge
from apps.knowledge import services as knowledge_services
from apps.live.streams import live_events_erase
from apps.qa.selectors import privacy as qa_selectors
from apps.qa.services import privacy as qa
from apps.relay import selectors as relay
from apps.relay import services as relay_services
from apps.webhooks import selectors as inbox
from apps.webhooks import services as inbox_services
from apps.wrapup import services as wrapup

from .choices import ErasureStatus, IdentifierKind
from .models import ErasureRequest

logger = logging.getLogger(__name__)

PROCESS_TASK = "apps.privacy.tasks.process_erasure"
# A RUNNING request untouched this long lost its worker: the sweeper resumes it.
STALE_AFTER = timedelta(minutes=10)
_CHANNEL_PREFIXES = ("whatsapp:", "sms:", "tel:", "messenger:", "rcs:", "mailto:")


# Identifiers ------------------------------------------------------------------------------------


def address_canonical(raw: str) -> str:
    """One spelling of an address: a phone number in E.164 (as Twilio stores it; default
    region as for redaction), an email address in lower case; anything else as given."""
    value = raw.strip()
    lowered = value.lower()
    for prefix in _CHANNEL_PREFIXES:
        if lowered.startswith(prefix):
            value = value[len(prefix) :].strip()
            lowered = value.lower()
            break
    if "@" in value:
        return lowered
    try:
        number = phonenumbers.parse(value, PHONE_REGION)
    except phonenumbers.NumberParseException:
        return value
    if phonenumbers.is_possible_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return value


def address_variants(raw: str) -> list[str]:
    """The spellings an address may be stored under (participants, lines, calls, raw bodies)."""
    canonical = address_canonical(raw)
    if not canonical:
        return []
    found = {raw.strip(), canonical}
    if canonical.startswith("+"):
        found.update(f"{prefix}{canonical}" for prefix in ("whatsapp:", "sms:", "tel:", "rcs:"))
        found.add(canonical[1:])
    return sorted(v for v in found if v)


def identifier_hash(kind: str, canonical: str) -> str:
    """A keyed hash (HMAC-SHA256 under SECRET_KEY): the same customer gives the same hash, and
    a stolen table cannot be reversed by hashing every phone number."""
    message = f"{kind}:{canonical}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


# Filing -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    canonical: str
    targets: dict[str, list[Any]]


_MAX_PK = 2**63 - 1


def _find(*, kind: str, value: str) -> Found:
    if not value.strip() or any(ord(ch) < 32 for ch in value):
        raise ValidationFailed({"identifier": ["Give the customer's identifier, on one line."]})
    if kind == IdentifierKind.ADDRESS:
        canonical = address_canonical(value)
        if not canonical or len(canonical) > 255:
            raise ValidationFailed({"identifier": ["Give a phone number or an email address."]})
        addresses = set(address_variants(value))
        profile_ids: set[str] = set()
        conversation_ids = conversations.conversation_ids_for_addresses(addresses=addresses)
        profiles = knowledge.profile_ids_for(addresses=addresses, profile_ids=[])
    elif kind == IdentifierKind.PROFILE:
        try:
            pk = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed(
                {"identifier": ["Give the customer profile's number."]}
            ) from None
        identity = knowledge.profile_identity(pk=pk)
        if identity is None:
            raise NotFound("No such customer profile.")
        canonical = address_canonical(identity.address) if identity.address else ""
        canonical = canonical or f"profile:{identity.profile_id or pk}"
        addresses = set(address_variants(identity.address)) if identity.address else set()
        profile_ids = {identity.profile_id} - {""}
        conversation_ids = set(identity.conversation_ids)
        conversation_ids |= conversations.conversation_ids_for_addresses(addresses=addresses)
        conversation_ids |= conversations.conversation_ids_for_profile_ids(profile_ids=profile_ids)
        profiles = {pk} | knowledge.profile_ids_for(addresses=addresses, profile_ids=profile_ids)
    else:
        raise ValidationFailed({"kind": ["Choose a phone number/email address or a profile."]})
    conversation_ids |= knowledge.profile_conversation_ids(profile_ids=profiles)
    references = conversations.conversation_references(conversation_ids=conversation_ids)
    call_sids = {ref for ref in references if ref.startswith("CA")}
    targets = {
        "conversations": sorted(conversation_ids),
        "calls": sorted(conversations.call_ids_for_numbers(numbers=addresses)),
        "profiles": sorted(profiles),
        "handoffs": sorted(
            relay.handoff_ids_for(
                conversation_ids=conversation_ids, numbers=addresses, call_sids=call_sids
            )
        ),
        "inbox": sorted(inbox.inbox_event_ids_mentioning(needles=addresses | references)),
    }
    return Found(canonical=canonical, targets=targets)


def may_manage(user: Any) -> bool:
    return can_use(user, "privacy")


def erasure_file(*, user: Any, kind: str, identifier: str) -> tuple[ErasureRequest, bool]:
    """File a right-to-erasure request for the customer known by ``identifier`` (an address,
    or a customer profile's number) and enqueue it; returns it and whether it is new (an open
    request for the same customer is returned as it is)."""
    if not may_manage(user):
        raise PermissionDenied("Only admins may file erasure requests.")
    found = _find(kind=kind, value=str(identifier or ""))
    digest = identifier_hash("customer", found.canonical)
    try:
        with transaction.atomic():
            request = ErasureRequest.objects.create(
                kind=kind,
                identifier_hash=digest,
                requested_by=signed_in(user),
                targets=found.targets,
            )
            transaction.on_commit(lambda: enqueue(PROCESS_TASK, request.pk))
    except IntegrityError:
        existing = ErasureRequest.objects.filter(
            identifier_hash=digest, status__in=[ErasureStatus.PENDING, ErasureStatus.RUNNING]
        ).first()
        if existing is None:  # finished in between: file it again
            return erasure_file(user=user, kind=kind, identifier=identifier)
        return existing, False
    return request, True


# Processing ---------------------------------------------------------------------------------------

Targets = dict[str, list[Any]]
Step = Callable[[Targets], dict[str, int]]


def _ids(targets: Targets, key: str) -> list[int]:
    return [int(pk) for pk in targets.get(key, [])]


# In order; names are stored in ``steps_done``, so renaming one re-runs it on resumed requests.
# The transcript access log is not a step: it holds who read what and why, no customer text.
STEPS: tuple[tuple[str, Step], ...] = (
    (
        "conversations",
        lambda t: conversation_services.conversations_erase(
            conversation_ids=_ids(t, "conversations"), call_ids=_ids(t, "calls")
        ),
    ),
    (
        "intelligence",
        lambda t: intelligence.intelligence_erase(conversation_ids=_ids(t, "conversations")),
    ),
    ("handoffs", lambda t: {"handoffs": relay_services.handoffs_erase(ids=_ids(t, "handoffs"))}),
    (
        "wrapups",
        lambda t: {"wrapups": wrapup.wrapups_erase(conversation_ids=_ids(t, "conversations"))},
    ),
    ("qa", lambda t: qa.qa_erase(conversation_ids=_ids(t, "conversations"))),
    (
        "notifications",
        lambda t: {
            "notifications": accounts.notifications_blank(
                urls=qa_selectors.notification_urls(conversation_ids=_ids(t, "conversations"))
            )
        },
    ),
    ("coaching", lambda t: coaching.coaching_erase(conversation_ids=_ids(t, "conversations"))),
    ("floor", lambda t: floor.floor_erase(conversation_ids=_ids(t, "conversations"))),
    (
        "live_events",
        lambda t: {"live_events": live_events_erase(conversation_ids=_ids(t, "conversations"))},
    ),
    (
        "memory",
        lambda t: knowledge_services.memory_erase(
            profile_ids=_ids(t, "profiles"), conversation_ids=_ids(t, "conversations")
        ),
    ),
    ("inbox", lambda t: {"inbox_events": inbox_services.inbox_erase(ids=_ids(t, "inbox"))}),
    # The audit trail's snapshots of what the steps above changed (memory, reviews, ...).
    (
        "audit_history",
        lambda t: audit.history_erase(
            conversation_ids=_ids(t, "conversations"), profile_ids=_ids(t, "profiles")
        ),
    ),
    # Last: the facts are recomputed from what is left (a handoff's reason went).
    ("insights", lambda t: _facts_refresh(_ids(t, "conversations"))),
)


def _facts_refresh(conversation_ids: list[int]) -> dict[str, int]:
    if conversation_ids:
        insights.facts_refresh(conversation_ids)
    return {}


def _claim(request_id: int) -> bool:
    stale = timezone.now() - STALE_AFTER
    claimed = ErasureRequest.objects.filter(pk=request_id, status=ErasureStatus.PENDING).update(
        status=ErasureStatus.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        updated_at=timezone.now(),
    )
    if claimed:
        return True
    # A run that died: resumed once it has been quiet for STALE_AFTER.
    return bool(
        ErasureRequest.objects.filter(
            pk=request_id, status=ErasureStatus.RUNNING, updated_at__lt=stale
        ).update(
            status=ErasureStatus.RUNNING, attempts=F("attempts") + 1, updated_at=timezone.now()
        )
    )


def erasure_process(*, request_id: int) -> ErasureRequest | None:
    """Run the request's remaining steps; returns it, or None when it is not this run's to do
    (done, failed, or running elsewhere). Safe to run twice."""
    if not _claim(request_id):
        return None
    for name, step in STEPS:
        try:
            with transaction.atomic():
                request = ErasureRequest.objects.select_for_update().get(pk=request_id)
                if name in request.steps_done:
                    continue
                counts = step(request.targets)
                merged = dict(request.counts)
                for key, value in counts.items():
                    merged[key] = int(merged.get(key, 0)) + int(value)
                ErasureRequest.objects.filter(pk=request_id).update(
                    counts=merged,
                    steps_done=[*request.steps_done, name],
                    updated_at=timezone.now(),
                )
        except Exception as exc:
            logger.exception("erasure request %s failed at %s", request_id, name)
            ErasureRequest.objects.filter(pk=request_id).update(
                status=ErasureStatus.FAILED,
                error=f"{name}: {type(exc).__name__}",
                updated_at=timezone.now(),
            )
            raise
    ErasureRequest.objects.filter(pk=request_id, status=ErasureStatus.RUNNING).update(
        status=ErasureStatus.DONE,
        targets={},
        error="",
        completed_at=timezone.now(),
        updated_at=timezone.now(),
    )
    return ErasureRequest.objects.get(pk=request_id)


def erasure_sweep() -> int:
    """Requests whose message was lost (broker down) or whose worker died: enqueued again."""
    stale = timezone.now() - STALE_AFTER
    ids = list(
        ErasureRequest.objects.filter(
            status__in=[ErasureStatus.PENDING, ErasureStatus.RUNNING], updated_at__lt=stale
        ).values_list("pk", flat=True)[:100]
    )
    for pk in ids:
        enqueue(PROCESS_TASK, pk)
    return len(ids)


def erasure_retry(*, user: Any, request_id: int) -> ErasureRequest:
    """An admin starts a failed request again (from its next step)."""
    if not may_manage(user):
        raise PermissionDenied("Only admins may retry erasure requests.")
    updated = ErasureRequest.objects.filter(pk=request_id, status=ErasureStatus.FAILED).update(
        status=ErasureStatus.PENDING, error="", updated_at=timezone.now()
    )
    if updated:
        transaction.on_commit(lambda: enqueue(PROCESS_TASK, request_id))
    request = ErasureRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise NotFound("No such erasure request.")
    return request
