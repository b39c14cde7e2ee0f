"""What retention would anonymise among operator results (apps/privacy)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from ..models import OperatorResult

# Set in an anonymised result's ``metadata``: it is not anonymised again.
ANONYMISED_MARK = "anonymised"


def results_not_anonymised(*, before: datetime) -> QuerySet[OperatorResult]:
    """Results stored before ``before`` whose free text is still there."""
    return OperatorResult.objects.filter(created_at__lt=before).exclude(
        metadata__has_key=ANONYMISED_MARK
    )
