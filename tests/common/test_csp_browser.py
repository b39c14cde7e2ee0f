"""The Content-Security-Policy in a real browser: an admin and an agent open the main pages and
nothing is blocked (no inline script, style or handler left; charts, bars and live updates work
under the policy). Every browser test also fails on a violation (tests/fixtures/browser.py); this
one walks the pages no other test opens together.
"""

from __future__ import annotations

import pytest

from apps.accounts.choices import Role
from apps.rubrics import services as rubrics
from tests.fixtures import builders
from tests.fixtures import insights as insights_build
from tests.fixtures import qa as build
from tests.fixtures.browser import MARKS, signed_in

pytestmark = MARKS

# Collects what the page's policy blocks, from the first script on (console messages are
# checked too, by the browser fixture).
LISTEN = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation', (e) => window.__csp.push("
    "`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"
)


@pytest.fixture
def portal(transactional_db):
    north = builders.make_team(name="North")
    alice = builders.make_user(username="alice", role=Role.AGENT, teams=[north])
    agent = builders.make_agent(name="Alice", team=north, user=alice)
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    version = build.publish_script(admin)
    conversation = builders.make_conversation(
        agent=agent,
        customer_name="Nora North",
        texts=[
            ("agent", "thank you for calling harper valley how can i help"),
            ("customer", "i lost my debit card"),
            ("agent", "i have blocked it and ordered a new one"),
        ],
    )
    build.judge(conversation)
    build.manual_item(conversation, reason="Customer asked for a callback")
    review = build.rated_review(
        version, conversation, {"greeting": ("MET", "MET"), "offer_help": ("MET", "NOT_MET")}
    )
    draft = rubrics.version_new_draft(rubric=version.rubric, actor=admin)
    insights_build.refresh()
    return {
        "admin": admin,
        "agent": alice,
        "conversation": conversation,
        "review": review,
        "draft": f"/rubrics/{draft.rubric_id}/v{draft.number}/edit/",
    }


def test_the_main_pages_break_no_rule_of_the_policy(browser, live_server, portal):
    conversation = portal["conversation"]
    walks = {
        portal["admin"]: [
            "/",
            "/conversations/",
            f"/conversations/{conversation.pk}/",
            "/qa/",
            f"/qa/reviews/{portal['review'].pk}/",
            "/qa/stats/",
            "/insights/",
            "/insights/criteria/",
            "/coaching/",
            "/live/",
            portal["draft"],
            "/api/docs/",
        ],
        portal["agent"]: [f"/assist/{conversation.call_sids[0]}/", "/qa/reviews/mine/"],
    }
    blocked = []
    for user, paths in walks.items():
        page = signed_in(browser, live_server, user)
        page.context.add_init_script(LISTEN)
        for path in paths:
            response = page.goto(f"{live_server.url}{path}")
            assert response is not None and response.ok, path
            page.wait_for_load_state("load")
            assert "default-src 'self'" in response.headers["content-security-policy"], path
            blocked += [f"{path}: {v}" for v in page.evaluate("window.__csp")]

    assert blocked == []
