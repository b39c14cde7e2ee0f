"""Fault tests with real processes: webhooks keep arriving while the parts of the stack fail.

    .venv/bin/python bench/faults.py [--quick] [--rate 10] [--port-base 55400]

Runs compose.yaml's services as local processes (scripts/composerun.py, as `make smoke` does:
migrate, granian, daphne, the Celery workers and beat, nginx with deploy/nginx.conf) against a
PostgreSQL and a Redis of its own, started here from /usr/lib/postgresql/*/bin and redis-server on
ports of --port-base (never the machine's shared servers: this kills and restarts them).

A sender posts signed Orchestrator COMMUNICATION_CREATED webhooks through the proxy at a fixed
rate, each with its own idempotency token, and records every answer. Like Twilio, it sends a
request again (same body, same token) after a non-2xx answer or a connection error. Faults, one
per phase, with steady traffic between them:

1. baseline (no fault);
2. kill -9 of the ingest worker (`worker`, its pool too) while it holds a claimed batch (a burst
   of webhooks is sent first so it has one), started again 2 s later;
3. Redis restarted (SIGTERM, started again at once; appendonly as in compose.yaml);
4. PostgreSQL restarted as after a crash (`pg_ctl stop -m immediate`, started again);
5. the broker (Redis) stopped for 60 s (--quick: 10 s), then started.

INGEST_CLAIM_TIMEOUT is 30 s for the run (default 300): the beat sweeper (every
INGEST_SWEEP_SECONDS, 5 s) hands a killed worker's claimed events out again after that, and the
broker's own redelivery of the killed task (visibility_timeout, 1 h) is not waited for. Rule
executions have no such setting: the sweeper re-queues a lost one after 2 min (pending) or 5 min
(running), so the final wait allows 7 min.

After the sender stops and everything settled, per phase: sent = acknowledged (2xx) = stored =
processed; every acknowledged token is a stored row (no 2xx for anything not stored); the rule
executions are exactly those the default rules call for (one per trigger point), all finished,
and no execution published its "insights" event twice. Prints one table; exit 1 if a check fails.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from composerun import Stack, StackError, compose_variables, port_open, wait_http  # noqa: E402
from smoke import communication_event, signed_request  # noqa: E402

LINES_PER_CALL = 20
# Seconds before the sweeper hands a vanished worker's claimed events out again (default 300).
# A batch that takes longer than this to process is handed out again while still in work.
CLAIM_TIMEOUT = 30
TEXTS = [
    "Thank you for calling, how can I help you today?",
    "I would like to check the balance on my account.",
    "Sure, can you confirm your date of birth for me?",
    "It is the fourth of July nineteen eighty.",
    "Thank you, I can see your account now.",
    "I am not happy with the fees you charged me last month.",
    "I understand, let me look into that for you right away.",
    "Is there anything else I can help you with today?",
]


# --- servers of our own ----------------------------------------------------------------------


class Postgres:
    """A PostgreSQL cluster in a temporary folder, run as the `postgres` user when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self, folder: Path, port: int) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            raise SystemExit("faults: needs PostgreSQL's binaries in /usr/lib/postgresql/*/bin")
        self.bin = bins[-1].parent
        self.data = folder / "pg"
        self.port = port
        self.log = folder / "postgres.log"
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.url = f"postgresql://postgres@127.0.0.1:{port}/ccportal"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.user, *args], check=True, stdout=subprocess.DEVNULL)

    def init(self) -> None:
        self.data.mkdir(parents=True)
        if self.user:
            owner = pwd.getpwnam("postgres")
            for path in (self.data.parent, self.data):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self.log.touch()
            os.chown(self.log, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        import psycopg

        with psycopg.connect(self.url.replace("/ccportal", "/postgres"), autocommit=True) as c:
            c.execute("CREATE DATABASE ccportal")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


class Redis:
    """redis-server as compose runs it (appendonly yes), in a temporary folder."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder / "redis"
        self.folder.mkdir()
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise SystemExit("faults: redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


# --- the sender ------------------------------------------------------------------------------


@dataclass
class Sent:
    phase: str
    token: str
    first: float
    answers: list[str] = field(default_factory=list)  # every attempt: "200", "503", "refused"...
    acked_at: float | None = None


class Sender:
    """Posts at a fixed rate from a pool of threads; retries what was not acknowledged."""

    def __init__(self, *, port: int, token: str, public: str, rate: float) -> None:
        self.port, self.token, self.public, self.rate = port, token, public, rate
        self.phase = "baseline"
        self.sent: list[Sent] = []
        self.counters: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.give_up = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=48)
        self.thread = threading.Thread(target=self._pace, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _pace(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stopping.is_set():
            self.send_one()
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def burst(self, count: int) -> None:
        for _ in range(count):
            self.send_one()

    def send_one(self) -> None:
        with self.lock:
            phase = self.phase
            self.counters[phase] += 1
            number = self.counters[phase]
        call, line = divmod(number - 1, LINES_PER_CALL)
        record = Sent(phase, f"{phase}-{number:06d}", time.monotonic())
        event = communication_event(
            conversation=f"{phase}{call:04d}", number=line + 1, text=TEXTS[line % len(TEXTS)]
        )
        with self.lock:
            self.sent.append(record)
        self.pool.submit(self._deliver, record, event)

    def _deliver(self, record: Sent, event: dict[str, Any]) -> None:
        path, body, signature = signed_request(event, token=self.token, public_base=self.public)
        headers = {
            "Content-Type": "application/json",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": record.token,
        }
        delay = 0.5
        while not self.give_up.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                answer = str(response.status)
            except (OSError, http.client.HTTPException) as error:
                answer = error.__class__.__name__
            finally:
                connection.close()
            record.answers.append(answer)
            if answer.startswith("2"):
                record.acked_at = time.monotonic()
                return
            time.sleep(delay)
            delay = min(delay * 2, 8.0)

    def stop(self, *, patience: float) -> None:
        self.stopping.set()
        self.thread.join()
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and any(s.acked_at is None for s in self.sent):
            time.sleep(0.2)
        self.give_up.set()
        self.pool.shutdown(wait=True)


# --- the run ---------------------------------------------------------------------------------


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
        return conn.execute(sql, params).fetchall()


def try_query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]] | None:
    try:
        return query(url, sql, *params)
    except Exception:
        return None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 10 s broker outage, short phases")
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks per second")
    parser.add_argument("--port-base", type=int, default=55400)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    outage = 10.0 if args.quick else 60.0
    steady = 8.0 if args.quick else 20.0
    base = args.port_base
    ports = {"proxy": base, "web": base + 1, "ws": base + 2}
    folder = Path(tempfile.mkdtemp(prefix="ccportal-faults-"))
    folder.chmod(0o755)
    postgres = Postgres(folder, base + 10)
    redis = Redis(folder, base + 11)
    public = f"http://127.0.0.1:{ports['proxy']}"
    token = secrets.token_hex(16)
    stack = Stack(
        database_url=postgres.url,
        redis_url=redis.url,
        ports=ports,
        variables=compose_variables(
            SECRET_KEY=secrets.token_urlsafe(50),
            CSRF_TRUSTED_ORIGINS=public,
            PUBLIC_BASE_URL=public,
            TWILIO_AUTH_TOKENS=token,
        ),
        extra_env={"GRANIAN_WORKERS": "2", "INGEST_CLAIM_TIMEOUT": str(CLAIM_TIMEOUT)},
        workdir=folder / "stack",
    )
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = time.monotonic()
    sender: Sender | None = None
    try:
        log(f"servers: PostgreSQL :{postgres.port}, Redis :{redis.port}; folder {folder}")
        postgres.init()
        redis.start()
        stack.run_once("migrate")
        services = [n for n in stack.app_services() if stack.services[n].restart != "no"]
        for name in services:
            stack.start(name)
        wait_http(f"http://127.0.0.1:{ports['web']}/healthz", seconds=120)
        stack.start("proxy")
        wait_http(f"{public}/healthz", seconds=15)
        time.sleep(3)  # the workers connect to the broker
        log(f"stack up ({', '.join(services)}, proxy) in {time.monotonic() - started:.0f} s")

        sender = Sender(port=ports["proxy"], token=token, public=public, rate=args.rate)
        timeline: list[tuple[str, str]] = []

        def phase(name: str, what: str) -> None:
            with sender.lock:
                sender.phase = name
            timeline.append((name, what))
            log(f"phase {name}: {what}")

        phase("baseline", "no fault")
        sender.start()
        time.sleep(steady)

        phase(
            "worker-kill",
            "kill -9 of the ingest worker holding a claimed batch, restarted 2 s later",
        )
        sender.burst(int(args.rate * 20))
        deadline = time.monotonic() + 30
        claimed = 0
        while time.monotonic() < deadline:
            rows = try_query(
                postgres.url,
                "SELECT count(*) FROM webhooks_inboundevent WHERE status = 'processing'",
            )
            claimed = rows[0][0] if rows else 0
            if claimed:
                break
            time.sleep(0.02)
        stack.stop("worker", force=True)
        log(f"  killed the worker with {claimed} events claimed")
        time.sleep(2)
        stack.start("worker")
        time.sleep(steady + CLAIM_TIMEOUT)  # the claim timeout passes within the phase

        phase("redis-restart", "Redis stopped (SIGTERM) and started again at once")
        redis.stop()
        redis.start()
        time.sleep(steady)

        phase("postgres-restart", "PostgreSQL stopped as after a crash (-m immediate), started")
        postgres.stop("immediate")
        postgres.start()
        time.sleep(steady)

        phase("broker-down", f"Redis stopped for {outage:.0f} s, then started")
        redis.stop()
        time.sleep(outage)
        redis.start()
        time.sleep(steady)

        phase("after", "no fault")
        time.sleep(steady)
        log("stopping the sender; waiting for every webhook to be acknowledged")
        sender.stop(patience=120)
        log("waiting for the inbox and the rule executions to settle")
        settle_started = time.monotonic()
        settled = wait_settled(postgres.url, seconds=420)
        log(
            f"settled in {time.monotonic() - settle_started:.0f} s"
            if settled
            else "NOT settled after 420 s"
        )
        dead = [n for n in [*services, "proxy"] if not stack.alive(n)]
        ok = report(postgres.url, sender, timeline, dead=dead, outage=outage)
        log(f"total {time.monotonic() - started:.0f} s")
        return 0 if ok and settled else 1
    except (StackError, KeyboardInterrupt) as error:
        log(f"faults: {error or 'interrupted'}")
        return 1
    finally:
        if sender is not None:
            sender.stopping.set()
            sender.give_up.set()
        stack.close()
        redis.stop()
        postgres.stop("fast")
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def wait_settled(url: str, *, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = try_query(
            url,
            "SELECT (SELECT count(*) FROM webhooks_inboundevent"
            "        WHERE status IN ('pending', 'processing')),"
            "       (SELECT count(*) FROM intelligence_ruleexecution"
            "        WHERE status IN ('PENDING', 'RUNNING'))",
        )
        if rows and rows[0] == (0, 0):
            return True
        time.sleep(1)
    return False


def report(
    url: str, sender: Sender, timeline: list[tuple[str, str]], *, dead: list[str], outage: float
) -> bool:
    stored = {
        key.removeprefix("token:"): (status, attempts, lag)
        for key, status, attempts, lag in query(
            url,
            "SELECT idempotency_key, status, attempts,"
            " extract(epoch FROM processed_at - received_at)"
            " FROM webhooks_inboundevent WHERE idempotency_key LIKE 'token:%%'",
        )
    }
    communications = collections.Counter(
        twilio_id.split("_")[2].rstrip("0123456789")
        for (twilio_id,) in query(url, "SELECT twilio_id FROM conversations_communication")
    )
    # What the default rules call for: per conversation of n lines, one execution per line for
    # every rule with every_n = 1, n // 5 for the rolling summary; none at conversation end
    # (the calls never end here).
    rules = query(
        url,
        "SELECT id, every_n FROM intelligence_rule WHERE trigger_on = 'COMMUNICATION'"
        " AND is_active",
    )
    lines = collections.Counter(
        twilio_id.removeprefix("conv_conversation_")
        for (twilio_id,) in query(
            url,
            "SELECT c.twilio_id FROM conversations_communication m"
            " JOIN conversations_conversation c ON c.id = m.conversation_id",
        )
    )
    executions = collections.Counter()
    unfinished = collections.Counter()
    failed = collections.Counter()
    for conversation, status, count in query(
        url,
        "SELECT c.twilio_id, e.status, count(*) FROM intelligence_ruleexecution e"
        " JOIN conversations_conversation c ON c.id = e.conversation_id GROUP BY 1, 2",
    ):
        tag = conversation.removeprefix("conv_conversation_").rstrip("0123456789")
        executions[tag] += count
        if status in ("PENDING", "RUNNING"):
            unfinished[tag] += count
        if status == "FAILED":
            failed[tag] += count
    expected = collections.Counter()
    for conversation, n in lines.items():
        tag = conversation.rstrip("0123456789")
        expected[tag] += sum(n // every for _, every in rules)
    repeated_points = query(
        url,
        "SELECT count(*) FROM (SELECT 1 FROM intelligence_ruleexecution"
        " GROUP BY rule_id, conversation_id, trigger_point HAVING count(*) > 1) d",
    )[0][0]
    twice_published = query(
        url,
        "SELECT count(*) FROM (SELECT 1 FROM live_liveevent WHERE event = 'insights'"
        " GROUP BY payload->>'execution' HAVING count(*) > 1) d",
    )[0][0]

    # A reprocessed event finds its communication stored (same version) and publishes nothing.
    lines_twice = query(
        url,
        "SELECT count(*) FROM (SELECT 1 FROM live_liveevent WHERE event = 'line'"
        " GROUP BY conversation_id, payload->>'id' HAVING count(*) > 1) d",
    )[0][0]
    header = (
        "| phase | sent | acknowledged (2xx) | stored | processed | non-2xx answers | "
        "connection errors | 2xx not stored | worst time to 2xx | processed twice or more "
        "| worst stored → processed | rule executions expected / recorded / unfinished / failed |"
    )
    print()
    print(header)
    print("|---" * 12 + "|")
    ok = True
    totals = collections.Counter()
    for name, _what in timeline:
        mine = [s for s in sender.sent if s.phase == name]
        acked = [s for s in mine if s.acked_at is not None]
        in_inbox = [s for s in mine if s.token in stored]
        processed = [s for s in in_inbox if stored[s.token][0] == "processed"]
        not_stored = [s for s in acked if s.token not in stored]
        answers = collections.Counter(a for s in mine for a in s.answers)
        non2xx = sum(v for k, v in answers.items() if k.isdigit() and not k.startswith("2"))
        errors = sum(v for k, v in answers.items() if not k.isdigit())
        worst = max((s.acked_at - s.first for s in acked), default=0.0)
        again = sum(1 for s in in_inbox if stored[s.token][1] > 1)
        lag = max((float(stored[s.token][2] or 0) for s in processed), default=0.0)
        row = {
            "sent": len(mine),
            "acked": len(acked),
            "stored": len(in_inbox),
            "processed": len(processed),
        }
        totals.update(row)
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()) if k != "200")
        print(
            f"| {name} | {row['sent']} | {row['acked']} | {row['stored']} | "
            f"{row['processed']} | {non2xx} | {errors} | {len(not_stored)} | {worst:.1f} s | "
            f"{again} | {lag:.1f} s | "
            f"{expected[name]} / {executions[name]} / {unfinished[name]} / {failed[name]} |"
            + (f" ({detail})" if detail else "")
        )
        if not (row["sent"] == row["acked"] == row["stored"] == row["processed"]):
            ok = False
        if not_stored or expected[name] != executions[name] or unfinished[name]:
            ok = False
        if communications[name] != len(processed):
            print(f"  {name}: {communications[name]} communications for {len(processed)} events")
            ok = False
    print()
    print(
        f"totals: sent {totals['sent']}, acknowledged {totals['acked']}, stored "
        f"{totals['stored']}, processed {totals['processed']}; trigger points run twice: "
        f"{repeated_points}; executions that published insights twice: {twice_published}; "
        f"communications whose line event was published twice: {lines_twice}; "
        f"broker outage {outage:.0f} s; services that exited: {', '.join(dead) or 'none'}"
    )
    if repeated_points or twice_published or lines_twice or dead:
        ok = False
    print("faults: PASS" if ok else "faults: FAIL")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
