"""Rubric impact preview: a draft version re-scoring the stored conversations, with per-team and
per-agent deltas, newly failing criteria, progress, permissions, the API and the pages."""

from __future__ import annotations

import copy
import itertools
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.qa import services, tasks
from apps.qa.choices import PreviewStatus
from apps.qa.models import ImpactPreview, ImpactRow
from apps.qa.services import impact
from apps.rubrics import selectors as rubric_selectors
from apps.rubrics import services as rubric_services
from tests.fixtures import builders, rubrics
from tests.fixtures import qa as build
from tests.fixtures.queries import queries_for

pytestmark = pytest.mark.django_db

H = "HUMAN_AGENT"
_keys = itertools.count(1)


def review(world, conversation, **outcomes):
    """A submitted review of ``conversation`` with the QA test script's four answers."""
    item = build.manual_item(conversation, key=f"manual:{next(_keys)}")
    claimed = services.queue_item_claim(user=world.qa_analyst, item_id=item.pk)
    started = services.review_start(item=claimed, reviewer=world.qa_analyst)
    answers = {
        "greeting": "MET",
        "offer_help": "NOT_MET",
        "verify_identity": "MET",
        "confirm_address": "NA",
    } | outcomes
    return services.review_submit(
        user=world.qa_analyst,
        review=started,
        answers={
            f"{H}:{key}": {"outcome": value, "comment": "Checked by hand"}
            for key, value in answers.items()
        },
    )


def draft_of(world, version, change) -> object:
    """The rubric's next draft with ``change(content)`` applied to a copy of its content."""
    draft = rubric_services.version_new_draft(rubric=version.rubric, actor=world.admin)
    content = copy.deepcopy(rubric_selectors.version_data(version=draft))
    change(content)
    return rubric_services.draft_update(version=draft, actor=world.admin, data=content)


def criterion_of(content, key):
    return next(c for s in content["sections"] for c in s["criteria"] if c["key"] == key)


def add_bank_name(content):
    content["sections"][0]["criteria"].append(
        rubrics.criterion("says_bank_name", required_phrases=[{"text": "harper valley"}])
        | {
            "description": "",
            "expected_action": "",
            "window_seconds": None,
            "window_anchor": "CONVERSATION_START",
            "na_allowed": False,
            "applies_to": "BOTH",
        }
    )


def new_help_phrase(content):
    criterion_of(content, "offer_help")["required_phrases"] = [
        {"text": "how may i assist you", "tolerance": 80}
    ]


def run(world, draft, days=30):
    with_callbacks = impact.impact_preview_start(user=world.admin, version=draft, days=days)
    done = impact.impact_preview_run(preview_id=with_callbacks.pk)
    assert done is not None and done.status == PreviewStatus.DONE, done and done.error
    return done


def rows_of(preview):
    return {row.conversation_id: row for row in ImpactRow.objects.filter(preview=preview)}


@pytest.fixture
def script(world):
    """The QA script published (greeting and offer_help are phrase checks; verify_identity and
    confirm_address need a person), both world calls judged by the AI against it."""
    version = build.publish_script(world.admin)
    build.judge(world.north_call, world.south_call)
    return version


# Re-scoring ------------------------------------------------------------------------------------


def test_an_unchanged_criterion_keeps_the_stored_human_answer_and_a_new_one_is_checked(
    world, script
):
    # The reviewer failed the greeting that the phrase check would pass: the stored answer wins.
    review(world, world.north_call, greeting="NOT_MET")
    preview = run(world, draft_of(world, script, add_bank_name))
    north, south = rows_of(preview)[world.north_call.pk], rows_of(preview)[world.south_call.pk]
    # North: opening greeting NOT_MET, offer_help NOT_MET (stored); resolution 100 % -> 60.
    assert north.before == Decimal("60.0")
    # ... and the new criterion is found in "thank you for calling harper valley": 1 of 3.
    assert north.after == Decimal("73.3") and north.newly_failing == []
    # South has no review: the AI's answers (greeting NOT_MET, offer_help MET), nothing for
    # the resolution section, so only the opening counts; "harper valley" is never said.
    assert (south.before, south.after) == (Decimal("50.0"), Decimal("33.3"))
    assert south.newly_failing == ["says_bank_name"]
    assert preview.summary["criteria"]["new"] == ["says_bank_name"]
    assert preview.summary["criteria"]["unchanged"] == 4


def test_a_changed_phrase_is_checked_on_both_sides_so_the_delta_is_the_wording(world, script):
    preview = run(world, draft_of(world, script, new_help_phrase))
    rows = rows_of(preview)
    south = rows[world.south_call.pk]
    # "hello how can i help" passes the old phrase, not "how may i assist you".
    assert (south.before, south.after) == (Decimal("50.0"), Decimal("0.0"))
    assert south.newly_failing == ["offer_help"]
    north = rows[world.north_call.pk]
    assert north.before == north.after and north.newly_failing == []
    assert preview.summary["criteria"]["changed"] == ["offer_help"]
    assert preview.summary["newly_failing"] == [
        {"key": "offer_help", "name": "Offer help", "count": 1}
    ]


def test_a_weight_change_rescores_the_same_answers(world, script):
    def reweigh(content):
        content["sections"][0]["weight"] = Decimal(80)
        content["sections"][1]["weight"] = Decimal(20)

    review(world, world.north_call)
    preview = run(world, draft_of(world, script, reweigh))
    north = rows_of(preview)[world.north_call.pk]
    # Opening 50 %, resolution 100 %: 0.4*50+0.6*100 = 80 before, 0.8*50+0.2*100 = 60 after.
    assert (north.before, north.after) == (Decimal("80.0"), Decimal("60.0"))
    assert preview.summary["criteria"]["changed"] == []


def test_without_a_published_version_every_criterion_is_new_and_there_is_no_before(world):
    _, draft = rubrics.make_rubric(actor=world.admin, data=build.SCRIPT)
    preview = run(world, draft)
    assert preview.baseline_version is None
    south = rows_of(preview)[world.south_call.pk]
    assert south.before is None and south.after is not None
    assert set(preview.summary["criteria"]["new"]) == {
        "greeting",
        "offer_help",
        "verify_identity",
        "confirm_address",
    }
    # Nobody answered the two that need a person: left out of the score, and said so.
    assert set(preview.summary["criteria"]["unjudged"]) == {"verify_identity", "confirm_address"}


def test_the_summary_gives_deltas_per_team_and_agent_with_an_interval(world, script):
    extra = builders.make_conversation(
        agent=world.other_agent, texts=[("agent", "good morning how can i help you")]
    )
    build.judge(extra)
    preview = run(world, draft_of(world, script, new_help_phrase))
    summary = preview.summary
    teams = {t["name"]: t for t in summary["teams"]}
    assert teams["South"]["n"] == 2 and teams["South"]["delta"] == -50.0
    assert teams["North"]["delta"] == 0.0
    # The biggest drop first.
    assert [t["name"] for t in summary["teams"]] == ["South", "North"]
    assert summary["agents"][0]["name"] == "Bob" and summary["agents"][0]["team"] == "South"
    # Paired differences (-50, -50, 0): mean -33.33 with a t interval around it.
    overall = summary["overall"]
    assert overall["n"] == 3 and overall["delta"] == -33.33
    assert overall["low"] < -33.33 < overall["high"]
    assert teams["North"]["low"] is None  # one conversation: no interval


def test_only_closed_conversations_of_the_window_newest_first_up_to_the_cap(
    world, script, settings
):
    from datetime import timedelta

    from django.utils import timezone

    old = builders.make_conversation(
        agent=world.agent, started_at=timezone.now() - timedelta(days=40)
    )
    builders.make_conversation(agent=world.agent, status="ACTIVE")
    preview = run(world, draft_of(world, script, new_help_phrase))
    assert old.pk not in rows_of(preview) and preview.total == 2
    settings.QA_IMPACT_MAX_CONVERSATIONS = 1
    draft = preview.rubric_version
    again = impact.impact_preview_run(
        preview_id=ImpactPreview.objects.create(
            rubric_version=draft, structure_hash="x", baseline_version=script
        ).pk
    )
    assert again.total == 1 and list(rows_of(again)) == [world.south_call.pk]


# Progress, failure, idempotency ------------------------------------------------------------------


def test_progress_is_written_as_it_goes(world, script, monkeypatch):
    monkeypatch.setattr(impact, "PROGRESS_EVERY", 1)
    draft = draft_of(world, script, new_help_phrase)
    preview = impact.impact_preview_start(user=world.admin, version=draft)
    seen = []

    def progress(done, total):
        seen.append((done, total, ImpactPreview.objects.get(pk=preview.pk).done))

    impact.impact_preview_run(preview_id=preview.pk, on_progress=progress)
    assert seen == [(1, 2, 1), (2, 2, 2)]
    preview.refresh_from_db()
    assert (preview.done, preview.total, preview.status) == (2, 2, PreviewStatus.DONE)
    assert preview.started_at <= preview.finished_at


def test_a_failure_is_recorded_with_its_error(world, script, monkeypatch):
    draft = draft_of(world, script, new_help_phrase)
    preview = impact.impact_preview_start(user=world.admin, version=draft)

    def broken(**_):
        raise RuntimeError("transcripts unavailable")

    monkeypatch.setattr(impact.conversations, "agent_lines_by_conversation", broken)
    done = impact.impact_preview_run(preview_id=preview.pk)
    assert done.status == PreviewStatus.FAILED and "transcripts unavailable" in done.error
    assert not ImpactRow.objects.filter(preview=preview).exists()


def test_the_task_run_twice_has_one_effect(world, script, django_capture_on_commit_callbacks):
    draft = draft_of(world, script, new_help_phrase)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        preview = services.impact_preview_start(user=world.admin, version=draft)
    assert len(callbacks) == 1  # the task is enqueued once the start commits
    assert tasks.run_impact_preview(preview.pk) == PreviewStatus.DONE
    first = ImpactPreview.objects.get(pk=preview.pk)
    assert tasks.run_impact_preview(preview.pk) is None
    again = ImpactPreview.objects.get(pk=preview.pk)
    assert ImpactRow.objects.filter(preview=preview).count() == 2
    assert (again.finished_at, again.summary) == (first.finished_at, first.summary)


def test_a_stale_running_preview_is_taken_over(world, script):
    from datetime import timedelta

    from django.utils import timezone

    draft = draft_of(world, script, new_help_phrase)
    preview = impact.impact_preview_start(user=world.admin, version=draft)
    ImpactPreview.objects.filter(pk=preview.pk).update(
        status=PreviewStatus.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )
    assert impact.impact_preview_run(preview_id=preview.pk).status == PreviewStatus.DONE


# Starting ---------------------------------------------------------------------------------------


def test_only_a_draft_is_previewed(world, script):
    with pytest.raises(Conflict, match="only a draft"):
        impact.impact_preview_start(user=world.admin, version=script)


def test_only_admins_preview(world, script):
    draft = draft_of(world, script, new_help_phrase)
    for user in (world.qa_analyst, world.coach, world.supervisor, world.agent_user, world.outsider):
        with pytest.raises(PermissionDenied):
            impact.impact_preview_start(user=user, version=draft)
    with pytest.raises(ValidationFailed):
        impact.impact_preview_start(user=world.admin, version=draft, days=0)


def test_the_same_draft_still_running_is_not_queued_twice_but_an_edit_is(world, script):
    draft = draft_of(world, script, new_help_phrase)
    first = impact.impact_preview_start(user=world.admin, version=draft)
    assert impact.impact_preview_start(user=world.admin, version=draft).pk == first.pk
    content = rubric_selectors.version_data(version=draft)
    criterion_of(content, "greeting")["window_seconds"] = 20
    draft = rubric_services.draft_update(version=draft, actor=world.admin, data=content)
    second = impact.impact_preview_start(user=world.admin, version=draft)
    assert second.pk != first.pk and second.structure_hash != first.structure_hash
    assert impact.is_stale(preview=first) and not impact.is_stale(preview=second)


# API --------------------------------------------------------------------------------------------


def test_the_api_starts_reports_progress_and_lists_rows(world, script, client_for):
    draft = draft_of(world, script, new_help_phrase)
    api = client_for(world.admin)
    started = api.post("/api/qa/impact/", {"version": draft.pk}, content_type="application/json")
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["status"] == "QUEUED" and body["progress"] == 0.0 and body["stale"] is False
    impact.impact_preview_run(preview_id=body["id"])
    detail = api.get(f"/api/qa/impact/{body['id']}/").json()
    assert detail["status"] == "DONE" and detail["progress"] == 1.0 and detail["done"] == 2
    assert detail["summary"]["overall"]["n"] == 2
    rows = api.get(f"/api/qa/impact/{body['id']}/rows/").json()
    assert rows["count"] == 2
    assert rows["results"][0]["conversation"] == world.south_call.pk  # the biggest drop first
    assert rows["results"][0]["delta"] == "-50.0"
    assert rows["results"][0]["newly_failing"] == ["offer_help"]
    team = api.get(f"/api/qa/impact/{body['id']}/rows/", {"team": world.north.pk}).json()
    assert [r["conversation"] for r in team["results"]] == [world.north_call.pk]
    failing = api.get(f"/api/qa/impact/{body['id']}/rows/", {"criterion": "offer_help"}).json()
    assert [r["conversation"] for r in failing["results"]] == [world.south_call.pk]
    listed = api.get("/api/qa/impact/", {"version": draft.pk}).json()
    assert [p["id"] for p in listed["results"]] == [body["id"]]


def test_the_api_answers_bad_input_with_4xx(world, script, client_for):
    api = client_for(world.admin)
    assert api.post("/api/qa/impact/", {"version": script.pk}).status_code == 409
    assert api.post("/api/qa/impact/", {"version": 999999}).status_code == 404
    assert api.post("/api/qa/impact/", {"version": "x"}).status_code == 400
    draft = draft_of(world, script, new_help_phrase)
    assert api.post("/api/qa/impact/", {"version": draft.pk, "days": 900}).status_code == 400
    preview = run(world, draft)
    assert api.get(f"/api/qa/impact/{preview.pk}/rows/", {"team": "x"}).status_code == 400
    assert api.get(f"/api/qa/impact/{preview.pk}/rows/", {"change": "x"}).status_code == 400
    assert api.get("/api/qa/impact/", {"version": "x"}).status_code == 400


def test_the_api_is_for_admins_only(world, script, client_for):
    preview = run(world, draft_of(world, script, new_help_phrase))
    for user in (world.qa_analyst, world.coach, world.agent_user):
        api = client_for(user)
        assert api.get(f"/api/qa/impact/{preview.pk}/").status_code == 403
        assert api.get("/api/qa/impact/").status_code == 403


# Pages ------------------------------------------------------------------------------------------


def test_the_draft_page_offers_a_preview_to_admins_only(world, script, client_for):
    draft = draft_of(world, script, new_help_phrase)
    url = reverse("rubric-version", args=[draft.rubric_id, draft.number])
    assert b'data-testid="preview-impact"' in client_for(world.admin).get(url).content
    assert b'data-testid="preview-impact"' not in client_for(world.qa_analyst).get(url).content
    published = reverse("rubric-version", args=[script.rubric_id, script.number])
    assert b'data-testid="preview-impact"' not in client_for(world.admin).get(published).content


def test_pressing_preview_starts_one_and_opens_its_page(world, script, client_for):
    draft = draft_of(world, script, new_help_phrase)
    admin = client_for(world.admin)
    response = admin.post(reverse("qa-impact-start", args=[draft.pk]), {"days": "7"})
    preview = ImpactPreview.objects.get()
    assert response.status_code == 302 and response.url == reverse("qa-impact", args=[preview.pk])
    assert preview.days == 7
    page = admin.get(response.url).content.decode()
    assert 'data-testid="progress"' in page and "impact.js" in page
    bad = admin.post(reverse("qa-impact-start", args=[script.pk]), follow=True)
    assert "only a draft" in bad.content.decode()
    assert admin.post(reverse("qa-impact-start", args=[draft.pk]), {"days": "x"}).status_code == 302
    assert (
        client_for(world.qa_analyst).post(reverse("qa-impact-start", args=[draft.pk])).status_code
        == 403
    )


def test_the_results_page_shows_tables_failing_criteria_and_filtered_rows(
    world, script, client_for
):
    preview = run(world, draft_of(world, script, new_help_phrase))
    admin = client_for(world.admin)
    page = admin.get(reverse("qa-impact", args=[preview.pk])).content.decode()
    assert 'data-testid="teams"' in page and 'data-testid="agents"' in page
    assert 'data-testid="newly-failing"' in page and "Offer help" in page
    assert page.count('data-testid="row"') == 2
    assert 'data-testid="stale-notice"' not in page
    filtered = admin.get(
        reverse("qa-impact", args=[preview.pk]), {"agent": world.agent.pk}
    ).content.decode()
    assert filtered.count('data-testid="row"') == 1
    assert reverse("conversation-detail", args=[world.north_call.pk]) in filtered
    odd = admin.get(reverse("qa-impact", args=[preview.pk]), {"team": "x"})
    assert odd.status_code == 200  # a hand-edited filter shows every row, never a 500


def test_the_page_says_when_the_draft_changed_since(world, script, client_for):
    preview = run(world, draft_of(world, script, new_help_phrase))
    draft = preview.rubric_version
    content = rubric_selectors.version_data(version=draft)
    criterion_of(content, "greeting")["window_seconds"] = 20
    rubric_services.draft_update(version=draft, actor=world.admin, data=content)
    page = client_for(world.admin).get(reverse("qa-impact", args=[preview.pk])).content.decode()
    assert 'data-testid="stale-notice"' in page


def test_an_empty_window_says_so(world, script, client_for):
    preview = run(world, draft_of(world, script, new_help_phrase), days=1)
    from apps.conversations.models import Conversation

    Conversation.objects.all().delete()
    ImpactPreview.objects.filter(pk=preview.pk).update(status=PreviewStatus.QUEUED)
    impact.impact_preview_run(preview_id=preview.pk)
    page = client_for(world.admin).get(reverse("qa-impact", args=[preview.pk])).content.decode()
    assert 'data-testid="empty-state"' in page


def test_pages_are_for_admins_only(world, script, client_for):
    preview = run(world, draft_of(world, script, new_help_phrase))
    for user in (world.qa_analyst, world.coach, world.supervisor, world.agent_user):
        assert client_for(user).get(reverse("qa-impact", args=[preview.pk])).status_code == 403
        assert client_for(user).get(reverse("qa-impact-list")).status_code == 403
    assert client_for(world.admin).get(reverse("qa-impact", args=[999999])).status_code == 404


def test_the_pages_and_rows_api_make_as_many_queries_for_many_rows_as_for_few(
    world, script, client_for
):
    draft = draft_of(world, script, new_help_phrase)
    few = run(world, draft)
    for n in range(6):
        builders.make_conversation(
            agent=world.agent if n % 2 else world.other_agent,
            texts=[("agent", "hello how can i help")],
        )
    ImpactPreview.objects.filter(pk=few.pk).update(structure_hash="old")  # not reused
    many = run(world, draft)
    assert ImpactRow.objects.filter(preview=many).count() == 8
    admin = client_for(world.admin)
    for name in ("qa-impact",):
        assert queries_for(admin, reverse(name, args=[few.pk])) == queries_for(
            admin, reverse(name, args=[many.pk])
        )
    assert queries_for(admin, f"/api/qa/impact/{few.pk}/rows/") == queries_for(
        admin, f"/api/qa/impact/{many.pk}/rows/"
    )
    assert queries_for(admin, reverse("qa-impact-list")) <= 8
