"""No query string answers 5xx: arbitrary text in every query parameter of every GET endpoint.

The endpoints and their parameters come from the OpenAPI schema (drf-spectacular), so a new
endpoint or filter is fuzzed without anyone listing it here. Path ids are real: each detail
endpoint is asked about an object of the demo data, reached through its list endpoint.
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote, urlencode

import pytest
from django.db import transaction
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.accounts.choices import Role
from apps.accounts.models import User
from apps.demo.qa import demo_calibration_load, demo_qa_load
from apps.demo.services import demo_intelligence_load, demo_load
from apps.demo.wrapups import demo_wrapups_load
from apps.qa import services as qa_services
from apps.rubrics import services as rubric_services
from apps.rubrics.models import RubricVersion
from tests.fixtures import builders
from tests.fixtures.demo import CALLS, LINDA_MISSED_A_STEP, SAMPLE

pytestmark = pytest.mark.django_db


def _get_operations() -> list[tuple[str, list[str]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in sorted(schema["paths"].items()):
        if "get" in methods:
            parameters = methods["get"].get("parameters", [])
            query = sorted(p["name"] for p in parameters if p["in"] == "query")
            operations.append((path, query))
    return operations


OPERATIONS = _get_operations()
FILTERED = [(path, parameters) for path, parameters in OPERATIONS if parameters]
DETAILS = [path for path, _ in OPERATIONS if "{" in path]
# Any text a client can put in a URL: NUL, controls, other scripts' digits ("²", "٣"), huge
# numbers, SQL and JSON punctuation.
NASTY = ["²", "٣", "-1", "0", "1e309", "9" * 40, "\x00", "%", "'", "[]", "{}", " ", "true"]
VALUES = st.one_of(st.text(max_size=40), st.sampled_from(NASTY), st.integers().map(str))


@pytest.fixture(scope="module")
def fuzz_admin(django_db_setup, django_db_blocker):
    """The data every endpoint is asked about (the QA demo, a calibration session, an impact
    preview, coaching), made once for the module inside a transaction that is rolled back at
    its end: each test runs in a savepoint within it, as in Django's ``setUpTestData``. Made per
    test, it cost about two seconds for each of the 83 endpoints."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            demo_load(calls=[CALLS[sid] for sid in [*SAMPLE, LINDA_MISSED_A_STEP]])
            demo_intelligence_load(shadow=False)
            demo_qa_load()
            demo_wrapups_load()
            admin = builders.make_user(username="fuzz-admin", role=Role.ADMIN)
            demo_calibration_load()
            _impact_preview(admin)
            _coaching(admin)
            _erasure(admin)
            yield admin.pk
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def admin_client(client, db, fuzz_admin):
    client.force_login(User.objects.get(pk=fuzz_admin))
    return client


def _coaching(admin) -> None:
    """A coaching session with an action item and a goal, and a template (the demo's coaching
    needs more calls than this fixture loads)."""
    from apps.accounts.models import Agent
    from apps.coaching.choices import Metric
    from apps.coaching.services import actions, goals, sessions, templates

    agent = Agent.objects.order_by("pk").first()
    session = sessions.session_plan(
        user=admin, agent_id=agent.pk, scheduled_at=timezone.now(), title="Fuzz coaching"
    )
    actions.action_item_add(user=admin, session=session, text="Try the opening")
    goals.goal_set(
        user=admin, agent_id=agent.pk, metric=Metric.QA_SCORE, target=90.0,
        due_on=timezone.localdate() + timedelta(days=30), session_id=session.pk,
    )  # fmt: skip
    templates.template_create(user=admin, name="Fuzz template", agenda="1. Listen")


def _erasure(admin) -> None:
    """A customer's erasure request, filed (not processed: the demo keeps its customers)."""
    from apps.privacy import services as privacy

    privacy.erasure_file(user=admin, kind="ADDRESS", identifier="+15550100199")


def _impact_preview(admin) -> None:
    """A finished impact preview of a draft of the demo rubric, for its endpoints to be asked."""
    published = RubricVersion.objects.get(status="PUBLISHED")
    draft = rubric_services.version_new_draft(rubric=published.rubric, actor=admin)
    preview = qa_services.impact_preview_start(user=admin, version=draft, days=365)
    qa_services.impact_preview_run(preview_id=preview.pk)


def _concrete(client, path: str) -> str | None:
    """``path`` with its ids replaced by those of real objects (None: no object to ask about)."""
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return path
    listing = path.split("{", 1)[0]
    response = client.get(listing, {"page_size": 1})
    assert response.status_code == 200, (listing, response.status_code)
    body = response.json()
    rows = body.get("results", body) if isinstance(body, dict) else body
    if not rows:
        return None
    first = rows[0]
    return re.sub(r"{\w+}", str(first.get("id", first.get("pk"))), path, count=1)


@pytest.mark.parametrize(("path", "parameters"), FILTERED, ids=[p for p, _ in FILTERED])
def test_no_query_string_answers_a_server_error(admin_client, path, parameters):
    url = _concrete(admin_client, path)
    assert url is not None, f"the demo data has nothing for {path}"

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(query=st.dictionaries(st.sampled_from(parameters), VALUES, max_size=4))
    def ask(query):
        response = admin_client.get(f"{url}?{urlencode(query)}")
        assert response.status_code < 500, (url, query, response.status_code)

    for name in parameters:  # every nasty value in every parameter, then random ones
        for value in NASTY:
            ask.hypothesis.inner_test(query={name: value})
    ask()


@pytest.mark.parametrize("path", DETAILS)
def test_no_id_in_the_path_answers_a_server_error(admin_client, path):
    prefix, rest = path.split("{", 1)
    suffix = rest.split("}", 1)[1]
    real = _concrete(admin_client, path)
    assert real is not None, f"the demo data has nothing for {path}"
    tail = re.sub(r"{\w+}", "1", suffix)  # nested ids after the first: any number

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(value=VALUES.filter(lambda v: v not in ("", ".", "..")))
    def ask(value):
        response = admin_client.get(f"{prefix}{quote(value, safe='')}{tail}")
        assert response.status_code < 500, (path, value, response.status_code)

    for value in NASTY:
        if value.strip():
            ask.hypothesis.inner_test(value=value)
    ask()
