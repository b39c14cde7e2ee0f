"""Live latency benchmark: a signed webhook received -> the transcript line in the browser.

    python -m ccportal.devstack exec -- python bench/live_latency.py [--calls 1,200]
        [--lines 100] [--seconds 30] [--peer ../peer-server]

Uses DATABASE_URL / REDIS_URL, in a fresh database `<name>_bench_live`. The production serving
shape on this box: gunicorn (ccportal/gunicorn.conf.py, 2 workers x 4 threads) takes the
webhooks, Daphne serves the WebSockets, one Celery worker (prefork, 2 processes, queues
default, ingest, insights) stores the lines and publishes their events; Redis is the broker and
the channel layer; a second worker (2 processes) runs the operators (queue ``operators``) with
the default rules `migrate` installs (sentiment and script adherence on every line, next best
response on every line, a rolling summary every five). Steps:

1. Each call is opened by one signed COMMUNICATION_CREATED (its first line), then one WebSocket
   client per call joins ``/ws/conversations/<id>/`` with an admin's session, as the
   conversation page does.
2. One call: ``--lines`` lines, one at a time, 20-80 ms apart. The clock starts before the POST
   of the signed webhook and stops when the client gets the ``line`` event carrying that line's
   id; and, for the insight, when the first ``insights`` event of a rule that read that line
   arrives (the page then fetches the panels: one more request, not counted). 200 calls:
   every call says a line every 2-4 s (random) for ``--seconds``, 200 clients listening
   (about 70 webhooks/s in all). ``--operators-nice N`` runs the operators worker at a lower
   CPU priority, as a separate machine or container would keep it off the ingest's cores.
3. ``--peer DIR``: Twilio's agent-assist sample backend (../shared/peers, Node, in memory) is
   started from DIR and sent the same bodies at ``/webhook/cor-event``; its SSE stream per call
   (``/api/stream/<CallSid>``) is the client. Same scenarios, in the same run.

4. ``--watchers N`` (default 5): N supervisors watch the floor (``/ws/floor/``, an admin's
   session: every call); for each line, the clock stops when a watcher gets the call's tile
   that counts it (the floor worker recomputes a tile after each change). Every watcher's
   latency counts. ``--extra-sockets N`` opens N more sockets, idle readers spread over the
   calls' conversation groups and the floor (one in ten), to see a thousand sockets at once
   (200 clients + 5 watchers + 795 more); the run reports any that failed or closed.

Prints p50 / p95 / max per scenario and how many lines never arrived (5 s); docs/benchmarks.md
records them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402
from bench.timing import summary  # noqa: E402
from bench.webhook_ingest import recreate_database, wait_up  # noqa: E402

TOKEN = "bench0123456789abcdef0123456789ab"
HTTP_PORT, WS_PORT, PEER_PORT = 8765, 8766, 3001
WEBHOOK = "/webhooks/twilio/orchestrator"
PEER_WEBHOOK = "/webhook/cor-event"
FLEX_NUMBER = "+15559990000"
LOST_AFTER = 5.0


# The calls began ten minutes ago (the floor shows calls of the last hours only).
STARTED = int(time.time()) - 600


def body_of(call: int, n: int, text: str) -> str:
    """A COMMUNICATION_CREATED as Orchestrator sends it: line ``n`` of call ``call``."""
    at = STARTED + n * 3
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    speaker = ("+15551230000", "c") if n % 2 else (FLEX_NUMBER, "a")
    return json.dumps(
        {
            "eventType": "COMMUNICATION_CREATED",
            "timestamp": stamp,
            "data": {
                "id": communication_id(call, n),
                "conversationId": f"conv_conversation_live{call:08d}",
                "accountId": "AC00000000000000000000000000000000",
                "author": {
                    "address": speaker[0],
                    "channel": "VOICE",
                    "participantId": f"conv_participant_live{call:08d}{speaker[1]}",
                },
                "content": {"type": "TRANSCRIPTION", "text": text},
                "channelId": call_sid(call),
                "occurredAt": stamp,
                "createdAt": stamp,
                "updatedAt": stamp,
            },
        },
        separators=(",", ":"),
    )


def communication_id(call: int, n: int) -> str:
    return f"conv_communication_live{call:08d}{n:06d}"


def call_sid(call: int) -> str:
    return f"CA{call:032d}"


def signed(body: str, base: str) -> tuple[str, dict[str, str]]:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    query = urlencode({"bodySHA256": validator.compute_hash(body)})
    path = f"{WEBHOOK}?{query}"
    signature = validator.compute_signature(f"{base}{path}", {})
    return path, {"X-Twilio-Signature": signature, "Content-Type": "application/json"}


# ccportal ---------------------------------------------------------------------------------------


def start_portal(
    stack: ExitStack, env: dict[str, str], *, operators: bool = True, operators_nice: int = 0
) -> None:
    py = sys.executable
    commands = [
        [py, "-m", "gunicorn", "ccportal.wsgi:application", "-c", "ccportal/gunicorn.conf.py",
         "-b", f"127.0.0.1:{HTTP_PORT}", "-w", "2", "-k", "gthread", "--threads", "4",
         "--log-level", "warning"],
        [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(WS_PORT), "--verbosity", "0",
         "ccportal.asgi:application"],
        [py, "-m", "celery", "-A", "ccportal", "worker", "-Q", "default,ingest,insights",
         "-c", "2", "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "-n", "ingest@%h"],
        [*(["nice", "-n", str(operators_nice)] if operators_nice else []),
         py, "-m", "celery", "-A", "ccportal", "worker", "-Q", "operators",
         "-c", "2", "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "-n", "operators@%h"],
    ]  # fmt: skip
    if not operators:
        commands.pop()
    for command in commands:
        process = subprocess.Popen(command, env=env, cwd=ROOT)
        stack.callback(process.wait, 15)
        stack.callback(process.terminate)
    wait_up(f"http://127.0.0.1:{HTTP_PORT}/healthz")
    wait_up(f"http://127.0.0.1:{WS_PORT}/healthz")
    time.sleep(3)  # the worker connects and imports everything


def session_cookie(env: dict[str, str]) -> str:
    """An admin's session, made in this process against the bench database."""
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from apps.accounts.choices import Role
    from apps.accounts.models import User

    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"role": Role.ADMIN})
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def conversation_pk(twilio_id: str) -> int | None:
    from apps.conversations.models import Conversation

    return Conversation.objects.filter(twilio_id=twilio_id).values_list("pk", flat=True).first()


class Portal:
    """Posts signed webhooks to gunicorn; one WebSocket per call on Daphne."""

    name = "ccportal"

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self.base = f"http://127.0.0.1:{HTTP_PORT}"
        self.pks: dict[int, int] = {}  # call -> its conversation's id

    async def post(self, http, call: int, n: int, text: str) -> None:
        path, headers = signed(body_of(call, n, text), self.base)
        async with http.post(self.base + path, data=body_of(call, n, text), headers=headers) as r:
            if r.status >= 300:
                raise RuntimeError(f"webhook answered {r.status}")

    async def open(self, http, call: int) -> None:
        """The call's first line creates its conversation; wait until it is stored."""
        from asgiref.sync import sync_to_async

        await self.post(http, call, 0, f"call {call} begins")
        twilio_id = f"conv_conversation_live{call:08d}"
        for _ in range(500):
            pk = await sync_to_async(conversation_pk)(twilio_id)
            if pk:
                self.pks[call] = pk
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"call {call} was never stored")

    async def listen(self, http, call: int, arrived: dict[str, float], ready: asyncio.Event):
        """Records when each line arrives, and (as ``insight:<twilio id>``) when the first
        ``insights`` event covering it does (an operator result of a rule that read it)."""
        url = f"ws://127.0.0.1:{WS_PORT}/ws/conversations/{self.pks[call]}/"
        headers = {"Cookie": self.cookie, "Origin": f"http://127.0.0.1:{WS_PORT}"}
        twilio_ids: dict[int, str] = {}
        async with http.ws_connect(url, headers=headers) as socket:
            ready.set()
            async for message in socket:
                now = time.perf_counter()
                event = json.loads(message.data)
                payload = event.get("payload", {})
                if event.get("event") == "line":
                    twilio_ids[payload["id"]] = payload["twilio_id"]
                    arrived.setdefault(payload["twilio_id"], now)
                elif event.get("event") == "insights" and payload.get("through") in twilio_ids:
                    arrived.setdefault(f"insight:{twilio_ids[payload['through']]}", now)


# The peer ---------------------------------------------------------------------------------------


class Peer:
    """Twilio's agent-assist sample backend: the same bodies, its SSE stream per Call SID."""

    name = "peer (Node, in memory)"

    def __init__(self) -> None:
        self.base = f"http://127.0.0.1:{PEER_PORT}"

    async def post(self, http, call: int, n: int, text: str) -> None:
        body = body_of(call, n, text)
        headers = {"Content-Type": "application/json"}
        async with http.post(self.base + PEER_WEBHOOK, data=body, headers=headers) as r:
            if r.status >= 300:
                raise RuntimeError(f"peer answered {r.status}")

    async def open(self, http, call: int) -> None:
        await self.post(http, call, 0, f"call {call} begins")

    async def listen(self, http, call: int, arrived: dict[str, float], ready: asyncio.Event):
        async with http.get(f"{self.base}/api/stream/{call_sid(call)}", timeout=None) as stream:
            ready.set()
            async for raw in stream.content:
                line = raw.decode().strip()
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event.get("type") == "transcript":
                    marker = event["data"]["text"].rsplit("#", 1)[-1]
                    arrived.setdefault(marker, time.perf_counter())


def start_peer(stack: ExitStack, directory: Path) -> None:
    env = {**os.environ, "PORT": str(PEER_PORT), "TWILIO_FLEX_PHONE_NUMBER": FLEX_NUMBER}
    process = subprocess.Popen(
        ["node", "index.js"], cwd=directory, env=env, stdout=subprocess.DEVNULL
    )
    stack.callback(process.wait, 15)
    stack.callback(process.terminate)
    wait_up(f"http://127.0.0.1:{PEER_PORT}/health")


# Scenarios --------------------------------------------------------------------------------------


class Extras:
    """What the floor watchers and the extra sockets saw."""

    def __init__(self) -> None:
        self.tiles: list[list[tuple[float, int, int]]] = []  # per watcher: (time, pk, lines)
        self.opened = 0
        self.failed = 0
        self.closed_early = 0
        self.messages = 0


async def watch_floor(http, cookie: str, seen: list[tuple[float, int, int]], ready, stats):
    url = f"ws://127.0.0.1:{WS_PORT}/ws/floor/"
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{WS_PORT}"}
    async with http.ws_connect(url, headers=headers) as socket:
        ready.set()
        async for message in socket:
            now = time.perf_counter()
            event = json.loads(message.data)
            if event.get("event") == "tiles":
                for tile in event["payload"]["tiles"]:
                    seen.append((now, tile["id"], tile["lines"]))
        stats.closed_early += 1


async def idle_reader(http, cookie: str, path: str, ready: asyncio.Event, stats: Extras):
    url = f"ws://127.0.0.1:{WS_PORT}{path}"
    headers = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{WS_PORT}"}
    try:
        async with http.ws_connect(url, headers=headers) as socket:
            stats.opened += 1
            ready.set()
            async for _ in socket:
                stats.messages += 1
            stats.closed_early += 1
    except asyncio.CancelledError:
        raise
    except Exception:
        stats.failed += 1
        ready.set()


async def scenario(
    system, calls: int, lines: int, seconds: float, watchers: int = 0, extra_sockets: int = 0
) -> tuple[list[float], int, list[float], list[float], Extras]:
    """Latencies (s) of the lines said, how many never arrived, the latencies of the first
    insight covering each line and of the floor tile counting it (ccportal only), and what the
    extra sockets saw."""
    import aiohttp

    stats = Extras()
    connector = aiohttp.TCPConnector(limit=0)  # every socket and stream is a connection
    async with aiohttp.ClientSession(connector=connector) as http:
        first = random.randint(0, 10**6) * 1000  # calls of this scenario only
        ids = [first + i for i in range(calls)]
        for call in ids:
            await system.open(http, call)
        arrived: dict[str, float] = {}
        readies = []
        listeners = []
        for call in ids:
            ready = asyncio.Event()
            readies.append(ready)
            listeners.append(asyncio.create_task(system.listen(http, call, arrived, ready)))
        if isinstance(system, Portal):
            for _ in range(watchers):
                ready = asyncio.Event()
                readies.append(ready)
                stats.tiles.append([])
                listeners.append(asyncio.create_task(
                    watch_floor(http, system.cookie, stats.tiles[-1], ready, stats)))  # fmt: skip
            for i in range(extra_sockets):
                ready = asyncio.Event()
                readies.append(ready)
                path = ("/ws/floor/" if i % 10 == 0
                        else f"/ws/conversations/{system.pks[ids[i % len(ids)]]}/")  # fmt: skip
                listeners.append(asyncio.create_task(
                    idle_reader(http, system.cookie, path, ready, stats)))  # fmt: skip
        waiting = asyncio.gather(*(r.wait() for r in readies))
        done, _ = await asyncio.wait(
            [waiting, *listeners], timeout=60, return_when="FIRST_EXCEPTION"
        )
        if waiting not in done:
            failed = [t for t in listeners if t.done() and t.exception()]
            raise RuntimeError(f"clients did not connect: {failed[:1]}")
        await asyncio.sleep(1.0)  # every socket joined its group
        sent: dict[str, float] = {}
        said: dict[str, tuple[int, int]] = {}  # key -> (call, n)

        async def say(call: int, n: int) -> None:
            key = communication_id(call, n) if isinstance(system, Portal) else f"{call}-{n}"
            text = f"line {n} of call {call}, please hold on #{key}"
            sent[key] = time.perf_counter()
            said[key] = (call, n)
            await system.post(http, call, n, text)

        if calls == 1:
            for n in range(1, lines + 1):
                await say(ids[0], n)
                await asyncio.sleep(random.uniform(0.02, 0.08))
        else:

            async def talk(call: int) -> None:
                await asyncio.sleep(random.uniform(0, 3))
                n = 1
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    await say(call, n)
                    n += 1
                    await asyncio.sleep(random.uniform(2, 4))

            await asyncio.gather(*(talk(call) for call in ids))
        deadline = time.monotonic() + LOST_AFTER
        while time.monotonic() < deadline and any(k not in arrived for k in sent):
            await asyncio.sleep(0.05)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
    latencies = [arrived[k] - t for k, t in sent.items() if k in arrived]
    insights = [arrived[f"insight:{k}"] - t for k, t in sent.items() if f"insight:{k}" in arrived]
    tiles = []
    pks = getattr(system, "pks", {})
    for seen in stats.tiles:
        for key, t in sent.items():
            call, n = said[key]
            pk = pks.get(call)
            # The first tile of that call, after the line was sent, counting it (the opening
            # line is line 0, so line n makes n + 1).
            first = next((at for at, tid, count in seen if tid == pk and at >= t and count > n),
                         None)  # fmt: skip
            if first is not None:
                tiles.append(first - t)
    return latencies, sum(1 for k in sent if k not in arrived), insights, tiles, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="1,200", help="comma list of concurrent calls")
    parser.add_argument("--lines", type=int, default=100, help="lines of the one-call scenario")
    parser.add_argument("--seconds", type=float, default=30, help="length of the busy scenario")
    parser.add_argument("--peer", type=Path, help="the peer's folder, with node_modules")
    parser.add_argument("--watchers", type=int, default=5, help="floor watchers (ccportal)")
    parser.add_argument(
        "--extra-sockets", type=int, default=0, help="idle sockets more, at the largest --calls"
    )
    parser.add_argument(
        "--no-operators", action="store_true", help="no operators worker: the line path alone"
    )
    parser.add_argument(
        "--operators-nice",
        type=int,
        default=0,
        help="run the operators worker at this nice level (lines before operator results)",
    )
    args = parser.parse_args()

    url = timing.bench_database_url("live")
    recreate_database(url)
    base = f"http://127.0.0.1:{HTTP_PORT}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "TWILIO_AUTH_TOKENS": TOKEN,
        "PUBLIC_BASE_URL": base,
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-live-latency-secret-key-0123456789"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DB_POOL": "false",
        "DB_CONN_MAX_AGE": "600",
        "DJANGO_SETTINGS_MODULE": "ccportal.settings",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    cookie = session_cookie(env)
    counts = [int(c) for c in args.calls.split(",")]
    with ExitStack() as stack:
        start_portal(
            stack, env, operators=not args.no_operators, operators_nice=args.operators_nice
        )
        systems: list = [Portal(cookie)]
        if args.peer:
            start_peer(stack, args.peer)
            systems.append(Peer())
        for calls in counts:
            for system in systems:
                extra = args.extra_sockets if calls == max(counts) else 0
                watchers = args.watchers if calls == max(counts) else 0
                latencies, lost, insights, tiles, stats = asyncio.run(
                    scenario(system, calls, args.lines, args.seconds, watchers, extra)
                )
                label = f"{system.name}, {calls} call(s), line -> client"
                print(summary(label, latencies, width=52) + f"  lost {lost}", flush=True)
                if insights:
                    label = f"{system.name}, {calls} call(s), insight -> client"
                    print(
                        summary(label, insights, width=52) + f"  of {len(latencies)} lines",
                        flush=True,
                    )
                if tiles:
                    label = f"{system.name}, {calls} call(s), floor tile -> {watchers} watchers"
                    expected = len(latencies) * watchers
                    print(summary(label, tiles, width=52) + f"  {len(tiles)} of {expected}",
                          flush=True)  # fmt: skip
                if extra and isinstance(system, Portal):
                    sockets = calls + watchers + extra
                    print(
                        f"{system.name}, {sockets} sockets open: {stats.opened} extra opened, "
                        f"{stats.failed} failed, {stats.closed_early} closed early, "
                        f"{stats.messages:,} messages to the extra readers",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
