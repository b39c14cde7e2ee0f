"""Virtual agent latency: a final prompt received -> the first ``text`` token sent.

    python bench/virtual_agent.py --url http://127.0.0.1:8180 [--concurrency 1,50] [--turns 5]

Needs a running portal serving WebSockets (Daphne, ``ccportal.asgi``) whose PUBLIC_BASE_URL is
``--url``, with the demo knowledge articles loaded, and TWILIO_AUTH_TOKENS / DATABASE_URL in the
environment (the same as the portal's). For each concurrency, that many callers connect to
``/ws/agent/relay/`` at once, signed as Twilio signs, and each asks ``--turns`` questions from
the knowledge base one after the other (a reply read to its ``last`` token before the next).

Two figures per run: the agent's own (``AgentTurn.first_token_ms``: from the prompt's arrival
in the consumer to the first token handed to the server, as stored for the scoreboard), and
the caller's (prompt sent -> first token received over the socket, which adds the socket, the
server's event loop and the client's). p50 / p95 / max; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from pathlib import Path

import aiohttp
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "what are your branch opening hours on saturday",
    "how do I replace a stolen debit card",
    "can I transfer money from checking to savings",
    "how do I reset my online banking password",
    "I would like to order checks",
    "how can I check my account balance",
    "I want to pay a bill from my checking account",
    "can I schedule an appointment at a branch",
]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def line(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    return (
        f"{name}: n={len(values)} p50 {percentile(values, 0.5):.1f} ms, "
        f"p95 {percentile(values, 0.95):.1f} ms, max {max(values):.1f} ms"
    )


async def caller(
    url: str, signature: str, turns: int, offset: int, client_ms: list[float], unique: bool = False
) -> str:
    session_id = "VX" + secrets.token_hex(16)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers={"X-Twilio-Signature": signature}) as ws,
    ):
        await ws.send_str(
            json.dumps(
                {
                    "type": "setup",
                    "sessionId": session_id,
                    "callSid": "CA" + secrets.token_hex(16),
                    "accountSid": "AC" + "0" * 32,
                    "from": "+15550100000",
                    "to": "+18005550100",
                }
            )
        )
        for turn in range(turns):
            question = QUESTIONS[(offset + turn) % len(QUESTIONS)]
            if unique:
                # A text never asked before: the agent embeds it (no cache hit), as a real
                # caller's words would be.
                question = f"{question} my reference is {secrets.randbelow(10**9)}"
            sent = time.perf_counter()
            await ws.send_str(json.dumps({"type": "prompt", "voicePrompt": question, "last": True}))
            first = True
            while True:
                message = json.loads((await ws.receive(timeout=30)).data)
                if first:
                    client_ms.append((time.perf_counter() - sent) * 1000)
                    first = False
                if message.get("type") == "end" or message.get("last"):
                    break
    return session_id


def server_figures(session_ids: list[str], expected: int) -> list[float]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    django.setup()
    from apps.agent.models import AgentTurn

    turns = AgentTurn.objects.filter(session__session_id__in=session_ids)
    deadline = time.monotonic() + 10
    # Each turn is stored after its reply's last token: the last ones may still be on their way.
    while turns.count() < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return [value for value in turns.values_list("first_token_ms", flat=True) if value is not None]


async def run(
    url: str, signature: str, concurrency: int, turns: int, unique: bool = False
) -> tuple[list[str], list[float]]:
    client_ms: list[float] = []
    sessions = await asyncio.gather(
        *(caller(url, signature, turns, n, client_ms, unique) for n in range(concurrency))
    )
    return list(sessions), client_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8180")
    parser.add_argument("--concurrency", default="1,50")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3, help="calls first, not counted")
    parser.add_argument(
        "--unique",
        action="store_true",
        help="make every prompt a new text (the agent's embedding cache never hits)",
    )
    args = parser.parse_args()
    token = os.environ["TWILIO_AUTH_TOKENS"].split(",")[0].split(":")[-1].strip()
    scheme, _, rest = args.url.rstrip("/").partition("://")
    socket_url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws/agent/relay/"
    signature = RequestValidator(token).compute_signature(socket_url, {})
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) before the run")
    asyncio.run(run(socket_url, signature, args.warmup, 2))
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        started = time.perf_counter()
        sessions, client_ms = asyncio.run(
            run(socket_url, signature, concurrency, args.turns, args.unique)
        )
        elapsed = time.perf_counter() - started
        print(f"{concurrency} concurrent calls x {args.turns} turns in {elapsed:.1f} s")
        print(
            "  "
            + line(
                "agent: prompt received -> first token sent",
                server_figures(sessions, len(client_ms)),
            )
        )
        print("  " + line("caller: prompt sent -> first token received", client_ms))


if __name__ == "__main__":
    main()
