"""bench/soak.py's pure parts: the traffic it offers, the HTTP it speaks, the figures it reports.

The soak itself is a benchmark (figures, not assertions); these hold its helpers to what its
summary claims: realistic calls in order, numbered tokens, valid signatures the portal accepts,
and summaries computed as stated.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from apps.conversations.choices import ConversationStatus
from apps.conversations.models import Communication, Conversation, Participant
from apps.demo.dataset import read_calls
from apps.demo.simulator import sign
from apps.webhooks.models import InboundEvent
from bench.soak import (
    Connection,
    ProcInfo,
    Stale,
    TrafficMix,
    latency_summary,
    memory_growth,
    parse_stat,
    request_bytes,
    rss_timeline,
    slope,
    token_number,
    tree,
)
from tests.fixtures.twilio import AUTH_TOKEN

CALLS = read_calls()
PUBLIC = "https://portal.example.com"
ACCOUNT = "AC00000000000000000000000000000000"


def by_conversation(events):
    calls = defaultdict(list)
    for position, event in enumerate(events):
        calls[event.payload["data"].get("conversationId") or event.payload["data"]["id"]].append(
            (position, event)
        )
    return calls


def parse_request(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *lines = head.decode().split("\r\n")
    method, path, version = request_line.split(" ")
    assert (method, version) == ("POST", "HTTP/1.1")
    headers = dict(line.split(": ", 1) for line in lines)
    return path, headers, body


# ---- the traffic ----------------------------------------------------------------------------


def test_the_mix_keeps_the_given_number_of_calls_in_progress_each_call_in_order():
    mix = TrafficMix(CALLS, conversations=40, run="t1")
    events = [mix.next() for _ in range(3000)]
    calls = by_conversation(events)

    # The first round opens 40 conversations, one event each.
    assert len({e.payload["data"]["id"] for e in events[:40]}) == 40
    assert all(e.event_type == "CONVERSATION_CREATED" for e in events[:40])
    finished = 0
    for sent in calls.values():
        types = [event.event_type for _, event in sent]
        opening = ["CONVERSATION_CREATED", "PARTICIPANT_ADDED", "PARTICIPANT_ADDED"]
        assert types[:3] == opening[: len(types)]  # calls begun last may have had one turn
        assert set(types[3:-1]) <= {"COMMUNICATION_CREATED"}
        # Events of one call are a round apart: the others' turns come between them.
        positions = [position for position, _ in sent]
        assert all(b - a == 40 for a, b in itertools.pairwise(positions))
        if types[-1] == "CONVERSATION_UPDATED":
            assert sent[-1][1].payload["data"]["status"] == "CLOSED"
            finished += 1
    assert finished > 40  # slots were refilled with new calls
    assert mix.calls_started == len(calls)
    assert sum(mix.sent.values()) == 3000
    assert mix.sent["COMMUNICATION_CREATED"] > 0.7 * 3000


def test_the_mix_numbers_its_tokens_and_dates_nothing_in_the_future():
    mix = TrafficMix(CALLS, conversations=10, run="abc")
    events = [mix.next() for _ in range(500)]
    now = datetime.now(UTC)

    assert [e.idempotency_token for e in events] == [f"soak-abc-{n}" for n in range(1, 501)]
    assert [token_number(f"token:{e.idempotency_token}", "abc") for e in events[:3]] == [1, 2, 3]
    assert token_number("token:soak-abd-1", "abc") is None
    assert token_number("token:soak-abc-x", "abc") is None
    for event in events:
        moment = event.payload["timestamp"].replace("Z", "+00:00")
        assert datetime.fromisoformat(moment) <= now


def test_the_first_calls_end_at_different_times():
    mix = TrafficMix(CALLS, conversations=30, run="t2", seed=3)
    closed_at = []
    for position in range(2000):
        if mix.next().event_type == "CONVERSATION_UPDATED":
            closed_at.append(position // 30)  # the round it closed in
    assert len(set(closed_at[:30])) > 10


def test_a_signed_request_validates_for_the_public_url_whatever_host_it_is_sent_to():
    event = TrafficMix(CALLS, conversations=1, run="t3").next()
    signed = sign(event, base_url=PUBLIC, token=AUTH_TOKEN)
    path, headers, body = parse_request(request_bytes(signed, public=PUBLIC, host="127.0.0.1:8501"))

    assert headers["Host"] == "127.0.0.1:8501"
    assert int(headers["Content-Length"]) == len(body)
    assert headers["I-Twilio-Idempotency-Token"] == "soak-t3-1"
    assert RequestValidator(AUTH_TOKEN).validate(
        f"{PUBLIC}{path}", body.decode(), headers["X-Twilio-Signature"]
    )
    assert not RequestValidator("another-token").validate(
        f"{PUBLIC}{path}", body.decode(), headers["X-Twilio-Signature"]
    )


@pytest.mark.django_db
def test_the_portal_acknowledges_stores_and_processes_a_call_of_the_mix(drain):
    mix = TrafficMix(CALLS, conversations=1, run="t4")
    first = mix.next()
    sent = [first]
    while sent[-1].event_type != "CONVERSATION_UPDATED":
        sent.append(mix.next())
    client = Client()
    for event in sent:
        path, headers, body = parse_request(
            request_bytes(
                sign(event, base_url=PUBLIC, token=AUTH_TOKEN), public=PUBLIC, host="testserver"
            )
        )
        response = client.post(
            path,
            data=body,
            content_type=headers["Content-Type"],
            headers={k: v for k, v in headers.items() if k.startswith(("X-", "I-"))},
        )
        assert response.status_code == 200, response.content
    drain()

    keys = InboundEvent.objects.values_list("idempotency_key", "status")
    assert sorted(token_number(key, "t4") for key, _ in keys) == list(range(1, len(sent) + 1))
    assert {status for _, status in keys} == {"processed"}
    conversation = Conversation.objects.get(twilio_id=first.payload["data"]["id"])
    assert conversation.status == ConversationStatus.CLOSED
    assert Participant.objects.filter(conversation=conversation).count() == 2
    assert Communication.objects.filter(conversation=conversation).count() == len(sent) - 4


# ---- the HTTP client ------------------------------------------------------------------------


async def serve_once(answer: bytes) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("answer", "reusable"),
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 21\r\n\r\n{"status":"accepted"}', True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b'a\r\n{"status":\r\nb\r\n"accepted"}\r\n0\r\n\r\n',
            False,
        ),
    ],
)
async def test_the_client_reads_a_length_or_chunked_answer(answer, reusable):
    server, port = await serve_once(answer)
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Connection(reader, writer)
        status, body = await conn.post(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        conn.close()
    assert (status, body, conn.uses) == (200, b'{"status":"accepted"}', 1)
    assert reusable or not conn.reusable


async def test_a_connection_the_server_closed_is_stale():
    server, port = await serve_once(b"")
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(Stale):
            await Connection(reader, writer).post(b"POST / HTTP/1.1\r\n\r\n")


# ---- figures --------------------------------------------------------------------------------


def test_latency_summary_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert latency_summary(values) == {"n": 100, "p50": 51.0, "p90": 90.0, "p99": 99.0, "max": 100}
    assert latency_summary([]) == {"n": 0}


def test_slope_is_the_growth_per_second():
    assert slope([(t, 3 * t + 5) for t in range(10)]) == pytest.approx(3)
    assert slope([(t, 7) for t in range(10)]) == 0
    assert slope([(0, 1)]) == 0


def test_parse_stat_reads_a_name_with_spaces_and_parentheses():
    fields = ["S", "41"] + ["0"] * 9 + ["100", "20", "3", "4"] + ["0"] * 6 + ["256"]
    info = parse_stat(f"1234 (gunicorn: (worker) x) {' '.join(fields)} 0 0")
    assert (info.ppid, info.name, info.ticks) == (41, "gunicorn: (worker) x", 127)
    assert info.rss_kb == 256 * 4


def test_tree_finds_descendants_only():
    pairs = [(1, 0), (2, 1), (3, 2), (4, 1), (5, 9)]  # (pid, ppid)
    table = {pid: ProcInfo(ppid=ppid, name="p", ticks=0, rss_kb=0) for pid, ppid in pairs}
    assert tree(2, table) == [2, 3]
    assert tree(1, table) == [1, 2, 3, 4]
    assert tree(7, table) == []


def test_memory_growth_from_the_first_stable_sample_per_service_and_kept_process():
    def sample(t, pids):
        return {
            "t": t,
            "services": {
                "web": {
                    "pids": {str(p): kb for p, kb in pids.items()},
                    "names": {str(p): "gunicorn" for p in pids},
                    "rss_kb": sum(pids.values()),
                }
            },
        }

    samples = [
        sample(5, {10: 50, 11: 50}),  # warming up: not the baseline
        sample(60, {10: 100, 11: 100}),
        sample(120, {10: 130, 12: 80}),  # 11 was replaced by 12 (max_requests)
    ]
    web = memory_growth(samples, warmup=60)["services"]["web"]

    assert (web["from_kb"], web["to_kb"]) == (200, 210)
    assert web["growth"] == pytest.approx(0.05)
    assert web["replaced"] == 1
    assert web["worst_process"][0] == "10"
    assert web["worst_process"][1]["growth"] == pytest.approx(0.30)


def test_the_rss_timeline_shows_growth_per_interval_falling_as_a_cache_fills():
    def sample(t, kb):
        return {
            "t": t,
            "services": {
                "operators": {"pids": {"20": kb}, "names": {"20": "celery"}, "rss_kb": kb}
            },
        }

    # Filling until 300 s, then level: growth over the first intervals, none over the last.
    samples = [sample(t, 100_000 + min(t, 300) * 100) for t in range(0, 601, 5)]

    timeline = rss_timeline(samples, warmup=60, points=4)
    operators = timeline["services"]["operators"]

    assert timeline["t"] == [60, 240, 420, 600]
    assert operators["rss_mib"] == [
        round(v / 1024, 1) for v in (106_000, 124_000, 130_000, 130_000)
    ]
    assert operators["interval_growth"][0] == pytest.approx(18_000 / 106_000)
    assert operators["interval_growth"][-1] == 0.0
    # The verdict's reading counts the whole fill; a later baseline sees none of it.
    assert memory_growth(samples, warmup=60)["services"]["operators"]["growth"] > 0.2
    assert memory_growth(samples, warmup=300)["services"]["operators"]["growth"] == 0.0
