"""The handoff seam: where an AI agent handed over, and what is checked about it (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apps.qa.seam import FAIL, PASS, UNKNOWN, HandoffContext, SeamLine, find_seam

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC"))


def line(pk: int, who: str, seconds: float, text: str, duration_ms: int = 2000) -> SeamLine:
    return SeamLine(pk, who, T0 + timedelta(seconds=seconds), duration_ms, text)


CALL = [
    line(1, "AI_AGENT", 0, "hello this is the bank's virtual assistant how can i help"),
    line(2, "CUSTOMER", 4, "my debit card was stolen yesterday at the train station"),
    line(3, "AI_AGENT", 9, "i will connect you with a colleague"),
    line(4, "HUMAN_AGENT", 20, "hi this is maya how can i help"),
    line(5, "CUSTOMER", 24, "my debit card was stolen at the train station yesterday"),
]


def checks(seam):
    return {check.key: check.status for check in seam.checks}


def test_the_seam_follows_the_ais_last_turn_before_the_humans_first():
    seam = find_seam(CALL)
    assert (seam.before_pk, seam.after_pk) == (3, 4)


def test_a_customer_repeating_what_they_told_the_ai_fails_the_repeat_check():
    seam = find_seam(CALL)
    assert checks(seam)["no_repeat"] == FAIL
    assert set(seam.repeated_words) == {"debit", "card", "stolen", "yesterday", "train", "station"}


def test_a_customer_who_moves_on_passes_the_repeat_check():
    call = [*CALL[:4], line(5, "CUSTOMER", 24, "thanks maya please block it and send a new one")]
    assert checks(find_seam(call))["no_repeat"] == PASS


def test_seconds_to_the_human_count_from_the_recorded_handoff_or_the_ais_last_turn():
    without = find_seam(CALL)
    assert without.seconds_to_human == 9.0  # 20 s - (9 s + 2 s)
    handoff = HandoffContext(
        reason="stolen card", summary="Card stolen", at=T0 + timedelta(seconds=12)
    )
    seam = find_seam(CALL, handoff)
    assert seam.seconds_to_human == 8.0
    assert checks(seam)["time_to_human"] == PASS
    slow = [*CALL[:3], line(4, "HUMAN_AGENT", 90, "hello")]
    assert checks(find_seam(slow))["time_to_human"] == FAIL
    # A callback recorded after the human spoke (late, retried) is not the caller's wait.
    late = HandoffContext(summary="x", at=T0 + timedelta(minutes=5))
    assert find_seam(CALL, late).seconds_to_human == 9.0


def test_a_summary_passed_in_the_handoff_is_checked_and_unknown_without_one():
    assert checks(find_seam(CALL))["summary_passed"] == UNKNOWN
    assert checks(find_seam(CALL, HandoffContext(summary="")))["summary_passed"] == FAIL
    assert checks(find_seam(CALL, HandoffContext(summary="Stolen card")))["summary_passed"] == PASS


def test_no_ai_no_seam_and_a_human_who_spoke_first_is_no_handoff():
    assert find_seam([line(1, "HUMAN_AGENT", 0, "hi"), line(2, "CUSTOMER", 2, "hi")]) is None
    human_first = [line(1, "HUMAN_AGENT", 0, "hi"), line(2, "AI_AGENT", 3, "note taken")]
    assert find_seam(human_first) is None


def test_an_ai_that_has_not_handed_over_yet_leaves_only_the_summary_check():
    seam = find_seam(CALL[:3])
    assert seam.after_pk is None and list(checks(seam)) == ["summary_passed"]
