"""QA queue benchmark: claim-next latency under concurrent claimers, and the queue page's server
time, over a large queue.

    python -m ccportal.devstack exec -- python bench/qa.py [--items 100000] [--claimers 8]

Uses DATABASE_URL / REDIS_URL (on these machines: PostgreSQL and Redis on 127.0.0.1), in a
fresh database `<name>_bench_qa`. Steps:

1. Seed: a published rubric, `--conversations` closed calls (a customer, an agent, 10 lines and
   a script-adherence result each, copied from one real result of the embedded operator) and
   `--items` open queue items over them (priorities 1-4, due dates spread over two weeks, a
   quarter assigned to the claimers, the rest in the pool). Bulk inserts; not timed.
2. Claim next: `--claimers` threads, each its own PostgreSQL session and QA analyst, call
   ``services.queue_claim_next`` in a loop, `--claims` times each. Each claim is the whole
   service call: the `SELECT ... FOR UPDATE SKIP LOCKED`, the guarded UPDATE, the history
   line and the start of the review (rubric, participants, transcript, the AI's answers).
   Checks that no item was claimed twice.
3. Queue page: Django's test client (in process: server time, no network) GETs the queue page
   (the pool tab as an analyst, "everything" as an admin) and the API list, `--pages` times
   each; the first request of each is a warm-up.
Prints the figures; docs/benchmarks.md records them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402
from bench.timing import summary  # noqa: E402
from bench.webhook_ingest import recreate_database  # noqa: E402


def bench_database_url() -> str:
    return timing.bench_database_url("qa")


def seed(conversations: int, items: int, claimers: int) -> dict:
    from django.utils import timezone

    from apps.accounts.choices import Role
    from apps.accounts.models import Agent, Team, User
    from apps.conversations.choices import ConversationStatus, ParticipantType
    from apps.conversations.models import Communication, Conversation, Participant
    from apps.intelligence import services as intelligence
    from apps.intelligence.models import OperatorResult
    from apps.qa.choices import ItemSource, ItemStatus
    from apps.qa.models import QueueItem
    from tests.fixtures import qa as build

    started = time.monotonic()
    team = Team.objects.create(name="Bench", slug="bench")
    admin = User.objects.create_user(username="bench-admin", password="x", role=Role.ADMIN)
    analysts = [
        User.objects.create_user(username=f"bench-qa-{i}", password="x", role=Role.QA_ANALYST)
        for i in range(claimers)
    ]
    agents = Agent.objects.bulk_create(
        Agent(display_name=f"Agent {i}", team=team) for i in range(50)
    )
    build.publish_script(admin)
    intelligence.defaults_ensure()
    now = timezone.now()
    rows = Conversation.objects.bulk_create(
        (
            Conversation(
                twilio_id=f"bench_conv_{i:07d}",
                name=f"Caller {i}",
                status=ConversationStatus.CLOSED,
                channels=["VOICE"],
                started_at=now - timedelta(hours=2, minutes=i % 600),
                ended_at=now - timedelta(hours=1, minutes=i % 600),
                team=team,
                queue=("cards", "loans", "accounts")[i % 3],
            )
            for i in range(conversations)
        ),
        batch_size=5000,
    )
    participants = []
    for i, conversation in enumerate(rows):
        participants.append(
            Participant(
                twilio_id=f"bench_pc_{i}",
                conversation=conversation,
                type=ParticipantType.CUSTOMER,
                name=f"Caller {i}",
            )
        )
        participants.append(
            Participant(
                twilio_id=f"bench_pa_{i}",
                conversation=conversation,
                type=ParticipantType.HUMAN_AGENT,
                name="Agent",
                agent=agents[i % len(agents)],
            )
        )
    Participant.objects.bulk_create(participants, batch_size=5000)
    lines = (
        "thank you for calling harper valley how can i help",
        "i lost my debit card yesterday",
        "i am sorry to hear that can i have your name",
        "my name is pat",
        "thank you pat i have blocked the card",
        "will i get a new one",
        "yes a new card is on its way",
        "great thanks",
        "is there anything else i can help you with",
        "no that is all",
    )
    Communication.objects.bulk_create(
        (
            Communication(
                twilio_id=f"bench_comm_{c.pk}_{j}",
                conversation=c,
                text=text,
                occurred_at=c.started_at + timedelta(seconds=5 * j),
                offset_ms=5000 * j,
                duration_ms=2000,
            )
            for c in rows
            for j, text in enumerate(lines)
        ),
        batch_size=10000,
    )
    # One real adherence result (the embedded operator on the first call), copied to every call.
    intelligence.conversations_backfill(conversation_ids=[rows[0].pk])
    model = (
        OperatorResult.objects.filter(
            conversation=rows[0], definition__operator__key="script-adherence"
        )
        .order_by("-id")
        .first()
    )
    OperatorResult.objects.bulk_create(
        (
            OperatorResult(
                result_id=f"bench_result_{c.pk}",
                source=model.source,
                conversation=c,
                operator_id=model.operator_id,
                operator_name=model.operator_name,
                operator_version=model.operator_version,
                output_format=model.output_format,
                result=model.result,
                definition_id=model.definition_id,
                rubric_version_id=model.rubric_version_id,
                date_created=c.ended_at,
            )
            for c in rows[1:]
        ),
        batch_size=5000,
    )
    QueueItem.objects.bulk_create(
        (
            QueueItem(
                conversation=rows[i % len(rows)],
                source=ItemSource.SAMPLING,
                source_key=f"bench:{i // len(rows)}",
                reason=f"Sampled #{i}",
                priority=1 + (i * 7) % 4,
                due_at=now + timedelta(minutes=(i * 37) % (14 * 24 * 60)),
                status=ItemStatus.OPEN,
                assignee=analysts[(i // 4) % len(analysts)] if i % 4 == 0 else None,
                agent=agents[i % len(agents)],
            )
            for i in range(items)
        ),
        batch_size=10000,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "admin": admin,
        "analysts": analysts,
        "seconds": time.monotonic() - started,
    }


def _claimer(user_id: int, claims: int, start: Any, out: Any, with_review: bool) -> None:
    """One claimer process: its own PostgreSQL session, as a web worker process would have."""
    from django.db import connections

    from apps.accounts.models import User
    from apps.qa import services

    connections.close_all()  # never share the parent's connection
    user = User.objects.get(pk=user_id)
    claim_times: list[float] = []
    total_times: list[float] = []
    got: list[int] = []
    # Warm up as a running web worker is: a connection, the code imported, one claim (and its
    # review) done and not timed.
    warm = services.queue_claim_next(user=user)
    if warm is not None:
        got.append(warm.pk)
        if with_review:
            services.review_start(item=warm, reviewer=user)
    start.wait()
    try:
        work(user, claims, with_review, claim_times, total_times, got)
    finally:
        out.put((claim_times, total_times, got))


def work(
    user: Any, claims: int, with_review: bool, claim_times: list, total_times: list, got: list
) -> None:
    from apps.qa import services

    for _ in range(claims):
        began = time.perf_counter()
        item = services.queue_claim_next(user=user)
        claimed = time.perf_counter()
        if item is not None and with_review:
            services.review_start(item=item, reviewer=user)
        claim_times.append(claimed - began)
        total_times.append(time.perf_counter() - began)
        if item is not None:
            got.append(item.pk)


def bench_claims(analysts: list, claims: int, *, with_review: bool) -> tuple[list, list, list]:
    """``len(analysts)`` processes claiming at once, ``claims`` each, no pause between claims
    (the harshest case: eight people who click "claim next" the moment they finish)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    start = context.Barrier(len(analysts))
    out = context.Queue()
    workers = [
        context.Process(target=_claimer, args=(user.pk, claims, start, out, with_review))
        for user in analysts
    ]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [out.get() for _ in workers]
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    claim_times = [t for r in results for t in r[0]]
    total_times = [t for r in results for t in r[1]]
    claimed = [pk for r in results for pk in r[2]]
    print(f"  {len(claimed)} claims in {wall:.1f} s = {len(claimed) / wall:.0f} claims/s")
    return claim_times, total_times, claimed


def bench_pages(admin, analyst, pages: int) -> None:
    from django.test import Client

    for user, paths in (
        (analyst, ["/qa/?tab=pool", "/qa/", "/api/qa/items/?tab=pool"]),
        (admin, ["/qa/?tab=all", "/qa/?tab=all&sort=due", "/qa/?tab=all&q=Caller+42"]),
    ):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        for path in paths:
            client.get(path)  # warm-up
            times = []
            for _ in range(pages):
                started = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
            print(summary(f"GET {path} ({user.username})", times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=5_000)
    parser.add_argument("--claimers", type=int, default=8)
    parser.add_argument("--claims", type=int, default=150, help="claims per claimer")
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()

    url = bench_database_url()
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    os.environ.setdefault("SECRET_KEY", "bench")
    # Persistent connections without a pool, as the WSGI web processes run them: the claimer
    # processes are forked, and a pool's sockets must not be shared across a fork.
    os.environ["DB_POOL"] = "false"
    os.environ["DB_CONN_MAX_AGE"] = "600"
    import django

    django.setup()
    from django.core.management import call_command

    from apps.qa.models import QueueItem

    call_command("migrate", verbosity=0)
    seeded = seed(args.conversations, args.items, args.claimers)
    open_items = QueueItem.objects.filter(status="OPEN").count()
    print(
        f"seeded {args.conversations:,} conversations, {open_items:,} open items in "
        f"{seeded['seconds']:.0f} s; {args.claimers} claimers x {args.claims} claims"
    )
    one, _, _ = bench_claims(seeded["analysts"][:1], args.claims, with_review=False)
    print(summary("claim next (1 claimer)", one))
    claims, _, claimed = bench_claims(seeded["analysts"], args.claims, with_review=False)
    print(summary(f"claim next ({args.claimers} concurrent claimers)", claims))
    claims, totals, more = bench_claims(seeded["analysts"], args.claims // 2, with_review=True)
    print(summary("  the claim, when each then opens its review", claims))
    print(summary(f"claim next + start the review ({args.claimers})", totals))
    everything = claimed + more
    assert len(everything) == len(set(everything)), "an item was claimed twice"
    bench_pages(seeded["admin"], seeded["analysts"][0], args.pages)


if __name__ == "__main__":
    main()
