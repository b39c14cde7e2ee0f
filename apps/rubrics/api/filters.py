from __future__ import annotations

import django_filters

from ccportal.viewsets import IdFilter

from ..choices import VersionStatus
from ..models import RubricVersion


class VersionFilter(django_filters.FilterSet):
    rubric = IdFilter(field_name="rubric__id", label="Rubric id")
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices, label="Version status")

    class Meta:
        model = RubricVersion
        fields = ["rubric", "status"]
