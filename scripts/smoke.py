"""`make smoke`: the production shape of compose.yaml, run as local processes, checked end to end.

    python -m ccportal.devstack exec -- python scripts/smoke.py [--port-base N] [--keep]

No container engine is needed: scripts/composerun.py reads compose.yaml and runs each app
service's own command and environment (migrate, gunicorn, daphne, the Celery workers and beat)
and Debian's nginx with deploy/nginx.conf, against the PostgreSQL and Redis of DATABASE_URL and
REDIS_URL (`make smoke` starts embedded ones when those are not set). It uses a database of its
own (``<name>_smoke``, made anew and dropped at the end) and empties the Redis database of
REDIS_URL before and after: point that at a spare database number.

Then, through the proxy only: the login page, a static file, signing in, a signed webhook stored
and processed by the worker, a forged one refused, a WebSocket on the conversation receiving the
events of the next webhook (the ingest worker's line, the operators worker's insights), and beat
driving the inbox sweeper. One line per check; exit status 1 if any failed. Every process is
stopped at the end, failure or not (Ctrl+C too).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from composerun import ROOT, Stack, StackError, compose_variables, free_port, wait_http

WEBHOOK_PATH = "/webhooks/twilio/orchestrator"
USERNAME = "smoke-admin"


# --- Twilio-signed Orchestrator events (also used by bench/faults.py) -----------------------


def communication_event(*, conversation: str, number: int, text: str) -> dict[str, Any]:
    """A COMMUNICATION_CREATED event as Orchestrator sends it: line ``number`` of a call."""
    return {
        "eventType": "COMMUNICATION_CREATED",
        "timestamp": "2026-12-07T10:00:00.000Z",
        "data": {
            "id": f"conv_communication_{conversation}_{number:06d}",
            "conversationId": f"conv_conversation_{conversation}",
            "accountId": "AC00000000000000000000000000000000",
            "author": {
                "address": "+15551230000",
                "channel": "VOICE",
                "participantId": f"conv_participant_{conversation}c",
            },
            "recipients": [
                {
                    "address": "+15559990000",
                    "channel": "VOICE",
                    "participantId": f"conv_participant_{conversation}a",
                }
            ],
            "content": {
                "type": "TRANSCRIPTION",
                "text": text,
                "transcription": {"channel": 0, "confidence": 0.91, "engine": "deepgram"},
            },
            "channelId": f"CA{abs(hash(conversation)) % 10**32:032d}",
            "occurredAt": f"2026-12-07T10:{number // 60 % 60:02d}:{number % 60:02d}Z",
            "createdAt": "2026-12-07T10:00:00Z",
            "updatedAt": "2026-12-07T10:00:00Z",
        },
    }


def signed_request(event: dict[str, Any], *, token: str, public_base: str) -> tuple[str, str, str]:
    """(path with query, body, X-Twilio-Signature), signed as Twilio signs a JSON webhook."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(token)
    body = json.dumps(event, separators=(",", ":"))
    path = f"{WEBHOOK_PATH}?{urlencode({'bodySHA256': validator.compute_hash(body)})}"
    return path, body, validator.compute_signature(f"{public_base}{path}", {})


# --- plumbing --------------------------------------------------------------------------------


class Http:
    """A tiny client with a cookie jar, that never follows redirects."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            for header, value in response.getheaders():
                if header.lower() == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()


def sql(database_url: str, query: str, *params: Any) -> Any:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query, params).fetchone()


def database_named(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(database_named(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url, socket_connect_timeout=3).flushdb()


def wait_for(what: str, probe: Callable[[], Any], *, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds:.0f} s")


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []
        self.started = time.monotonic()

    def run(self, name: str, check: Callable[[], str | None]) -> bool:
        began = time.monotonic()
        try:
            detail = check() or ""
        except Exception as error:  # every failure becomes one clear line
            message = str(error) or error.__class__.__name__
            print(f"FAIL  {name}: {message}", flush=True)
            self.failed.append(name)
            return False
        print(f"ok    {name} ({time.monotonic() - began:.1f} s){': ' + detail if detail else ''}")
        sys.stdout.flush()
        return True


# --- the run ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port-base", type=int, default=0, help="proxy, web, ws on N, N+1, N+2 (0: free ports)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    args = parser.parse_args(argv)

    for required in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(required):
            print(f"smoke: {required} is not set; run it as `make smoke`", file=sys.stderr)
            return 2
    base_url = os.environ["DATABASE_URL"]
    name = urlsplit(base_url).path.lstrip("/") or "ccportal"
    database_url = database_named(base_url, f"{name}_smoke")
    redis_url = os.environ["REDIS_URL"]
    if args.port_base:
        ports = {"proxy": args.port_base, "web": args.port_base + 1, "ws": args.port_base + 2}
    else:
        ports = {"proxy": free_port(), "web": free_port(), "ws": free_port()}
    public = f"http://127.0.0.1:{ports['proxy']}"
    token = secrets.token_hex(16)
    password = secrets.token_urlsafe(16)
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
        ),
        # Two web processes (start-up time on a small box).
        extra_env={"GRANIAN_WORKERS": "2"},
    )

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    checks = Checks()
    print(f"smoke: compose.yaml as processes; proxy {public}; logs in {stack.tmp}", flush=True)
    try:
        recreate_database(database_url)
        flush_redis(redis_url)
        run(stack, checks, ports=ports, public=public, token=token, password=password)
    except (StackError, KeyboardInterrupt) as error:
        print(f"FAIL  stack: {error or 'interrupted'}", flush=True)
        checks.failed.append("stack")
    finally:
        stack.close()
        for leftover in (
            lambda: recreate_database(database_url, drop_only=True),
            lambda: flush_redis(redis_url),
        ):
            try:
                leftover()
            except Exception as error:
                print(f"smoke: cleaning up: {error}", file=sys.stderr)
    elapsed = time.monotonic() - checks.started
    if checks.failed:
        for service in stack.running:
            print(f"----- {service} (last lines)\n{stack.tail(service)}")
        print(f"smoke: FAILED ({', '.join(checks.failed)}) in {elapsed:.0f} s; logs in {stack.tmp}")
        return 1
    if not args.keep:
        stack.remove_files()
    print(f"smoke: all checks passed in {elapsed:.0f} s; every process stopped")
    return 0


def run(
    stack: Stack, checks: Checks, *, ports: dict[str, int], public: str, token: str, password: str
) -> None:
    manage_env = stack.environment("migrate")
    # The image's build step (Dockerfile), beside migrate: the pages reference hashed files.
    collect = subprocess.Popen(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        env=manage_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    began = time.monotonic()
    stack.run_once("migrate")
    out, _ = collect.communicate(timeout=120)
    if collect.returncode != 0:
        raise StackError(f"collectstatic failed:\n{out.decode(errors='replace')}")
    print(f"ok    migrate and collectstatic ({time.monotonic() - began:.1f} s)", flush=True)

    began = time.monotonic()
    one_off = {n for n, s in stack.services.items() if s.restart == "no"}
    long_running = [n for n in stack.app_services() if n not in one_off]
    for service in long_running:
        stack.start(service)
    admin = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "createsuperuser",
            "--no-input",
            "--username",
            USERNAME,
            "--email",
            "smoke@example.com",
        ],
        env={**manage_env, "DJANGO_SUPERUSER_PASSWORD": password},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    processes = tuple(stack.running[n].process for n in long_running)
    wait_http(f"http://127.0.0.1:{ports['web']}/healthz", seconds=60, alive=processes)
    wait_http(f"http://127.0.0.1:{ports['ws']}/healthz", seconds=60, alive=processes)
    stack.start("proxy")
    wait_http(f"{public}/healthz", seconds=15, alive=(stack.running["proxy"].process,))
    if admin.wait(timeout=60) != 0:
        raise StackError(f"createsuperuser failed: {admin.communicate()[0].decode()}")
    print(
        f"ok    started {', '.join(long_running)} and the proxy ({time.monotonic() - began:.1f} s)",
        flush=True,
    )

    client = Http(ports["proxy"])
    login: dict[str, bytes] = {}

    def login_page() -> str:
        status, _, body = client.request("GET", "/login/")
        assert status == 200, f"GET /login/ answered {status}"
        assert b"csrfmiddlewaretoken" in body, "no sign-in form in the page"
        login["page"] = body
        return "200 with the sign-in form"

    def forged_host() -> str:
        status, _, _ = Http(ports["proxy"]).request(
            "GET", "/login/", headers={"X-Forwarded-Host": "evil.example"}
        )
        # Had the client's header reached Django (which trusts the proxy's), it would be 400.
        assert status == 200, f"answered {status}: the client's X-Forwarded-Host got through"
        return "the proxy replaced the client's X-Forwarded-Host"

    def static_file() -> str:
        found = re.search(rb'(?:href|src)="(/static/[^"]+\.(?:css|js))"', login.get("page", b""))
        assert found, "the login page links no static file"
        path = found.group(1).decode()
        status, headers, body = client.request("GET", path)
        assert status == 200 and body, f"GET {path} answered {status}"
        assert "immutable" in headers.get("cache-control", "") or re.search(
            r"\.[0-9a-f]{12}\.", path
        ), f"{path} is not a collected (hashed) file"
        return f"{path} ({len(body)} bytes)"

    def sign_in() -> str:
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', login.get("page", b""))
        assert found, "no CSRF token in the login page"
        status, headers, _ = client.request(
            "POST",
            "/login/",
            body=urlencode(
                {
                    "csrfmiddlewaretoken": found.group(1).decode(),
                    "username": USERNAME,
                    "password": password,
                }
            ),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": public,
                "Referer": f"{public}/login/",
            },
        )
        assert status == 302, f"POST /login/ answered {status}"
        assert "sessionid" in client.cookies, "no session cookie"
        return f"302 to {headers.get('location')}"

    events: dict[str, int] = {}
    conversation = f"smoke{secrets.token_hex(4)}"

    def post(number: int, text: str, *, signature: str | None = None) -> tuple[int, bytes]:
        event = communication_event(conversation=conversation, number=number, text=text)
        path, body, signed = signed_request(event, token=token, public_base=public)
        status, _, answer = Http(ports["proxy"]).request(
            "POST",
            path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Twilio-Signature": signature or signed,
                "I-Twilio-Idempotency-Token": f"smoke-{conversation}-{number}",
            },
        )
        return status, answer

    def webhook_accepted() -> str:
        status, answer = post(1, "Thank you for calling, how can I help you today?")
        assert status == 200, f"answered {status}: {answer[:200]!r}"
        reply = json.loads(answer)
        assert reply.get("status") == "accepted", reply
        events["first"] = int(reply["event"])
        return f"stored as inbox event {reply['event']}"

    def forged_refused() -> str:
        status, _ = post(99, "forged", signature="bm90IGEgc2lnbmF0dXJl")
        assert status == 403, f"a wrong signature answered {status}"
        return "403"

    def processed() -> str:
        event_id = events["first"]
        row = wait_for(
            "the worker processing the event",
            lambda: (
                row
                if (
                    row := sql(
                        stack.database_url,
                        "SELECT status FROM webhooks_inboundevent WHERE id = %s",
                        event_id,
                    )
                )[0]
                not in ("pending", "processing")
                else None
            ),
            seconds=30,
        )
        assert row[0] == "processed", f"the event ended {row[0]}"
        return "status processed"

    def websocket() -> str:
        pk = sql(
            stack.database_url,
            "SELECT id FROM conversations_conversation WHERE twilio_id = %s",
            f"conv_conversation_{conversation}",
        )
        assert pk, "the conversation was not stored"
        # An admin reading a conversation outside their usual work gives a reason first, on the
        # form the page shows (docs/security.md, transcript access log); the socket then joins.
        status, _, _ = client.request(
            "POST",
            f"/conversations/{pk[0]}/access-reason/",
            body=urlencode(
                {
                    "csrfmiddlewaretoken": client.cookies.get("csrftoken", ""),
                    "text": "Production-shape smoke test",
                    "next": f"/conversations/{pk[0]}/",
                }
            ),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": public,
                "Referer": f"{public}/conversations/{pk[0]}/",
            },
        )
        assert status == 302, f"the access reason was answered {status}"
        text = "I would like to check the balance on my account."
        received = asyncio.run(
            listen(
                f"ws://127.0.0.1:{ports['proxy']}/ws/conversations/{pk[0]}/",
                cookie=f"sessionid={client.cookies['sessionid']}",
                origin=public,
                then=lambda: post(2, text),
                wanted={"line", "insights"},
                seconds=30,
            )
        )
        lines = [m for m in received if m.get("event") == "line"]
        assert any(text in json.dumps(m) for m in lines), f"no line event with the text: {lines}"
        return f"received {', '.join(sorted({str(m.get('event')) for m in received}))}"

    def beat() -> str:
        wait_for(
            "beat's sweep_inbox reaching the worker",
            lambda: "apps.webhooks.tasks.sweep_inbox" in stack.log_text("worker"),
            seconds=20,
        )
        return "sweep_inbox sent by beat, run by the worker"

    def all_alive() -> str:
        dead = [n for n in [*long_running, "proxy"] if not stack.alive(n)]
        assert not dead, f"exited: {', '.join(dead)}"
        return f"{len(long_running) + 1} processes"

    checks.run("login page through the proxy", login_page)
    checks.run("client's X-Forwarded-Host not trusted", forged_host)
    checks.run("static file through the proxy", static_file)
    checks.run("sign in through the proxy", sign_in)
    checks.run("signed webhook acknowledged (2xx)", webhook_accepted)
    checks.run("wrongly signed webhook refused", forged_refused)
    if "first" in events:
        checks.run("webhook processed by the worker", processed)
    if "sessionid" in client.cookies and "first" in events:
        checks.run("WebSocket event through the proxy's /ws/", websocket)
    checks.run("beat drives the inbox sweeper", beat)
    checks.run("no service exited", all_alive)


async def listen(
    url: str,
    *,
    cookie: str,
    origin: str,
    then: Callable[[], Any],
    wanted: set[str],
    seconds: float,
) -> list[dict[str, Any]]:
    """Open the socket, call ``then`` (off the loop), collect messages until every event in
    ``wanted`` came or time ran out (then fail, naming what is missing)."""
    import aiohttp

    received: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            url, headers={"Cookie": cookie, "Origin": origin}, timeout=aiohttp.ClientWSTimeout(10)
        ) as socket,
    ):
        sender = threading.Thread(target=then, daemon=True)
        sender.start()
        deadline = time.monotonic() + seconds
        seen: set[str] = set()
        while not wanted <= seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {', '.join(sorted(wanted - seen))} event within {seconds:.0f} s "
                    f"(got {sorted(seen) or 'nothing'})"
                )
            try:
                message = await socket.receive(timeout=left)
            except TimeoutError:
                continue
            if message.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"the socket closed ({message.type.name}, {message.data})")
            data = json.loads(message.data)
            received.append(data)
            seen.add(str(data.get("event")))
    return received


if __name__ == "__main__":
    raise SystemExit(main())
