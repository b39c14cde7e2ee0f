"""What anonymised text looks like, shared by every app that blanks its own rows (retention and
erasure, apps/privacy).

A transcript line keeps its row (speaker, time, duration) with ``ANONYMISED_TEXT`` for its words:
insights counts a line as speech when its text is not blank and not only tags (``[noise]``), so
the placeholder is neither, and a conversation's figures come out the same when they are
recomputed after its text is gone.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

ANONYMISED_TEXT = "(removed)"

# A PostgreSQL regular expression for text that holds no words: blank, or only tags such as
# ``[noise]`` or ``<unk>`` (the same test as insights' speech filter).
NO_WORDS_REGEX = r"^[[:space:]]*((\[[^]]*\]|<[^>]*>)[[:space:]]*)*$"


def scrub_json(
    value: Any,
    *,
    keep: Collection[str] = (),
    keep_trees: Collection[str] = (),
    key: str | None = None,
) -> Any:
    """``value`` with every string replaced by ``ANONYMISED_TEXT``, except strings (or lists of
    strings) held under a key in ``keep`` (labels, keys and outcomes that other rows count) and
    everything under a key in ``keep_trees``. Numbers, booleans and nulls stay; the shape
    stays."""
    if isinstance(value, dict):
        return {
            k: v if k in keep_trees else scrub_json(v, keep=keep, keep_trees=keep_trees, key=k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub_json(item, keep=keep, keep_trees=keep_trees, key=key) for item in value]
    if isinstance(value, str):
        if key is not None and key in keep:
            return value
        return ANONYMISED_TEXT if value else value
    return value
