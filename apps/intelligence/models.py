"""Language operator results, from Twilio Conversation Intelligence or from ccportal itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from apps.common.models import TimeStampedModel
from apps.conversations.models import Communication, Conversation, ConversationMonthField
from apps.rubrics.models import Rubric, RubricVersion

from .choices import (
    Backend,
    ConditionOp,
    DeliveryStatus,
    ExecutionStatus,
    FlagStatus,
    OperatorKind,
    ResultStatus,
    TriggerOn,
)

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


class OutputFormat(models.TextChoices):
    TEXT = "TEXT", "Text"
    JSON = "JSON", "JSON"
    CLASSIFICATION = "CLASSIFICATION", "Classification"
    EXTRACTION = "EXTRACTION", "Extraction"


class ResultSource(models.TextChoices):
    TWILIO = "twilio", "Twilio Conversation Intelligence"
    CCPORTAL = "ccportal", "ccportal"


class OperatorResultQuerySet(models.QuerySet["OperatorResult"]):
    def for_user(self, user: Person) -> OperatorResultQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class OperatorResult(TimeStampedModel):
    """One operator's output for one rule execution, in Twilio's shape (twilio-wire.md §2.4).

    Partitioned by ``conversation_month`` like communications (migration 0008): primary key
    (id, conversation_month) in the database, ``result_id`` unique across months through
    ``OperatorResultKey`` (kept by triggers).
    """

    result_id = models.CharField(max_length=128, db_index=True)
    source = models.CharField(
        max_length=10, choices=ResultSource.choices, default=ResultSource.TWILIO
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="operator_results"
    )
    conversation_month = ConversationMonthField()
    call_sid = models.CharField(max_length=64, blank=True, db_index=True)
    account_id = models.CharField(max_length=64, blank=True)
    configuration_id = models.CharField(max_length=128, blank=True)
    configuration_name = models.CharField(max_length=255, blank=True)
    configuration_version = models.CharField(max_length=32, blank=True)
    rule_id = models.CharField(max_length=128, blank=True)
    operator_id = models.CharField(max_length=128)
    operator_name = models.CharField(max_length=255, blank=True)
    operator_version = models.CharField(max_length=32, blank=True)
    operator_parameters = models.JSONField(null=True, blank=True)
    output_format = models.CharField(max_length=16, choices=OutputFormat.choices)
    result = models.JSONField(null=True, blank=True)
    trigger_on = models.CharField(max_length=64, blank=True)
    trigger_at = models.DateTimeField(null=True, blank=True)
    communication_first = models.CharField(max_length=128, blank=True)
    communication_last = models.CharField(max_length=128, blank=True)
    channels = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    reference_ids = ArrayField(models.CharField(max_length=128), default=list, blank=True)
    participants = models.JSONField(default=list, blank=True)
    execution_details = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    date_created = models.DateTimeField(null=True, blank=True)
    # ccportal's own results: what produced them, and with which rubric version (pinned: PROTECT).
    definition = models.ForeignKey(
        "OperatorVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="results"
    )
    execution = models.ForeignKey(
        "RuleExecution", on_delete=models.SET_NULL, null=True, blank=True, related_name="results"
    )
    rubric_version = models.ForeignKey(
        RubricVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=ResultStatus.choices, default=ResultStatus.OK)
    error = models.TextField(blank=True)
    raw_output = models.TextField(blank=True, help_text="A language model's answer, kept on errors")

    objects = OperatorResultQuerySet.as_manager()

    class Meta:
        ordering = ["conversation_id", "date_created", "id"]
        indexes = [
            models.Index(
                fields=["conversation", "operator_id", "date_created"], name="opresult_conv_op_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operator_name or self.operator_id} on {self.conversation_id}"


class OperatorResultKey(models.Model):
    """The result ids of all operator results, unique across the monthly partitions; kept by
    triggers on ``intelligence_operatorresult`` (migration 0008), never by the code."""

    result_id = models.CharField(max_length=128, unique=True)
    conversation_month = models.DateField()
    operator_result_id = models.BigIntegerField()

    def __str__(self) -> str:
        return self.result_id


class Operator(TimeStampedModel):
    """A language operator: what it does (kind) and how it is known; versions hold the settings.

    The four Twilio-style operators are built in (one each); admins add classifiers, extractors
    and language-model prompts. An operator with results is never deleted, only deactivated.
    """

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=24, choices=OperatorKind.choices)
    is_builtin = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class OperatorVersion(models.Model):
    """One immutable version of an operator's definition; every result names the one it ran."""

    operator = models.ForeignKey(Operator, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    backend = models.CharField(max_length=10, choices=Backend.choices, default=Backend.EMBEDDED)
    parameters = models.JSONField(default=dict, blank=True)
    output_format = models.CharField(max_length=16, choices=OutputFormat.choices)
    output_schema = models.JSONField(default=dict, blank=True)
    prompt = models.TextField(blank=True, help_text="Instructions for a language model")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["operator_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["operator", "number"], name="opversion_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.operator} v{self.number}"


class Rule(TimeStampedModel):
    """Operators to run, when (trigger) and what to do with the results (actions)."""

    key = models.SlugField(max_length=64, unique=True, null=True, blank=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    trigger_on = models.CharField(max_length=24, choices=TriggerOn.choices)
    every_n = models.PositiveSmallIntegerField(
        default=1, help_text="For COMMUNICATION: run after every N communications (1-20)"
    )
    # Actions. Results are stored unless store is off (then they are only broadcast or posted).
    store_results = models.BooleanField(default=True)
    flag = models.BooleanField(default=False)
    flag_operator = models.ForeignKey(
        Operator, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    flag_field = models.CharField(max_length=120, blank=True, help_text="e.g. label or score")
    flag_op = models.CharField(max_length=10, choices=ConditionOp.choices, blank=True)
    flag_value = models.CharField(max_length=255, blank=True)
    flag_reason = models.CharField(max_length=255, blank=True)
    broadcast = models.BooleanField(default=False)
    webhook_url = models.URLField(max_length=500, blank=True)
    # Signs the webhook's requests (HMAC-SHA256, X-Ccportal-Signature); required with a URL
    # unless INTELLIGENCE_WEBHOOK_SECRET is set. Never shown back once saved.
    webhook_secret = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(every_n__gte=1) & Q(every_n__lte=20), name="rule_every_n_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RuleOperator(models.Model):
    """An operator of a rule; ``version`` pins one, None runs the operator's latest version."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="rule_operators")
    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(
        OperatorVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rule_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "operator"], name="ruleoperator_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.operator} in {self.rule}"


class RuleExecution(models.Model):
    """One run of a rule on a conversation at one trigger point; the unique key makes it once.

    The trigger point names the moment: ``COMMUNICATION:<count>``, ``CONVERSATION_END``,
    ``CONVERSATION_INACTIVE:<time>``, ``ON_DEMAND:<request key>``. A second delivery of the same
    events computes the same point and finds the row already there.
    """

    # No index of their own: execution_once_per_point leads with the rule, execution_conv_rule_idx
    # with the conversation, and each index here is written once per execution (several per
    # line: issue 17, "Where PostgreSQL's CPU goes per event").
    rule = models.ForeignKey(
        Rule, on_delete=models.CASCADE, related_name="executions", db_index=False
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="rule_executions", db_index=False
    )
    trigger_on = models.CharField(max_length=24, choices=TriggerOn.choices)
    trigger_point = models.CharField(max_length=160)
    # The newest communication when it fired; the window runs from the previous execution's.
    # No database constraint: communications are partitioned (a foreign key would have to name
    # the month too). Django's SET_NULL still runs on delete; partitions.references_check looks
    # for dangling ids daily.
    through_communication = models.ForeignKey(
        Communication,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    status = models.CharField(
        max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    triggered_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-triggered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "conversation", "trigger_point"], name="execution_once_per_point"
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "rule", "-id"], name="execution_conv_rule_idx"),
            models.Index(fields=["status", "triggered_at"], name="execution_status_idx"),
            # What the workers claim (engine._claim), oldest first: only the executions not yet
            # finished. Without it the claim walked the primary key past every finished
            # execution (77,000 rows, 30 ms a batch, in the soak at 300 events/s).
            models.Index(
                fields=["id"],
                condition=Q(status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING]),
                name="execution_claimable_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} on {self.conversation_id} at {self.trigger_point}"


class FlagQuerySet(models.QuerySet["Flag"]):
    def for_user(self, user: Person) -> FlagQuerySet:
        return self.filter(conversation__in=Conversation.objects.for_user(user).values("pk"))


class Flag(TimeStampedModel):
    """A conversation raised for QA review by a rule, with the reason; one open flag per rule."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="flags")
    rule = models.ForeignKey(
        Rule, on_delete=models.SET_NULL, null=True, blank=True, related_name="flags"
    )
    execution = models.ForeignKey(
        RuleExecution, on_delete=models.SET_NULL, null=True, blank=True, related_name="flags"
    )
    # No database constraint (results are partitioned): see through_communication.
    operator_result = models.ForeignKey(
        OperatorResult,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=FlagStatus.choices, default=FlagStatus.OPEN)
    raised_count = models.PositiveIntegerField(default=1)
    # Who closed it and how (a QA review finished, a queue item removed with a reason).
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)

    objects = FlagQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "rule"],
                condition=Q(status=FlagStatus.OPEN),
                name="flag_one_open_per_rule",
            ),
        ]


class WebhookDelivery(TimeStampedModel):
    """A rule's signed JSON POST to a configured URL, once per execution, retried until done."""

    execution = models.ForeignKey(
        RuleExecution, on_delete=models.CASCADE, related_name="deliveries"
    )
    url = models.URLField(max_length=500)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "url"], name="delivery_once_per_url"),
        ]


class ConversationRubric(models.Model):
    """The rubric version a conversation is judged against, pinned at its first adherence run."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="rubric_pins"
    )
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(RubricVersion, on_delete=models.PROTECT, related_name="+")
    pinned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "rubric"], name="rubric_pin_once"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} judged by {self.version}"
