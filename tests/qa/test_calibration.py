"""Calibration sessions: admins make them, each participant answers every conversation on their
own (no AI prefill; blind until the session closes), closing prefills the benchmark, and the
results measure agreement per criterion and each rater's alignment with the benchmark.
Calibration answers never count in agents' scores and never reach agents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.models import Notification
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.insights.models import ConversationFact
from apps.qa import services
from apps.qa.choices import BenchmarkMode, CalibrationStatus, ItemSource, ItemStatus
from apps.qa.models import CalibrationBenchmark, CalibrationSession, QueueItem, Review
from apps.qa.selectors import calibration as selectors
from apps.qa.selectors import review_get, review_page
from apps.qa.services import calibration as calib
from tests.fixtures import builders
from tests.fixtures import insights as insights_build
from tests.fixtures import rubrics as rubric_build
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

H = "HUMAN_AGENT"
CRITERIA = ("greeting", "offer_help", "verify_identity", "confirm_address")


@pytest.fixture
def calls(world, script):
    """Three north calls (the coach's team): the world's, and two more the AI judged."""
    from tests.fixtures import qa as build

    more = [
        builders.make_conversation(
            agent=world.agent,
            customer_name=name,
            texts=[("agent", "thank you for calling how can i help"), ("customer", "my card")],
        )
        for name in ("Nia North", "Ned North")
    ]
    build.judge(*more)
    return [world.north_call, *more]


def make(world, script, conversations, *, user=None, **options):
    data = {
        "name": "Greeting calibration",
        "rubric_version_id": script.pk,
        "conversation_ids": [c.pk for c in conversations],
        "participant_ids": [world.qa_analyst.pk, world.coach.pk],
        "deadline": timezone.now() + timedelta(days=3),
        **options,
    }
    return calib.calibration_session_create(
        user=user or world.admin, data=calib.SessionInput(**data)
    )


def item_of(session, user, conversation) -> QueueItem:
    return QueueItem.objects.get(calibration=session, assignee=user, conversation=conversation)


def begin(session, user, conversation) -> Review:
    claimed = services.queue_item_claim(user=user, item_id=item_of(session, user, conversation).pk)
    return services.review_start(item=claimed, reviewer=user)


def answer(session, user, conversation, **outcomes) -> Review:
    """``user`` answers every criterion MET unless ``outcomes`` says otherwise."""
    review = begin(session, user, conversation)
    return services.review_submit(
        user=user,
        review=review,
        answers={f"{H}:{key}": {"outcome": outcomes.get(key, "MET")} for key in CRITERIA},
    )


# Making a session ---------------------------------------------------------------------------------


def test_a_session_queues_each_conversation_for_each_participant_and_tells_them(
    world, script, calls, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = make(world, script, calls)
    items = QueueItem.objects.filter(calibration=session)
    assert items.count() == 6
    assert {i.source for i in items} == {ItemSource.CALIBRATION}
    assert {(i.assignee_id, i.status) for i in items} == {
        (world.qa_analyst.pk, ItemStatus.OPEN),
        (world.coach.pk, ItemStatus.OPEN),
    }
    assert {i.due_at for i in items} == {session.deadline}
    assert session.session_conversations.count() == 3
    # The AI's answers are taken now, as a review keeps them.
    entry = session.session_conversations.get(conversation=world.north_call)
    assert entry.segments == [H] and entry.ai["segment"] == H
    assert set(entry.ai["criteria"]) >= {"greeting", "offer_help"}
    told = Notification.objects.filter(kind="qa.calibration_assigned")
    assert sorted(told.values_list("user_id", flat=True)) == sorted(
        [world.qa_analyst.pk, world.coach.pk]
    )
    assert "3 conversations to answer" in told.first().body


def test_only_admins_make_sessions(world, script, calls):
    with pytest.raises(PermissionDenied):
        make(world, script, calls, user=world.qa_analyst)


def test_a_session_refuses_what_cannot_be_calibrated_with_every_reason(world, script, calls):
    _, draft = rubric_build.make_rubric(
        actor=world.admin, name="Draft", data=rubric_build.content(), publish=False
    )
    with pytest.raises(ValidationFailed) as refused:
        make(
            world,
            script,
            [world.south_call],  # the coach leads north only
            name=" ",
            rubric_version_id=draft.pk,
            benchmark_mode=BenchmarkMode.EXPERT,
            expert_id=world.admin.pk,
            deadline=timezone.now() - timedelta(hours=1),
        )
    errors = refused.value.errors
    assert set(errors) == {
        "name",
        "rubric_version_id",
        "participant_ids",
        "expert_id",
        "deadline",
    }
    assert "may not review" in errors["participant_ids"][0]
    assert "published or retired" in errors["rubric_version_id"][0]
    with pytest.raises(ValidationFailed) as refused:
        make(world, script, [], participant_ids=[world.qa_analyst.pk, world.agent_user.pk])
    assert set(refused.value.errors) == {"conversation_ids", "participant_ids"}
    with pytest.raises(ValidationFailed) as refused:
        make(world, script, calls, participant_ids=[world.qa_analyst.pk], include_ai=False)
    assert "two answers" in refused.value.errors["participant_ids"][0]


# Answering --------------------------------------------------------------------------------------


def test_a_calibration_answer_starts_empty_but_keeps_the_ais_answers(world, script, calls):
    session = make(world, script, calls)
    review = begin(session, world.qa_analyst, world.north_call)
    assert review.is_calibration and review.calibration_id == session.pk
    assert review.rubric_version_id == script.pk
    assert review.draft["answers"] == {}  # no anchoring on the AI
    assert review.ai == session.session_conversations.get(conversation=world.north_call).ai


def test_the_review_page_hides_the_ai_in_a_blind_open_session_only(world, script, calls):
    blind = make(world, script, calls[:1])
    review = begin(blind, world.qa_analyst, world.north_call)
    page = review_page(
        user=world.qa_analyst, review=review_get(user=world.qa_analyst, pk=review.pk)
    )
    assert page.ai == {} and all(c.ai is None for c in page.criteria)
    assert page.ai_hidden  # and the page says so, rather than "No AI result"
    response = builders_client(world.qa_analyst).get(f"/qa/reviews/{review.pk}/")
    assert b'data-testid="ai-suggestion"' not in response.content
    assert b'data-testid="ai-hidden"' in response.content
    assert b'data-testid="no-ai"' not in response.content
    seen = make(world, script, calls[1:2], blind=False)
    review = begin(seen, world.qa_analyst, calls[1])
    page = review_page(
        user=world.qa_analyst, review=review_get(user=world.qa_analyst, pk=review.pk)
    )
    assert any(c.ai is not None for c in page.criteria)


def builders_client(user):
    from tests.conftest import login

    return login(user)


def test_an_answer_needs_no_comment_where_it_differs_from_the_ai(world, script, calls):
    session = make(world, script, calls[:1])
    review = answer(session, world.qa_analyst, world.north_call, greeting="NOT_MET")
    assert review.status == "SUBMITTED" and review.release_at is None


def test_submitting_finishes_only_ones_own_item_and_not_the_conversations_other_work(
    world, script, calls
):
    from tests.fixtures import qa as build

    manual = build.manual_item(world.north_call, reason="A real review")
    session = make(world, script, calls[:1])
    answer(session, world.qa_analyst, world.north_call)
    assert item_of(session, world.qa_analyst, world.north_call).status == ItemStatus.DONE
    assert item_of(session, world.coach, world.north_call).status == ItemStatus.OPEN
    manual.refresh_from_db()
    assert manual.status == ItemStatus.OPEN
    # And a real review does not finish the participants' items either.
    claimed = services.queue_item_claim(user=world.admin, item_id=manual.pk)
    review = services.review_start(item=claimed, reviewer=world.admin)
    services.review_submit(
        user=world.admin,
        review=review,
        answers={
            key: {"outcome": "MET", "comment": "checked"} for key in services.review_keys(review)
        },
    )
    assert item_of(session, world.coach, world.north_call).status == ItemStatus.OPEN


def test_nobody_else_claims_or_reassigns_a_participants_item(world, script, calls):
    session = make(world, script, calls[:1])
    item = item_of(session, world.coach, world.north_call)
    with pytest.raises(PermissionDenied):
        services.queue_item_claim(user=world.admin, item_id=item.pk)
    with pytest.raises(Conflict):
        services.queue_item_reassign(
            user=world.admin, item=item, assignee_id=world.qa_analyst.pk, reason="busy"
        )


# Blindness ----------------------------------------------------------------------------------------


def test_a_blind_sessions_answers_are_the_answerers_own_until_it_closes(world, script, calls):
    session = make(world, script, calls[:1])
    theirs = answer(session, world.coach, world.north_call)
    mine = answer(session, world.qa_analyst, world.north_call)
    visible = set(Review.objects.for_user(world.qa_analyst).values_list("pk", flat=True))
    assert mine.pk in visible and theirs.pk not in visible
    assert theirs.pk not in set(Review.objects.for_user(world.admin).values_list("pk", flat=True))
    fresh = selectors.session_get(user=world.qa_analyst, pk=session.pk)
    assert not selectors.results_visible(fresh, world.qa_analyst)
    # An admin who runs it without answering follows the figures as they come.
    assert selectors.results_visible(
        selectors.session_get(user=world.admin, pk=session.pk), world.admin
    )
    calib.calibration_session_close(user=world.admin, session=session)
    assert theirs.pk in set(Review.objects.for_user(world.qa_analyst).values_list("pk", flat=True))
    fresh = selectors.session_get(user=world.qa_analyst, pk=session.pk)
    assert selectors.results_visible(fresh, world.qa_analyst)


def test_in_an_open_session_everyone_sees_the_answers_as_they_come(world, script, calls):
    session = make(world, script, calls[:1], blind=False)
    theirs = answer(session, world.coach, world.north_call)
    assert Review.objects.for_user(world.qa_analyst).filter(pk=theirs.pk).exists()
    fresh = selectors.session_get(user=world.qa_analyst, pk=session.pk)
    assert selectors.results_visible(fresh, world.qa_analyst)


def test_calibration_answers_never_reach_the_agent(world, script, calls):
    session = make(world, script, calls[:1])
    review = answer(session, world.qa_analyst, world.north_call)
    assert not Review.objects.for_user(world.agent_user).filter(pk=review.pk).exists()
    with pytest.raises(Conflict):
        services.review_release(user=world.admin, review=review)
    assert not Notification.objects.filter(user=world.agent_user).exists()


def test_calibration_answers_never_count_in_the_agents_scores(world, script, calls):
    session = make(world, script, calls[:1])
    answer(session, world.qa_analyst, world.north_call, verify_identity="NOT_MET")
    insights_build.refresh()
    facts = ConversationFact.objects.get(conversation_id=world.north_call.pk)
    assert facts.qa_score is None and facts.reviews == 0 and not facts.human_criteria


# Closing and the benchmark -----------------------------------------------------------------------


def test_closing_removes_unanswered_items_and_prefills_the_majority(world, script, calls):
    extra = builders.make_user(username="quentin", role=Role.QA_ANALYST)
    session = make(
        world,
        script,
        calls[:2],
        participant_ids=[world.qa_analyst.pk, world.coach.pk, extra.pk],
        include_ai=False,
    )
    answer(session, world.qa_analyst, calls[0], greeting="NOT_MET")
    answer(session, world.coach, calls[0], greeting="NOT_MET")
    answer(session, extra, calls[0])
    answer(session, world.qa_analyst, calls[1], offer_help="NOT_MET")
    begin(session, world.coach, calls[1])  # a draft, never submitted
    calib.calibration_session_close(user=world.admin, session=session, discussion="Talked it over")
    session.refresh_from_db()
    assert session.status == CalibrationStatus.CLOSED and session.closed_by == world.admin
    assert session.discussion == "Talked it over"
    left = QueueItem.objects.filter(calibration=session, status=ItemStatus.REMOVED)
    assert left.count() == 2 and {i.removed_reason for i in left} == {calib.CLOSE_REASON}
    assert not Review.objects.filter(calibration=session, status="DRAFT").exists()
    marks = {
        (b.conversation_id, b.criterion_key): (b.outcome, b.note)
        for b in CalibrationBenchmark.objects.filter(session=session)
    }
    assert marks[(calls[0].pk, "greeting")] == ("NOT_MET", "Majority: 2 of 3 answers.")
    assert marks[(calls[1].pk, "offer_help")][0] == "NOT_MET"  # the one answer there is
    with pytest.raises(Conflict):
        calib.calibration_session_close(user=world.admin, session=session)
    with pytest.raises(Conflict):
        begin(session, extra, calls[1])


def test_closing_asks_for_the_trust_tiers_again_as_its_answers_now_count(
    world, script, calls, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    session = make(world, script, calls[:1])
    answer(session, world.qa_analyst, calls[0])
    cache.delete(f"qa:trust:pending:{script.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        calib.calibration_session_close(user=world.admin, session=session)
    assert cache.get(f"qa:trust:pending:{script.pk}") == 1  # one recompute scheduled
    cache.delete(f"qa:trust:pending:{script.pk}")


def test_an_expert_session_takes_the_experts_answers_as_the_benchmark(world, script, calls):
    session = make(
        world,
        script,
        calls[:1],
        benchmark_mode=BenchmarkMode.EXPERT,
        expert_id=world.coach.pk,
    )
    answer(session, world.qa_analyst, calls[0])
    answer(session, world.coach, calls[0], offer_help="NOT_MET")
    calib.calibration_session_close(user=world.admin, session=session)
    marks = dict(
        CalibrationBenchmark.objects.filter(session=session).values_list("criterion_key", "outcome")
    )
    assert marks == {
        "greeting": "MET",
        "offer_help": "NOT_MET",
        "verify_identity": "MET",
        "confirm_address": "MET",
    }


def test_admins_correct_the_benchmark_after_close_with_a_note(world, script, calls):
    session = make(world, script, calls[:1], include_ai=False)
    change = calib.BenchmarkChange(calls[0].pk, f"{H}:greeting", "NOT_MET", "The bank's name")
    with pytest.raises(Conflict):
        calib.calibration_benchmark_set(user=world.admin, session=session, changes=[change])
    answer(session, world.qa_analyst, calls[0])
    answer(session, world.coach, calls[0])
    calib.calibration_session_close(user=world.admin, session=session)
    with pytest.raises(PermissionDenied):
        calib.calibration_benchmark_set(user=world.qa_analyst, session=session, changes=[change])
    with pytest.raises(ValidationFailed) as refused:
        calib.calibration_benchmark_set(
            user=world.admin,
            session=session,
            changes=[
                change,
                calib.BenchmarkChange(calls[0].pk, f"{H}:verify_identity", "NA"),
                calib.BenchmarkChange(calls[0].pk, f"{H}:nope", "MET"),
            ],
        )
    assert set(refused.value.errors) == {"changes.1.outcome", "changes.2.key"}
    assert calib.calibration_benchmark_set(user=world.admin, session=session, changes=[change]) == 1
    mark = CalibrationBenchmark.objects.get(session=session, criterion_key="greeting")
    assert (mark.outcome, mark.note, mark.set_by) == ("NOT_MET", "The bank's name", world.admin)
    assert calib.calibration_benchmark_set(user=world.admin, session=session, changes=[change]) == 0


# Results -----------------------------------------------------------------------------------------


def test_results_measure_agreement_alignment_and_the_most_disputed_criterion(world, script, calls):
    extra = builders.make_user(username="quentin", role=Role.QA_ANALYST)
    people = [world.qa_analyst, world.coach, extra]
    session = make(world, script, calls, participant_ids=[p.pk for p in people], include_ai=False)
    # offer_help splits 2-1 on every call; the coach also fails verify_identity once.
    for call in calls:
        answer(session, world.qa_analyst, call)
        answer(session, world.coach, call, offer_help="NOT_MET")
        answer(session, extra, call, offer_help="NOT_MET")
    calib.calibration_session_close(user=world.admin, session=session)
    results = selectors.session_results(selectors.session_get(user=world.admin, pk=session.pk))
    by_key = {c.key: c for c in results.criteria}
    assert by_key[f"{H}:greeting"].agreement == 1.0
    # Per call: 3 pairs, 1 agreeing (the two NOT_MET) → 1/3.
    assert by_key[f"{H}:offer_help"].agreement == pytest.approx(1 / 3)
    assert by_key[f"{H}:offer_help"].pairs == 9 and by_key[f"{H}:offer_help"].few
    assert by_key[f"{H}:offer_help"].fleiss_units == 3
    assert [c.key for c in results.disputed] == [f"{H}:offer_help"]
    assert results.reference == "benchmark"
    aligned = {a.rater.key: a for a in results.alignment}
    assert aligned[world.coach.pk].agreement == 1.0 and aligned[world.coach.pk].n == 12
    assert aligned[world.qa_analyst.pk].agreement == pytest.approx(9 / 12)
    assert aligned[world.qa_analyst.pk].lenient == 3
    # The analyst passed what the benchmark failed: the most lenient; nobody scored lower.
    assert results.most_lenient.rater.key == world.qa_analyst.pk
    assert results.strictest is None
    row = next(r for r in results.grid[0].rows if r.key == f"{H}:offer_help")
    by_rater = dict(zip([r.key for r in results.raters], row.answers, strict=True))
    assert by_rater == {world.qa_analyst.pk: "MET", world.coach.pk: "NOT_MET", extra.pk: "NOT_MET"}
    assert row.benchmark == "NOT_MET"
    assert row.disputed


def test_the_ai_answers_as_one_more_participant(world, script, calls):
    session = make(world, script, calls[:2])
    for call in calls[:2]:
        answer(session, world.qa_analyst, call)
        answer(session, world.coach, call)
    calib.calibration_session_close(user=world.admin, session=session)
    results = selectors.session_results(selectors.session_get(user=world.admin, pk=session.pk))
    assert [r.key for r in results.raters] == [world.coach.pk, world.qa_analyst.pk, selectors.AI]
    ai = next(a for a in results.alignment if a.rater.is_ai)
    entry = session.session_conversations.get(conversation=calls[0])
    ai_greeting = entry.ai["criteria"]["greeting"]["outcome"]
    row = next(r for r in results.grid[0].rows if r.key == f"{H}:greeting")
    assert row.answers[-1] == ai_greeting
    assert ai.n >= 2


# Pages ---------------------------------------------------------------------------------------


def test_the_list_shows_an_empty_state_and_only_ones_own_sessions(world, script, calls, client_for):
    response = client_for(world.qa_analyst).get("/qa/calibration/")
    assert response.status_code == 200 and b'data-testid="empty-state"' in response.content
    assert b"new-calibration" not in response.content
    mine = make(world, script, calls[:1])
    other = make(world, script, calls[:1], name="Admins only", participant_ids=[world.admin.pk])
    page = client_for(world.qa_analyst).get("/qa/calibration/").content.decode()
    assert mine.name in page and other.name not in page
    assert (
        "Admins only"
        in client_for(world.admin).get("/qa/calibration/?status=OPEN").content.decode()
    )
    assert (
        "Admins only"
        not in client_for(world.admin).get("/qa/calibration/?status=CLOSED").content.decode()
    )
    assert client_for(world.agent_user).get("/qa/calibration/").status_code == 403
    assert client_for(world.outsider).get("/qa/calibration/").status_code == 403
    assert client_for(world.qa_analyst).get(f"/qa/calibration/{other.pk}/").status_code == 404


def test_admins_create_a_session_from_the_form(world, script, calls, client_for):
    admin = client_for(world.admin)
    assert client_for(world.qa_analyst).get("/qa/calibration/new/").status_code == 403
    form = admin.get("/qa/calibration/new/")
    assert form.status_code == 200 and b"Nora North" in form.content
    response = admin.post(
        "/qa/calibration/new/",
        {
            "name": "From the form",
            "rubric_version": script.pk,
            "conversations": [calls[0].pk],
            "conversation_ids": f"{calls[1].pk}, {calls[2].pk}",
            "participants": [world.qa_analyst.pk, world.coach.pk],
            "include_ai": "on",
            "blind": "on",
            "deadline": "",
            "benchmark_mode": "CONSENSUS",
            "expert": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    session = selectors.session_list(user=world.admin).get(name="From the form")
    assert session.conversation_count == 3 and session.blind and session.include_ai
    bad = admin.post("/qa/calibration/new/", {"name": "", "benchmark_mode": "CONSENSUS"})
    assert bad.status_code == 200 and b'data-testid="form-errors"' in bad.content


def test_the_detail_page_hides_answers_from_participants_until_close(
    world, script, calls, client_for
):
    session = make(world, script, calls[:1])
    answer(session, world.coach, calls[0], offer_help="NOT_MET")
    analyst = client_for(world.qa_analyst)
    page = analyst.get(f"/qa/calibration/{session.pk}/").content.decode()
    assert 'data-testid="results-hidden"' in page and 'data-testid="answer-grid"' not in page
    assert 'data-testid="answer-link"' in page
    admin_page = client_for(world.admin).get(f"/qa/calibration/{session.pk}/").content.decode()
    assert 'data-testid="answer-grid"' in admin_page and 'data-testid="close-session"' in admin_page
    assert (
        client_for(world.qa_analyst).post(f"/qa/calibration/{session.pk}/close/").status_code == 403
    )
    assert client_for(world.admin).get(f"/qa/calibration/{session.pk}/close/").status_code == 200
    assert client_for(world.admin).post(f"/qa/calibration/{session.pk}/close/").status_code == 302
    page = analyst.get(f"/qa/calibration/{session.pk}/").content.decode()
    assert 'data-testid="answer-grid"' in page and 'data-testid="results-hidden"' not in page
    assert 'data-testid="benchmark-select"' not in page
    admin_page = client_for(world.admin).get(f"/qa/calibration/{session.pk}/").content.decode()
    assert 'data-testid="benchmark-select"' in admin_page
    saved = client_for(world.admin).post(
        f"/qa/calibration/{session.pk}/benchmark/",
        {f"b|{calls[0].pk}|{H}:offer_help": "MET", f"b|{calls[0].pk}|{H}:offer_help|note": "ok"},
    )
    assert saved.status_code == 302
    assert (
        CalibrationBenchmark.objects.get(session=session, criterion_key="offer_help").outcome
        == "MET"
    )


def test_the_list_and_detail_pages_take_a_fixed_number_of_queries(world, script, calls, client_for):
    first = make(world, script, calls[:1])
    answer(first, world.qa_analyst, calls[0])
    calib.calibration_session_close(user=world.admin, session=first)
    admin = client_for(world.admin)
    list_few = queries_for(admin, "/qa/calibration/")
    detail_few = queries_for(admin, f"/qa/calibration/{first.pk}/")
    second = make(world, script, calls, name="Bigger")
    for call in calls:
        answer(second, world.qa_analyst, call)
        answer(second, world.coach, call)
    calib.calibration_session_close(user=world.admin, session=second)
    make(world, script, calls, name="Third")
    assert queries_for(admin, "/qa/calibration/") == list_few
    assert queries_for(admin, f"/qa/calibration/{second.pk}/") == detail_few


# API -----------------------------------------------------------------------------------------


def test_the_api_runs_a_session_from_start_to_benchmark(world, script, calls, client_for):
    admin = client_for(world.admin)
    created = admin.post(
        "/api/qa/calibration/",
        {
            "name": "API session",
            "rubric_version": script.pk,
            "conversations": [calls[0].pk],
            "participants": [world.qa_analyst.pk, world.coach.pk],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["conversations"] == [calls[0].pk]
    refused = client_for(world.qa_analyst).post(
        "/api/qa/calibration/", {"name": "x"}, content_type="application/json"
    )
    assert refused.status_code == 403
    invalid = admin.post(
        "/api/qa/calibration/",
        {"name": "x", "rubric_version": script.pk, "conversations": [999999], "participants": [1]},
        content_type="application/json",
    )
    assert invalid.status_code == 400
    assert set(invalid.json()["extra"]["errors"]) == {"conversation_ids", "participant_ids"}
    session = selectors.session_get(user=world.admin, pk=pk)
    answer(session, world.qa_analyst, calls[0])
    analyst = client_for(world.qa_analyst)
    assert [s["id"] for s in analyst.get("/api/qa/calibration/").json()["results"]] == [pk]
    assert analyst.get(f"/api/qa/calibration/{pk}/results/").status_code == 403
    assert admin.get(f"/api/qa/calibration/{pk}/results/").status_code == 200
    closed = admin.post(f"/api/qa/calibration/{pk}/close/", {}, content_type="application/json")
    assert closed.status_code == 200 and closed.json()["status"] == "CLOSED"
    again = admin.post(f"/api/qa/calibration/{pk}/close/", {}, content_type="application/json")
    assert again.status_code == 409
    results = analyst.get(f"/api/qa/calibration/{pk}/results/").json()
    assert {c["key"] for c in results["criteria"]} == {f"{H}:{k}" for k in CRITERIA}
    assert results["raters"][-1]["key"] == "ai"
    benchmark = admin.post(
        f"/api/qa/calibration/{pk}/benchmark/",
        {"changes": [{"conversation": calls[0].pk, "key": f"{H}:greeting", "outcome": "NOT_MET"}]},
        content_type="application/json",
    )
    assert benchmark.status_code == 200 and benchmark.json() == {"changed": 1}
    assert client_for(world.agent_user).get("/api/qa/calibration/").status_code == 403


def test_the_api_list_takes_a_fixed_number_of_queries(world, script, calls, client_for):
    make(world, script, calls[:1])
    admin = client_for(world.admin)
    few = queries_for(admin, "/api/qa/calibration/")
    make(world, script, calls, name="More")
    make(world, script, calls[:2], name="Even more")
    assert queries_for(admin, "/api/qa/calibration/") == few


# The demo --------------------------------------------------------------------------------------


def test_the_demo_has_a_closed_session_with_a_benchmark_and_an_open_one_with_work_left(demo_qa):
    from apps.accounts.models import User
    from apps.demo.qa import demo_calibration_load

    loaded = demo_calibration_load()
    assert loaded.created
    closed = selectors.session_list(user=User.objects.get(username="admin")).get(
        status=CalibrationStatus.CLOSED
    )
    assert closed.benchmarks.exists()
    results = selectors.session_results(
        selectors.session_get(user=User.objects.get(username="admin"), pk=closed.pk)
    )
    assert results.disputed and results.strictest and results.most_lenient
    qa_user = User.objects.get(username="qa")
    opened = CalibrationSession.objects.get(status=CalibrationStatus.OPEN)
    assert selectors.my_open_items(user=qa_user, session=opened).exists()
    assert not demo_calibration_load().created  # idempotent
