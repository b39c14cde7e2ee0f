from __future__ import annotations

import pytest

from tests.fixtures import qa as build


@pytest.fixture
def script(world):
    """The QA tests' rubric, published, and both world calls judged by the AI against it."""
    version = build.publish_script(world.admin)
    build.judge(world.north_call, world.south_call)
    return version
