"""Who may open what: every named route, as every persona, against a table written here.

The routes come from the URL configuration itself (``get_resolver()``, walked recursively), so a
new page or API endpoint fails this module until someone decides who may open it and adds one
line to ``EXPECTED``. Path ids are those of real objects of Linda (the ``agent`` persona, team
East): the supervisor (East) may see them, the coach (West) may not.

Each route is asked with GET; a route that answers GET with 405 (a form's POST target, an API
action) is asked with an empty POST instead, in a savepoint rolled back after each request.
An answer is *allowed* when it is below 500 and not one of the refusals: 401, 403, 404, or a
redirect to the login page. Any 5xx fails whatever the table says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from ccportal.routing import websocket_urlpatterns
from tests.fixtures.fuzz_world import PERSONAS, FuzzWorld, PersonaClients, world_in_rollback

# CI runs it on the oldest Python only (pyproject.toml, marker "once"; .ci/run).
pytestmark = [pytest.mark.django_db, pytest.mark.once]


@pytest.fixture(autouse=True)
def _signature_failure_counters():
    """The unsigned webhook posts below (seven personas, four routes) would pass the
    rate limit on signature failures (apps/webhooks/ratelimit.py) and get 429 instead of the
    403 they are about: each test starts with no failures counted."""
    from apps.webhooks import ratelimit

    ratelimit.reset()
    yield
    ratelimit.reset()


# Who may open each route: the personas allowed, separated by spaces (everyone else must be
# refused), or one of the words below. A new route needs one line here.
#
#   "public"       anyone, signed in or not (login, health check)
#   "signed-only"  Twilio webhooks: refused (403) to everyone, signed in or not, without a valid
#                  X-Twilio-Signature (tests/webhooks test the signed requests)
#   "websocket"    WebSocket routes: the consumer checks access on connect (tests/live)
#   "admin-site"   Django's admin: staff only (one entry for all of it)
STAFF = "admin qa supervisor coach"
ROLES = f"{STAFF} agent"  # every role; not the outsider (no role), nor anyone signed out
#   "nobody"       refused to everyone (for the object the test asks about: see the comment)
#
# "Allowed" is the page's or endpoint's gate: a list that opens may still show no rows (the
# API fuzz test, tests/common/test_api_fuzz.py, checks the rows), and a form's target that sends
# a user back to the page with an error message counts as opened.
EXPECTED: dict[str, str] = {
    "access-log": "admin",
    "access-log-csv": "admin",
    "admin": "admin-site",
    "api-access-log-list": "admin",
    "api-audit-events": "admin",
    "api-privacy-erasure-detail": "admin",
    "api-privacy-erasures": "admin",
    "api-privacy-retention": "admin",
    "api-token-revoke": "admin agent",  # Linda's token: hers, and any admin's to revoke
    "api-tokens": ROLES,  # one's own tokens
    "audit-csv": "admin",
    "audit-list": "admin",
    "audit-object": "admin",
    "conversation-access-reason": "admin qa supervisor agent",
    "conversation-sensitive": "admin qa",
    "privacy-erasure-detail": "admin",
    "privacy-erasure-retry": "admin",
    "privacy-erasures": "admin",
    "privacy-retention": "admin",
    "api-alert-ack": "admin qa supervisor",
    "api-alerts": "admin qa supervisor coach agent outsider",
    "api-coaching-action-item-detail": "admin qa supervisor agent",
    "api-coaching-action-item-list": ROLES,
    "api-coaching-action-item-tick": "admin agent",
    "api-coaching-agent-scorecard": "admin qa supervisor agent",
    "api-coaching-agents": ROLES,
    "api-coaching-session-acknowledge": "agent",
    "api-coaching-session-cancel": "admin",
    "api-coaching-session-close": "admin",
    "api-coaching-session-detail": "admin qa supervisor agent",
    "api-coaching-session-hold": "admin",
    "api-coaching-session-links": "admin",
    "api-coaching-session-list": ROLES,
    "api-coaching-session-pins": "admin",  # the coach of another team: was a 400
    "api-coaching-session-unlink": "admin",
    "api-coaching-session-unpin": "admin",
    "api-coaching-template-detail": "admin coach",
    "api-coaching-template-list": "admin coach",
    "api-communication-detail": "admin qa supervisor agent",
    "api-communication-list": "admin qa supervisor coach agent outsider",
    "api-conversation-communications": "admin qa supervisor agent",
    "api-conversation-detail": "admin qa supervisor agent",
    "api-conversation-list": "admin qa supervisor coach agent outsider",  # rows: scoped
    "api-conversation-tips": "admin qa supervisor agent",
    "api-docs": ROLES,  # was open to anyone (fixed: SERVE_PERMISSIONS)
    "api-execution-detail": "admin qa supervisor",
    "api-execution-list": STAFF,
    "api-floor": STAFF,
    "api-insights-agents": ROLES,
    "api-insights-agents-csv": ROLES,
    "api-insights-channels": ROLES,
    "api-insights-channels-csv": ROLES,
    "api-insights-conversations": ROLES,
    "api-insights-criteria": ROLES,
    "api-insights-criteria-csv": ROLES,
    "api-insights-facts-csv": ROLES,
    "api-insights-heatmap": ROLES,
    "api-insights-labels": ROLES,
    "api-insights-overview": ROLES,
    "api-insights-queues": ROLES,
    "api-insights-queues-csv": ROLES,
    "api-insights-series": ROLES,
    "api-insights-teams": ROLES,
    "api-insights-teams-csv": ROLES,
    "api-insights-virtual-agent": ROLES,
    "api-knowledge-detail": ROLES,
    "api-knowledge-list": ROLES,
    "api-live-conversation-events": "admin qa supervisor agent",
    "api-notification-list": "admin qa supervisor coach agent outsider",
    "api-notification-read": "admin qa supervisor coach agent outsider",
    "api-operator-activate": "admin",
    "api-operator-deactivate": "admin",
    "api-operator-detail": STAFF,
    "api-operator-list": STAFF,
    "api-operator-versions": "admin",
    "api-participant-detail": "admin qa supervisor agent",
    "api-participant-list": "admin qa supervisor coach agent outsider",
    "api-profile-detail": "admin qa supervisor agent",
    "api-profile-list": ROLES,
    "api-profile-observations": "admin qa supervisor agent",
    "api-qa-calibration-benchmark": "admin",
    "api-qa-calibration-close": "admin",
    "api-qa-calibration-detail": "admin qa",
    "api-qa-calibration-list": "admin qa coach",
    "api-qa-calibration-results": "admin qa",
    "api-qa-dispute-decide": "admin qa",
    "api-qa-dispute-detail": "admin qa supervisor agent",
    "api-qa-dispute-list": ROLES,
    "api-qa-impact-detail": "admin",
    "api-qa-impact-list": "admin",
    "api-qa-impact-rows": "admin",
    "api-qa-item-claim": "admin qa",
    "api-qa-item-claim-next": "admin qa coach",
    "api-qa-item-detail": "admin qa",
    "api-qa-item-list": "admin qa coach",
    "api-qa-item-reassign": "admin",
    "api-qa-item-remove": "admin",
    "api-qa-item-unclaim": "admin qa",
    "api-qa-policy-detail": "admin qa coach",
    "api-qa-policy-list": "admin qa coach",
    "api-qa-policy-preview": "admin",
    "api-qa-policy-preview-new": "admin",
    "api-qa-policy-run": "admin",
    "api-qa-review-acknowledge": "agent",
    "api-qa-review-answers": "nobody",  # Linda's review is submitted: no one answers it
    "api-qa-review-detail": "admin qa supervisor agent",
    "api-qa-review-list": ROLES,
    "api-qa-review-release": "admin",
    "api-qa-review-revise": "admin qa",
    "api-qa-review-revisions": "admin qa supervisor agent",
    "api-qa-review-submit": "nobody",  # Linda's review is submitted already
    "api-qa-sampling-calculator": "admin qa coach",
    "api-qa-stats-agreement": "admin qa coach",
    "api-qa-stats-ai-scores": "admin qa coach",
    "api-qa-stats-disagreements": "admin qa coach",
    "api-qa-stats-trust": "admin qa coach",
    "api-redoc": ROLES,
    "api-root": "admin qa supervisor coach agent outsider",
    "api-rubric-detail": STAFF,
    "api-rubric-import-new": "admin",
    "api-rubric-import-version": "admin",
    "api-rubric-list": STAFF,
    "api-rubric-new-draft": "admin",
    "api-rubric-version-detail": STAFF,
    "api-rubric-version-diff": STAFF,
    "api-rubric-version-discard": "admin",
    "api-rubric-version-export": STAFF,
    "api-rubric-version-list": STAFF,
    "api-rubric-version-publish": "admin",
    "api-rubric-version-push-to-twilio": "admin",
    "api-rubric-version-retire": "admin",
    "api-rule-detail": STAFF,
    "api-rule-list": STAFF,
    "api-rule-run": STAFF,
    "api-schema": ROLES,
    "api-wrapup": "admin qa supervisor agent",
    "api-wrapup-list-detail": "admin qa supervisor agent",
    "api-wrapup-list-list": "admin qa supervisor coach agent outsider",
    "coaching-action-add": "admin",
    "coaching-action-tick": "admin qa supervisor agent",  # others: sent back
    "coaching-agent": "admin qa supervisor agent",
    "coaching-api-goal-detail": "admin qa coach",
    "coaching-api-goal-list": ROLES,
    "coaching-api-session-before-after": "admin qa supervisor agent",
    "coaching-goal": "admin qa coach",
    "coaching-goal-delete": "admin coach",
    "coaching-goal-edit": "admin coach",
    "coaching-goal-new": "admin coach",
    "coaching-goals": ROLES,
    "coaching-home": ROLES,
    "coaching-session": "admin qa supervisor agent",
    "coaching-session-acknowledge": "admin qa supervisor agent",  # others: sent back
    "coaching-session-before-after": "admin qa supervisor agent",
    "coaching-session-edit": "admin",
    "coaching-session-follow-up": "admin",
    "coaching-session-link": "admin coach",
    "coaching-session-new": "admin coach",
    "coaching-session-notes": "admin",
    "coaching-session-pin": "admin coach",
    "coaching-session-transition": "admin",
    "coaching-session-unlink": "admin",
    "coaching-session-unpin": "admin",
    "coaching-sessions": ROLES,
    "coaching-template-delete": "admin coach",
    "coaching-template-edit": "admin coach",
    "coaching-template-new": "admin coach",
    "coaching-templates": "admin coach",
    "conversation-assist": "admin qa supervisor agent",
    "conversation-detail": "admin qa supervisor agent",
    "conversation-list": "admin qa supervisor coach agent outsider",  # the outsider's list is empty
    "floor-alert-ack": "admin qa supervisor",
    "floor-tip": "admin qa supervisor",
    "handoff-detail": "admin qa supervisor agent",
    "health": "public",
    "home": "admin qa supervisor coach agent outsider",
    "insights-agents": ROLES,
    "insights-ai": ROLES,
    "insights-channels": ROLES,
    "insights-conversations": ROLES,
    "insights-criteria": ROLES,
    "insights-overview": ROLES,
    "insights-queues": ROLES,
    "insights-teams": ROLES,
    "insights-trends": ROLES,
    "knowledge-create": "admin",
    "knowledge-customer-detail": "admin qa supervisor agent",
    "knowledge-customer-list": ROLES,
    "knowledge-delete": "admin",
    "knowledge-detail": ROLES,
    "knowledge-edit": "admin",
    "knowledge-list": ROLES,
    "knowledge-observation-add": "admin qa supervisor agent",
    "knowledge-observation-delete": "admin qa supervisor agent",  # the POST checks
    "live-floor": STAFF,
    "login": "public",
    "logout": "nobody",  # signs out; everyone lands on the login page
    "notification-menu": "admin qa supervisor coach agent outsider",
    "notification-read": "admin qa supervisor coach agent outsider",
    "notifications": "admin qa supervisor coach agent outsider",
    "qa-calibration": "admin qa",
    "qa-calibration-benchmark": "admin",
    "qa-calibration-close": "admin",
    "qa-calibration-create": "admin",
    "qa-calibration-list": "admin qa coach",
    "qa-claim-next": "admin qa coach",
    "qa-dispute-decide": "admin qa",
    "qa-dispute-open": "agent",
    "qa-disputes": STAFF,
    "qa-impact": "admin",
    "qa-impact-list": "admin",
    "qa-impact-start": "admin",
    "qa-item": "admin qa",
    "qa-item-claim": "admin qa",
    "qa-item-reassign": "admin",
    "qa-item-remove": "admin",
    "qa-item-unclaim": "admin qa",
    "qa-my-reviews": "agent",
    "qa-policies": "admin qa coach",
    "qa-policy": "admin qa coach",
    "qa-policy-create": "admin",
    "qa-policy-delete": "admin",
    "qa-policy-edit": "admin",
    "qa-policy-run": "admin",
    "qa-queue": "admin qa coach",
    "qa-review": "admin qa supervisor agent",
    "qa-review-acknowledge": "agent",
    "qa-review-draft": "nobody",  # Linda's review is submitted: a draft of it is no one's
    "qa-review-release": "admin",
    "qa-review-revise": "admin",
    "qa-review-submit": "nobody",  # Linda's review is submitted already
    "qa-reviews": STAFF,
    "qa-send": STAFF,
    "qa-stats": "admin qa coach",
    "qa-stats-disagreements": "admin qa coach",
    "qa-stats-fragment": "admin qa coach",
    "rubric-audit": "admin",
    "rubric-create": "admin",
    "rubric-detail": STAFF,
    "rubric-diff": STAFF,
    "rubric-import": "admin",
    "rubric-import-version": "admin",
    "rubric-list": STAFF,
    "rubric-new-draft": "admin",
    "rubric-version": STAFF,
    "rubric-version-discard": "admin",
    "rubric-version-edit": "admin",
    "rubric-version-export": STAFF,
    "rubric-version-preview": STAFF,
    "rubric-version-publish": "admin",
    "rubric-version-push": "admin",
    "rubric-version-retire": "admin",
    "rule-list": STAFF,
    "rules-create": "admin",
    "rules-delete": "admin",
    "rules-detail": STAFF,
    "rules-edit": "admin",
    "rules-list": STAFF,
    "rules-operator-create": "admin",
    "rules-operator-detail": STAFF,
    "rules-operator-list": STAFF,
    "rules-operator-new-version": "admin",
    "rules-operator-set-active": "admin",
    "rules-run": STAFF,
    "rules-set-active": "admin",
    "agent-incoming-call": "signed-only",
    "webhook-intelligence": "signed-only",
    "webhook-orchestrator": "signed-only",
    "webhook-relay-action": "signed-only",
    "webhook-voice-status": "signed-only",
    "wrapup-save": "admin qa supervisor agent",
    "ws/conversations/<pk>/": "websocket",
    "ws/floor/": "websocket",
    "ws/notifications/": "websocket",
    "ws/ping/": "websocket",
}

WORDS = {"public", "signed-only", "websocket", "admin-site", "nobody"}


@dataclass(frozen=True)
class Route:
    name: str
    path: str  # readable: "qa/items/<pk>/"
    params: tuple[str, ...]


def _readable(pattern: str) -> str:
    pattern = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", pattern)
    pattern = re.sub(r"<\w+:(\w+)>", r"<\1>", pattern)
    return pattern.replace("^", "").replace("$", "").replace("\\.", ".")


def routes() -> list[Route]:
    """Every named route once (the first pattern of each name; format-suffix variants of the
    API's are the same view), the admin site as one entry."""
    found: dict[str, Route] = {}

    def walk(resolver: URLResolver, prefix: str) -> None:
        for entry in resolver.url_patterns:
            path = prefix + _readable(str(entry.pattern))
            if isinstance(entry, URLResolver):
                if getattr(entry, "app_name", None) == "admin":
                    found.setdefault("admin", Route("admin", path, ()))
                    continue
                walk(entry, path)
            elif isinstance(entry, URLPattern) and entry.name and entry.name not in found:
                params = tuple(re.findall(r"<(\w+)>", path))
                found[entry.name] = Route(entry.name, path, params)

    walk(get_resolver(), "")
    for entry in websocket_urlpatterns:
        path = _readable(str(entry.pattern))
        found[path] = Route(path, path, ())
    return sorted(found.values(), key=lambda route: route.name)


ROUTES = routes()


def test_every_route_has_a_decision():
    missing = [route for route in ROUTES if route.name not in EXPECTED]
    assert not missing, (
        "Decide who may open these routes and add one line each to EXPECTED in "
        "tests/common/test_role_matrix.py (allowed personas, or a word such as 'public'):\n"
        + "\n".join(f'    "{route.name}": "...",  # /{route.path}' for route in missing)
    )
    stale = sorted(set(EXPECTED) - {route.name for route in ROUTES})
    assert not stale, f"EXPECTED names routes that no longer exist: {stale}"
    for name, rule in EXPECTED.items():
        if rule not in WORDS:
            unknown = set(rule.split()) - set(PERSONAS)
            assert not unknown, f"{name}: unknown personas {unknown}"


@pytest.fixture(scope="module")
def matrix_world(django_db_setup, django_db_blocker):
    with world_in_rollback(django_db_blocker) as world:
        world.objects = _linda_objects(world)
        world.clients = PersonaClients(world)
        yield world


def _linda_objects(world: FuzzWorld) -> dict[str, object]:
    """One object of each kind, Linda's (or of her conversations) where it has an owner."""
    from apps.accounts.models import Agent, User
    from apps.coaching.models import ActionItem, Goal, SessionTemplate
    from apps.coaching.services import actions, sessions
    from apps.conversations.models import Communication, Conversation, Participant
    from apps.floor.models import Alert, AlertRule
    from apps.intelligence.models import Operator, Rule, RuleExecution
    from apps.knowledge.models import CustomerProfile, KnowledgeArticle
    from apps.knowledge.services import observation_add
    from apps.qa.models import (
        CalibrationSession,
        Dispute,
        ImpactPreview,
        QueueItem,
        Review,
        SamplingPolicy,
    )
    from apps.relay.models import Handoff
    from apps.rubrics.models import RubricVersion
    from apps.wrapup.models import Wrapup

    admin = User.objects.get(pk=world.users["admin"])
    linda = Agent.objects.get(user_id=world.users["agent"])
    conversation = (
        Conversation.objects.filter(participants__agent=linda, wrapup__isnull=False)
        .order_by("pk")
        .first()
    )
    assert conversation is not None
    communication = Communication.objects.filter(conversation=conversation).first()
    session = sessions.session_plan(
        user=admin, agent_id=linda.pk, scheduled_at=timezone.now(), title="Linda coaching"
    )
    link = sessions.session_link_add(user=admin, session=session, conversation_id=conversation.pk)
    pin = sessions.evidence_pin_add(
        user=admin, session=session, communication_id=communication.pk, comment="Listen"
    )
    actions.action_item_add(user=admin, session=session, text="Open with the greeting")
    profile = CustomerProfile.objects.filter(conversations=conversation).first() or (
        CustomerProfile.objects.first()
    )
    observation, _ = observation_add(user=admin, profile=profile, text="Prefers email")
    rule = AlertRule.objects.create(name="Matrix rule", kind="SILENCE", threshold=10)
    alert = Alert.objects.create(
        rule=rule, conversation=conversation, severity="WARNING", title="Silence",
        fired_at=conversation.started_at, last_fired_at=conversation.started_at,
    )  # fmt: skip
    handoff = Handoff.objects.create(
        call_sid=conversation.call_sids[0] if conversation.call_sids else "CA0",
        session_id="VX0", conversation=conversation, session_status="ended",
    )  # fmt: skip
    review = (
        Review.objects.filter(conversation__participants__agent=linda, is_calibration=False)
        .order_by("pk")
        .first()
    )
    from apps.accounts import services as accounts
    from apps.privacy.models import ErasureRequest

    token = accounts.api_token_create(user=linda.user, name="matrix").token
    version = RubricVersion.objects.get(status="PUBLISHED")
    criterion = version.criteria.order_by("pk").first() if hasattr(version, "criteria") else None
    return {
        "conversation": conversation,
        "communication": communication,
        "participant": Participant.objects.filter(conversation=conversation).first(),
        "wrapup": Wrapup.objects.get(conversation=conversation),
        "agent": linda,
        "session": session,
        "link": link,
        "pin": pin,
        "action": ActionItem.objects.filter(agent=linda).first(),
        "goal": Goal.objects.filter(agent=linda).first() or Goal.objects.first(),
        "template": SessionTemplate.objects.first(),
        "profile": profile,
        "observation": observation,
        "alert": alert,
        "handoff": handoff,
        "review": review,
        "item": QueueItem.objects.filter(conversation=conversation).first()
        or QueueItem.objects.order_by("pk").first(),
        "dispute": Dispute.objects.order_by("pk").first(),
        "policy": SamplingPolicy.objects.order_by("pk").first(),
        "calibration": CalibrationSession.objects.order_by("pk").first(),
        "impact": ImpactPreview.objects.order_by("pk").first(),
        "version": version,
        "rubric": version.rubric,
        "criterion": getattr(criterion, "key", "greeting"),
        "operator": Operator.objects.order_by("pk").first(),
        "rule": Rule.objects.order_by("pk").first(),
        "execution": RuleExecution.objects.filter(conversation=conversation).order_by("pk").first(),
        "article": KnowledgeArticle.objects.order_by("pk").first(),
        "token": token,
        "erasure": ErasureRequest.objects.order_by("pk").first(),
    }


# The object a route's ``pk`` names, by the path before it (longest first).
PK_OBJECTS = {
    "conversations/": "conversation",
    "live/conversations/": "conversation",
    "assist/": "conversation",
    "rubrics/": "rubric",
    "rubrics/versions/": "version",
    "intelligence/rules/": "rule",
    "rules/": "rule",
    "intelligence/operators/": "operator",
    "operators/": "operator",
    "executions/": "execution",
    "intelligence/knowledge/": "article",
    "knowledge/": "article",
    "intelligence/customers/": "profile",
    "profiles/": "profile",
    "participants/": "participant",
    "communications/": "communication",
    "wrapups/": "wrapup",
    "qa/items/": "item",
    "qa/reviews/": "review",
    "qa/disputes/": "dispute",
    "qa/policies/": "policy",
    "qa/calibration/": "calibration",
    "qa/impact/": "impact",
    "handoffs/": "handoff",
    "live/alerts/": "alert",
    "alerts/": "alert",
    "coaching/sessions/": "session",
    "sessions/": "session",
    "coaching/actions/": "action",
    "action-items/": "action",
    "coaching/templates/": "template",
    "templates/": "template",
    "coaching/goals/": "goal",
    "goals/": "goal",
    "tokens/": "token",
    "erasures/": "erasure",
    "audit/<kind>/": "rule",  # /audit/rule/<pk>/: a rule's history
}


def _kwargs(route: Route, objects: dict) -> dict[str, object]:
    before_pk = route.path.split("<pk>")[0].removeprefix("api/").removeprefix("coaching/")
    if route.path.startswith("coaching/") and not route.path.startswith("api/"):
        before_pk = "coaching/" + before_pk
    kind = next(
        (kind for prefix, kind in sorted(PK_OBJECTS.items(), key=lambda p: -len(p[0]))
         if before_pk.endswith(prefix)),
        None,
    )  # fmt: skip
    version, conversation = objects["version"], objects["conversation"]
    values = {
        "pk": getattr(objects.get(kind), "pk", None),
        "number": version.number,
        "fmt": "json",
        "format": "json",
        "call_sid": (conversation.call_sids or ["CA0"])[0],
        "observation_pk": objects["observation"].pk,
        "conversation_pk": conversation.pk,
        "version_pk": version.pk,
        "key": objects["criterion"],
        "agent_id": objects["agent"].pk,
        "action": "hold",
        "link_pk": objects["link"].pk,
        "pin_pk": objects["pin"].pk,
        "kind": "rule",
    }
    if route.name.startswith("rubric-") and "<number>" in route.path:
        values["pk"] = version.rubric_id
    missing = [name for name in route.params if values.get(name) is None]
    assert not missing, (
        f"{route.name} (/{route.path}): no object for {missing}; add one to _linda_objects and "
        "its path to PK_OBJECTS (or the parameter to the values in _kwargs)"
    )
    return {name: values[name] for name in route.params}


LOGIN_PAGES = (resolve_url(settings.LOGIN_URL), reverse("admin:login"))
# Routes that ask an outside service: a 503 (not configured, as in tests) is their answer.
UPSTREAM = {"api-rubric-version-push-to-twilio"}


def _refused(response) -> bool:
    if response.status_code in (401, 403, 404):
        return True
    location = response.get("Location", "")
    return response.status_code in (301, 302, 303) and location.startswith(LOGIN_PAGES)


def _ask(client: Client, url: str):
    """GET; where the route takes no GET, an empty POST (then DELETE); never kept."""
    with transaction.atomic():
        for method in ("get", "post", "delete"):
            response = getattr(client, method)(url)
            if response.status_code != 405:
                break
        transaction.set_rollback(True)
    return response


def _url(route: Route, objects: dict) -> str:
    if route.name == "admin":
        return reverse("admin:index")
    return reverse(route.name, kwargs=_kwargs(route, objects))


HTTP_ROUTES = [r for r in ROUTES if EXPECTED.get(r.name) not in ("websocket", "signed-only")]


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=[r.name for r in HTTP_ROUTES])
def test_each_persona_opens_exactly_the_routes_the_table_allows(route, matrix_world):
    rule = EXPECTED.get(route.name)
    url = _url(route, matrix_world.objects)
    observed = {}
    for persona in PERSONAS:
        response = _ask(matrix_world.clients[persona], url)
        upstream = route.name in UPSTREAM and response.status_code == 503
        assert response.status_code < 500 or upstream, f"{url} as {persona}: {response.status_code}"
        observed[persona] = not _refused(response)
    if rule is None:
        pytest.skip("no decision yet (test_every_route_has_a_decision says which line to add)")
    allowed = _allowed(rule)
    wrong = {
        persona: ("opened" if opened else "refused")
        for persona, opened in observed.items()
        if opened != (persona in allowed)
    }
    assert not wrong, f"{route.name} ({url}): {wrong}; the table says {rule!r}"


def _allowed(rule: str) -> set[str]:
    if rule == "public":
        return set(PERSONAS)
    if rule == "admin-site":
        return {"admin"}
    if rule == "nobody":
        return set()
    return set(rule.split())


SIGNED_ONLY = [r for r in ROUTES if EXPECTED.get(r.name) == "signed-only"]


@pytest.mark.parametrize("route", SIGNED_ONLY, ids=[r.name for r in SIGNED_ONLY])
def test_a_webhook_refuses_everyone_without_a_twilio_signature(route, matrix_world):
    url = reverse(route.name)
    for persona in PERSONAS:
        response = matrix_world.clients[persona].post(url, {"EventType": "x"})
        assert response.status_code == 403, (url, persona, response.status_code)
