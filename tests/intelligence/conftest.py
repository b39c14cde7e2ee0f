from __future__ import annotations

import pytest

from apps.demo.dataset import read_calls
from apps.demo.services import demo_intelligence_load, demo_load
from apps.intelligence import services

CALLS = {call.sid: call for call in read_calls()}
# A handful of real Harper Valley calls: a card replacement, a balance check, a bill payment...
SAMPLE = ["0002f70f7386445b", *sorted(CALLS)[1:6]]


@pytest.fixture
def defaults(db):
    services.defaults_ensure()


@pytest.fixture
def demo_calls(db):
    """A few demo calls loaded, with the bank's rubric, knowledge and the default rules run."""
    demo_load(calls=[CALLS[sid] for sid in SAMPLE])
    return demo_intelligence_load()
