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

``--backend llm`` measures the LLM path. The script then starts the local protocol server itself
(``tests/fixtures/llm_server.py``, in a process of its own, on ``--model-port``), playing a model
that calls ``lookup_knowledge`` with the caller's question, then streams an answer made of the
article's sentences word by word. Each of its answers starts ``--model-delay-ms`` after the
request (the simulated model's time to first token; two rounds per turn: the tool call, then the
answer). The portal must run with::

    VIRTUAL_AGENT_BACKEND=llm LLM_BASE_URL=http://127.0.0.1:<model-port>/v1 LLM_MODEL=bench-model

The agent's figure minus the simulated model's own time (both delays, the tool call's chunks
one ``--model-chunk-ms`` apart, and the chunk before the answer's first word) is our overhead:
two HTTP requests and their streams on localhost, the retrieval, and the socket send, plus the
simulated server's own handling and its sleeps' overshoot, which this cannot separate out.
``--model-delay-ms 0 --model-chunk-ms 0`` measures that sum directly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

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


def serve_model(port: int, delay_ms: int, chunk_ms: int, ready: Any, answered: Any) -> None:
    """The simulated model (a process of its own): lookup first, then the article's words."""
    from tests.fixtures.llm_server import LLMServer, Reply, stream_events

    def responder(request: Any) -> Reply:
        with answered.get_lock():
            answered.value += 1
        messages = request.get("messages") or [{}]
        last = messages[-1]
        if last.get("role") == "tool":
            found = json.loads(last.get("content") or "{}")
            text = f"{found.get('answer', '')} That's from our article {found.get('article', '')}."
            words = text.split(" ")
            tokens = [word + " " for word in words[:-1]] + words[-1:]
            events = stream_events(tokens, model="bench-model")
        else:
            query = str(last.get("content") or "")
            events = stream_events(
                tool_calls=[("lookup_knowledge", {"query": query})], model="bench-model"
            )
        answer = Reply(body=events, stream=True, chunk_delay=chunk_ms / 1000)
        return Reply(delay=delay_ms / 1000, then=answer) if delay_ms else answer

    server = LLMServer(model="bench-model")
    server.responder = responder
    server.start(port)
    ready.set()
    while True:
        time.sleep(3600)


def simulated_model_ms(args: argparse.Namespace) -> float:
    """The simulated model's own time before the agent can send its first token: the delay of
    the tool-call round, its chunks one after the other, the answer round's delay, and the
    chunk before its first word (the role chunk)."""
    from tests.fixtures.llm_server import stream_events

    lookup = stream_events(tool_calls=[("lookup_knowledge", {"query": QUESTIONS[0]})])
    gaps = len(lookup)  # between the lookup's chunks (len - 1), then before the first word
    return 2 * args.model_delay_ms + gaps * args.model_chunk_ms


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
    parser.add_argument("--backend", choices=["offline", "llm"], default="offline")
    parser.add_argument("--model-port", type=int, default=8102)
    parser.add_argument(
        "--model-delay-ms", type=int, default=200, help="simulated time to first token, per round"
    )
    parser.add_argument("--model-chunk-ms", type=int, default=20, help="between streamed chunks")
    args = parser.parse_args()
    model = None
    if args.backend == "llm":
        ready = multiprocessing.Event()
        answered = multiprocessing.Value("i", 0)
        model = multiprocessing.Process(
            target=serve_model,
            args=(args.model_port, args.model_delay_ms, args.model_chunk_ms, ready, answered),
            daemon=True,
        )
        model.start()
        if not ready.wait(10):
            sys.exit("the simulated model did not start")
        print(
            f"simulated model on 127.0.0.1:{args.model_port}: {args.model_delay_ms} ms to its "
            f"first chunk (x2 rounds a turn: the lookup, then the answer), "
            f"{args.model_chunk_ms} ms between chunks: {simulated_model_ms(args):.0f} ms of "
            "model time before the first word"
        )
    try:
        measure(args)
        if model is not None and answered.value == 0:
            sys.exit(
                "the simulated model got no request: is the portal on VIRTUAL_AGENT_BACKEND=llm?"
            )
    finally:
        if model is not None:
            model.terminate()
            model.join(5)


def measure(args: argparse.Namespace) -> None:
    token = os.environ["TWILIO_AUTH_TOKENS"].split(",")[0].split(":")[-1].strip()
    scheme, _, rest = args.url.rstrip("/").partition("://")
    socket_url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws/agent/relay/"
    signature = RequestValidator(token).compute_signature(socket_url, {})
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) before the run")
    asyncio.run(run(socket_url, signature, args.warmup, 2))
    simulated = simulated_model_ms(args) if args.backend == "llm" else 0
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        started = time.perf_counter()
        sessions, client_ms = asyncio.run(
            run(socket_url, signature, concurrency, args.turns, args.unique)
        )
        elapsed = time.perf_counter() - started
        print(f"{concurrency} concurrent calls x {args.turns} turns in {elapsed:.1f} s")
        agent_ms = server_figures(sessions, len(client_ms))
        print("  " + line("agent: prompt received -> first token sent", agent_ms))
        if simulated:
            print(
                "  "
                + line(
                    f"agent minus the simulated model ({simulated} ms): our overhead",
                    [value - simulated for value in agent_ms],
                )
            )
        print("  " + line("caller: prompt sent -> first token received", client_ms))


if __name__ == "__main__":
    main()
