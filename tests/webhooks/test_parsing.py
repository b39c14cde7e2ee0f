"""Twilio's times are read tolerantly: whatever arrives, a time or None, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.webhooks.parsing import parse_time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-07T09:15:00.123456789Z", datetime(2026, 12, 7, 9, 15, 0, 123456, tzinfo=UTC)),
        (1_796_634_900, datetime(2026, 12, 7, 9, 15, tzinfo=UTC)),
        (1_796_634_900_000, datetime(2026, 12, 7, 9, 15, tzinfo=UTC)),
        ("Mon, 07 Dec 2026 09:15:00 +0000", datetime(2026, 12, 7, 9, 15, tzinfo=UTC)),
    ],
)
def test_a_usable_time_is_read_in_any_of_twilios_forms(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize(
    "value",
    [3.1e16, 1e300, -1e300, float("nan"), float("inf"), True, "not a time", "", None, [], {}],
)
def test_an_unusable_time_is_none_not_an_error(value):
    assert parse_time(value) is None
