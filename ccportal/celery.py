"""The Celery app. Queues are named by workload so each can get its own workers."""

from __future__ import annotations

import os
from enum import StrEnum

from celery import Celery
from celery.schedules import crontab
from celery.signals import task_postrun, task_prerun
from kombu import Queue

from ccportal.auditing import task_finished, task_started

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")


class CeleryQueue(StrEnum):
    """Workloads; a worker picks them with ``-Q``."""

    DEFAULT = "default"
    INGEST = "ingest"  # inbound Twilio webhooks: many small, latency-sensitive jobs
    OPERATORS = "operators"  # language operators and rules: CPU-bound, may call an LLM
    INSIGHTS = "insights"  # aggregates and reports: heavier, can wait


app = Celery("ccportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(q.value) for q in CeleryQueue]
app.conf.beat_schedule = {
    # The safety net of webhook ingest (broker was down, a worker died): short on purpose.
    "sweep-inbox": {
        "task": "apps.webhooks.tasks.sweep_inbox",
        "schedule": float(os.environ.get("INGEST_SWEEP_SECONDS", "5")),
        "options": {"expires": 30},
    },
    # Rule executions whose message was lost (broker down) or whose worker died.
    "sweep-executions": {
        "task": "apps.intelligence.tasks.sweep_executions",
        "schedule": 30.0,
        "options": {"expires": 60},
    },
    # Rule webhook deliveries whose message or retry was lost.
    "sweep-deliveries": {
        "task": "apps.intelligence.tasks.sweep_deliveries",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    # QA: sampling policies whose crontab time has come (each policy has its own schedule).
    "qa-sampling": {
        "task": "apps.qa.tasks.run_sampling_policies",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    # QA: queue items for open flags that have none; reviews whose release time came.
    "qa-sweep": {
        "task": "apps.qa.tasks.sweep_qa",
        "schedule": crontab(minute="*"),
        "options": {"expires": 50},
    },
    # QA: trust tiers of every version in use (submits and decisions also ask, debounced).
    "qa-trust": {
        "task": "apps.qa.tasks.recompute_trust_all",
        "schedule": crontab(minute=23),
        "options": {"expires": 3000},
    },
    # QA: the AI score of closed conversations that have none yet.
    "qa-ai-scores": {
        "task": "apps.qa.tasks.sweep_ai_scores",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
    # Coaching: open goals' progress and status from the insights rollups (met: told once).
    "coaching-goals": {
        "task": "apps.coaching.tasks.recompute_goals",
        "schedule": crontab(minute=41),
        "options": {"expires": 3000},
    },
    # Coaching: action items that came due, announced once each to their owners.
    "coaching-actions-due": {
        "task": "apps.coaching.tasks.sweep_action_items_due",
        "schedule": crontab(minute=7),
        "options": {"expires": 3000},
    },
    # Live: a conversation's stored events older than LIVE_EVENT_RETENTION_HOURS.
    # The floor: alerts that fire without a write (silence, a time window passing).
    "floor-sweep": {
        "task": "apps.floor.tasks.sweep_floor",
        "schedule": float(os.environ.get("FLOOR_SWEEP_SECONDS", "5")),
    },
    "live-purge": {
        "task": "apps.live.tasks.purge_live_events",
        "schedule": crontab(minute=17),
        "options": {"expires": 1800},
    },
    # Insights: facts marked stale and dirty buckets whose wake-up message was lost.
    "insights-sweep": {
        "task": "apps.insights.tasks.refresh_insights",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Requests refused for their signature (kept without a body) past their retention.
    "purge-rejected-webhooks": {
        "task": "apps.webhooks.tasks.purge_rejected",
        "schedule": crontab(minute=47),
        "options": {"expires": 3000},
    },
    # The inbox's monthly partitions: the next months made, expired months dropped whole.
    "inbox-partitions": {
        "task": "apps.webhooks.tasks.maintain_inbox_partitions",
        "schedule": crontab(hour=2, minute=37),
        "options": {"expires": 3000},
    },
    # Communications' and operator results' monthly partitions (apps/common/partitions.py):
    # the next months made; references into them without a constraint checked.
    "month-partitions": {
        "task": "apps.conversations.tasks.maintain_month_partitions",
        "schedule": crontab(hour=2, minute=41),
        "options": {"expires": 3000},
    },
    # Retention (apps/privacy): every kind past its schedule, the inbox's
    # INBOX_RETENTION_DAYS too, purged or anonymised in batches; nightly, off the hour.
    "privacy-retention": {
        "task": "apps.privacy.tasks.run_retention",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 6 * 3600},
    },
    # Erasure requests whose message was lost or whose worker died.
    "privacy-erasures": {
        "task": "apps.privacy.tasks.sweep_erasures",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 240},
    },
}
app.autodiscover_tasks()
# The audit trail names the task that changed a row (ccportal/auditing.py).
task_prerun.connect(task_started, weak=False)
task_postrun.connect(task_finished, weak=False)
