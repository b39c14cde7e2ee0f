"""Soak (issue 17): sustained signed Orchestrator traffic against compose.yaml's production shape.

    flock /tmp/bench.lock .venv/bin/python bench/soak.py [--minutes 30] [--rate 600]
        [--ingest-processes 2] [--port-base 8500] [--json soak.json]

Targets: at --rate events/s for --minutes, with the default rules on, the backlog stays bounded
and drains within 5 s after the load stops; nothing is lost (sent = stored = processed); the RSS
of every process of the shape grows less than 10 % from the first stable sample to the end of the
load; p99 acknowledgement under 50 ms.

The shape. scripts/composerun.py runs compose.yaml's app services as local processes, each with
its own command and environment (migrate; web: granian with the lean webhook entry point; ws:
daphne; worker: ingest and the light queues; operators: the rules' executions; beat) and the
proxy (Debian's nginx with deploy/nginx.conf), against DATABASE_URL's server in a database of its
own, ``<name>_soak`` (made anew; dropped at the end unless --keep), and REDIS_URL's database
(flushed before and after: point it at a spare database number). Whatever compose.yaml says,
this follows. The service(s) consuming the ``ingest`` queue run --ingest-processes pool processes,
through compose.yaml's WORKER_CONCURRENCY (or, should a service have no --concurrency, added to
its command here, and said so). `migrate` creates the built-in operators and the default rules,
and nothing else: no demo conversations.

The traffic. An open-loop generator of our own (asyncio, raw HTTP/1.1 keep-alive connections):
request n is due at t0 + n / rate, whatever happened to earlier ones, and its acknowledgement
latency is counted from when it was due, not from when it was written, so a stalled server shows
as latency instead of as fewer requests (wrk's per-connection pacing cannot do that, and its Lua
cannot sign bodies made on the fly). The events are those of real calls (apps.demo.simulator,
the Harper Valley recordings): per call CONVERSATION_CREATED, PARTICIPANT_ADDED for the caller
and for the agent, one COMMUNICATION_CREATED per utterance and CONVERSATION_UPDATED to CLOSED,
signed with the twilio library's RequestValidator as Twilio signs them (apps.demo.simulator.sign)
and made as they are needed. --conversations calls are in progress at once (default rate x 2.5,
about the pace of a real call: an utterance every 2.5 s); the events go to them in turn, and a
finished call is replaced by a new one. Every call starts at once, so the first few seconds are
mostly conversations and participants (inside the warm-up); the first call of each slot skips a
random number of its first utterances so that the calls end at different times.

Where it is measured. Requests go straight to the web service's port, the acknowledgement path
the ingest benchmarks measure; one in --proxy-every (default 10) goes through nginx instead, at
the same moment and under the same load, so the two latency columns show nginx's share.

Samples every --sample seconds (default 5): backlog (inbox pending + processing; rule executions
pending + running; the broker's queue lengths), the RSS and CPU of every process of each service
(its process tree, read from /proc) and of this generator, the machine's CPU, and the
acknowledgement latency of the interval. After the load: the time until the backlog is 0, the
counts, the RSS growth per service and per process, and the verdicts. Exit status 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import signal
import sys
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from apps.demo.dataset import DemoCall, read_calls  # noqa: E402
from apps.demo.simulator import PlannedEvent, SignedRequest, sign, simulated_call  # noqa: E402
from bench import pgcost  # noqa: E402
from bench.timing import percentile  # noqa: E402

QUEUES = ("ingest", "operators", "default", "insights")
TARGETS = {"rss_growth": 0.10, "p99_ms": 50.0, "drain_seconds": 5.0}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --- the traffic -----------------------------------------------------------------------------


class TrafficMix:
    """The events of ``conversations`` calls in progress at once, one at a time, in turn.

    Each call is a replay of a Harper Valley recording (fresh ids); its events keep their order
    and are ``conversations`` events apart. Idempotency tokens are ``soak-<run>-<n>``, n counting
    from 1, so the inbox says which requests it stored.
    """

    def __init__(
        self, calls: Sequence[DemoCall], *, conversations: int, run: str, seed: int = 17
    ) -> None:
        if not calls or conversations < 1:
            raise ValueError("needs demo calls and at least one conversation")
        self.calls = list(calls)
        self.run = run
        self.rng = random.Random(seed)
        self.deck: list[DemoCall] = []
        self.sequence = 0
        self.turn = 0
        self.sent: Counter[str] = Counter()  # event type -> events made
        self.calls_started = 0
        self.slots: list[Iterator[PlannedEvent]] = [
            self._call(first=True) for _ in range(conversations)
        ]

    def _call(self, *, first: bool = False) -> Iterator[PlannedEvent]:
        if not self.deck:
            self.deck = list(self.calls)
            self.rng.shuffle(self.deck)
        demo = self.deck.pop()
        # Dated as if it had just ended: no event is dated in the future.
        length = timedelta(milliseconds=demo.end_time_ms - demo.start_time_ms + 1000)
        events = list(simulated_call(demo, start=datetime.now(UTC) - length).events)
        if first:
            opening, lines, closing = events[:3], events[3:-1], events[-1:]
            events = [*opening, *lines[self.rng.randrange(len(lines) + 1) :], *closing]
        self.calls_started += 1
        return iter(events)

    def token(self, number: int) -> str:
        return f"soak-{self.run}-{number}"

    def next(self) -> PlannedEvent:
        """The next event due, its token numbered."""
        slot = self.turn % len(self.slots)
        self.turn += 1
        event = next(self.slots[slot], None)
        if event is None:
            self.slots[slot] = self._call()
            event = next(self.slots[slot])
        self.sequence += 1
        self.sent[event.event_type] += 1
        return replace(event, idempotency_token=self.token(self.sequence))


def token_number(key: str, run: str) -> int | None:
    """The request number of an inbox idempotency key of this run (``token:soak-<run>-<n>``)."""
    prefix = f"token:soak-{run}-"
    if not key.startswith(prefix) or not key[len(prefix) :].isdigit():
        return None
    return int(key[len(prefix) :])


def request_bytes(signed: SignedRequest, *, public: str, host: str) -> bytes:
    """The HTTP/1.1 request for a signed event, sent to ``host`` (the URL signed stays public)."""
    path = signed.url[len(public.rstrip("/")) :]
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(signed.body)}"]
    head += [f"{name}: {value}" for name, value in signed.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + signed.body


# --- latency summaries -----------------------------------------------------------------------


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p90, p99 and max (nearest rank) of milliseconds; n = 0 and no figures if empty."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
    }


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y): how fast y grows per unit of t (0 for fewer than 2)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (y - mean_y) for t, y in points) / var


def growth(before: float, after: float) -> float:
    return (after - before) / before if before else 0.0


# --- the open-loop sender --------------------------------------------------------------------


class Stale(Exception):
    """A kept-alive connection the server had closed: nothing was read."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used_at = time.monotonic()
        self.reusable = True
        self.uses = 0

    async def post(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        await self.writer.drain()
        line = await self.reader.readline()
        if not line:
            raise Stale
        status = int(line.split(b" ", 2)[1])
        length, chunked = 0, False
        while True:
            header = await self.reader.readline()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                self.reusable = False
        if chunked:
            body = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                body += (await self.reader.readexactly(size + 2))[:-2]  # the chunk, not CRLF
            await self.reader.readline()
        else:
            body = await self.reader.readexactly(length)
        self.used_at = time.monotonic()
        self.uses += 1
        return status, body

    def close(self) -> None:
        self.reusable = False
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class Target:
    """One address requests go to (web or proxy), with its keep-alive connections."""

    name: str
    port: int
    connections: int
    # A connection carries this many requests, then a new one is opened. Kept forever, the
    # few connections an open loop needs stay with the web processes that accepted them
    # (one process held most of them in a trial: p50 4 s direct, 80 ms through nginx).
    requests_per_connection: int = 100
    idle: list[Connection] = field(default_factory=list)
    opened: int = 0
    semaphore: asyncio.Semaphore | None = None

    async def connection(self) -> tuple[Connection, bool]:
        while self.idle:
            conn = self.idle.pop()  # the most recently used: the least likely to be closed
            if time.monotonic() - conn.used_at < 3.0:  # servers close idle ones after a few seconds
                return conn, True
            conn.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.opened += 1
        return Connection(reader, writer), False

    def give_back(self, conn: Connection) -> None:
        if conn.reusable and conn.uses < self.requests_per_connection:
            self.idle.append(conn)
        else:
            conn.close()


class Load:
    """Offers ``rate`` signed events per second for ``seconds``, open loop."""

    def __init__(
        self,
        *,
        mix: TrafficMix,
        public: str,
        token: str,
        targets: dict[str, Target],
        proxy_every: int,
        rate: float,
        seconds: float,
        timeout: float = 10.0,
    ) -> None:
        self.mix, self.public, self.token = mix, public, token
        self.targets, self.proxy_every = targets, proxy_every
        self.rate, self.seconds, self.timeout = rate, seconds, timeout
        self.total = int(rate * seconds)
        self.acked = bytearray(self.total + 1)  # request number -> 1 once answered 2xx
        self.latency = {name: array("f") for name in targets}  # ms from due to answer, 2xx
        self.lag = array("f")  # ms from due to written: the generator's own delay
        self.window: dict[str, list[float]] = {name: [] for name in targets}
        self.statuses: Counter[str] = Counter()  # "200", "403", "timeout", "refused"...
        self.duplicates = 0
        self.resent = 0  # sent again on a fresh connection after a stale kept-alive one
        self.issued = 0
        self.in_flight = 0
        self.t0 = 0.0
        self.stopped_at = 0.0
        self.tasks: set[asyncio.Task[None]] = set()

    def take_window(self) -> dict[str, list[float]]:
        window, self.window = self.window, {name: [] for name in self.targets}
        return window

    async def offer(self) -> None:
        loop = asyncio.get_running_loop()
        for target in self.targets.values():
            target.semaphore = asyncio.Semaphore(target.connections)
        self.t0 = loop.time()
        for number in range(1, self.total + 1):
            due = self.t0 + (number - 1) / self.rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            event = self.mix.next()
            signed = sign(event, base_url=self.public, token=self.token)
            via_proxy = self.proxy_every > 0 and number % self.proxy_every == 0
            target = self.targets["proxy" if via_proxy else "web"]
            data = request_bytes(signed, public=self.public, host=f"127.0.0.1:{target.port}")
            self.issued += 1
            task = asyncio.create_task(self._deliver(number, due, target, data))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        self.stopped_at = self.t0 + self.total / self.rate
        log(f"schedule done: {self.in_flight} requests not yet answered")
        if self.tasks:
            await asyncio.wait(set(self.tasks))
        for target in self.targets.values():
            for conn in target.idle:
                conn.close()
            target.idle.clear()

    async def _deliver(self, number: int, due: float, target: Target, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        assert target.semaphore is not None
        try:
            async with target.semaphore:
                self.lag.append((loop.time() - due) * 1000)
                answer = await self._post(target, data)
        finally:
            self.in_flight -= 1
        if isinstance(answer, str):
            self.statuses[answer] += 1
            return
        status, body = answer
        self.statuses[str(status)] += 1
        if 200 <= status < 300:
            ms = (loop.time() - due) * 1000
            self.acked[number] = 1
            self.latency[target.name].append(ms)
            self.window[target.name].append(ms)
            if b'"duplicate"' in body:
                self.duplicates += 1

    async def _post(self, target: Target, data: bytes) -> tuple[int, bytes] | str:
        for _attempt in range(2):
            try:
                conn, reused = await target.connection()
            except OSError as error:
                return f"connect: {error.__class__.__name__}"
            try:
                answer = await asyncio.wait_for(conn.post(data), self.timeout)
            except (Stale, ConnectionResetError, BrokenPipeError) as error:
                conn.close()
                if reused:  # the server closed it while idle; the token makes a resend safe
                    self.resent += 1
                    continue
                return error.__class__.__name__
            except TimeoutError:
                conn.close()
                return "timeout"
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as error:
                conn.close()
                return error.__class__.__name__
            target.give_back(conn)
            return answer
        return "stale twice"


# --- what the processes do -------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    ppid: int
    name: str
    ticks: int  # utime + stime + cutime + cstime: its own CPU and that of children it reaped
    rss_kb: int


def parse_stat(text: str) -> ProcInfo:
    """/proc/<pid>/stat: the name is in parentheses and may hold spaces."""
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state) of proc(5): ppid 4, utime 14 ... cstime 17, rss 24.
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ProcInfo(int(fields[1]), name, ticks, int(fields[21]) * PAGE_KB)


def process_table() -> dict[int, ProcInfo]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                table[int(entry)] = parse_stat(Path(f"/proc/{entry}/stat").read_text())
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return table


def tree(root: int, table: dict[int, ProcInfo]) -> list[int]:
    """``root`` and its descendants present in ``table``."""
    children: dict[int, list[int]] = {}
    for pid, info in table.items():
        children.setdefault(info.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return sorted(found)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


# --- the run ---------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Probe:
    """Backlog, broker queues and the processes, read from outside the shape."""

    def __init__(self, *, database_url: str, redis_url: str, roots: dict[str, int]) -> None:
        import psycopg
        import redis

        self.db = psycopg.connect(database_url, autocommit=True)
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=2)
        self.roots = roots  # service -> pid of its main process
        self.previous: dict[str, Any] | None = None

    def backlog(self) -> dict[str, int]:
        row = self.db.execute(
            "SELECT (SELECT count(*) FROM webhooks_inboundevent WHERE status = 'pending'),"
            " (SELECT count(*) FROM webhooks_inboundevent WHERE status = 'processing'),"
            " (SELECT coalesce(max(id), 0) FROM webhooks_inboundevent),"
            " (SELECT count(*) FROM intelligence_ruleexecution WHERE status = 'PENDING'),"
            " (SELECT count(*) FROM intelligence_ruleexecution WHERE status = 'RUNNING'),"
            " (SELECT coalesce(max(id), 0) FROM intelligence_ruleexecution)"
        ).fetchone()
        assert row is not None
        pending, processing, inbox_rows, ex_pending, ex_running, executions = row
        return {
            "inbox_pending": pending,
            "inbox_processing": processing,
            "inbox_backlog": pending + processing,
            # Rows are never deleted during a run and ids come from one sequence: max(id) is
            # what was stored (a cheap count), minus the backlog what was processed.
            "inbox_done": inbox_rows - pending - processing,
            "executions_pending": ex_pending,
            "executions_running": ex_running,
            "executions_backlog": ex_pending + ex_running,
            "executions_done": executions - ex_pending - ex_running,
        }

    def sample(self, elapsed: float) -> dict[str, Any]:
        now = time.monotonic()
        table = process_table()
        busy, total = machine_ticks()
        services: dict[str, Any] = {}
        # This process too (the generator, for its CPU): itself only, its children are the shape.
        roots = {**{s: (r, True) for s, r in self.roots.items()}, "generator": (os.getpid(), False)}
        for service, (root, whole_tree) in roots.items():
            pids = tree(root, table) if whole_tree else [root]
            services[service] = {
                "pids": {str(pid): table[pid].rss_kb for pid in pids},
                "names": {
                    str(pid): table[pid].name + (" (main)" if pid == root else "") for pid in pids
                },
                "rss_kb": sum(table[pid].rss_kb for pid in pids),
                "ticks": sum(table[pid].ticks for pid in pids),
            }
        sample: dict[str, Any] = {"t": round(elapsed, 1), **self.backlog()}
        try:
            sample["queues"] = {q: int(self.redis.llen(q)) for q in QUEUES}
        except Exception:
            sample["queues"] = {}
        previous = self.previous
        if previous is not None:
            seconds = now - previous["clock"]
            for service, figures in services.items():
                before = previous["services"].get(service)
                spent = figures["ticks"] - before["ticks"] if before else 0
                figures["cpu_pct"] = round(100 * spent / CLK_TCK / seconds, 1)
            sample["machine_cpu_pct"] = round(
                100 * (busy - previous["busy"]) / max(1, total - previous["total"]), 1
            )
            sample["inbox_done_per_s"] = round(
                (sample["inbox_done"] - previous["sample"]["inbox_done"]) / seconds, 1
            )
            sample["executions_done_per_s"] = round(
                (sample["executions_done"] - previous["sample"]["executions_done"]) / seconds, 1
            )
        sample["services"] = services
        self.previous = {
            "clock": now,
            "busy": busy,
            "total": total,
            "services": services,
            "sample": sample,
        }
        return sample

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()


def sample_line(sample: dict[str, Any], load: Load) -> str:
    parts = [
        f"t={sample['t']:>6.0f}s sent {load.issued:>8} acked {sample['acked_per_s']:>4.0f}/s"
        f" waiting {load.in_flight}"
    ]
    for name, figures in sample["ack"].items():
        if figures["n"]:
            parts.append(f"{name} p50/p99 {figures['p50']:.0f}/{figures['p99']:.0f} ms")
    parts.append(
        f"inbox backlog {sample['inbox_backlog']} (+{sample.get('inbox_done_per_s', 0):.0f}/s"
        f" done) executions backlog {sample['executions_backlog']}"
        f" (+{sample.get('executions_done_per_s', 0):.0f}/s)"
    )
    rss = " ".join(
        f"{name} {figures['rss_kb'] / 1024:.0f}M/{figures.get('cpu_pct', 0):.0f}%"
        for name, figures in sample["services"].items()
    )
    parts.append(f"RSS/CPU {rss}; machine {sample.get('machine_cpu_pct', 0):.0f}%")
    return " | ".join(parts)


async def run_load(
    load: Load, probe: Probe, *, every: float, samples: list[dict[str, Any]]
) -> None:
    loop = asyncio.get_running_loop()
    offering = asyncio.create_task(load.offer())
    await asyncio.sleep(0)
    next_at = loop.time() + every
    while not offering.done():
        await asyncio.wait({offering}, timeout=max(0.0, next_at - loop.time()))
        if offering.done():
            break
        next_at += every
        window = load.take_window()
        sample = await asyncio.to_thread(probe.sample, loop.time() - load.t0)
        sample["ack"] = {name: latency_summary(values) for name, values in window.items()}
        sample["in_flight"] = load.in_flight  # sent or waiting for a connection, unanswered
        sample["acked_per_s"] = round(sum(len(v) for v in window.values()) / every, 1)
        sample["sent"] = load.issued
        samples.append(sample)
        log(sample_line(sample, load))
        refused = sum(v for k, v in load.statuses.items() if not k.startswith("2"))
        if len(samples) == 1 and refused and not sum(len(v) for v in window.values()):
            offering.cancel()
            raise SystemExit(f"soak: the portal acknowledged nothing: {dict(load.statuses)}")
    await offering


def drain(probe: Probe, *, started: float, seconds: float) -> dict[str, float | None]:
    """Seconds from ``started`` (when the load stopped) until the inbox backlog and then the
    whole backlog (inbox and rule executions) are 0; None if not within ``seconds``."""
    inbox = total = None
    while time.monotonic() - started < seconds:
        figures = probe.backlog()
        elapsed = time.monotonic() - started
        if inbox is None and figures["inbox_backlog"] == 0:
            inbox = elapsed
        if figures["inbox_backlog"] == 0 and figures["executions_backlog"] == 0:
            total = elapsed
            break
        time.sleep(0.25)
    return {"inbox": inbox, "total": total}


def _setting(database_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT current_setting(%s)", [name]).fetchone()
    return str(row[0]) if row else ""


def final_counts(database_url: str, load: Load, run: str) -> dict[str, Any]:
    import psycopg

    stored = bytearray(load.total + 1)
    with psycopg.connect(database_url) as conn:
        inbox = dict(
            conn.execute(
                "SELECT status, count(*) FROM webhooks_inboundevent GROUP BY status"
            ).fetchall()
        )
        executions = dict(
            conn.execute(
                "SELECT status, count(*) FROM intelligence_ruleexecution GROUP BY status"
            ).fetchall()
        )
        with conn.cursor(name="keys") as cursor:
            cursor.itersize = 20000
            cursor.execute("SELECT idempotency_key FROM webhooks_inboundevent")
            for (key,) in cursor:
                number = token_number(key or "", run)
                if number is not None and number <= load.total:
                    stored[number] = 1
        conversations, communications = conn.execute(
            "SELECT (SELECT count(*) FROM conversations_conversation),"
            " (SELECT count(*) FROM conversations_communication)"
        ).fetchone() or (0, 0)
    acked = sum(load.acked)
    return {
        "sent": load.issued,
        "acknowledged": acked,
        "stored": sum(stored),
        "processed": inbox.get("processed", 0),
        "inbox_by_status": inbox,
        "acknowledged_not_stored": sum(
            1 for a, s in zip(load.acked, stored, strict=True) if a and not s
        ),
        "answers": dict(load.statuses),
        "duplicates": load.duplicates,
        "resent_after_stale_connection": load.resent,
        "executions_by_status": executions,
        "events_by_type": dict(load.mix.sent),
        "calls_started": load.mix.calls_started,
        "conversations": conversations,
        "communications": communications,
    }


def memory_growth(samples: list[dict[str, Any]], *, warmup: float) -> dict[str, Any]:
    """RSS from the first sample at or after ``warmup`` to the last one under load: per service
    (its whole tree) and per process alive at both."""
    stable = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    first, last = stable[0], samples[-1]
    result: dict[str, Any] = {"from_t": first["t"], "to_t": last["t"], "services": {}}
    for service, figures in last["services"].items():
        before = first["services"].get(service)
        if not before:
            continue
        kept = set(before["pids"]) & set(figures["pids"])
        per_process = {
            pid: {
                "name": figures["names"][pid],
                "from_kb": before["pids"][pid],
                "to_kb": figures["pids"][pid],
                "growth": growth(before["pids"][pid], figures["pids"][pid]),
            }
            for pid in kept
        }
        worst = max(per_process.items(), key=lambda item: item[1]["growth"], default=None)
        result["services"][service] = {
            "from_kb": before["rss_kb"],
            "to_kb": figures["rss_kb"],
            "growth": growth(before["rss_kb"], figures["rss_kb"]),
            "processes": len(figures["pids"]),
            "replaced": len(
                set(before["pids"]) - kept
            ),  # a process replaced meanwhile (e.g. a worker's max_requests)
            "worst_process": worst,
            "per_process": per_process,
        }
    return result


def worst_growth_of(memory: dict[str, Any]) -> float:
    """The largest growth of ``memory_growth``'s result over the shape's services (the
    generator is not the shape) and each service's worst process kept."""
    shape = [s for s in memory["services"] if s != "generator"]
    return max(
        [memory["services"][s]["growth"] for s in shape]
        + [
            (memory["services"][s]["worst_process"] or (None, {"growth": 0.0}))[1]["growth"]
            for s in shape
        ],
        default=0.0,
    )


def rss_timeline(
    samples: list[dict[str, Any]], *, warmup: float, points: int = 6
) -> dict[str, Any]:
    """Each service's RSS at ``points`` moments from the first stable sample to the last one,
    and the growth of its worst process kept over each interval: caches filling show as
    growth early that falls towards 0; a leak as growth that does not."""
    stable = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    if not stable:
        return {"t": [], "services": {}}
    picks = sorted({round(i * (len(stable) - 1) / max(1, points - 1)) for i in range(points)})
    chosen = [stable[i] for i in picks]
    services: dict[str, Any] = {}
    for service in chosen[-1]["services"]:
        if not all(service in s["services"] for s in chosen):
            continue
        rss = [s["services"][service]["rss_kb"] / 1024 for s in chosen]
        intervals = []
        for before, after in itertools.pairwise(chosen):
            a, b = before["services"][service]["pids"], after["services"][service]["pids"]
            kept = set(a) & set(b)
            intervals.append(max((growth(a[p], b[p]) for p in kept), default=None))
        services[service] = {"rss_mib": [round(v, 1) for v in rss], "interval_growth": intervals}
    return {"t": [s["t"] for s in chosen], "services": services}


def summarize(
    *,
    args: argparse.Namespace,
    load: Load,
    samples: list[dict[str, Any]],
    drained: dict[str, float | None],
    counts: dict[str, Any],
    warmup: float,
    ingest: dict[str, int],
    memory_warmup: float | None = None,
) -> tuple[dict[str, Any], bool]:
    memory = memory_growth(samples, warmup=warmup)
    if memory_warmup is None:
        memory_warmup = max(warmup, args.minutes * 30)  # the last half of the load
    ack = {name: latency_summary(values) for name, values in load.latency.items()}
    lag = latency_summary(load.lag)
    steady = [s for s in samples if s["t"] >= warmup]
    backlog_slope = slope([(s["t"], s["inbox_backlog"] + s["executions_backlog"]) for s in steady])
    inbox_slope = slope([(s["t"], s["inbox_backlog"]) for s in steady])
    backlog_max = max((s["inbox_backlog"] + s["executions_backlog"] for s in samples), default=0)
    inbox_max = max((s["inbox_backlog"] for s in samples), default=0)
    cpu: dict[str, float] = {}
    for service in samples[-1]["services"] if samples else ():
        values = [s["services"][service].get("cpu_pct", 0.0) for s in steady]
        cpu[service] = round(sum(values) / len(values), 1) if values else 0.0
    machine = [s.get("machine_cpu_pct", 0.0) for s in steady]
    worst_growth = worst_growth_of(memory)
    # Not the verdict: the same growth after a longer, stated warm-up (the caches' fill), and
    # the RSS at a few moments, to tell a warm-up from a leak (docs/benchmarks.md, "Soak").
    memory_after = memory_growth(samples, warmup=memory_warmup)
    web_p99 = ack.get("web", {}).get("p99")
    verdicts = {
        "backlog bounded (growth under 1 % of the rate after warm-up)": backlog_slope
        <= 0.01 * args.rate,
        "backlog drained within 5 s after the load": drained["total"] is not None
        and drained["total"] <= TARGETS["drain_seconds"],
        "nothing lost (sent = acknowledged = stored, each acknowledged one stored)": counts["sent"]
        == counts["acknowledged"]
        == counts["stored"]
        and counts["acknowledged_not_stored"] == 0,
        "everything processed (stored = processed)": counts["stored"] == counts["processed"],
        "RSS growth under 10 % (every service, every process kept)": worst_growth
        < TARGETS["rss_growth"],
        "p99 acknowledgement under 50 ms (web port)": web_p99 is not None
        and web_p99 < TARGETS["p99_ms"],
    }
    summary = {
        "config": {
            "rate": args.rate,
            "minutes": args.minutes,
            "conversations": len(load.mix.slots),
            "ingest_processes": ingest,
            "proxy_every": args.proxy_every,
            "warmup_seconds": warmup,
            "memory_warmup_seconds": memory_warmup,
            "generator": "open loop (asyncio), latency from the due time",
        },
        "ack_ms": ack,
        "generator_lag_ms": lag,
        "drain_seconds": drained,
        "backlog": {
            "max_total": backlog_max,
            "max_inbox": inbox_max,
            "slope_total_per_s": round(backlog_slope, 1),
            "slope_inbox_per_s": round(inbox_slope, 1),
        },
        "counts": counts,
        "memory": memory,
        "memory_after_warmup": memory_after | {"worst_growth": worst_growth_of(memory_after)},
        "rss_timeline": rss_timeline(samples, warmup=warmup),
        "cpu_pct_mean": cpu,
        "machine_cpu_pct_mean": round(sum(machine) / len(machine), 1) if machine else None,
        "timeline": timeline(samples, rows=args.timeline_rows),
        "verdicts": verdicts,
    }
    return summary, all(verdicts.values())


def timeline(samples: list[dict[str, Any]], *, rows: int) -> list[dict[str, Any]]:
    """The samples in about ``rows`` consecutive groups: per group the worst interval's p99 and
    the median interval's p50 at the web port, the backlog at its end, mean rates and CPU."""
    if not samples:
        return []
    size = max(1, -(-len(samples) // rows))
    result = []
    for start in range(0, len(samples), size):
        group = samples[start : start + size]
        web = [s["ack"].get("web", {}) for s in group if s["ack"].get("web", {}).get("n")]
        last = group[-1]

        def mean(key: str, group: list[dict[str, Any]] = group) -> float:
            values = [s.get(key, 0.0) for s in group]
            return round(sum(values) / len(values), 1)

        result.append(
            {
                "t": last["t"],
                "acked_per_s": mean("acked_per_s"),
                "waiting": last.get("in_flight", 0),
                "web_p50_ms": sorted(w["p50"] for w in web)[len(web) // 2] if web else None,
                "web_p99_ms_worst": max((w["p99"] for w in web), default=None),
                "inbox_backlog": last["inbox_backlog"],
                "executions_backlog": last["executions_backlog"],
                "inbox_done_per_s": mean("inbox_done_per_s"),
                "executions_done_per_s": mean("executions_done_per_s"),
                "shape_rss_mib": round(
                    sum(v["rss_kb"] for k, v in last["services"].items() if k != "generator") / 1024
                ),
                "machine_cpu_pct": mean("machine_cpu_pct"),
            }
        )
    return result


def fmt_ms(figures: dict[str, float]) -> str:
    if not figures.get("n"):
        return "—"
    return " / ".join(f"{figures[k]:.1f}" for k in ("p50", "p90", "p99", "max"))


def print_summary(summary: dict[str, Any]) -> None:
    config, counts, backlog = summary["config"], summary["counts"], summary["backlog"]
    drained = summary["drain_seconds"]

    def secs(value: float | None) -> str:
        return "not within the wait" if value is None else f"{value:.1f} s"

    print()
    print(
        f"Soak: {config['rate']:.0f} events/s offered for {config['minutes']} min, "
        f"{config['conversations']} conversations at once, ingest processes "
        f"{config['ingest_processes']}; {config['generator']}"
    )
    print()
    print("| acknowledgement | n | p50 / p90 / p99 / max (ms) |")
    print("|---|---|---|")
    for name, figures in summary["ack_ms"].items():
        label = "web port" if name == "web" else "through nginx"
        print(f"| {label} | {figures.get('n', 0)} | {fmt_ms(figures)} |")
    print(f"| generator lag (due → written) | — | {fmt_ms(summary['generator_lag_ms'])} |")
    web, proxy = summary["ack_ms"].get("web", {}), summary["ack_ms"].get("proxy", {})
    if web.get("n") and proxy.get("n"):
        print(
            f"nginx's share (through nginx minus direct, same moments): p50 "
            f"{proxy['p50'] - web['p50']:+.1f} ms, p99 {proxy['p99'] - web['p99']:+.1f} ms"
        )
    print()
    print(
        "| t (s) | acknowledged/s | unanswered | web p50 (ms) | web p99, worst 5 s (ms) "
        "| inbox backlog | executions backlog "
        "| inbox done/s | executions done/s | shape RSS (MiB) | machine CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in summary["timeline"]:
        cells = [
            "—" if row[key] is None else f"{row[key]:.0f}"
            for key in (
                "acked_per_s",
                "waiting",
                "web_p50_ms",
                "web_p99_ms_worst",
                "inbox_backlog",
                "executions_backlog",
                "inbox_done_per_s",
                "executions_done_per_s",
                "shape_rss_mib",
                "machine_cpu_pct",
            )
        ]
        print(f"| {row['t']:.0f} | " + " | ".join(cells) + " |")
    print()
    print("| counts | |")
    print("|---|---|")
    for key in ("sent", "acknowledged", "stored", "processed", "acknowledged_not_stored"):
        print(f"| {key.replace('_', ' ')} | {counts[key]} |")
    print(f"| answers | {counts['answers']} |")
    print(f"| inbox by status | {counts['inbox_by_status']} |")
    print(f"| rule executions by status | {counts['executions_by_status']} |")
    print(f"| events by type | {counts['events_by_type']} |")
    print(
        f"| calls started / conversations / communications | {counts['calls_started']} / "
        f"{counts['conversations']} / {counts['communications']} |"
    )
    print()
    print(
        f"Backlog: max {backlog['max_total']} (inbox {backlog['max_inbox']}); growth after "
        f"warm-up {backlog['slope_total_per_s']}/s (inbox {backlog['slope_inbox_per_s']}/s); "
        f"after the load the inbox was empty in {secs(drained['inbox'])}, the whole backlog in "
        f"{secs(drained['total'])}"
    )
    memory = summary["memory"]
    print()
    print(
        f"| service | RSS at {memory['from_t']:.0f} s → {memory['to_t']:.0f} s (MiB) | growth | "
        "processes (replaced) | worst process kept | mean CPU % |"
    )
    print("|---|---|---|---|---|---|")
    for service, figures in memory["services"].items():
        worst = figures["worst_process"]
        worst_text = (
            f"{worst[1]['name']} {worst[0]}: {worst[1]['from_kb'] / 1024:.0f} → "
            f"{worst[1]['to_kb'] / 1024:.0f} ({100 * worst[1]['growth']:+.1f} %)"
            if worst
            else "—"
        )
        print(
            f"| {service} | {figures['from_kb'] / 1024:.0f} → {figures['to_kb'] / 1024:.0f} | "
            f"{100 * figures['growth']:+.1f} % | {figures['processes']} ({figures['replaced']}) | "
            f"{worst_text} | {summary['cpu_pct_mean'].get(service, 0):.0f} |"
        )
    print(f"machine CPU (mean after warm-up): {summary['machine_cpu_pct_mean']} %")
    after = summary["memory_after_warmup"]
    print()
    print(
        f"RSS growth after the stated warm-up ({after['from_t']:.0f} s → {after['to_t']:.0f} s; "
        "not the verdict, which counts from the first stable sample): "
        + ", ".join(
            f"{service} {100 * figures['growth']:+.1f} %"
            + (
                f" (worst process {100 * figures['worst_process'][1]['growth']:+.1f} %)"
                if figures["worst_process"]
                else ""
            )
            for service, figures in after["services"].items()
        )
    )
    rss = summary["rss_timeline"]
    if rss["t"]:
        print()
        print(
            "| service | RSS (MiB) at "
            + ", ".join(f"{t:.0f}" for t in rss["t"])
            + " s | worst process's growth over each interval |"
        )
        print("|---|---|---|")
        for service, figures in rss["services"].items():
            steps = ", ".join(
                "—" if g is None else f"{100 * g:+.1f} %" for g in figures["interval_growth"]
            )
            print(f"| {service} | {' → '.join(f'{v:.0f}' for v in figures['rss_mib'])} | {steps} |")
    print()
    for verdict, ok in summary["verdicts"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {verdict}")


def ingest_services(stack: Any) -> list[str]:
    """The compose services whose Celery worker consumes the ``ingest`` queue."""
    found = []
    for name, service in stack.services.items():
        command = service.command
        if "worker" not in command or "-Q" not in command:
            continue
        queues = command[command.index("-Q") + 1].split(",")
        if "ingest" in queues:
            found.append(name)
    return found


def pool_size(pid: int) -> int:
    """Processes of a prefork Celery worker's pool: the children of its main process."""
    table = process_table()
    return sum(1 for info in table.values() if info.ppid == pid)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=600.0, help="events offered per second")
    parser.add_argument(
        "--conversations", type=int, default=0, help="calls in progress at once (0: rate x 2.5)"
    )
    parser.add_argument("--ingest-processes", type=int, default=2)
    parser.add_argument(
        "--proxy-every", type=int, default=10, help="one request in N through nginx (0: none)"
    )
    parser.add_argument("--connections", type=int, default=64, help="per address, at most")
    parser.add_argument(
        "--requests-per-connection", type=int, default=100, help="then a new connection"
    )
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="seconds before the first stable sample"
    )
    parser.add_argument(
        "--memory-warmup-minutes",
        type=float,
        default=None,
        help="a second RSS growth reading from here (default: half the run); not the verdict",
    )
    parser.add_argument(
        "--drain-wait", type=float, default=300.0, help="seconds to wait for the backlog"
    )
    parser.add_argument("--port-base", type=int, default=8500, help="proxy, web, ws: N, N+1, N+2")
    parser.add_argument("--timeline-rows", type=int, default=15, help="rows of the timeline")
    parser.add_argument("--json", type=Path, help="write the samples and the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    parser.add_argument(
        "--pg-cost",
        action="store_true",
        help="PostgreSQL's work per event (bench/pgcost.py; needs pg_stat_statements)",
    )
    args = parser.parse_args(argv)

    from composerun import Stack, StackError, compose_variables, wait_http
    from smoke import database_named, flush_redis, recreate_database

    for required in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(required):
            print(f"soak: {required} is not set", file=sys.stderr)
            return 2
    name = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/") or "ccportal"
    database_url = database_named(os.environ["DATABASE_URL"], f"{name}_soak")
    redis_url = os.environ["REDIS_URL"]
    base = args.port_base
    ports = {"proxy": base, "web": base + 1, "ws": base + 2}
    public = f"http://127.0.0.1:{ports['proxy']}"
    token = secrets.token_hex(16)
    run = secrets.token_hex(3)
    seconds = args.minutes * 60
    warmup = min(args.warmup, seconds / 3)
    conversations = args.conversations or max(1, round(args.rate * 2.5))
    stack = Stack(
        database_url=database_url,
        redis_url=redis_url,
        ports=ports,
        variables=compose_variables(
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            CSRF_TRUSTED_ORIGINS=public,
            PUBLIC_BASE_URL=public,
            TWILIO_AUTH_TOKENS=token,
            WORKER_CONCURRENCY=args.ingest_processes,
        ),
    )

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    samples: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    probe: Probe | None = None
    ok = False
    try:
        log(f"soak: compose.yaml as processes; database {database_url}; logs in {stack.tmp}")
        recreate_database(database_url)
        flush_redis(redis_url)
        ingest = ingest_services(stack)
        if not ingest:
            raise StackError("no compose service consumes the ingest queue")
        for service in ingest:
            command = stack.services[service].command
            if "--concurrency" not in command and "-c" not in command:
                log(f"{service}: compose.yaml sets no --concurrency; adding it here")
                command += ["--concurrency", str(args.ingest_processes)]
        stack.run_once("migrate")
        rules = _rules(database_url)
        log(f"migrated; active rules: {', '.join(rules) or 'NONE'}")
        if _setting(database_url, "autovacuum") != "on":
            log(
                "WARNING: this PostgreSQL server runs with autovacuum off: the queue tables"
                " (inbox, rule executions, stale marks) keep every dead row and their claims"
                " slow down over the run; not a production setting (use a server with defaults)"
            )
        if not rules:
            raise StackError("migrate created no default rules")
        long_running = [n for n in stack.app_services() if stack.services[n].restart != "no"]
        for service in long_running:
            stack.start(service)
        alive = tuple(stack.running[n].process for n in long_running)
        wait_http(f"http://127.0.0.1:{ports['web']}/healthz", seconds=120, alive=alive)
        if "ws" in stack.running:
            wait_http(f"http://127.0.0.1:{ports['ws']}/healthz", seconds=60, alive=alive)
        stack.start("proxy")
        wait_http(f"{public}/healthz", seconds=15, alive=(stack.running["proxy"].process,))
        pools: dict[str, int] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pools = {s: pool_size(stack.running[s].process.pid) for s in ingest}
            if all(n >= args.ingest_processes for n in pools.values()):
                break
            time.sleep(0.5)
        time.sleep(2)  # the workers connect to the broker
        log(f"up: {', '.join(long_running)}, proxy; ingest pool processes {pools}")

        roots = {s: stack.running[s].process.pid for s in [*long_running, "proxy"]}
        probe = Probe(database_url=database_url, redis_url=redis_url, roots=roots)
        mix = TrafficMix(read_calls(), conversations=conversations, run=run)
        targets = {
            name: Target(name, ports[name], args.connections, args.requests_per_connection)
            for name in ("web", "proxy")
            if name == "web" or args.proxy_every
        }
        load = Load(
            mix=mix,
            public=public,
            token=token,
            targets=targets,
            proxy_every=args.proxy_every,
            rate=args.rate,
            seconds=seconds,
        )
        log(
            f"offering {args.rate:.0f} events/s for {seconds:.0f} s "
            f"({load.total} events, {conversations} conversations at once)"
        )
        probe.sample(0.0)  # the CPU baseline
        pg_before = pgcost.start(database_url) if args.pg_cost else None
        asyncio.run(run_load(load, probe, every=args.sample, samples=samples))
        log(f"load stopped; {load.issued} sent; waiting for the backlog (up to {args.drain_wait}s)")
        # The loop's clock is time.monotonic(): the drain is timed from the end of the schedule.
        drained = drain(probe, started=load.stopped_at, seconds=args.drain_wait)
        counts = final_counts(database_url, load, run)
        pg_figures = None
        if pg_before is not None:
            pg_figures = pgcost.report(pg_before, pgcost.snapshot(database_url), events=load.issued)
        dead = [s for s in [*long_running, "proxy"] if not stack.alive(s)]
        summary, ok = summarize(
            args=args,
            load=load,
            samples=samples,
            drained=drained,
            counts=counts,
            warmup=warmup,
            ingest=pools,
            memory_warmup=(
                None
                if args.memory_warmup_minutes is None
                else min(args.memory_warmup_minutes * 60, seconds)
            ),
        )
        summary["services_exited"] = dead
        print_summary(summary)
        if pg_figures is not None:
            pgcost.print_report(pg_figures)
            summary["pg_cost"] = {**pg_figures, "statements": pg_figures["statements"][:60]}
        if dead:
            print(f"FAIL  services that exited: {', '.join(dead)}")
            ok = False
        return 0 if ok else 1
    except (StackError, KeyboardInterrupt) as error:
        log(f"soak: {error or 'interrupted'}")
        return 1
    finally:
        if probe is not None:
            probe.close()
        stack.close()
        if args.json:
            args.json.write_text(json.dumps({"summary": summary, "samples": samples}, default=str))
            log(f"samples and summary in {args.json}")
        if not args.keep:
            with contextlib.suppress(Exception):
                recreate_database(database_url, drop_only=True)
            with contextlib.suppress(Exception):
                flush_redis(redis_url)
            stack.remove_files()
        else:
            log(f"kept {database_url} and {stack.tmp}")


def _rules(database_url: str) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return [
            key
            for (key,) in conn.execute(
                "SELECT key FROM intelligence_rule WHERE is_active ORDER BY key"
            ).fetchall()
        ]


if __name__ == "__main__":
    raise SystemExit(main())
