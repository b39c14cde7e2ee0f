"""Rubric impact preview benchmark: a draft of the bank's rubric re-scoring 10,000 stored
conversations (target: 30 s or less on the 2-core box).

    python bench/impact_preview.py [--conversations 10000] [--reuse] [--runs 3]

Uses DATABASE_URL / REDIS_URL, in a database `<name>_bench_impact` (made anew unless
``--reuse`` finds it filled). Steps:

1. Data: migrate, ``load_demo --no-shadow`` (the bank's rubric, published, agents, logins), then
   ``generate_conversations`` over the last 25 days (COPY; timed, not part of the target): each
   conversation has its transcript, the AI's script-adherence result and, for about 4 %, a
   submitted review.
2. A draft of the rubric that changes two criteria and adds one: "thanks_for_calling" gets a
   new phrase, "offers_help" a shorter time window, and "confirms_identity" (a phrase) is new.
3. The preview over 30 days. ``--unique-lines``: the checks' line-cleaning cache kept for one
   conversation at a time (the generator repeats a few dozen agent lines across calls, real
   transcripts do not); ``--uncached``: no cache at all, every line cleaned for every phrase
   (the worst case), run in this process exactly as the Celery task runs it
   (``impact_preview_run``), ``--runs`` times on fresh previews; prints total time,
   conversations/s and where the time goes (reads, checks, scoring, progress writes, summary,
   the row insert), and the preview's own figures.
Prints the figures; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402

RUBRIC_NAME = "Harper Valley"


def conversation_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_conversation WHERE status = 'CLOSED'")
        return int(cursor.fetchone()[0])


def data(conversations: int, reuse: bool) -> None:
    from django.core.management import call_command

    if reuse and conversation_count() >= conversations:
        print("Reusing the data already in the bench database.")
        return
    began = time.monotonic()
    call_command("load_demo", "--no-shadow", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    from apps.demo.generate import generate_conversations

    counts = generate_conversations(conversations=conversations, days=25, seed=11)
    print(
        f"Generated {counts.conversations:,} conversations, {counts.communications:,} "
        f"communications, {counts.results:,} results, {counts.reviews:,} reviews in "
        f"{time.monotonic() - began:.0f} s (with the demo load)."
    )


def the_draft():  # type: ignore[no-untyped-def]
    """The bank rubric's draft with two criteria changed and one added (made once)."""
    from apps.accounts.models import User
    from apps.rubrics import selectors, services
    from apps.rubrics.models import Rubric

    admin = User.objects.get(username="admin")
    rubric = Rubric.objects.filter(versions__status="PUBLISHED").distinct().get()
    draft = selectors.draft_version(rubric=rubric)
    if draft is None:
        draft = services.version_new_draft(rubric=rubric, actor=admin)
    content = selectors.version_data(version=draft)
    for section in content["sections"]:
        for criterion in section["criteria"]:
            if criterion["key"] == "thanks_for_calling":
                criterion["required_phrases"] = [
                    {"text": "thank you for calling harper valley", "tolerance": 85}
                ]
            if criterion["key"] == "offers_help":
                criterion["window_seconds"] = 10
        if section["key"] == "understanding" and not any(
            c["key"] == "confirms_identity" for c in section["criteria"]
        ):
            section["criteria"].append(
                {
                    "key": "confirms_identity",
                    "name": "Confirms the caller's identity",
                    "description": "",
                    "expected_action": "",
                    "required_phrases": [
                        {"text": "can you confirm your date of birth", "tolerance": 80}
                    ],
                    "window_seconds": None,
                    "window_anchor": "CONVERSATION_START",
                    "weight": None,
                    "kind": "SCORED",
                    "na_allowed": False,
                    "applies_to": "BOTH",
                }
            )
    return services.draft_update(version=draft, actor=admin, data=content), admin


def unique_lines() -> None:
    """Real transcripts rarely repeat a line from another call; the generator's do (a few dozen
    agent lines), so ``checks._clean``'s cache would find every line. Here its cache is emptied
    at each new conversation: each line is cleaned once, for every phrase of that call."""
    from apps.qa.services import impact
    from apps.rubrics import checks

    original = checks._clean.__wrapped__  # type: ignore[attr-defined]
    cache: dict[str, tuple[str, tuple[int, ...]]] = {}
    current: list[object] = [None]

    def clean(text: str) -> tuple[str, tuple[int, ...]]:
        found = cache.get(text)
        if found is None:
            found = cache[text] = original(text)
        return found

    real_check = impact.check_criterion

    def check(spec, lines, **kwargs):  # type: ignore[no-untyped-def]
        if lines is not current[0]:  # a new conversation: a new list of lines
            cache.clear()
            current[0] = lines
        return real_check(spec, lines, **kwargs)

    checks._clean = clean  # type: ignore[assignment]
    impact.check_criterion = check  # type: ignore[assignment]


def run_once(draft, admin, days: int) -> dict:  # type: ignore[no-untyped-def]
    from apps.qa.models import ImpactPreview
    from apps.qa.services import impact
    from apps.rubrics import selectors

    # Made directly (not through impact_preview_start): the start enqueues the Celery task,
    # and here the run is timed in this process instead.
    preview = ImpactPreview.objects.create(
        rubric_version=draft,
        baseline_version=selectors.published_version(rubric=draft.rubric),
        structure_hash=impact.structure_hash(version=draft),
        days=days,
        created_by=admin,
    )
    ticks: list[tuple[float, int]] = []
    began = time.perf_counter()
    done = impact.impact_preview_run(
        preview_id=preview.pk,
        on_progress=lambda n, total: ticks.append((time.perf_counter() - began, n)),
    )
    seconds = time.perf_counter() - began
    assert done is not None and done.status == "DONE", (done and done.status, done and done.error)
    return {"seconds": seconds, "preview": done, "ticks": ticks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument(
        "--uncached",
        action="store_true",
        help="clean every line anew (checks._clean without its cache): the generator repeats a "
        "few dozen agent lines, real transcripts do not",
    )
    parser.add_argument(
        "--unique-lines",
        action="store_true",
        help="keep the line-cleaning cache for one conversation only: every conversation's "
        "lines are new to it, as in real transcripts",
    )
    args = parser.parse_args()
    timing.bench_django("impact", reuse=args.reuse)
    data(args.conversations, args.reuse)
    draft, admin = the_draft()
    if args.uncached:
        from apps.rubrics import checks

        checks._clean = checks._clean.__wrapped__  # type: ignore[attr-defined]
        print("Line cleaning uncached: every line is cleaned for every phrase.")
    elif args.unique_lines:
        unique_lines()
        print("Line cleaning cached per conversation only, as if no two calls shared a line.")
    print(f"Closed conversations stored: {conversation_count():,}")
    print("Load average before the runs: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    results = []
    for run in range(1, args.runs + 1):
        result = run_once(draft, admin, args.days)
        preview = result["preview"]
        summary = preview.summary
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in summary["seconds"].items())
        print(
            f"Run {run}: {preview.total:,} conversations in {result['seconds']:.2f} s "
            f"({preview.total / result['seconds']:,.0f} conversations/s); {phases}"
        )
        results.append(result)
        print("  load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    best = min(results, key=lambda r: r["seconds"])
    summary = best["preview"].summary
    overall = summary["overall"]
    print(
        f"Median {statistics.median(r['seconds'] for r in results):.2f} s over {len(results)} "
        f"runs; target 30 s: {'met' if best['seconds'] <= 30 else 'MISSED'}"
    )
    print(
        f"Preview: before {overall['before']} after {overall['after']} delta {overall['delta']} "
        f"[{overall['low']}, {overall['high']}] n {overall['n']:,}; criteria "
        f"{summary['criteria']['changed']} changed, {summary['criteria']['new']} new; "
        "newly failing " + ", ".join(f"{f['key']} {f['count']:,}" for f in summary["newly_failing"])
    )
    ticks = best["ticks"]
    if ticks:
        print(
            f"Progress: {len(ticks)} updates, first at {ticks[0][0]:.2f} s ({ticks[0][1]:,} done)"
        )


if __name__ == "__main__":
    main()
