"""Personas and builders shared by every test.

The world: two teams (north, south), an agent on each, and one user per role. The supervisor
and coach lead north only; the outsider has an account and no role, and must see nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.test import Client
from hypothesis import settings as hypothesis_settings

from apps.accounts.choices import Role
from apps.accounts.models import Agent, Team, User
from apps.conversations.models import Conversation
from tests.fixtures import builders
from tests.fixtures.llm_server import llm_server_fixture  # noqa: F401

pytest_plugins = [
    "tests.fixtures.browser",  # browser, sync_api
    "tests.fixtures.demo",  # demo_calls, demo_qa
]

# CI replays the same generated cases every run (a submission passes or fails for its code, not
# its luck); developers' runs keep exploring new ones and remember failures in .hypothesis/.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # With DATABASE_REPLICA_URL set, the tests' replica is a database of its own (not a mirror),
    # so tests/common/test_replica.py can tell which one a read went to; it needs the schema,
    # which a real replica would get from the primary's WAL.
    from django.db.models.signals import pre_migrate

    from apps.common.replica import allow_schema_on_test_replica

    allow_schema_on_test_replica()
    pre_migrate.connect(_trigrams_on_test_replica, dispatch_uid="trigrams-on-test-replica")


def _trigrams_on_test_replica(sender, using, **kwargs):
    """The test replica's tables are made from the models, not by the migrations, so the
    extension conversations 0004 creates before its trigram indexes is made here first."""
    if using != "replica":
        return
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is not None:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")


@pytest.fixture(autouse=True)
def _replica_only_when_asked(request, settings):
    # Only tests that ask for the "replica" database may query it; every other test reads
    # from the primary, as a deployment without a replica does.
    marker = request.node.get_closest_marker("django_db")
    databases = marker.kwargs.get("databases", ()) if marker else ()
    if "replica" not in databases:
        settings.READ_REPLICA = ""


@pytest.fixture(autouse=True, scope="session")
def _flush_by_delete():
    """Empty the tables after a transactional test with DELETE, not TRUNCATE: the same tables,
    the same result, about 0.15 s instead of 1 s on these machines (TRUNCATE makes new files
    for 200 tables, partitions and their indexes; the tests leave a few rows). Triggers and
    foreign-key checks are off for that transaction (``session_replication_role = replica``,
    as TRUNCATE fires no row trigger either), so the order does not matter and the audit
    triggers record nothing. Needs a superuser (the test databases here and the embedded
    server); otherwise, or when sequences are to be reset, Django's TRUNCATE as before."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    superuser: dict[str, bool] = {}

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        alias = self.connection.alias
        if alias not in superuser:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                superuser[alias] = bool(cursor.fetchone()[0])
        if reset_sequences or not tables or not superuser[alias]:
            return original(
                self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
            )
        deletes = [f"DELETE FROM {self.quote_name(table)};" for table in tables]
        return ["SET LOCAL session_replication_role = replica;", *deletes]

    DatabaseOperations.sql_flush = sql_flush
    yield
    DatabaseOperations.sql_flush = original


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Personas get real passwords; the production hasher costs about half a second each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_access_reason_prompts(settings):
    # Reads are still logged everywhere; only the reason prompt is off, so tests of other
    # features read transcripts as admins and analysts without first answering "why?".
    # tests/conversations/test_access_log.py sets each mode it tests.
    settings.ACCESS_REASON_MODE = "never"


@dataclass
class World:
    north: Team
    south: Team
    admin: User
    qa_analyst: User
    coach: User
    supervisor: User
    agent_user: User
    other_agent_user: User
    outsider: User
    agent: Agent  # north, logs in as agent_user
    other_agent: Agent  # south
    north_call: Conversation  # handled by agent
    south_call: Conversation  # handled by other_agent


@pytest.fixture
def world(db) -> World:
    north = builders.make_team(name="North")
    south = builders.make_team(name="South")
    agent_user = builders.make_user(username="alice", role=Role.AGENT, teams=[north])
    other_agent_user = builders.make_user(username="bob", role=Role.AGENT, teams=[south])
    agent = builders.make_agent(name="Alice", team=north, user=agent_user)
    other_agent = builders.make_agent(name="Bob", team=south, user=other_agent_user)
    return World(
        north=north,
        south=south,
        admin=builders.make_user(username="ada", role=Role.ADMIN),
        qa_analyst=builders.make_user(username="quinn", role=Role.QA_ANALYST),
        coach=builders.make_user(username="cora", role=Role.COACH, teams=[north]),
        supervisor=builders.make_user(username="sam", role=Role.SUPERVISOR, teams=[north]),
        agent_user=agent_user,
        other_agent_user=other_agent_user,
        outsider=builders.make_user(username="olly", role=""),
        agent=agent,
        other_agent=other_agent,
        north_call=builders.make_conversation(
            agent=agent,
            customer_name="Nora North",
            texts=[
                ("agent", "thank you for calling harper valley"),
                ("customer", "i lost my debit card"),
            ],
        ),
        south_call=builders.make_conversation(
            agent=other_agent,
            customer_name="Sid South",
            texts=[("agent", "hello how can i help"), ("customer", "i want to pay a bill")],
        ),
    )


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def client_for():
    """``client_for(user)`` returns a Django test client logged in as ``user``."""
    return login


def pytest_terminal_summary(terminalreporter):
    """Say once how to run the browser tests when they were skipped for want of Chromium."""
    from tests.fixtures.browser import INSTALL_HINT, NO_CHROMIUM

    skipped = terminalreporter.stats.get("skipped", [])
    if any(NO_CHROMIUM in str(report.longrepr) for report in skipped):
        terminalreporter.write_line(INSTALL_HINT, yellow=True)
