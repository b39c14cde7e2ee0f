"""The QA pages as each persona uses them, without JavaScript: the queue, claiming, the review
form (save, submit, problems shown next to their criteria), the agent's reviews, disputes,
policies, the conversation page's QA panel; and a fixed number of queries whatever the size."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.qa import services
from apps.qa.choices import ItemSource, ItemStatus, ReviewStatus
from apps.qa.models import QueueItem, Review, SamplingPolicy
from tests.fixtures import builders
from tests.fixtures import qa as build
from tests.fixtures.queries import queries_for
from tests.qa.test_reviews import H, full_answers, start

pytestmark = pytest.mark.django_db


def form_post(review, answers: dict, **extra) -> dict:
    """A review form as a browser posts it: ``<key>-outcome``, ``-comment``, ``-evidence``."""
    data = {}
    for key, value in answers.items():
        if value.get("outcome"):
            data[f"{key}-outcome"] = value["outcome"]
        data[f"{key}-comment"] = value.get("comment", "")
        data[f"{key}-evidence"] = value.get("evidence", "")
    return data | extra


# The queue -------------------------------------------------------------------------------------


def test_the_queue_shows_my_items_and_the_pool_with_their_counts(world, script, client_for):
    mine = build.manual_item(
        world.north_call, key="m1", assignee_id=world.qa_analyst.pk, reason="Mine to do"
    )
    pool = build.manual_item(world.south_call, key="p1", reason="For anyone")
    client = client_for(world.qa_analyst)
    page = client.get("/qa/").content.decode()
    assert "Mine to do" in page and "For anyone" not in page
    page = client.get("/qa/", {"tab": "pool"}).content.decode()
    assert "For anyone" in page and "Mine to do" not in page
    assert (
        'data-testid="tab-mine">My items <span class="badge rounded-pill text-bg-secondary ms-1">1<'
        in page
    )
    assert mine.pk and pool.pk


def test_the_everything_tab_is_for_admins(world, script, client_for):
    build.manual_item(world.north_call, reason="Any reason")
    assert "tab-all" not in client_for(world.qa_analyst).get("/qa/").content.decode()
    page = client_for(world.admin).get("/qa/", {"tab": "all"}).content.decode()
    assert "tab-all" in page and "Any reason" in page


def test_bad_filters_are_ignored_not_an_error(world, script, client_for):
    response = client_for(world.qa_analyst).get(
        "/qa/", {"tab": "nope", "priority": "²", "team": "x", "sort": "'", "page": "-1"}
    )
    assert response.status_code == 200


def test_claim_next_opens_the_review_page(world, script, client_for):
    item = build.manual_item(world.north_call)
    response = client_for(world.qa_analyst).post("/qa/claim-next/")
    review = Review.objects.get(item=item)
    assert response.status_code == 302 and response.url == f"/qa/reviews/{review.pk}/"


def test_claim_next_on_an_empty_queue_says_so(world, script, client_for):
    response = client_for(world.qa_analyst).post("/qa/claim-next/", follow=True)
    assert "Nothing to claim" in response.content.decode()


def test_sending_to_qa_from_the_conversation_page_and_reviewing_it_at_once(
    world, script, client_for
):
    client = client_for(world.coach)
    page = client.get(f"/conversations/{world.north_call.pk}/").content.decode()
    assert 'data-testid="qa-panel"' in page and "Send to QA" in page
    response = client.post(
        f"/qa/send/{world.north_call.pk}/",
        {"reason": "Angry customer", "priority": 3, "review_now": "on"},
    )
    review = Review.objects.get()
    assert response.url == f"/qa/reviews/{review.pk}/"
    assert review.reviewer_id == world.coach.pk and review.item.source == ItemSource.MANUAL


def test_the_qa_panel_shows_an_agent_only_their_released_reviews(world, script, client_for):
    review = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    page = (
        client_for(world.agent_user).get(f"/conversations/{world.north_call.pk}/").content.decode()
    )
    assert f"/qa/reviews/{review.pk}/" in page and "Send to QA" not in page


# The review form without JavaScript -----------------------------------------------------------


def test_the_review_page_shows_the_ais_suggestions_with_evidence_links(world, script, client_for):
    review = start(world)
    page = client_for(world.qa_analyst).get(f"/qa/reviews/{review.pk}/").content.decode()
    first = world.north_call.communications.order_by("offset_ms").first()
    assert "AI: Met" in page and f'href="#comm-{first.pk}"' in page
    assert 'id="comm-' in page and "#1" in page
    assert "Script Adherence v1" in page


def test_saving_and_submitting_the_form(world, script, client_for):
    review = start(world)
    client = client_for(world.qa_analyst)
    answers = full_answers(greeting={"outcome": "NOT_MET", "comment": "Rushed", "evidence": "1"})
    response = client.post(
        f"/qa/reviews/{review.pk}/draft/", form_post(review, answers, strengths="Kind")
    )
    assert response.status_code == 302
    review.refresh_from_db()
    first = world.north_call.communications.order_by("offset_ms").first()
    assert review.draft["answers"][f"{H}:greeting"]["evidence"] == [first.pk]
    response = client.post(
        f"/qa/reviews/{review.pk}/submit/", form_post(review, answers, strengths="Kind")
    )
    review.refresh_from_db()
    assert response.status_code == 302 and review.status == ReviewStatus.SUBMITTED


def test_problems_come_back_next_to_their_criteria_and_nothing_typed_is_lost(
    world, script, client_for
):
    review = start(world)
    client = client_for(world.qa_analyst)
    answers = full_answers(
        greeting={"outcome": "NOT_MET", "comment": ""},
        offer_help={"outcome": "MET", "comment": "It was there", "evidence": "99"},
    )
    response = client.post(
        f"/qa/reviews/{review.pk}/submit/", form_post(review, answers, improvements="Typed text")
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "No line 99 in this transcript." in page
    assert page.count('data-testid="criterion-error"') == 1
    # Everything typed comes back: the feedback, the comment, the bad line number, the answers.
    assert "Typed text" in page and "It was there" in page and 'value="99"' in page
    assert f'id="{H}--offer_help-MET" value="MET" autocomplete="off" checked' in page
    review.refresh_from_db()
    assert review.status == ReviewStatus.DRAFT


def test_autosave_answers_json_with_the_rubrics_score(world, script, client_for):
    review = start(world)
    answers = full_answers()
    response = client_for(world.qa_analyst).post(
        f"/qa/reviews/{review.pk}/draft/",
        form_post(review, answers),
        HTTP_ACCEPT="application/json",
    )
    body = response.json()
    assert body["headline"]["score"] == 80.0 and body["headline"]["answered"] == 4
    bad = client_for(world.qa_analyst).post(
        f"/qa/reviews/{review.pk}/draft/",
        {f"{H}:greeting-outcome": "NA"},
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400 and f"answers.{H}:greeting.outcome" in bad.json()["errors"]


def test_someone_elses_draft_is_read_only(world, script, client_for):
    review = start(world)
    page = client_for(world.admin).get(f"/qa/reviews/{review.pk}/").content.decode()
    assert "data-review-form" not in page
    response = client_for(world.admin).post(f"/qa/reviews/{review.pk}/draft/", {})
    assert response.status_code == 403


# The agent's side -------------------------------------------------------------------------------


def test_the_agent_reads_acknowledges_and_disputes_from_their_pages(world, script, client_for):
    review = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    agent = client_for(world.agent_user)
    page = agent.get("/qa/reviews/mine/").content.decode()
    assert f"/qa/reviews/{review.pk}/" in page and "80.0%" in page and 'data-testid="trend"' in page
    page = agent.get(f"/qa/reviews/{review.pk}/").content.decode()
    assert "Acknowledge" in page and "Dispute this review" in page
    agent.post(f"/qa/reviews/{review.pk}/acknowledge/", {"comment": "Got it"})
    agent.post(
        f"/qa/reviews/{review.pk}/dispute/",
        {
            f"dispute-{H}:offer_help": "on",
            f"dispute-{H}:offer_help-proposed": "MET",
            "reason": "I did offer",
        },
    )
    review.refresh_from_db()
    assert review.acknowledgement == "Got it"
    assert review.disputes.get().items.get().proposed_outcome == "MET"


def test_a_dispute_without_a_reason_comes_back_with_the_problem(world, script, client_for):
    review = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    response = client_for(world.agent_user).post(
        f"/qa/reviews/{review.pk}/dispute/", {"reason": ""}
    )
    assert response.status_code == 400
    assert "Say why you disagree." in response.content.decode()


def test_an_admin_decides_from_the_review_page(world, script, client_for):
    review = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    dispute = services.dispute_open(
        user=world.agent_user,
        review=review,
        reason="I did",
        items=[{"key": f"{H}:offer_help", "proposed_outcome": "MET"}],
    )
    admin = client_for(world.admin)
    assert 'data-testid="decide-form"' in admin.get(f"/qa/reviews/{review.pk}/").content.decode()
    assert (
        'data-testid="decide-form"'
        not in client_for(world.qa_analyst).get(f"/qa/reviews/{review.pk}/").content.decode()
    )
    admin.post(f"/qa/disputes/{dispute.pk}/decide/", {"decision": "ACCEPT", "reason": "Fair"})
    review.refresh_from_db()
    assert review.revision_count == 2
    page = admin.get(f"/qa/reviews/{review.pk}/", {"revision": 1}).content.decode()
    assert 'data-testid="old-revision"' in page


def test_the_disputes_page_lists_open_disputes_oldest_first(world, script, client_for):
    review = services.review_submit(
        user=world.qa_analyst, review=start(world), answers=full_answers()
    )
    services.dispute_open(user=world.agent_user, review=review, reason="Unfair", proposal="Rescore")
    page = client_for(world.qa_analyst).get("/qa/disputes/").content.decode()
    assert "Unfair" in page and page.count('data-testid="dispute-row"') == 1


# Policies ----------------------------------------------------------------------------------------


def test_an_admin_previews_a_policy_before_saving_it(world, client_for):
    builders.make_conversation(
        agent=world.agent, started_at=timezone.now() - timezone.timedelta(hours=2)
    )
    admin = client_for(world.admin)
    data = {
        "name": "Daily",
        "quota_kind": "PER_AGENT",
        "quota_count": 1,
        "period": "DAY",
        "priority": 2,
        "due_days": 3,
        "schedule": "0 6 * * *",
        "is_active": "on",
    }
    page = admin.post("/qa/policies/new/", data | {"action": "preview"}).content.decode()
    assert 'data-testid="preview-row"' in page and not SamplingPolicy.objects.exists()
    response = admin.post("/qa/policies/new/", data | {"action": "save"})
    policy = SamplingPolicy.objects.get()
    assert response.url == f"/qa/policies/{policy.pk}/"
    admin.post(f"/qa/policies/{policy.pk}/run/")
    assert QueueItem.objects.filter(policy=policy).exists()


def test_a_policy_form_with_problems_says_nothing_was_saved(world, client_for):
    page = (
        client_for(world.admin)
        .post(
            "/qa/policies/new/",
            {
                "name": "",
                "quota_kind": "PERCENT",
                "period": "WEEK",
                "priority": 2,
                "due_days": 3,
                "schedule": "weekly",
            },
        )
        .content.decode()
    )
    assert "Nothing was saved" in page and not SamplingPolicy.objects.exists()


# Queries -----------------------------------------------------------------------------------------


def _items(world, n: int) -> None:
    conversations = [world.north_call, world.south_call]
    conversations += [builders.make_conversation(agent=world.agent) for _ in range(3)]
    QueueItem.objects.bulk_create(
        QueueItem(
            conversation=conversations[i % len(conversations)],
            source=ItemSource.MANUAL,
            source_key=f"bulk:{n}:{i}",
            reason=f"Bulk {i}",
            status=ItemStatus.OPEN,
            agent=world.agent,
            assignee=world.qa_analyst if i % 2 else None,
        )
        for i in range(n)
    )


def test_queue_and_review_pages_make_the_same_number_of_queries_for_10_or_1000_items(
    world, script, client_for
):
    review = start(world)
    client = client_for(world.qa_analyst)
    admin = client_for(world.admin)
    paths = ["/qa/", "/qa/?tab=pool", f"/qa/reviews/{review.pk}/", f"/qa/items/{review.item_id}/"]
    _items(world, 10)
    few = [queries_for(client, path) for path in paths[:3]] + [queries_for(admin, "/qa/?tab=all")]
    _items(world, 990)
    many = [queries_for(client, path) for path in paths[:3]] + [queries_for(admin, "/qa/?tab=all")]
    assert few == many


def test_the_review_page_makes_the_same_number_of_queries_for_short_and_long_calls(
    world, script, client_for
):
    short = builders.make_conversation(agent=world.agent, texts=[("agent", "hello")] * 2)
    long = builders.make_conversation(
        agent=world.agent, texts=[("agent", "thank you for calling"), ("customer", "hi")] * 100
    )
    build.judge(short, long)
    client = client_for(world.qa_analyst)
    counts = []
    for conversation in (short, long):
        review = start(world, conversation)
        services.review_submit(
            user=world.qa_analyst,
            review=review,
            answers={
                k: {"outcome": v or "MET", "comment": "x"}
                for k, v in services.ai_outcomes(review, services.review_keys(review)).items()
            }
            | {f"{H}:confirm_address": {"outcome": "NA"}},
        )
        counts.append(queries_for(client, f"/qa/reviews/{review.pk}/"))
    assert counts[0] == counts[1]
