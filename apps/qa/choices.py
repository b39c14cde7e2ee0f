"""Choices of the QA app: queue items, sampling policies, reviews, disputes."""

from __future__ import annotations

from django.db import models


class ItemSource(models.TextChoices):
    """Why a conversation is in the queue."""

    FLAG = "FLAG", "Rule flag"
    SAMPLING = "SAMPLING", "Sampling policy"
    MANUAL = "MANUAL", "Sent to QA"
    CALIBRATION = "CALIBRATION", "Calibration"


class ItemStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    CLAIMED = "CLAIMED", "Claimed"
    DONE = "DONE", "Done"
    REMOVED = "REMOVED", "Removed"


ACTIVE_ITEM_STATUSES = (ItemStatus.OPEN, ItemStatus.CLAIMED)


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class ItemAction(models.TextChoices):
    """A line of a queue item's history."""

    CREATED = "CREATED", "Created"
    ASSIGNED = "ASSIGNED", "Assigned"
    CLAIMED = "CLAIMED", "Claimed"
    RELEASED = "RELEASED", "Put back"
    REASSIGNED = "REASSIGNED", "Reassigned"
    REMOVED = "REMOVED", "Removed"
    DONE = "DONE", "Done"


class QuotaKind(models.TextChoices):
    PER_AGENT = "PER_AGENT", "A number per agent"
    PERCENT = "PERCENT", "A share per agent, with a minimum"


class Period(models.TextChoices):
    DAY = "DAY", "day"
    WEEK = "WEEK", "week"
    MONTH = "MONTH", "month"


class ParticipantMix(models.TextChoices):
    HUMAN = "HUMAN", "Human agent only"
    AI = "AI", "AI agent only"
    HANDOFF = "HANDOFF", "AI agent, then a human"


class Sentiment(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"
    MIXED = "mixed", "Mixed"


class ReviewStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    SUBMITTED = "SUBMITTED", "Submitted"


class Segment(models.TextChoices):
    """The part of a conversation an answer is about: what the AI agent did, what the human did."""

    AI_AGENT = "AI_AGENT", "AI agent"
    HUMAN_AGENT = "HUMAN_AGENT", "Human agent"


class RevisionSource(models.TextChoices):
    SUBMITTED = "SUBMITTED", "Submitted"
    REVISED = "REVISED", "Revised"
    DISPUTE = "DISPUTE", "Dispute decided"


class DisputeStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    ACCEPTED = "ACCEPTED", "Accepted"
    PARTIAL = "PARTIAL", "Partly accepted"
    REJECTED = "REJECTED", "Rejected"


class Decision(models.TextChoices):
    ACCEPT = "ACCEPT", "Accept"
    PARTIAL = "PARTIAL", "Accept in part"
    REJECT = "REJECT", "Reject"


DECISION_STATUS = {
    Decision.ACCEPT: DisputeStatus.ACCEPTED,
    Decision.PARTIAL: DisputeStatus.PARTIAL,
    Decision.REJECT: DisputeStatus.REJECTED,
}


class NotificationKind(models.TextChoices):
    ITEM_ASSIGNED = "qa.item_assigned", "A queue item assigned to you"
    POOL_ITEMS = "qa.pool_items", "New items in the QA pool"
    REVIEW_RELEASED = "qa.review_released", "A review of your work"
    DISPUTE_OPENED = "qa.dispute_opened", "A dispute to decide"
    DISPUTE_DECIDED = "qa.dispute_decided", "A dispute decided"
    CALIBRATION_ASSIGNED = "qa.calibration_assigned", "A calibration session to answer"


class CalibrationStatus(models.TextChoices):
    OPEN = "OPEN", "Open"
    CLOSED = "CLOSED", "Closed"


class BenchmarkMode(models.TextChoices):
    EXPERT = "EXPERT", "An expert's answers"
    CONSENSUS = "CONSENSUS", "Consensus after discussion"


class TrustTier(models.TextChoices):
    """How far the AI's answer to a criterion is trusted (``apps.qa.services.trust``)."""

    TRUSTED = "TRUSTED", "Trusted: the AI's answer is accepted"
    REVIEW = "REVIEW", "Review: prefilled, a person confirms"
    MANUAL = "MANUAL", "Manual: no prefill"


class PreviewStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    DONE = "DONE", "Done"
    FAILED = "FAILED", "Failed"
