"""How much an agent changed the AI's wrap-up: pure functions, no I/O.

The summary is compared word by word (case and punctuation aside): the distance is the number
of words inserted, deleted or replaced (Levenshtein over words), and the change is that distance
over the longer text's word count, so 0 means the agent kept the AI's summary and 1 that they
rewrote it. Words, not characters: fixing a name's spelling is one change, not five, and a long
summary costs words times words steps, not characters times characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")  # an apostrophe, straight or curly, joins


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def word_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance over words; shared head and tail cost nothing and are skipped."""
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    a, b = a[start:end_a], b[start:end_b]
    if not a or not b:
        return max(len(a), len(b))
    previous = list(range(len(b) + 1))
    for i, word in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class Changes:
    summary_distance: int
    summary_change: float  # 0 kept .. 1 rewrote
    fields: list[str]  # the fields whose value the agent changed


def wrapup_changes(*, ai: tuple[str, str, str], agent: tuple[str, str, str]) -> Changes:
    """Compare (summary, topic, outcome) as the AI proposed them with the agent's."""
    ai_words, agent_words = words(ai[0]), words(agent[0])
    distance = word_distance(ai_words, agent_words)
    longest = max(len(ai_words), len(agent_words))
    fields = []
    if ai_words != agent_words:
        fields.append("summary")
    if ai[1].strip().casefold() != agent[1].strip().casefold():
        fields.append("topic")
    if ai[2].strip().casefold() != agent[2].strip().casefold():
        fields.append("outcome")
    return Changes(
        summary_distance=distance,
        summary_change=round(distance / longest, 4) if longest else 0.0,
        fields=fields,
    )
