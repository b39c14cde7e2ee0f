"""An admin edits a knowledge article, follows its "Audit trail" link to the change (who, the
title before → after), then finds it again on the global audit page by its actor."""

from __future__ import annotations

import re

import pghistory
import pytest

from apps.accounts.choices import Role
from apps.knowledge import services
from tests.fixtures import builders
from tests.fixtures.browser import MARKS, log_in

pytestmark = MARKS


@pytest.fixture
def article(transactional_db):
    admin = builders.make_user(username="ada", role=Role.ADMIN)
    with pghistory.context(user=admin.pk):  # as the middleware does for her requests
        return services.knowledge_article_create(
            user=admin, title="Lost card", body="Freeze the card in the app.", tags=[]
        )


def test_admin_reads_an_articles_change_in_its_history_and_on_the_global_page(
    browser, live_server, article
):
    page = log_in(browser, live_server, "ada")
    page.goto(f"{live_server.url}/intelligence/knowledge/{article.pk}/edit/")
    page.fill("#id_title", "Lost or stolen card")
    page.click("[data-testid=save-article]")
    page.wait_for_url(re.compile(rf"/knowledge/{article.pk}/$"))

    page.click("[data-testid=audit-history]")
    page.wait_for_url(re.compile(rf"/audit/article/{article.pk}/$"))
    change = page.locator("[data-testid=audit-event][data-action=update]")
    assert change.count() == 1
    assert change.locator("[data-testid=audit-actor]").inner_text() == "ada"
    title = change.locator("tr[data-field=title]")
    assert "Lost card" in title.inner_text() and "Lost or stolen card" in title.inner_text()
    assert f"/intelligence/knowledge/{article.pk}/edit/" in change.inner_text()

    page.click("nav[aria-label=Breadcrumb] >> text=Audit trail")
    page.fill("#id_actor", "ada")
    page.select_option("#id_kind", "article")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"actor=ada"))
    assert page.locator("[data-testid=audit-event]").count() == 2  # created, then renamed
    assert page.locator("[data-testid=result-count]").inner_text() == "2 changes"
