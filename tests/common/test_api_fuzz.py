"""No query string answers 5xx: arbitrary text in every query parameter of every GET endpoint.

The endpoints and their parameters come from the OpenAPI schema (drf-spectacular), so a new
endpoint or filter is fuzzed without anyone listing it here. Path ids are real: each detail
endpoint is asked about an object of the demo data, reached through its list endpoint.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote, urlencode

import pytest
import requests
import schemathesis
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from tests.fixtures.fuzz_world import PERSONAS, FuzzWorld, PersonaClients, world_in_rollback

# CI runs it on the oldest Python only (pyproject.toml, marker "once"; .ci/run).
pytestmark = [pytest.mark.django_db, pytest.mark.once]


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
def fuzz_world(django_db_setup, django_db_blocker):
    """The data every endpoint is asked about (the QA demo, a calibration session, an impact
    preview, coaching, one user per persona), made once for the module inside a transaction
    that is rolled back at its end: each test runs in a savepoint within it, as in Django's
    ``setUpTestData``. Made per test, it cost about two seconds for each of the 83 endpoints."""
    with world_in_rollback(django_db_blocker) as world:
        yield world


@pytest.fixture
def admin_client(db, persona_clients):
    return persona_clients["admin"]


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


# Every operation of the schema, as every persona (schemathesis). -------------------------------
#
# Schemathesis makes each request (valid and invalid bodies, queries and ids) from the schema;
# it is sent with Django's test client (in the test's transaction, no CSRF), once as each
# persona. Every answer must be below 500, and must not show anything outside the persona's
# scope: ``tests/fixtures/fuzz_world.py`` works out, from the rows, the ids each may see.
# FUZZ_EXAMPLES=50 runs deeper (bench/fuzz_api.py prints the figures).

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1"))
# bench/fuzz_api.py reads how many requests were sent and how they were answered.
STATS: dict[str, int] = {}
SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
API_OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}

# The resource an operation's first path id names (a 2xx for an id outside the persona's
# scope is a leak, whatever the body says).
PATH_RESOURCE = {
    "/api/conversations/{id}": "conversations",
    "/api/communications/{id}": "communications",
    "/api/participants/{id}": "participants",
    "/api/wrapups/{id}": "wrapups",
    "/api/coaching/agents/{agent_id}": "agents",
}
# The resource the rows (or the object) of a GET answer are.
BODY_RESOURCE = {
    "/api/conversations/": "conversations",
    "/api/conversations/{id}/": "conversations",
    "/api/communications/": "communications",
    "/api/communications/{id}/": "communications",
    "/api/conversations/{id}/communications/": "communications",
    "/api/participants/": "participants",
    "/api/participants/{id}/": "participants",
    "/api/wrapups/": "wrapups",
    "/api/wrapups/{id}/": "wrapups",
    "/api/conversations/{id}/wrapup/": "wrapups",
    "/api/coaching/agents/": "agents",
}
# Keys that name a conversation or an agent anywhere in an answer.
REFERENCES = {
    "conversation": "conversations",
    "conversation_id": "conversations",
    "conversations": "conversations",
    "agent": "agents",
    "agent_id": "agents",
}


@pytest.fixture(scope="module")
def persona_clients(fuzz_world, django_db_blocker):
    """A client per persona, signed in once in the module's transaction."""
    with django_db_blocker.unblock():
        return PersonaClients(fuzz_world)


def _send(client: Client, case):
    """``case`` as schemathesis would send it with requests, through Django's test client."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    names = ("method", "url", "headers", "params", "data", "json", "files")
    request = requests.Request(**{name: kwargs[name] for name in names if name in kwargs})
    prepared = request.prepare()
    url = prepared.url.removeprefix("http://testserver")
    body = prepared.body or b""
    content_type = prepared.headers.get("Content-Type", "application/octet-stream")
    return client.generic(prepared.method, url, data=body, content_type=content_type)


def _rows(body) -> list:
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return body["results"]
    return body if isinstance(body, list) else [body]


def _references(body):
    """(resource, id) for every conversation or agent an answer names, at any depth."""
    if isinstance(body, list):
        for item in body:
            yield from _references(item)
    elif isinstance(body, dict):
        for key, value in body.items():
            resource = REFERENCES.get(key)
            # A plural key with a number is a count ("conversations": 12), not an id.
            if resource and (isinstance(value, list) or not key.endswith("s")):
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        item = item.get("id")
                    if isinstance(item, int) and not isinstance(item, bool):
                        yield resource, item
            yield from _references(value)


def _object_ids(body):
    """Every integer ``id`` in an answer, at any depth."""
    if isinstance(body, list):
        for item in body:
            yield from _object_ids(item)
    elif isinstance(body, dict):
        for key, value in body.items():
            if key == "id" and isinstance(value, int) and not isinstance(value, bool):
                yield value
            yield from _object_ids(value)


def leaks(world: FuzzWorld, persona: str, method: str, path: str, path_id, response) -> list[str]:
    """What ``response`` (to ``persona``) shows that ``persona`` may not see."""
    if not 200 <= response.status_code < 300:
        return []
    visible = world.visible[persona]
    found = []
    for prefix, resource in PATH_RESOURCE.items():
        if path.startswith(prefix) and path_id not in visible[resource]:
            found.append(f"{resource} {path_id} (in the path) answered {response.status_code}")
    if "json" not in response.get("Content-Type", ""):
        return found
    body = response.json()
    resource = BODY_RESOURCE.get(path) if method == "GET" else None
    if resource:
        for row in _rows(body):
            row_id = row.get("id") if isinstance(row, dict) else None
            if row_id is not None and row_id not in visible[resource]:
                found.append(f"{resource} {row_id} (a row)")
    for resource, pk in _references(body):
        if pk not in visible[resource]:
            found.append(f"{resource} {pk} (referenced)")
    if persona in ("outsider", "anonymous"):
        found.extend(f"object {pk} (they may see nothing)" for pk in _object_ids(body))
    return found


@pytest.fixture(scope="module")
def listing_ids():
    """Ids of real objects for each detail path, found through its listing as the admin."""
    yield {}
    if path := os.environ.get("FUZZ_STATS"):
        with open(path, "w") as out:
            json.dump(STATS, out)


def _path_ids(admin_client, world: FuzzWorld, path: str, cache: dict) -> list[int]:
    for prefix, resource in PATH_RESOURCE.items():
        if path.startswith(prefix):
            return sorted(world.all_ids[resource])
    if "{" not in path:
        return []
    listing = path.split("{", 1)[0]
    if listing not in cache:
        response = admin_client.get(listing, {"page_size": 20})
        body = response.json() if response.status_code == 200 else []
        cache[listing] = [row["id"] for row in _rows(body) if isinstance(row, dict) and "id" in row]
    return cache[listing]


@pytest.mark.parametrize("label", sorted(API_OPERATIONS))
def test_every_operation_as_every_persona_answers_below_500_within_scope(
    label, fuzz_world, persona_clients, admin_client, listing_ids
):
    operation = API_OPERATIONS[label]
    first = re.search(r"{(\w+)}", operation.path)
    ids = _path_ids(admin_client, fuzz_world, operation.path, listing_ids)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    def documented(status: int) -> bool:
        # Only an upstream's failure may be a 5xx, where the schema says so (Twilio not
        # configured or unreachable: 503, 502).
        return status in (502, 503) and str(status) in operation.definition.raw["responses"]

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # The failing request is in the message; shrinking slow requests took minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )
    @given(case=cases, path_id=st.sampled_from(ids) if ids else st.none())
    def ask(case, path_id):
        if first is not None and path_id is not None:
            case.path_parameters[first.group(1)] = path_id
        for persona in PERSONAS:
            response = _send(persona_clients[persona], case)
            STATS[f"{response.status_code // 100}xx"] = (
                STATS.get(f"{response.status_code // 100}xx", 0) + 1
            )
            body = "" if isinstance(case.body, NotSet) else f" {case.body!r}"
            where = f"{case.method} {case.formatted_path} {case.query}{body} as {persona}"
            assert response.status_code < 500 or documented(response.status_code), (
                f"{response.status_code}: {where}"
            )
            found = leaks(fuzz_world, persona, case.method, operation.path, path_id, response)
            assert not found, f"{where} shows {found}"

    ask()
