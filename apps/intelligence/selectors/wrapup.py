"""What the AI proposes for a call's wrap-up: its latest summary, and the latest labels of the
classifier operators that say what the call was about (topic) and how it ended (outcome).

The classifiers are the ones insights reads (``INSIGHTS_TOPIC_OPERATORS`` and
``INSIGHTS_OUTCOME_OPERATORS``: an operator's key, or a Twilio operator's name), so the wrap-up
and the dashboards agree on what "the AI said" means. Anything unexpected in a result is
skipped: a call without a summary gets an empty proposal, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import F

from ..choices import OperatorKind, ResultStatus
from ..models import OperatorResult
from .insights import kind_of


@dataclass(frozen=True)
class WrapupProposal:
    summary: str
    summary_result_id: int | None  # the result the summary came from
    topic: str
    outcome: str
    final: bool | None  # the summary says it covers the whole call (None: it does not say)


def _label(result: OperatorResult) -> str:
    data = result.result
    if isinstance(data, dict) and isinstance(data.get("label"), str):
        return data["label"].strip()[:200]
    return ""


def wrapup_proposal(*, conversation_id: int) -> WrapupProposal:
    """The AI's wrap-up for a conversation as of now (one query)."""
    topic_ops = set(settings.INSIGHTS_TOPIC_OPERATORS)
    outcome_ops = set(settings.INSIGHTS_OUTCOME_OPERATORS)
    results = (
        OperatorResult.objects.filter(conversation_id=conversation_id, status=ResultStatus.OK)
        .select_related("definition__operator")
        .order_by(F("date_created").asc(nulls_first=True), "id")  # as insights reads them
    )
    summary, summary_id, final, topic, outcome = "", None, None, "", ""
    for result in results:
        operator = result.definition.operator if result.definition is not None else None
        name = (operator.key if operator else result.operator_name).lower()
        data = result.result if isinstance(result.result, dict) else {}
        if kind_of(result) == OperatorKind.SUMMARY:
            text = data.get("text")
            if isinstance(text, str) and text.strip():
                summary, summary_id = text.strip(), result.pk
                final = data["final"] if isinstance(data.get("final"), bool) else None
        elif name in topic_ops and _label(result):
            topic = _label(result)
        elif name in outcome_ops and _label(result):
            outcome = _label(result)
    return WrapupProposal(
        summary=summary, summary_result_id=summary_id, topic=topic, outcome=outcome, final=final
    )


def summary_text(*, result_id: int, conversation_id: int) -> str | None:
    """The text of one summary result of that conversation (None: no such summary)."""
    result = (
        OperatorResult.objects.filter(pk=result_id, conversation_id=conversation_id)
        .select_related("definition__operator")
        .first()
    )
    if result is None or kind_of(result) != OperatorKind.SUMMARY:
        return None
    data = result.result if isinstance(result.result, dict) else {}
    text = data.get("text")
    return text.strip() if isinstance(text, str) else None
