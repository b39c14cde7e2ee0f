"""Retention schedules: one entry per kind of stored data, and the nightly run over them.

Adding a kind is one ``RetentionKind`` in ``KINDS``: the setting that holds its days, whether it
is deleted or anonymised (and why), a count of the rows due (the dry run, the admin page) and a
batch (the owning app's service, one short transaction per call, returning how many rows it
handled; 0 when nothing is left). The batch must be idempotent: a row it handled is not due any
more, so a second run, or two at once, changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.audit import selectors as audit_selectors
from apps.audit import services as audit_services
from apps.conversations import selectors as conversations
from apps.conversations import services as conversation_services
from apps.intelligence.selectors import privacy as intelligence
from apps.intelligence.services import privacy as intelligence_services
from apps.qa.selectors import privacy as qa
from apps.qa.services import privacy as qa_services
from apps.webhooks import selectors as inbox
from apps.webhooks import services as inbox_services

from .choices import Action

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionKind:
    key: str
    label: str
    setting: str  # the name of the setting that holds its days (0: kept for ever)
    action: Action
    why: str
    due: Callable[[datetime], int]  # rows older than the cutoff still to handle
    batch: Callable[[datetime, int], int]  # handle up to n of them; how many were handled

    @property
    def days(self) -> int:
        return int(getattr(settings, self.setting, 0) or 0)

    def cutoff(self, now: datetime) -> datetime | None:
        return now - timedelta(days=self.days) if self.days > 0 else None


KINDS: tuple[RetentionKind, ...] = (
    RetentionKind(
        key="transcripts",
        label="Transcripts (communications' text)",
        setting="RETENTION_TRANSCRIPTS_DAYS",
        action=Action.ANONYMISE,
        why=(
            "Each line's words become “(removed)” and its author's address goes; the line "
            "(speaker, time, duration) and the conversation stay, so handle times, response "
            "times and every other figure insights computes are unchanged."
        ),
        due=lambda before: conversations.communications_with_words(before=before).count(),
        batch=lambda before, limit: conversation_services.communications_anonymise_older(
            before=before, limit=limit
        ),
    ),
    RetentionKind(
        key="operator_results",
        label="Operator results",
        setting="RETENTION_OPERATOR_RESULTS_DAYS",
        action=Action.ANONYMISE,
        why=(
            "Summaries, extracted values, quotes and the model's raw answers go; labels, "
            "criterion outcomes and scores stay: insights' sentiment, adherence, topic and "
            "outcome and QA's AI suggestions are read from them."
        ),
        due=lambda before: intelligence.results_not_anonymised(before=before).count(),
        batch=lambda before, limit: intelligence_services.results_anonymise_older(
            before=before, limit=limit
        ),
    ),
    RetentionKind(
        key="reviews",
        label="QA reviews",
        setting="RETENTION_REVIEWS_DAYS",
        action=Action.ANONYMISE,
        why=(
            "Comments, feedback, reasons, acknowledgements and dispute text go; answers, "
            "scores and revisions stay: agents' scores, agreement statistics and trust tiers "
            "count them."
        ),
        due=lambda before: qa.reviews_with_text(before=before).count(),
        batch=lambda before, limit: qa_services.reviews_anonymise_older(before=before, limit=limit),
    ),
    RetentionKind(
        key="inbox",
        label="Webhook inbox (processed and ignored events)",
        setting="INBOX_RETENTION_DAYS",
        action=Action.PURGE,
        why=(
            "Raw deliveries hold unredacted text and their effects are already stored; failed, "
            "dead and rejected events are kept for investigation."
        ),
        due=lambda before: inbox.inbox_settled_before(before=before).count(),
        batch=lambda before, limit: inbox_services.inbox_purge_batch(before=before, limit=limit),
    ),
    RetentionKind(
        key="access_log",
        label="Transcript access log",
        setting="RETENTION_ACCESS_LOG_DAYS",
        action=Action.PURGE,
        why=(
            "Who read which transcript, how and why: kept as long as the schedule says, then "
            "deleted whole (the table refuses any other change)."
        ),
        due=lambda before: conversations.access_log_older(before=before).count(),
        batch=lambda before, limit: conversation_services.access_log_purge_batch(
            before=before, limit=limit
        ),
    ),
    RetentionKind(
        key="audit",
        label="Audit trail",
        setting="RETENTION_AUDIT_DAYS",
        action=Action.PURGE,
        why=(
            "Who changed which rule, rubric, review, setting or user, and how: deleted whole "
            "once past its schedule (the trail refuses any other change)."
        ),
        due=lambda before: audit_selectors.events_older_count(before=before),
        batch=lambda before, limit: audit_services.events_purge_batch(before=before, limit=limit),
    ),
)


def kind_get(key: str) -> RetentionKind | None:
    return next((kind for kind in KINDS if kind.key == key), None)


@dataclass(frozen=True)
class KindCount:
    kind: RetentionKind
    cutoff: datetime | None
    due: int | None  # None: kept for ever, nothing is counted


def retention_counts(*, now: datetime | None = None) -> list[KindCount]:
    """Per kind, how many rows the next run would purge or anonymise."""
    now = now or timezone.now()
    rows = []
    for kind in KINDS:
        cutoff = kind.cutoff(now)
        rows.append(KindCount(kind, cutoff, kind.due(cutoff) if cutoff else None))
    return rows


def retention_run(
    *,
    now: datetime | None = None,
    limit: int | None = None,
    budget_seconds: float | None = None,
) -> dict[str, int]:
    """Purge or anonymise every kind past its schedule, batch by batch (each its own short
    transaction); returns rows handled per kind. Safe to run twice: the second run finds
    nothing due. With ``budget_seconds`` it stops between batches when time is up (the next run
    goes on)."""
    now = now or timezone.now()
    limit = limit or settings.RETENTION_BATCH_SIZE
    started = time.monotonic()
    handled: dict[str, int] = {}
    out_of_time = False
    for kind in KINDS:
        cutoff = kind.cutoff(now)
        if cutoff is None or out_of_time:
            continue
        total = 0
        while True:
            done = kind.batch(cutoff, limit)
            total += done
            if done == 0:
                break
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                out_of_time = True
                break
        handled[kind.key] = total
        if total:
            logger.info("retention: %s %s rows of %s", kind.action.label, total, kind.key)
    return handled
