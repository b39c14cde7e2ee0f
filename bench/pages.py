"""Pages at a million communications (issue 17): every page and API list a user opens, as each
role that opens it, server time in process.

    python -m ccportal.devstack exec -- python bench/pages.py [--conversations 60000] [--reuse]
        [--only SUBSTRING] [--runs 15]

Uses DATABASE_URL, in a database ``<name>_bench_pages`` (made anew unless ``--reuse`` finds it
filled). Steps:

1. Data (not timed against a target; the time is printed): migrate, ``load_demo --no-shadow``
   (rubric, teams, agents, the five demo logins), ``generate_conversations`` (the insights
   benchmark's generator: COPY) for ``--conversations`` calls and then more until there are
   ``--communications`` lines, ``insights_rebuild()`` (facts and rollups for the dashboards),
   then what the later issues' lists need beyond that, written set-wise in SQL (QA queue items,
   transcript-access rows; reviews and their audit rows come from the generator), then
   ``VACUUM (ANALYZE)``.
2. Pages: Django's test client in process (server time, no network), logged in as the demo's
   admin, qa, coach (two teams), supervisor (one team) and agent (own calls); per page and role
   one warm-up GET, then ``--runs`` timed GETs; median, p95, the query count of the last GET
   and the median time spent in SQL (Django's own clock around each query).
   Pages over 100 ms (median) are flagged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import timing  # noqa: E402


def sizes() -> dict[str, int]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in (
            "conversations_conversation",
            "conversations_communication",
            "conversations_participant",
            "qa_review",
            "qa_queueitem",
            "coaching_coachingsession",
            "conversations_transcriptaccess",
            "audit_reviewevent",
        ):
            try:
                cursor.execute(f"SELECT count(*) FROM {table}")
                out[table] = cursor.fetchone()[0]
            except Exception:  # a table named differently: report, go on
                connection.rollback() if not connection.in_atomic_block else None
                out[table] = -1
    return out


def data(conversations: int, communications: int, reuse: bool) -> None:
    """``conversations`` generated calls, then more (5,000 at a time) until there are
    ``communications`` lines; the facts and rollups rebuilt."""
    from django.core.management import call_command

    from apps.demo.generate import generate_conversations

    have = sizes()
    if (
        reuse
        and have["conversations_conversation"] >= conversations
        and have["conversations_communication"] >= communications
    ):
        print("Reusing the data already in the bench database.")
        return
    began = time.monotonic()
    if not have["conversations_conversation"]:
        call_command("load_demo", "--no-shadow", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    seed = 7 if not have["conversations_conversation"] else 100 + have["conversations_conversation"]
    missing = max(0, conversations - sizes()["conversations_conversation"])
    total = generate_conversations(conversations=missing, days=120, seed=seed)
    lines = sizes()["conversations_communication"]
    while lines < communications:
        seed += 1
        more = generate_conversations(conversations=5000, days=120, seed=seed)
        total.conversations += more.conversations
        total.communications += more.communications
        total.reviews += more.reviews
        lines += more.communications
    print(
        f"Generated {total.conversations:,} conversations, {total.communications:,} "
        f"communications, {total.reviews:,} reviews in {time.monotonic() - began:.0f} s "
        "(with the demo load)."
    )
    from apps.insights.services import insights_rebuild

    began = time.monotonic()
    insights_rebuild()
    print(f"Insights rebuilt in {time.monotonic() - began:.0f} s.")


def extras() -> None:
    """What the later issues' pages list, at a size to go with the calls: open QA queue items
    (a third of the calls), transcript-access rows (300,000) and the notifications of a busy
    floor. Set-wise SQL; each part only if its table is (nearly) empty."""
    from django.db import connection

    began = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM qa_queueitem")
        if cursor.fetchone()[0] < 1000:
            cursor.execute(
                "SELECT array_agg(id ORDER BY id) FROM accounts_user "
                "WHERE role IN ('qa_analyst', 'admin', 'coach')"
            )
            reviewers = cursor.fetchone()[0]
            cursor.execute(
                """
                INSERT INTO qa_queueitem (created_at, updated_at, source, source_key, reason,
                    priority, due_at, status, claimed_from_pool, removed_reason, period, pick,
                    conversation_id, assignee_id, agent_id)
                SELECT coalesce(c.ended_at, now()), coalesce(c.ended_at, now()), 'SAMPLING',
                    'bench:pages', 'Sampled for the pages benchmark', 1 + c.id %% 4,
                    coalesce(c.ended_at, now()) + interval '3 days', 'OPEN', false, '', '',
                    '{}'::jsonb, c.id,
                    CASE WHEN c.id %% 4 = 0 THEN (%(r)s::bigint[])[1 + (c.id / 4) %% %(n)s] END,
                    (SELECT p.agent_id FROM conversations_participant p
                     WHERE p.conversation_id = c.id AND p.agent_id IS NOT NULL LIMIT 1)
                FROM conversations_conversation c WHERE c.id %% 3 = 0
                """,
                {"r": reviewers, "n": len(reviewers)},
            )
        cursor.execute("SELECT count(*) FROM conversations_transcriptaccess")
        if cursor.fetchone()[0] < 1000:
            cursor.execute(
                """
                INSERT INTO conversations_transcriptaccess (user_id, username, conversation_id,
                    conversation_twilio_id, channel, reason, sensitive, path, ip, created_at)
                SELECT u.id, u.username, c.id, c.twilio_id,
                    (ARRAY['PAGE', 'API', 'EXPORT', 'LIVE'])[1 + g % 4],
                    CASE WHEN g % 10 = 0 THEN 'customer complaint follow-up' ELSE '' END,
                    g % 10 = 0, '/conversations/' || c.id || '/', '10.0.0.1',
                    now() - (g || ' minutes')::interval
                FROM generate_series(1, 300000) g
                JOIN conversations_conversation c
                  ON c.id = (SELECT min(id) FROM conversations_conversation) + g % 60000
                JOIN accounts_user u ON u.id = (
                    SELECT id FROM accounts_user ORDER BY id OFFSET g % 5 LIMIT 1)
                """
            )
        # Generated rows are not vacuumed yet: without the visibility map no scan is index-only
        # (a live database has autovacuum behind it).
        cursor.execute("VACUUM (ANALYZE)")
    print(f"Extras (queue items, access log) in {time.monotonic() - began:.0f} s.")


ROLES = ("admin", "qa", "coach", "supervisor", "agent")
STAFF = ("admin", "qa", "coach", "supervisor")
LIMIT_MS = 100.0


@dataclass
class Case:
    label: str
    path: str  # may hold {conversation}, {agent}, {team}, {review}, {last} (per role)
    roles: tuple[str, ...]
    params: dict[str, str] = field(default_factory=dict)


def cases() -> list[Case]:
    from django.utils import timezone

    today = timezone.localdate()
    week = {"started_after": (today - timedelta(days=6)).isoformat()}
    day = {
        "started_after": (today - timedelta(days=20)).isoformat(),
        "started_before": (today - timedelta(days=20)).isoformat(),
    }
    last90 = {"from": (today - timedelta(days=89)).isoformat(), "to": today.isoformat()}
    return [
        # The conversation list, each role's scope.
        Case("conversations", "/conversations/", ROLES),
        Case("conversations, page 50", "/conversations/", ROLES, {"page": "50"}),
        Case("conversations, page 500", "/conversations/", STAFF, {"page": "500"}),
        Case("conversations, last page", "/conversations/", ROLES, {"page": "{last}"}),
        Case("search a word (card)", "/conversations/", ROLES, {"q": "card"}),
        Case("search a phrase", "/conversations/", ROLES, {"q": '"lost my card"'}),
        Case("search a rare word", "/conversations/", ("admin", "supervisor"), {"q": "checkbook"}),
        Case(
            "search, page 20",
            "/conversations/",
            ("admin", "supervisor"),
            {"q": "card", "page": "20"},
        ),
        Case("filter channel SMS", "/conversations/", ROLES, {"channel": "SMS"}),
        Case("filter last 7 days", "/conversations/", ROLES, week),
        Case("filter one day, 3 weeks ago", "/conversations/", ("admin", "supervisor"), day),
        Case("filter agent", "/conversations/", STAFF, {"agent": "{agent}"}),
        Case(
            "filter team", "/conversations/", ("admin", "coach", "supervisor"), {"team": "{team}"}
        ),
        Case(
            "filter status closed", "/conversations/", ("admin", "supervisor"), {"status": "CLOSED"}
        ),
        Case("filter queue", "/conversations/", ("admin", "supervisor"), {"queue": "{queue}"}),
        Case(
            "filter SMS + 7 days + agent",
            "/conversations/",
            ("admin", "supervisor"),
            {"channel": "SMS", "agent": "{agent}", **week},
        ),
        Case(
            "conversation page",
            "/conversations/{conversation}/",
            ("admin", "qa", "supervisor", "agent"),
        ),
        # The API lists.
        Case("API conversations", "/api/conversations/", ROLES),
        Case("API conversations, page 50", "/api/conversations/", ROLES, {"page": "50"}),
        Case(
            "API conversations, page 500",
            "/api/conversations/",
            ("admin", "supervisor"),
            {"page": "500"},
        ),
        Case(
            "API conversations, search card",
            "/api/conversations/",
            ("admin", "supervisor"),
            {"q": "card"},
        ),
        Case("API conversation", "/api/conversations/{conversation}/", ("admin", "agent")),
        Case(
            "API transcript",
            "/api/conversations/{conversation}/communications/",
            ("admin", "agent"),
        ),
        Case("API communications", "/api/communications/", ROLES),
        Case(
            "API communications, newest first",
            "/api/communications/",
            ("admin", "supervisor"),
            {"ordering": "-occurred_at"},
        ),
        Case(
            "API communications, search card",
            "/api/communications/",
            ("admin", "supervisor"),
            {"q": "card"},
        ),
        Case(
            "API communications of a call",
            "/api/communications/",
            ("admin", "supervisor"),
            {"conversation": "{conversation}"},
        ),
        Case("API participants", "/api/participants/", ROLES),
        Case("API QA reviews", "/api/qa/reviews/", ROLES),
        Case("API QA items", "/api/qa/items/", ("admin", "qa", "coach")),
        Case("API QA disputes", "/api/qa/disputes/", ROLES),
        Case("API coaching sessions", "/api/coaching/sessions/", ROLES),
        Case("API wrap-ups", "/api/wrapups/", ROLES),
        Case("API profiles", "/api/profiles/", ROLES),
        Case("API executions", "/api/executions/", STAFF),
        Case("API access log", "/api/access-log/", ("admin",)),
        Case("API audit events", "/api/audit/events/", ("admin",)),
        Case(
            "API insights conversations",
            "/api/insights/conversations/",
            ("admin", "supervisor"),
            last90,
        ),
        Case("API floor", "/api/floor/", STAFF),
        # The later issues' pages.
        Case("QA queue", "/qa/", ("admin", "qa", "coach")),
        Case("QA queue, pool", "/qa/", ("qa",), {"tab": "pool"}),
        Case("QA queue, everything", "/qa/", ("admin",), {"tab": "all"}),
        Case("QA reviews", "/qa/reviews/", STAFF),
        Case("QA my reviews", "/qa/reviews/mine/", ("agent",)),
        Case("QA review page", "/qa/reviews/{review}/", ("admin", "supervisor")),
        Case("QA disputes", "/qa/disputes/", STAFF),
        Case("QA stats", "/qa/stats/", ("admin", "qa", "coach")),
        Case("QA calibration", "/qa/calibration/", ("admin", "qa", "coach")),
        Case("QA policies", "/qa/policies/", ("admin",)),
        Case("insights overview, 90 days", "/insights/", ROLES, last90),
        Case("insights drill-down, 90 days", "/insights/conversations/", ROLES, last90),
        Case("insights agents, 90 days", "/insights/agents/", ("admin", "supervisor"), last90),
        Case("live floor", "/live/", STAFF),
        Case("coaching home", "/coaching/", ROLES),
        Case("coaching sessions", "/coaching/sessions/", ROLES),
        Case("coaching goals", "/coaching/goals/", ROLES),
        Case("coaching agent scorecard", "/coaching/agents/{agent}/", ("admin", "supervisor")),
        Case("audit trail", "/audit/", ("admin",)),
        Case("audit trail, page 50", "/audit/", ("admin",), {"page": "50"}),
        Case("access log", "/admin-tools/access-log/", ("admin",)),
        Case("access log, page 500", "/admin-tools/access-log/", ("admin",), {"page": "500"}),
        Case("access log, one user", "/admin-tools/access-log/", ("admin",), {"user": "qa"}),
        Case("privacy", "/privacy/", ("admin",)),
        Case("privacy erasures", "/privacy/erasures/", ("admin",)),
        Case("rubrics", "/rubrics/", STAFF),
        Case("knowledge", "/intelligence/knowledge/", ROLES),
        Case("customers", "/intelligence/customers/", ROLES),
        Case("rules", "/intelligence/rules/", STAFF),
        Case("notifications", "/notifications/", ROLES),
    ]


def objects(username: str) -> dict[str, str]:
    """Ids for a role's paths: one of its conversations (with an agent), that agent, its team,
    a review it may read, the last page of its conversation list, a queue name."""
    from django.test import RequestFactory

    from apps.accounts.models import User
    from apps.conversations import selectors as conversations
    from apps.qa.models import Review

    user = User.objects.get(username=username)
    visible = conversations.conversation_list(user=user)
    out: dict[str, str] = {}
    row = (
        visible.filter(participants__agent__isnull=False, team__isnull=False)
        .values("pk", "participants__agent", "team", "queue")
        .first()
    )
    if row:
        out |= {
            "conversation": str(row["pk"]),
            "agent": str(row["participants__agent"]),
            "team": str(row["team"]),
            "queue": row["queue"],
        }
    review = Review.objects.filter(status="SUBMITTED", conversation__in=visible.values("pk"))
    out["review"] = str(review.values_list("pk", flat=True).first() or 0)
    out["last"] = str(max(1, -(-visible.count() // 25)))
    del RequestFactory
    return out


def run_pages(runs: int, only: str) -> list[tuple[str, str, float, float, int, int]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User

    clients, ids = {}, {}
    for username in ROLES:
        client = Client(HTTP_HOST="localhost")
        client.force_login(User.objects.get(username=username))
        clients[username] = client
        ids[username] = objects(username)
    rows = []
    for case in cases():
        if only and only.lower() not in case.label.lower():
            continue
        for username in case.roles:
            client = clients[username]
            path = case.path.format(**ids[username])
            params = {k: v.format(**ids[username]) for k, v in case.params.items()}
            response = client.get(path, params)  # warm-up
            status = response.status_code
            times = []
            sql = []
            queries = 0
            for _ in range(runs):
                with CaptureQueriesContext(connection) as captured:
                    began = time.perf_counter()
                    response = client.get(path, params)
                    if hasattr(response, "streaming_content"):
                        b"".join(response.streaming_content)
                    times.append(time.perf_counter() - began)
                queries = len(captured)
                sql.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            ms = [t * 1000 for t in times]
            median = statistics.median(ms)
            rows.append((case.label, username, median, timing.percentile(ms, 95), queries, status))
            flag = "  OVER" if median > LIMIT_MS else ""
            if status != 200:
                flag += f"  (status {status})"
            print(
                f"{case.label:<36} {username:<10} p50 {median:7.1f} ms  "
                f"p95 {timing.percentile(ms, 95):7.1f} ms  {queries:3d} q  "
                f"sql {statistics.median(sql):6.1f} ms{flag}",
                flush=True,
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=60000)
    parser.add_argument("--communications", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--fill-only", action="store_true")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", default="", help="only the pages whose label contains this")
    args = parser.parse_args()
    # The pages themselves, not the form asking for a reason to read outside one's usual work
    # (the reads are still logged, one INSERT each).
    os.environ["ACCESS_REASON_MODE"] = "never"
    timing.bench_django("pages", reuse=args.reuse)
    data(args.conversations, args.communications, args.reuse)
    extras()
    print("Sizes:", ", ".join(f"{k} {v:,}" for k, v in sizes().items()))
    if args.fill_only:
        return
    rows = run_pages(args.runs, args.only)
    over = [r for r in rows if r[2] > LIMIT_MS]
    print(f"{len(rows)} page x role measured, {len(over)} over {LIMIT_MS:.0f} ms (median):")
    for label, username, median, p95, queries, _status in over:
        print(f"  {label} as {username}: {median:.0f} ms (p95 {p95:.0f}, {queries} queries)")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
