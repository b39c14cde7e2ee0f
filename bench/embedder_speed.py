"""Load time, memory and speed of the semantic checks' sentence embedders, one core.

    python bench/embedder_speed.py --embedder wordllama
    /work/venv-minilm/bin/python bench/embedder_speed.py --embedder minilm   # bench/embedders.py

Run each embedder in its own process (the load figures are a fresh process's) and under the
machine-wide lock: ``flock /tmp/bench.lock python bench/embedder_speed.py ...``. Prints:

* load: seconds to import the model's packages and load it, and how much the process's peak
  RSS grew (``ru_maxrss``), from the start of the script;
* speed: the distinct speech texts of the 76 demo calls (as the semantic checks see them:
  lowercased, tags and punctuation removed), embedded one at a time (what a live check does:
  each new line once, ``semantic._embedding``) and in batches of 64; best of ``--repeats``.

One thread everywhere (numpy, torch, tokenizers): a worker process gets one core. Figures and
their reading: docs/operator-quality.md section 0.4.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=("wordllama", "minilm"), default="wordllama")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="minilm only: torch threads (default one core)"
    )
    args = parser.parse_args()

    from apps.demo.dataset import read_calls
    from apps.rubrics import semantic

    texts = sorted(
        {
            semantic.speech_text(segment.text)
            for call in read_calls()
            for segment in call.segments
            if len(semantic.speech_text(segment.text).split()) >= semantic.MIN_WORDS
        }
    )
    words = sum(len(text.split()) for text in texts)
    rss_before = peak_rss_mb()
    started = time.perf_counter()
    from bench import embedders

    if args.embedder == "minilm":
        embedder: semantic.Embedder = embedders.MiniLMEmbedder(threads=args.threads)
    else:
        embedder = embedders.EMBEDDERS[args.embedder]()
    embedder.encode(["warm up the first call"])
    loaded = time.perf_counter() - started
    grown = peak_rss_mb() - rss_before
    print(
        f"embedder: {embedder.name}; {args.threads if args.embedder == 'minilm' else 1} thread(s)"
    )
    print(f"load (imports + model + first sentence): {loaded:.2f} s, peak RSS +{grown:.0f} MB")
    print(f"sentences: {len(texts)} distinct demo lines, {words / len(texts):.1f} words on average")

    def timed(batch: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process) to embed every text, ``batch`` at once."""
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(texts), batch):
            embedder.encode(texts[start : start + batch])
        return time.perf_counter() - wall, time.process_time() - cpu

    for label, batch in (("one at a time (live)", 1), ("batches of 64", 64)):
        wall, cpu = min(timed(batch) for _ in range(args.repeats))
        print(
            f"  {label}: {len(texts) / wall:,.0f} sentences/s "
            f"({1000 * wall / len(texts):.3f} ms each; best of {args.repeats}); "
            f"CPU {1000 * cpu / len(texts):.3f} ms each"
        )
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
