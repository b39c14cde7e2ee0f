"""How the portal's database connections are set up."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_connections_run_without_jit_compilation_unless_asked():
    # JIT compiling the wide insights statements cost seconds per statement (docs/insights.md).
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
