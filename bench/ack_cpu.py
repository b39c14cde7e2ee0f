"""CPU per acknowledged webhook: the granian processes' and their PostgreSQL backends'.

    python bench/ack_cpu.py [granian options ...]
    (environment: PORT, SECS, RATE, REPS, WORKERS, THREADS, CODE=<checkout>, NODB=1, SPY=<prefix>)

On a shared machine requests/s moves with the neighbours; CPU time per request much less. This
serves the portal as bench/webhook_ingest.py does (granian, lean entry point, group commit; extra
granian options from the command line, e.g. ``--backpressure 64 --runtime-mode st``), fires wrk
saturating (or at RATE/s) with the same signed bodies, and reads the CPU ticks of the server's
processes and of PostgreSQL backends of its database from /proc before and after each run,
divided by the requests answered. ``CODE=/work/main`` serves another checkout's code, to compare
two versions in alternation. ``SPY=prefix`` records a py-spy profile of each worker (py-spy on
PATH or in PY_SPY). Uses a database ``<DATABASE_URL name>_ackcpu``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook_ingest import (  # noqa: E402
    PATH,
    TOKEN,
    fire,
    make_requests,
    recreate_database,
    stop,
    wait_up,
)


def ticks(match: Callable[[str, str], bool]) -> dict[str, int]:
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode()
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if match(pid, command):
            found[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return found


def used(before: dict[str, int], after: dict[str, int]) -> float:
    """CPU seconds, counting processes that ended as their last reading."""
    hz = os.sysconf("SC_CLK_TCK")
    return sum(after.get(pid, 0) - before.get(pid, 0) for pid in after) / hz


def main() -> int:
    port = int(os.environ.get("PORT", "8162"))
    seconds = int(os.environ.get("SECS", "8"))
    rate = int(os.environ.get("RATE", "0"))
    code = Path(os.environ.get("CODE", str(ROOT)))
    name = os.environ["DATABASE_URL"].rsplit("/", 1)[1] + "_ackcpu"
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    env = dict(
        os.environ,
        DATABASE_URL=database,
        TWILIO_AUTH_TOKENS=TOKEN,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        DJANGO_DEBUG="false",
        LOG_LEVEL="WARNING",
        DB_POOL="false",
        DB_CONN_MAX_AGE="600",
    )
    if not os.environ.get("NODB"):
        recreate_database(database)
        migrate = [sys.executable, "manage.py", "migrate", "-v0"]
        subprocess.run(migrate, env=env, cwd=code, check=True)
    requests = Path(f"/tmp/ackcpu-{port}.tsv")
    if not requests.exists():
        make_requests(60000, f"http://127.0.0.1:{port}", requests)
    workers, threads = os.environ.get("WORKERS", "2"), os.environ.get("THREADS", "16")
    extra = sys.argv[1:]
    command = [
        sys.executable, "-m", "granian", "--interface", "wsgi", "ccportal.wsgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", workers,
        "--blocking-threads", threads, "--no-ws", "--log-level", "warning", *extra,
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env, cwd=code, start_new_session=True)
    url = f"http://127.0.0.1:{port}{PATH}"
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        fire(url, requests, connections=32, seconds=2, rate=0, prefix=f"warm{time.time():.0f}")
        group = set(
            subprocess.run(
                ["pgrep", "-g", str(server.pid)], capture_output=True, text=True
            ).stdout.split()
        )

        def is_server(pid: str, command: str) -> bool:
            return pid in group

        def is_backend(pid: str, command: str) -> bool:
            return command.startswith("postgres") and name in command

        spies = []
        if os.environ.get("SPY"):
            py_spy = os.environ.get("PY_SPY", "py-spy")
            for pid in sorted(group - {str(server.pid)}):
                spies.append(
                    subprocess.Popen(
                        [
                            py_spy,
                            "record",
                            "--nonblocking",
                            "-r",
                            "200",
                            "-d",
                            str(seconds),
                            "-f",
                            "raw",
                            "-o",
                            f"{os.environ['SPY']}-{pid}.txt",
                            "-p",
                            pid,
                            "--threads",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        for run in range(int(os.environ.get("REPS", "1"))):
            server0, backend0 = ticks(is_server), ticks(is_backend)
            result = fire(
                url, requests, connections=32, seconds=seconds, rate=rate,
                prefix=f"r{time.time():.0f}-{run}",
            )  # fmt: skip
            server1, backend1 = ticks(is_server), ticks(is_backend)
            answered = result["answered"]
            print(
                f"{code} {' '.join(extra)} {workers}x{threads}: {result['rps']:.0f}/s "
                f"p50 {result['p50']} ms p99 {result['p99']} ms non-2xx {result['non_2xx']}; "
                f"CPU per request: granian {used(server0, server1) / answered * 1e6:.0f} us, "
                f"PostgreSQL backend {used(backend0, backend1) / answered * 1e6:.0f} us",
                flush=True,
            )
        for spy in spies:
            spy.wait()
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
