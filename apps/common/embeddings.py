"""The one offline sentence-embedding model of the process (WordLlama, from the installed wheel).

WordLlama ``l2_supercat`` (256 dimensions, 16 MB of weights inside the ``wordllama`` wheel) is
loaded once per process and shared by every user of it: the rubrics' semantic checks
(``apps.rubrics.semantic``) and the virtual agent's retrieval (``apps.agent.services.retrieval``).
It lives here, in the shared kernel, because both layers import ``apps.common`` and neither may
import the other's internals for it. Nothing is downloaded: downloads are disabled at load, so a
missing file is an error (:class:`ModelUnavailable`), never a fetch. Static embeddings are token
vectors averaged per sentence: deterministic, no torch, tens of thousands of sentences a second
on one core.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MODEL_NAME = "wordllama l2_supercat (256 dimensions)"
DIMENSIONS = 256

_model_lock = threading.Lock()
_model: Any = None


class ModelUnavailable(RuntimeError):
    """The embedding model's package is not installed (or its files are missing)."""


def model() -> Any:
    """The WordLlama model, loaded once per process from the installed wheel (never fetched)."""
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                try:
                    from pathlib import Path

                    import wordllama
                    from wordllama import WordLlama
                except ImportError as exc:  # pragma: no cover - a dependency of the project
                    raise ModelUnavailable("the wordllama package is not installed") from exc
                # wordllama 0.4 looks for its bundled tokenizer under "tokenizer/" but the wheel
                # has it under "tokenizers/": pointing the cache at the package finds both files
                # there, and disable_download turns a missing file into an error, not a fetch.
                try:
                    _model = WordLlama.load(
                        cache_dir=Path(wordllama.__file__).parent, disable_download=True
                    )
                except FileNotFoundError as exc:  # pragma: no cover
                    raise ModelUnavailable(str(exc)) from exc
    return _model


def available() -> bool:
    """Whether the model loads (it is a dependency: False means a broken installation)."""
    try:
        model()
    except ModelUnavailable:
        return False
    return True


# Small on purpose: the rubrics' ``_line_score`` in front answers ~80 % of a live check's
# lookups, and what reaches here is mostly a line new to the process, or the same line for the
# next criterion of the same check. 1,024 kept the hit rate of 32,768 (12-13 %) for 1.4 MB
# instead of 45 MB per operators process (docs/benchmarks.md, "The operators' memory"). The
# virtual agent embeds each caller turn once.
@lru_cache(maxsize=1024)
def embedding(text: str) -> np.ndarray:
    """The unit vector of ``text``, cached per text (live checks see the same lines often)."""
    return model().embed([text], norm=True)[0]


def embeddings(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors of ``texts`` (rows), each cached."""
    import numpy as np

    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.vstack([embedding(text) for text in texts])
