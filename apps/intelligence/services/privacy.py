"""Anonymising what the intelligence app stores about a conversation (retention and erasure,
apps/privacy).

An operator result keeps its row and what other apps count from it: labels, criterion keys and
outcomes, scores and figures (insights' sentiment, adherence, topic and outcome; QA's AI
suggestions). Every other string (a summary, an extracted value, a quote, the model's raw
answer) becomes ``ANONYMISED_TEXT``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from apps.common.anonymise import ANONYMISED_TEXT, scrub_json

from ..models import Flag, OperatorResult, RuleExecution, WebhookDelivery
from ..selectors.privacy import ANONYMISED_MARK, results_not_anonymised

# Strings under these keys are labels, keys or outcomes, never a customer's words.
RESULT_KEEP_KEYS = frozenset(
    {
        "label",
        "labels",
        "category_key",
        "section_key",
        "criteria_key",
        "criteria_met",
        "criterion_key",
        "outcome",
        "status",
        "type",
        "kind",
        "speaker",
        "segment",
        "id",
        "version",
        "version_id",
        "communication_id",
        "in_reply_to",
        "sentiment",
        "phrase",  # a rubric's required phrase, not what was said
        "unchecked",  # criterion keys
    }
)
# Whole subtrees that are configuration, not conversation: the rubric version judged against.
RESULT_KEEP_TREES = frozenset({"rubric"})


@transaction.atomic
def results_anonymise(*, ids: Iterable[int]) -> int:
    """Anonymise these operator results (see the module); returns how many changed, a second
    call none."""
    rows = list(
        OperatorResult.objects.select_for_update()
        .filter(pk__in=list(ids))
        .exclude(metadata__has_key=ANONYMISED_MARK)
    )
    for row in rows:
        row.result = scrub_json(row.result, keep=RESULT_KEEP_KEYS, keep_trees=RESULT_KEEP_TREES)
        row.operator_parameters = scrub_json(
            row.operator_parameters, keep=RESULT_KEEP_KEYS, keep_trees=RESULT_KEEP_TREES
        )
        row.participants = scrub_json(
            row.participants, keep=RESULT_KEEP_KEYS, keep_trees=RESULT_KEEP_TREES
        )
        row.execution_details = scrub_json(
            row.execution_details, keep=RESULT_KEEP_KEYS, keep_trees=RESULT_KEEP_TREES
        )
        row.metadata = {ANONYMISED_MARK: True}
        row.raw_output = ""
        row.error = ""
    OperatorResult.objects.bulk_update(
        rows,
        [
            "result",
            "operator_parameters",
            "participants",
            "execution_details",
            "metadata",
            "raw_output",
            "error",
        ],
    )
    return len(rows)


def results_anonymise_older(*, before: datetime, limit: int) -> int:
    """One batch of the operator results' retention."""
    ids = list(
        results_not_anonymised(before=before).order_by().values_list("pk", flat=True)[:limit]
    )
    return results_anonymise(ids=ids) if ids else 0


@transaction.atomic
def intelligence_erase(*, conversation_ids: Iterable[int]) -> dict[str, int]:
    """Erase a customer's words from what the rules stored on these conversations: operator
    results (anonymised as above), flags' reasons and resolutions, executions' details and
    errors, and the payloads of rule webhooks sent about them. Returns rows changed per kind."""
    conversation_ids = list(conversation_ids)
    results = results_anonymise(
        ids=OperatorResult.objects.filter(conversation_id__in=conversation_ids).values_list(
            "pk", flat=True
        )
    )
    flags = (
        Flag.objects.filter(conversation_id__in=conversation_ids)
        .exclude(reason=ANONYMISED_TEXT, resolution="")
        .update(reason=ANONYMISED_TEXT, resolution="")
    )
    executions = RuleExecution.objects.filter(conversation_id__in=conversation_ids)
    details = executions.exclude(detail={}, error="").update(detail={}, error="")
    deliveries = (
        WebhookDelivery.objects.filter(execution__in=executions.values("pk"))
        .exclude(Q(payload={}) & Q(last_error=""))
        .update(payload={}, last_error="")
    )
    return {
        "operator_results": results,
        "flags": flags,
        "rule_executions": details,
        "webhook_deliveries": deliveries,
    }
