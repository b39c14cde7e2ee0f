"""Serializers of the QA API: queue items, sampling policies, reviews, disputes."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.rubrics.choices import Outcome

from .. import answers as A
from .. import services
from ..choices import Decision, ParticipantMix, Period, Priority, QuotaKind, Sentiment
from ..models import Dispute, DisputeItem, QueueItem, Review, ReviewRevision, SamplingPolicy

OUTCOME_HELP = "MET, NOT_MET or NA (N/A only where the criterion allows it)."


class PersonField(serializers.StringRelatedField):  # type: ignore[type-arg]
    """A user or agent by name (read only)."""


# Queue ------------------------------------------------------------------------------------------


class QueueItemSerializer(serializers.ModelSerializer):
    assignee = PersonField()
    claimed_by = PersonField()
    agent = PersonField()
    review = serializers.SerializerMethodField(help_text="The item's review, once claimed.")
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = QueueItem
        fields = [
            "id",
            "conversation",
            "source",
            "source_key",
            "reason",
            "priority",
            "due_at",
            "overdue",
            "status",
            "assignee",
            "assignee_id",
            "claimed_by",
            "claimed_by_id",
            "claimed_at",
            "done_at",
            "removed_at",
            "removed_reason",
            "flag",
            "policy",
            "period",
            "agent",
            "agent_id",
            "pick",
            "review",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_review(self, item: QueueItem) -> int | None:
        review = getattr(item, "review", None)
        return review.pk if review is not None else None


class QueueItemSendSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reason = serializers.CharField(max_length=2000)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    due_at = serializers.DateTimeField(required=False, allow_null=True)
    assignee = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**63 - 1
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class ReassignSerializer(ReasonSerializer):
    assignee = serializers.IntegerField(
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="A reviewer's user id; null: the pool.",
    )


# Sampling policies -------------------------------------------------------------------------------


class SamplingPolicySerializer(serializers.ModelSerializer):
    team_ids = serializers.SerializerMethodField()
    agent_ids = serializers.SerializerMethodField()
    reviewer_ids = serializers.SerializerMethodField()
    quota_text = serializers.SerializerMethodField()

    class Meta:
        model = SamplingPolicy
        fields = [
            "id",
            "name",
            "description",
            "is_active",
            "team_ids",
            "agent_ids",
            "queues",
            "channels",
            "participant_mix",
            "sentiments",
            "adherence_min",
            "adherence_max",
            "duration_min_seconds",
            "duration_max_seconds",
            "quota_kind",
            "quota_count",
            "percent",
            "minimum",
            "period",
            "quota_text",
            "reviewer_ids",
            "priority",
            "due_days",
            "schedule",
            "next_run_at",
            "last_run_at",
            "last_run",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_team_ids(self, policy: SamplingPolicy) -> list[int]:
        return [t.pk for t in policy.teams.all()]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_agent_ids(self, policy: SamplingPolicy) -> list[int]:
        return [a.pk for a in policy.agents.all()]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_reviewer_ids(self, policy: SamplingPolicy) -> list[int]:
        return [u.pk for u in policy.reviewers.all()]

    def get_quota_text(self, policy: SamplingPolicy) -> str:
        return services.spec_of(policy).quota_text


class SamplingPolicyWriteSerializer(serializers.Serializer):
    """A policy as sent; every field is checked again by the service (all problems at once)."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False, default=True)
    team_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    agent_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    queues = serializers.ListField(child=serializers.CharField(max_length=120), required=False)
    channels = serializers.ListField(child=serializers.CharField(max_length=20), required=False)
    participant_mix = serializers.ListField(
        child=serializers.ChoiceField(choices=ParticipantMix.choices), required=False
    )
    sentiments = serializers.ListField(
        child=serializers.ChoiceField(choices=Sentiment.choices), required=False
    )
    adherence_min = serializers.DecimalField(
        max_digits=4, decimal_places=1, required=False, allow_null=True
    )
    adherence_max = serializers.DecimalField(
        max_digits=4, decimal_places=1, required=False, allow_null=True
    )
    duration_min_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    duration_max_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    quota_kind = serializers.ChoiceField(choices=QuotaKind.choices, default=QuotaKind.PER_AGENT)
    quota_count = serializers.IntegerField(required=False, default=3, min_value=1, max_value=1000)
    percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, allow_null=True
    )
    minimum = serializers.IntegerField(required=False, default=1, min_value=0, max_value=1000)
    period = serializers.ChoiceField(choices=Period.choices, default=Period.WEEK)
    reviewer_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
    due_days = serializers.IntegerField(required=False, default=7, min_value=0, max_value=365)
    schedule = serializers.CharField(
        max_length=100,
        default="0 6 * * *",
        help_text="Crontab: minute hour day-of-month month day-of-week.",
    )


class PreviewRowSerializer(serializers.Serializer):
    conversation = serializers.IntegerField()
    agent = serializers.IntegerField(allow_null=True)
    rank = serializers.IntegerField()
    target = serializers.IntegerField()
    population = serializers.IntegerField()
    reason = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    period = serializers.CharField()
    matching = serializers.IntegerField(
        help_text="Conversations matching the filters in the period."
    )
    already = serializers.IntegerField(help_text="Picked by earlier runs in the period.")
    agents = serializers.IntegerField()
    truncated = serializers.BooleanField()
    picks = PreviewRowSerializer(many=True)


class RunResultSerializer(serializers.Serializer):
    policy = serializers.IntegerField()
    period = serializers.CharField()
    created = serializers.IntegerField()
    matching = serializers.IntegerField()
    already = serializers.IntegerField()
    to_pool = serializers.IntegerField()
    assigned = serializers.DictField(child=serializers.IntegerField())


# Reviews ----------------------------------------------------------------------------------------


class AnswerInputSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=Outcome.choices,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text=OUTCOME_HELP,
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    evidence = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        max_length=50,
        help_text="Ids of the conversation's communications that show it.",
    )


class ReviewWriteSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=AnswerInputSerializer(),
        required=False,
        help_text="By key `<segment>:<criterion key>` (see the review's `answers`); parts left "
        "out are not changed.",
    )
    strengths = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    improvements = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class ReviseSerializer(ReviewWriteSerializer):
    reason = serializers.CharField(max_length=2000)


class ReviewStartSerializer(serializers.Serializer):
    item = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The queue item to review."
    )


class AcknowledgeSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class AnswerSerializer(serializers.Serializer):
    key = serializers.CharField()
    segment = serializers.CharField()
    criterion_key = serializers.CharField()
    criterion = serializers.CharField(help_text="The criterion's name.")
    outcome = serializers.CharField(allow_null=True)
    ai_outcome = serializers.CharField(allow_null=True)
    agreed = serializers.BooleanField(allow_null=True)
    comment = serializers.CharField()
    evidence = serializers.ListField(child=serializers.IntegerField())


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = PersonField()
    agent = PersonField()
    rubric = serializers.CharField(source="rubric_version.rubric.name", read_only=True)
    rubric_version_number = serializers.IntegerField(source="rubric_version.number", read_only=True)
    released = serializers.BooleanField(source="is_released", read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "conversation",
            "item",
            "rubric_version",
            "rubric",
            "rubric_version_number",
            "reviewer",
            "reviewer_id",
            "agent",
            "agent_id",
            "status",
            "segments",
            "score",
            "passed_critical",
            "revision_count",
            "submitted_at",
            "release_at",
            "released",
            "acknowledged_at",
            "acknowledged_revision",
            "acknowledgement",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ReviewDetailSerializer(ReviewSerializer):
    """A review with its answers (the draft's, or the current revision's), the AI's suggestions
    it started from, and its scores."""

    answers = serializers.SerializerMethodField()
    strengths = serializers.SerializerMethodField()
    improvements = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField()
    ai = serializers.JSONField(read_only=True)

    class Meta(ReviewSerializer.Meta):
        fields = [
            *ReviewSerializer.Meta.fields,
            "answers",
            "strengths",
            "improvements",
            "scores",
            "ai",
        ]
        read_only_fields = fields

    def _state(self, review: Review) -> dict[str, Any]:
        cached = getattr(review, "_api_state", None)
        if cached is not None:
            return cached
        structure = services.review_structure(review)
        keys = A.form_keys(structure, review.segments)
        if review.current_revision_id is not None:
            revision = ReviewRevision.objects.prefetch_related("answers").get(
                pk=review.current_revision_id
            )
            answers = services.revision_answers(revision)
            texts = (revision.strengths, revision.improvements)
        else:
            answers = services.draft_answers(review)
            draft = review.draft if isinstance(review.draft, dict) else {}
            texts = (draft.get("strengths", ""), draft.get("improvements", ""))
        ai = services.ai_outcomes(review, keys)
        rows = []
        for key, criterion in keys.items():
            answer = answers.get(key, A.Answer(None))
            segment, criterion_key = A.split_key(key)
            rows.append(
                {
                    "key": key,
                    "segment": segment,
                    "criterion_key": criterion_key,
                    "criterion": criterion.name,
                    "outcome": answer.outcome,
                    "ai_outcome": ai.get(key),
                    "agreed": None
                    if ai.get(key) is None or answer.outcome is None
                    else ai[key] == answer.outcome,
                    "comment": answer.comment,
                    "evidence": list(answer.evidence),
                }
            )
        scores = A.segment_scores(structure, review.segments, answers)
        state = {
            "answers": rows,
            "strengths": texts[0],
            "improvements": texts[1],
            "scores": {segment: score.as_json() for segment, score in scores.items()},
        }
        review._api_state = state  # type: ignore[attr-defined]
        return state

    @extend_schema_field(AnswerSerializer(many=True))
    def get_answers(self, review: Review) -> list[dict[str, Any]]:
        return self._state(review)["answers"]

    def get_strengths(self, review: Review) -> str:
        return self._state(review)["strengths"]

    def get_improvements(self, review: Review) -> str:
        return self._state(review)["improvements"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_scores(self, review: Review) -> dict[str, Any]:
        return self._state(review)["scores"]


class RevisionAnswerSerializer(serializers.Serializer):
    segment = serializers.CharField()
    criterion_key = serializers.CharField()
    outcome = serializers.CharField()
    ai_outcome = serializers.CharField()
    agreed = serializers.BooleanField(allow_null=True)
    comment = serializers.CharField()
    evidence = serializers.ListField(child=serializers.IntegerField())


class RevisionSerializer(serializers.ModelSerializer):
    created_by = PersonField()
    answers = RevisionAnswerSerializer(many=True, read_only=True)

    class Meta:
        model = ReviewRevision
        fields = [
            "number",
            "source",
            "reason",
            "created_by",
            "created_at",
            "score",
            "passed_critical",
            "segment_scores",
            "strengths",
            "improvements",
            "dispute",
            "answers",
        ]
        read_only_fields = fields


# Disputes ----------------------------------------------------------------------------------------


class DisputeItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = DisputeItem
        fields = [
            "segment",
            "criterion_key",
            "current_outcome",
            "proposed_outcome",
            "accepted",
            "final_outcome",
        ]
        read_only_fields = fields


class DisputeSerializer(serializers.ModelSerializer):
    opened_by = PersonField()
    decided_by = PersonField()
    items = DisputeItemSerializer(many=True, read_only=True)
    resulting_revision = serializers.IntegerField(
        source="resulting_revision.number", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = Dispute
        fields = [
            "id",
            "review",
            "revision_number",
            "opened_by",
            "whole_review",
            "reason",
            "proposal",
            "status",
            "items",
            "decided_by",
            "decided_at",
            "decision_reason",
            "resulting_revision",
            "created_at",
        ]
        read_only_fields = fields


class DisputeItemInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, help_text="`<segment>:<criterion key>`")
    proposed_outcome = serializers.ChoiceField(choices=Outcome.choices, help_text=OUTCOME_HELP)


class DisputeOpenSerializer(serializers.Serializer):
    review = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reason = serializers.CharField(max_length=5000)
    items = DisputeItemInputSerializer(
        many=True, required=False, help_text="The contested criteria; none: the whole review."
    )
    proposal = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=5000,
        help_text="For a whole-review dispute: what the agent proposes.",
    )


class DisputeDecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    reason = serializers.CharField(max_length=5000)
    outcomes = serializers.DictField(
        child=serializers.ChoiceField(choices=Outcome.choices),
        required=False,
        help_text="For PARTIAL, and for ACCEPT of a whole-review dispute: `{key: outcome}` of "
        "the answers that change.",
    )


# Statistics: the AI as a rater, trust tiers, the AI score -----------------------------------------


class ConfusionCellSerializer(serializers.Serializer):
    ai = serializers.CharField()
    human = serializers.CharField()
    count = serializers.IntegerField()


class CriterionAgreementSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    tier = serializers.CharField()
    reason = serializers.SerializerMethodField()
    n = serializers.IntegerField(source="figures.n")
    agreement = serializers.FloatField(source="figures.agreement", allow_null=True)
    kappa = serializers.FloatField(source="figures.kappa", allow_null=True)
    kappa_low = serializers.FloatField(source="figures.low", allow_null=True)
    kappa_high = serializers.FloatField(source="figures.high", allow_null=True)
    few = serializers.BooleanField(source="figures.few")
    disagreements = serializers.IntegerField()
    disputes_lost = serializers.SerializerMethodField()
    sources = serializers.DictField(child=serializers.IntegerField())
    confusion = serializers.SerializerMethodField()

    def get_disputes_lost(self, obj: Any) -> int:
        return obj.trust.disputes_lost if obj.trust is not None else 0

    def get_reason(self, obj: Any) -> str:
        """Why the criterion has its tier (empty before its first computation)."""
        return obj.trust.reason if obj.trust is not None else ""

    @extend_schema_field(ConfusionCellSerializer(many=True))
    def get_confusion(self, obj: Any) -> list[dict[str, Any]]:
        return [
            {"ai": ai, "human": human, "count": count}
            for (ai, human), count in sorted(obj.confusion.items())
        ]


class TrustChangeSerializer(serializers.Serializer):
    criterion_key = serializers.CharField()
    from_tier = serializers.CharField()
    to_tier = serializers.CharField()
    reason = serializers.CharField()
    figures = serializers.JSONField()
    at = serializers.DateTimeField()


class VersionAgreementSerializer(serializers.Serializer):
    version = serializers.IntegerField(source="version.pk")
    rubric = serializers.CharField(source="version.rubric.name")
    number = serializers.IntegerField(source="version.number")
    status = serializers.CharField(source="version.status")
    criteria = CriterionAgreementSerializer(many=True)
    changes = TrustChangeSerializer(many=True)


class DisagreementSerializer(serializers.Serializer):
    review = serializers.IntegerField(source="review.pk")
    conversation = serializers.IntegerField(source="review.conversation_id")
    agent = serializers.IntegerField(source="review.agent_id", allow_null=True)
    reviewer = serializers.IntegerField(source="review.reviewer_id", allow_null=True)
    calibration = serializers.IntegerField(source="review.calibration_id", allow_null=True)
    submitted_at = serializers.DateTimeField(source="review.submitted_at", allow_null=True)
    ai = serializers.CharField(source="pair.ai")
    human = serializers.CharField(source="pair.human")


class AiScoreSerializer(serializers.Serializer):
    conversation = serializers.IntegerField(source="conversation_id")
    rubric_version = serializers.IntegerField(source="rubric_version_id")
    agent = serializers.IntegerField(source="agent_id", allow_null=True)
    segment = serializers.CharField()
    score = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    passed_critical = serializers.BooleanField(allow_null=True)
    outcomes = serializers.DictField(child=serializers.CharField())
    criteria_count = serializers.IntegerField()
    computed_at = serializers.DateTimeField()


class MeanScoreSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class AiScoreSummarySerializer(serializers.Serializer):
    closed = serializers.IntegerField()
    scored = serializers.IntegerField()
    coverage = serializers.FloatField(allow_null=True)
    ai = MeanScoreSerializer()
    human = MeanScoreSerializer()
    criteria_count = serializers.IntegerField()
