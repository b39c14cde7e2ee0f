from __future__ import annotations

import pytest

from apps.intelligence import services


@pytest.fixture
def defaults(db):
    services.defaults_ensure()
