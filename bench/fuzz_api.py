"""A deeper run of the API fuzz test: every operation, as every persona, FUZZ_EXAMPLES cases each.

    python bench/fuzz_api.py [examples]    # default 25; figures for docs/reliability.md

It runs ``tests/common/test_api_fuzz.py::test_every_operation_as_every_persona_...`` with pytest
(against the test database of DATABASE_URL, as the tests do) and prints: operations, requests
sent (cases times personas), answers by class, and the failing operations (a 5xx, or an id outside
the persona's scope).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/common/test_api_fuzz.py"
SELECT = "every_operation_as_every_persona"


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = Path(tmp) / "stats.json"
        env = {**os.environ, "FUZZ_EXAMPLES": str(examples), "FUZZ_STATS": str(stats_path)}
        env.setdefault("PYTHONPATH", str(ROOT))
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", TEST, "-k", SELECT, "-q", "-p", "no:cacheprovider",
             "--timeout=0", "-rf"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.monotonic() - started
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    print(f"examples per operation and persona: {examples}")
    print(f"pytest: {summary} ({seconds:.0f} s)")
    classes = ", ".join(f"{name}: {count}" for name, count in sorted(stats.items()))
    print(f"requests: {sum(stats.values())} ({classes})")
    for line in failed:
        print(line)
    for line in run.stdout.splitlines():  # what each failure was: the request and the answer
        if "AssertionError: " in line and line.lstrip(" |E").startswith("AssertionError"):
            print("   ", line.lstrip(" |E")[:400])
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
