from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_default_alert_rules(request):
    """Each test writes the alert rules it is about (a migration installs four defaults)."""
    if "db" not in request.fixturenames and "transactional_db" not in request.fixturenames:
        marker = request.node.get_closest_marker("django_db")
        if marker is None:
            return
    from apps.floor.models import AlertRule

    AlertRule.objects.all().delete()
