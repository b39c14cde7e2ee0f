"""What the AI found about conversations, as columns to filter a list of them by.

QA sampling policies pick conversations by the AI's adherence score and the customer's
sentiment; these add both to any conversation queryset as correlated subqueries on the latest
result of each kind (PostgreSQL runs them only for the rows that remain after other filters).
A value that is not where or what it should be reads as NULL, never an error.
"""

from __future__ import annotations

from typing import Any

from django.db.models import FloatField, Func, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import Lower

from ..choices import OperatorKind, ResultStatus
from ..models import OperatorResult
from .adherence import ADHERENCE_RESULTS

SENTIMENT_RESULTS = Q(definition__operator__kind=OperatorKind.SENTIMENT) | Q(
    definition__isnull=True, operator_name__icontains="sentiment"
)


class _JsonNumber(Func):
    """``result -> 'key'`` as a number when it is a JSON number, else NULL (a stray string in a
    Twilio payload must not fail the whole query with a cast error)."""

    output_field = FloatField()

    def __init__(self, expression: Any, key: str) -> None:
        if not key.isidentifier():
            raise ValueError(f"not a plain key: {key!r}")
        self.template = (
            f"(CASE WHEN jsonb_typeof(%(expressions)s -> '{key}') = 'number' "
            f"THEN (%(expressions)s ->> '{key}')::double precision END)"
        )
        super().__init__(expression)


class _JsonLabel(Func):
    """The customer's sentiment label of a result: ``customer.label``, else the overall label."""

    output_field = TextField()
    template = "COALESCE(%(expressions)s -> 'customer' ->> 'label', %(expressions)s ->> 'label')"


def _latest(kinds: Q) -> QuerySet[OperatorResult]:
    return OperatorResult.objects.filter(
        kinds, conversation=OuterRef("pk"), status=ResultStatus.OK
    ).order_by("-date_created", "-id")


def with_ai_adherence_score(conversations: QuerySet[Any]) -> QuerySet[Any]:
    """Adds ``ai_adherence_score`` (0-100, the latest adherence result's score, or NULL)."""
    score = _latest(ADHERENCE_RESULTS).annotate(value=_JsonNumber("result", "score"))
    return conversations.annotate(ai_adherence_score=Subquery(score.values("value")[:1]))


def with_customer_sentiment(conversations: QuerySet[Any]) -> QuerySet[Any]:
    """Adds ``customer_sentiment`` (the latest sentiment result's customer label, lower case)."""
    label = _latest(SENTIMENT_RESULTS).annotate(value=Lower(_JsonLabel("result")))
    return conversations.annotate(customer_sentiment=Subquery(label.values("value")[:1]))
