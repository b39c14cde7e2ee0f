"""The operators' per-process caches under the soak's traffic: entries, hit rate, MB when full.

    .venv/bin/python bench/operator_caches.py --rate 250 --minutes 10 [--rubric] [--unique-texts]

No database, no broker: the soak's traffic (bench/soak.py's ``TrafficMix`` shape: ``rate x 2.5``
Harper Valley calls in progress at once, their events in turn, a finished call replaced by a new
one, the first call of each slot starting part-way) is replayed into the embedded operators the
way the ``operators`` service runs them. Per communication the default rule "Live sentiment and
script adherence" runs once with the whole conversation so far (``ctx.lines``); the service has
``--processes`` pool processes and an execution lands on any of them, so this process (one of
them) runs each execution with probability 1 / processes. Time is simulated (event n is at
n / rate), so the figures do not depend on this machine's speed except the CPU column.

- ``--rubric``: adherence against the demo rubric (production: a published rubric is pinned).
  Without it the adherence operator skips, as in the soak (its database has no rubric).
- ``--unique-texts``: every call's lines made unique (a word of the call's own added): the soak
  replays 76 recordings (1,387 distinct lines) over and over, so caches keyed by the text alone
  hit far more often in the soak than on real calls, where nearly every line is new.
- ``--bound NAME=N`` (repeatable): another bound for one cache, to compare hit rates.

Prints, per simulated minute, each cache's entries and its hit rate over the minute; at the end
each cache's memory (tracemalloc: what clearing it frees) and the CPU per execution.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")

import django  # noqa: E402

django.setup()

from apps.demo.dataset import DemoCall, read_calls  # noqa: E402
from apps.intelligence import builtins  # noqa: E402
from apps.intelligence.choices import OperatorKind  # noqa: E402
from apps.intelligence.nlp import sentiment as nlp_sentiment  # noqa: E402
from apps.intelligence.operators import embedded, registry  # noqa: E402
from apps.intelligence.operators.base import (  # noqa: E402
    OperatorContext,
    OperatorSpec,
    PinnedRubric,
    TranscriptLine,
)
from apps.rubrics import checks, semantic  # noqa: E402
from apps.rubrics.jsonformat import data_from_document  # noqa: E402
from apps.rubrics.structure import structure_from_data  # noqa: E402

# The lru caches on the operators' path: (module, function name).
LRU = {
    "sentiment.clean_text": (nlp_sentiment, "_sentiment_of_clean"),
    "checks._clean": (checks, "_clean"),
    "semantic._embedding": (semantic, "_embedding"),
    "semantic.speech_text": (semantic, "speech_text"),
    "semantic.is_question": (semantic, "is_question"),
    "semantic._line_score": (semantic, "_line_score"),
    "semantic._prototype_matrix": (semantic, "_prototype_matrix"),
    "semantic._prototypes": (semantic, "_prototypes"),
}


def rebound(name: str, size: int) -> None:
    module, attr = LRU[name]
    function = getattr(module, attr)
    setattr(module, attr, lru_cache(maxsize=size)(function.__wrapped__))


def spec(kind: str, version_id: int) -> OperatorSpec:
    return OperatorSpec(
        version_id=version_id,
        operator_id=version_id,
        key=kind.lower(),
        name=kind,
        kind=kind,
        number=1,
        backend="embedded",
        output_format=builtins.FORMAT_BY_KIND[kind],
        parameters={"delta_window_seconds": 30},
        output_schema=builtins.SCHEMAS_BY_KIND[kind],
    )


class Traffic:
    """bench/soak.py's TrafficMix, reduced to what the operators see: the lines of each call."""

    def __init__(self, calls: list[DemoCall], *, slots: int, unique: bool, seed: int) -> None:
        self.calls = calls
        self.rng = random.Random(seed)
        self.deck: list[DemoCall] = []
        self.unique = unique
        self.started = 0
        self.pk = 0
        self.slots = [self._call(first=True) for _ in range(slots)]
        self.turn = 0

    def _call(self, *, first: bool = False) -> Iterator[tuple[int, TranscriptLine | None]]:
        if not self.deck:
            self.deck = list(self.calls)
            self.rng.shuffle(self.deck)
        demo = self.deck.pop()
        self.started += 1
        number = self.started
        segments = [s for s in demo.segments if s.text]
        if first:
            segments = segments[self.rng.randrange(len(segments) + 1) :]
        return self._events(number, segments, first)

    def _events(
        self, number: int, segments: list[Any], first: bool
    ) -> Iterator[tuple[int, TranscriptLine | None]]:
        # CONVERSATION_CREATED and two PARTICIPANT_ADDED, the lines, CONVERSATION_UPDATED.
        for _ in range(3):
            yield number, None
        for segment in segments:
            self.pk += 1
            text = f"{segment.text} ref{number}" if self.unique else segment.text
            yield (
                number,
                TranscriptLine(
                    pk=self.pk,
                    twilio_id=f"GX{self.pk}",
                    role="agent" if segment.role == "agent" else "customer",
                    author_type="HUMAN_AGENT" if segment.role == "agent" else "CUSTOMER",
                    offset_ms=segment.start_ms,
                    duration_ms=segment.duration_ms,
                    text=text,
                ),
            )
        yield number, None

    def next(self) -> tuple[int, TranscriptLine | None]:
        """The next event due: (call number, its line, or None for any other event)."""
        slot = self.turn % len(self.slots)
        self.turn += 1
        item = next(self.slots[slot], None)
        if item is None:
            self.slots[slot] = self._call()
            item = next(self.slots[slot])
        return item


class SentimentCounter:
    """Hits and misses of the operators' per-line sentiment cache (whatever its shape)."""

    def __init__(self) -> None:
        self.hits = self.misses = 0

    def install(self) -> None:
        if OLD:  # main before issue 17's RSS work: one FIFO of (line id, text), 50,000 lines
            original_line = vars(embedded)["_sentiment_of"]

            def counted_line(line: TranscriptLine) -> Any:
                if (line.pk, line.text) in OLD_CACHE:
                    self.hits += 1
                else:
                    self.misses += 1
                return original_line(line)

            vars(embedded)["_sentiment_of"] = counted_line
            return
        self.original = embedded._sentiment_lookup

        def counted(entry: Any, line: TranscriptLine) -> Any:
            before = embedded.line_cache_misses()
            value = self.original(entry, line)
            if embedded.line_cache_misses() > before:
                self.misses += 1
            else:
                self.hits += 1
            return value

        embedded._sentiment_lookup = counted


OLD_CACHE: Any = vars(embedded).get("_SENTIMENT_CACHE")
OLD = OLD_CACHE is not None


def line_cache_size() -> int:
    return len(OLD_CACHE) if OLD else embedded.line_cache_size()


def line_cache_clear() -> None:
    if OLD:
        OLD_CACHE.clear()
    else:
        embedded.line_cache_clear()


def lru_stats() -> dict[str, tuple[int, int, int]]:
    stats = {}
    for name, (module, attr) in LRU.items():
        info = getattr(module, attr).cache_info()
        stats[name] = (info.hits, info.misses, info.currsize)
    return stats


def freed_by(clear: Callable[[], None]) -> float:
    before = tracemalloc.get_traced_memory()[0]
    clear()
    return (before - tracemalloc.get_traced_memory()[0]) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=250.0, help="events/s offered (soak's)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2, help="operators pool processes")
    parser.add_argument("--rubric", action="store_true", help="adherence against a rubric")
    parser.add_argument("--unique-texts", action="store_true")
    parser.add_argument("--bound", action="append", default=[], metavar="NAME=N")
    parser.add_argument("--no-tracemalloc", action="store_true", help="faster, no MB figures")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for item in args.bound:
        name, size = item.split("=")
        if name == "lines" and OLD:
            vars(embedded)["_SENTIMENT_CACHE_SIZE"] = int(size)
        elif name == "lines":
            embedded.LINE_CACHE_IDLE_SECONDS = float(size)
        else:
            rebound(name, int(size))

    structure = structure_from_data(
        data_from_document(
            json.loads((ROOT / "apps/demo/data/harper-valley-script.rubric.json").read_text())
        )
    )
    pinned = PinnedRubric(1, "Harper Valley Bank call script", 1, 1, structure)
    sentiment, adherence = spec(OperatorKind.SENTIMENT, 1), spec(OperatorKind.SCRIPT_ADHERENCE, 2)
    if args.rubric:
        semantic.model()  # loaded once per process, before the measurement
    if not args.no_tracemalloc:
        tracemalloc.start()
    counter = SentimentCounter()
    counter.install()
    rng = random.Random(7)
    traffic = Traffic(read_calls(), slots=round(args.rate * 2.5), unique=args.unique_texts, seed=17)
    transcripts: dict[int, list[TranscriptLine]] = {}
    events = round(args.rate * args.minutes * 60)
    executions = 0
    cpu = 0.0
    clock = {"now": 0.0}
    embedded._now = lambda: clock["now"]  # simulated time for the idle eviction
    last_lru = lru_stats()
    last_sentiment = (0, 0)
    rows = []
    print(
        f"rate {args.rate:.0f}/s, {round(args.rate * 2.5)} calls at once, "
        f"{args.minutes:g} simulated minutes, 1 of {args.processes} processes; "
        f"rubric {'yes' if args.rubric else 'no (as in the soak)'}; "
        f"texts {'unique per call' if args.unique_texts else 'as replayed by the soak'}"
    )
    for n in range(1, events + 1):
        clock["now"] = n / args.rate
        number, line = traffic.next()
        if line is not None:
            lines = transcripts.setdefault(number, [])
            lines.append(line)
            if rng.random() < 1 / args.processes:
                ctx = OperatorContext(
                    conversation_id=number,
                    conversation_twilio_id=f"CH{number}",
                    lines=list(lines),
                    window=lines[-1:],
                    final=False,
                    trigger_on="COMMUNICATION",
                    agent_type="HUMAN_AGENT",
                    rubric_for=(lambda _spec: pinned) if args.rubric else None,
                )
                started = time.process_time()
                for item in (sentiment, adherence):
                    output = registry.run_operator(item, ctx)
                    assert output is None or output.status != "error", output.error
                cpu += time.process_time() - started
                executions += 1
        elif number in transcripts and len(transcripts) > len(traffic.slots) * 2:
            # Keep the replay's own memory bounded (not part of the measurement).
            for old in sorted(transcripts)[: len(transcripts) - len(traffic.slots) * 2]:
                del transcripts[old]
        if n % round(args.rate * 60) == 0:
            stats = lru_stats()
            row: dict[str, Any] = {"minute": round(n / args.rate / 60, 1)}
            hits, misses = counter.hits - last_sentiment[0], counter.misses - last_sentiment[1]
            row["lines"] = (line_cache_size(), hits / max(1, hits + misses))
            for name, (h, m, size) in stats.items():
                dh, dm = h - last_lru[name][0], m - last_lru[name][1]
                row[name] = (size, dh / max(1, dh + dm) if dh + dm else None)
            last_lru, last_sentiment = stats, (counter.hits, counter.misses)
            if not args.no_tracemalloc:
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 1e6, 1)
            rows.append(row)
            shown = "; ".join(
                f"{name} {size:,}" + (f" ({rate * 100:.1f} %)" if rate is not None else "")
                for name, value in row.items()
                if isinstance(value, tuple)
                for size, rate in [value]
                if size
            )
            print(f"{row['minute']:>5} min: {shown}; traced {row.get('traced_mb', '-')} MB")
    per_execution_ms = cpu / max(1, executions) * 1e3
    print(f"executions in this process: {executions:,}; CPU {per_execution_ms:.3f} ms each")
    memory = {}
    if not args.no_tracemalloc:
        transcripts.clear()
        traffic.slots.clear()
        memory["lines"] = freed_by(line_cache_clear)
        for name, (module, attr) in LRU.items():
            memory[name] = freed_by(getattr(module, attr).cache_clear)
        print(
            "memory freed by clearing each cache (MB): "
            + ", ".join(f"{name} {mb:.1f}" for name, mb in memory.items() if mb >= 0.05)
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": str(args.json)},
                    "rows": rows,
                    "memory_mb": memory,
                    "cpu_ms": per_execution_ms,
                },
                default=str,
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
