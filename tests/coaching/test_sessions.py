"""Coaching sessions: planned by a coach for an agent of their teams, linked to reviews with
pinned transcript lines, held, acknowledged by the agent, closed; action items ticked; templates
shown to whom they are for; and who sees what, in the pages and the API.

The world (tests/conftest.py): the coach leads North (Alice, the agent login ``alice``); Bob is
in South. The published rubric is the QA tests' script (greeting, offer help, verify identity,
confirm address).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.models import Notification
from apps.coaching.choices import NotificationKind, SessionStatus, TemplateVisibility
from apps.coaching.models import ActionItem, CoachingSession, EvidencePin, SessionLink
from apps.coaching.services import actions, sessions, templates
from apps.coaching.tasks import sweep_action_items_due
from apps.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.fixtures import builders
from tests.fixtures import qa as qa_build
from tests.fixtures.coaching_sessions import sess_lines, sess_plan, sess_review
from tests.fixtures.queries import queries_for

PRIVATE = "Private: she rushes the greeting when the queue is long"


@pytest.fixture
def script(world):
    return qa_build.publish_script(world.admin)


@pytest.fixture
def failed(world, script):
    """A review of Alice's call failing the greeting, with the reviewer's comment and line 1."""
    line = sess_lines(world.north_call)[0]
    return sess_review(
        script,
        world.north_call,
        {"greeting": "NOT_MET", "offer_help": "MET"},
        reviewer=world.qa_analyst,
        comments={"greeting": "The bank's name came too fast to follow."},
        evidence={"greeting": [line]},
    )


@pytest.fixture
def planned(world, script):
    return sess_plan(world.coach, world.agent, topics=["greeting"])


@pytest.fixture
def held(world, script, failed):
    session = sess_plan(
        world.coach, world.agent, topics=["greeting"], review_ids=[failed.pk], title="Greeting"
    )
    sessions.session_notes_save(
        user=world.coach, session=session, private_notes=PRIVATE, shared_notes="Slow down."
    )
    return sessions.session_hold(user=world.coach, session=session)


# Planning ---------------------------------------------------------------------------------------


def test_session_plan_tells_the_agent_after_commit(
    world, script, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = sess_plan(world.coach, world.agent, topics=["greeting"], title="")
    assert session.status == SessionStatus.PLANNED
    assert session.title == "Coaching: Greeting"
    assert session.rubric_version_id == script.pk
    told = Notification.objects.get(user=world.agent_user)
    assert told.kind == NotificationKind.SESSION_PLANNED
    assert told.url == reverse("coaching-session", args=[session.pk])


def test_session_plan_refuses_an_agent_outside_the_coachs_teams(world, script):
    with pytest.raises(ValidationFailed) as refused:
        sess_plan(world.coach, world.other_agent)
    assert "agent" in refused.value.errors
    assert not CoachingSession.objects.exists()


@pytest.mark.parametrize("persona", ["agent_user", "supervisor", "qa_analyst", "outsider"])
def test_session_plan_is_for_coaches_and_admins_only(world, script, persona):
    with pytest.raises(PermissionDenied):
        sess_plan(getattr(world, persona), world.agent)


def test_session_plan_topics_are_criteria_of_the_published_rubric(world, script):
    with pytest.raises(ValidationFailed) as refused:
        sess_plan(world.coach, world.agent, topics=["greeting", "juggling"])
    assert refused.value.errors["topics"] == [
        "“juggling” is not a criterion of the published rubric."
    ]


def test_session_plan_takes_agenda_and_topics_from_a_visible_template(world, script):
    template = templates.template_create(
        user=world.coach, name="Openings", agenda="1. Listen\n2. Practise", topics=["greeting"]
    )
    session = sess_plan(world.coach, world.agent, template_id=template.pk, title="")
    assert (session.agenda, session.topics) == ("1. Listen\n2. Practise", ["greeting"])
    assert session.title == "Coaching: Greeting"


# Transitions ------------------------------------------------------------------------------------


def test_session_hold_is_guarded_and_asks_the_agent_to_acknowledge(
    world, planned, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        session = sessions.session_hold(user=world.coach, session=planned)
    assert session.status == SessionStatus.HELD and session.held_at is not None
    assert Notification.objects.filter(
        user=world.agent_user, kind=NotificationKind.SESSION_HELD
    ).exists()
    with pytest.raises(Conflict):
        sessions.session_hold(user=world.coach, session=session)
    with pytest.raises(Conflict):
        sessions.session_cancel(user=world.coach, session=session)


def test_session_close_needs_a_held_session_and_cancel_a_planned_one(world, planned):
    with pytest.raises(Conflict):
        sessions.session_close(user=world.coach, session=planned)
    cancelled = sessions.session_cancel(user=world.coach, session=planned)
    assert cancelled.status == SessionStatus.CANCELLED and cancelled.cancelled_at is not None
    with pytest.raises(Conflict):
        sessions.session_hold(user=world.coach, session=cancelled)


def test_session_update_changes_only_a_planned_plan(world, planned):
    later = timezone.now() + timedelta(days=3)
    updated = sessions.session_update(
        user=world.coach, session=planned, title="Openings", scheduled_at=later
    )
    assert (updated.title, updated.scheduled_at) == ("Openings", later)
    sessions.session_hold(user=world.coach, session=planned)
    with pytest.raises(Conflict):
        sessions.session_update(user=world.coach, session=planned, title="Too late")


def test_session_acknowledge_by_its_agent_once(world, held):
    with pytest.raises(PermissionDenied):
        sessions.session_acknowledge(user=world.coach, session=held)
    with pytest.raises(PermissionDenied):
        sessions.session_acknowledge(user=world.other_agent_user, session=held)
    done = sessions.session_acknowledge(user=world.agent_user, session=held, comment="Got it")
    assert done.acknowledged_at is not None and done.acknowledgement == "Got it"
    with pytest.raises(Conflict):
        sessions.session_acknowledge(user=world.agent_user, session=held)
    closed = sessions.session_close(user=world.coach, session=held)
    assert closed.status == SessionStatus.CLOSED and closed.closed_at is not None


def test_session_acknowledge_waits_until_it_is_held(world, planned):
    with pytest.raises(Conflict):
        sessions.session_acknowledge(user=world.agent_user, session=planned)


def test_a_coach_of_other_teams_cannot_touch_a_session(world, planned):
    south_coach = builders.make_user(username="sol", role=Role.COACH, teams=[world.south])
    with pytest.raises(NotFound):
        sessions.session_hold(user=south_coach, session=planned)


# Links and evidence -----------------------------------------------------------------------------


def test_session_link_add_takes_reviews_of_the_agent_only(world, script, planned):
    bob_review = sess_review(script, world.south_call, {"greeting": "NOT_MET"})
    admin_session = sess_plan(world.admin, world.other_agent)
    with pytest.raises(ValidationFailed) as refused:
        sessions.session_link_add(user=world.admin, session=planned, review_id=bob_review.pk)
    assert refused.value.errors["review"] == ["That review is of another agent."]
    # The coach may not read South's reviews: to them it is no review at all.
    with pytest.raises(ValidationFailed) as unseen:
        sessions.session_link_add(user=world.coach, session=planned, review_id=bob_review.pk)
    assert unseen.value.errors["review"] == ["No such review, or not one you may read."]
    link = sessions.session_link_add(
        user=world.admin, session=admin_session, review_id=bob_review.pk
    )
    assert link.conversation_id == world.south_call.pk


def test_evidence_pin_from_a_review_takes_its_comment_on_the_criterion(world, planned, failed):
    sessions.session_link_add(user=world.coach, session=planned, review_id=failed.pk)
    line = sess_lines(world.north_call)[0]
    pin = sessions.evidence_pin_add(
        user=world.coach, session=planned, communication_id=line, criterion_key="greeting"
    )
    assert pin.comment == "The bank's name came too fast to follow."
    again = sessions.evidence_pin_add(
        user=world.coach, session=planned, communication_id=line, criterion_key="greeting"
    )
    assert again.pk == pin.pk and EvidencePin.objects.count() == 1


def test_evidence_pin_needs_a_line_of_a_linked_conversation(world, planned):
    with pytest.raises(ValidationFailed) as refused:
        sessions.evidence_pin_add(
            user=world.coach, session=planned, communication_id=sess_lines(world.north_call)[0]
        )
    assert "communication" in refused.value.errors


def test_links_and_pins_freeze_once_the_session_is_closed(world, held):
    sessions.session_close(user=world.coach, session=held)
    with pytest.raises(Conflict):
        sessions.session_link_add(
            user=world.coach, session=held, conversation_id=world.north_call.pk
        )


# Action items -----------------------------------------------------------------------------------


def test_action_item_ticked_by_the_agent_who_owns_it(world, planned):
    mine = actions.action_item_add(user=world.coach, session=planned, text="Say the bank's name")
    coachs = actions.action_item_add(
        user=world.coach, session=planned, text="Send the script", owner_id=world.coach.pk
    )
    assert mine.owner_id == world.agent_user.pk
    done = actions.action_item_tick(user=world.agent_user, item=mine)
    assert done.done_at is not None and done.done_by_id == world.agent_user.pk
    with pytest.raises(PermissionDenied):
        actions.action_item_tick(user=world.agent_user, item=coachs)
    with pytest.raises(NotFound):
        actions.action_item_tick(user=world.other_agent_user, item=mine)
    undone = actions.action_item_tick(user=world.coach, item=mine, done=False)
    assert undone.done_at is None


def test_action_item_owner_is_the_agent_or_the_coach(world, planned):
    with pytest.raises(ValidationFailed) as refused:
        actions.action_item_add(
            user=world.coach, session=planned, text="x", owner_id=world.supervisor.pk
        )
    assert "owner" in refused.value.errors


def test_action_items_due_task_runs_twice_with_one_effect(
    world, planned, django_capture_on_commit_callbacks
):
    due = actions.action_item_add(
        user=world.coach, session=planned, text="Practise", due_on=timezone.localdate()
    )
    actions.action_item_add(
        user=world.coach, session=planned, text="Later", due_on=timezone.localdate() + timedelta(3)
    )
    with django_capture_on_commit_callbacks(execute=True):
        sweep_action_items_due.apply()
        sweep_action_items_due.apply()
    told = Notification.objects.filter(kind=NotificationKind.ACTION_DUE)
    assert [(n.user_id, n.body) for n in told] == [
        (world.agent_user.pk, f"Practise (due {due.due_on.isoformat()})")
    ]
    assert ActionItem.objects.get(pk=due.pk).due_notified_at is not None


# Templates --------------------------------------------------------------------------------------


def test_template_list_respects_visibility(world, script, client_for):
    from apps.coaching.selectors import sessions as reads

    south_coach = builders.make_user(username="sol", role=Role.COACH, teams=[world.south])
    north_peer = builders.make_user(username="nia", role=Role.COACH, teams=[world.north])
    for name, visibility in (
        ("Everyone's", TemplateVisibility.ALL),
        ("North coaches'", TemplateVisibility.TEAMS),
        ("Cora's own", TemplateVisibility.PRIVATE),
    ):
        templates.template_create(user=world.coach, name=name, visibility=visibility)
    names = lambda user: sorted(t.name for t in reads.template_list(user=user))  # noqa: E731
    assert names(world.coach) == ["Cora's own", "Everyone's", "North coaches'"]
    assert names(north_peer) == ["Everyone's", "North coaches'"]
    assert names(south_coach) == ["Everyone's"]
    assert names(world.agent_user) == []
    page = client_for(south_coach).get(reverse("coaching-templates"))
    assert b"Everyone&#x27;s" in page.content and b"Cora&#x27;s own" not in page.content
    with pytest.raises(PermissionDenied):
        templates.template_update(
            user=north_peer,
            template=reads.template_list(user=north_peer).get(name="Everyone's"),
            name="Mine now",
        )


# "Coach on this" --------------------------------------------------------------------------------


def test_coach_on_this_from_a_review_prefills_its_evidence_and_comment(world, failed, client_for):
    coach = client_for(world.coach)
    url = reverse("coaching-session-new") + f"?review={failed.pk}&criterion=greeting&from=review"
    page = coach.get(url)
    assert page.status_code == 200
    prefill = page.context["prefill"]
    line = sess_lines(world.north_call)[0]
    assert (prefill.agent, prefill.topics, prefill.review_ids) == (
        world.agent,
        ["greeting"],
        [failed.pk],
    )
    assert prefill.pins == [{"review": failed.pk, "communication": line, "criterion": "greeting"}]
    assert b"thank you for calling harper valley" in page.content
    form = page.context["form"]
    posted = coach.post(
        url,
        {
            "agent": world.agent.pk,
            "scheduled_at": form.initial["scheduled_at"],
            "title": form.initial["title"],
            "topics": ["greeting"],
            "reviews": [failed.pk],
            "pins": [f"{failed.pk}:{line}:greeting"],
        },
    )
    session = CoachingSession.objects.get()
    assert posted.status_code == 302 and posted.url == reverse(
        "coaching-session", args=[session.pk]
    )
    assert session.title == "Coaching: Greeting"
    assert session.origin == {"from": "review", "criterion": "greeting", "review": failed.pk}
    pin = EvidencePin.objects.get(session=session)
    assert (pin.communication_id, pin.criterion_key, pin.comment) == (
        line,
        "greeting",
        "The bank's name came too fast to follow.",
    )


@pytest.mark.parametrize("origin", ["scorecard", "heatmap"])
def test_coach_on_this_from_a_criterion_links_the_latest_three_failures(
    world, script, client_for, origin
):
    lines = sess_lines(world.north_call)
    now = timezone.now()
    failures = [
        sess_review(
            script,
            world.north_call,
            {"greeting": "NOT_MET"},
            evidence={"greeting": [lines[i % 2]]},
            when=now - timedelta(days=i),
        )
        for i in range(4)
    ]
    sess_review(script, world.north_call, {"greeting": "MET"}, when=now + timedelta(hours=1))
    page = client_for(world.coach).get(
        reverse("coaching-session-new"),
        {"agent": world.agent.pk, "criterion": "greeting", "from": origin},
    )
    prefill = page.context["prefill"]
    assert prefill.review_ids == [r.pk for r in failures[:3]]
    assert [(p["review"], p["communication"]) for p in prefill.pins] == [
        (failures[0].pk, lines[0]),
        (failures[1].pk, lines[1]),
        (failures[2].pk, lines[0]),
    ]
    assert prefill.origin == {"from": origin, "criterion": "greeting"}


def test_coach_on_this_for_an_agent_outside_the_coachs_teams_prefills_nothing(
    world, script, client_for
):
    page = client_for(world.coach).get(
        reverse("coaching-session-new"), {"agent": world.other_agent.pk, "criterion": "greeting"}
    )
    assert page.status_code == 200
    assert page.context["prefill"].agent is None
    assert b"That agent is not one you coach." in page.content


def test_review_page_offers_coach_on_this_for_not_met_criteria_to_coaches(
    world, failed, client_for
):
    url = reverse("qa-review", args=[failed.pk])
    coach_page = client_for(world.coach).get(url).content.decode()
    assert coach_page.count('data-testid="coach-on-this"') == 1
    assert f"?review={failed.pk}&amp;criterion=greeting&amp;from=review" in coach_page
    assert (
        'data-testid="coach-on-this"' not in client_for(world.supervisor).get(url).content.decode()
    )


# Who sees what ----------------------------------------------------------------------------------


def test_session_page_hides_private_notes_from_the_agent(world, held, client_for):
    url = reverse("coaching-session", args=[held.pk])
    coach_page = client_for(world.coach).get(url)
    assert PRIVATE in coach_page.content.decode()
    agent_page = client_for(world.agent_user).get(url)
    assert agent_page.status_code == 200
    body = agent_page.content.decode()
    assert "Slow down." in body and PRIVATE not in body
    assert "private_notes" not in agent_page.context or not agent_page.context.get("private_notes")
    assert 'data-testid="acknowledge-form"' in body


@pytest.mark.parametrize(
    ("persona", "status"),
    [("other_agent_user", 404), ("outsider", 403), ("supervisor", 200), ("qa_analyst", 200)],
)
def test_session_page_is_for_the_agent_their_coaches_and_staff(
    world, held, client_for, persona, status
):
    page = client_for(getattr(world, persona)).get(reverse("coaching-session", args=[held.pk]))
    assert page.status_code == status
    if status == 200:
        assert PRIVATE not in page.content.decode()


def test_session_list_shows_each_person_their_own(world, script, held, client_for):
    sess_plan(world.admin, world.other_agent, title="Bob's session")

    def titles(user):
        return [s.title for s in client_for(user).get(reverse("coaching-sessions")).context["rows"]]

    assert titles(world.coach) == ["Greeting"]
    assert titles(world.agent_user) == ["Greeting"]
    assert titles(world.other_agent_user) == ["Bob's session"]
    assert sorted(titles(world.admin)) == ["Bob's session", "Greeting"]
    assert client_for(world.outsider).get(reverse("coaching-sessions")).status_code == 403


def test_session_list_puts_upcoming_sessions_first(world, script, client_for):
    now = timezone.now()
    later = sess_plan(world.coach, world.agent, title="Later", scheduled_at=now + timedelta(days=9))
    soon = sess_plan(world.coach, world.agent, title="Soon", scheduled_at=now + timedelta(days=1))
    past = sess_plan(world.coach, world.agent, title="Past", scheduled_at=now - timedelta(days=5))
    sessions.session_hold(user=world.coach, session=past)
    rows = client_for(world.coach).get(reverse("coaching-sessions")).context["rows"]
    assert [s.pk for s in rows] == [soon.pk, later.pk, past.pk]


def test_api_never_serializes_private_notes_to_the_agent(world, held, client_for):
    url = f"/api/coaching/sessions/{held.pk}/"
    assert client_for(world.coach).get(url).json()["private_notes"] == PRIVATE
    agent = client_for(world.agent_user).get(url).json()
    assert "private_notes" not in agent and agent["shared_notes"] == "Slow down."
    listed = client_for(world.agent_user).get("/api/coaching/sessions/").json()["results"]
    assert [s["id"] for s in listed] == [held.pk] and "private_notes" not in listed[0]
    assert (
        PRIVATE not in client_for(world.agent_user).get("/api/coaching/sessions/").content.decode()
    )
    assert client_for(world.other_agent_user).get(url).status_code == 404
    assert client_for(world.outsider).get("/api/coaching/sessions/").status_code == 403


def test_api_acknowledge_and_tick_by_the_agent(world, held, client_for):
    item = actions.action_item_add(user=world.coach, session=held, text="Say the bank's name")
    agent = client_for(world.agent_user)
    acked = agent.post(
        f"/api/coaching/sessions/{held.pk}/acknowledge/",
        {"comment": "Thanks"},
        content_type="application/json",
    )
    assert acked.status_code == 200 and acked.json()["acknowledged_at"]
    again = agent.post(f"/api/coaching/sessions/{held.pk}/acknowledge/")
    assert again.status_code == 409
    ticked = agent.post(f"/api/coaching/action-items/{item.pk}/tick/", {"done": True})
    assert ticked.status_code == 200 and ticked.json()["done"] is True
    assert agent.post(f"/api/coaching/sessions/{held.pk}/close/").status_code == 403


def test_api_plan_link_and_pin(world, failed, client_for):
    coach = client_for(world.coach)
    created = coach.post(
        "/api/coaching/sessions/",
        {
            "agent": world.agent.pk,
            "scheduled_at": (timezone.now() + timedelta(days=2)).isoformat(),
            "topics": ["greeting"],
            "reviews": [failed.pk],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["title"] == "Coaching: Greeting" and len(data["links"]) == 1
    line = sess_lines(world.north_call)[0]
    pinned = coach.post(
        f"/api/coaching/sessions/{data['id']}/pins/",
        {"communication": line, "criterion_key": "greeting"},
        content_type="application/json",
    )
    assert pinned.status_code == 201
    pin = pinned.json()["links"][0]["pins"][0]
    assert (pin["text"], pin["comment"]) == (
        "thank you for calling harper valley",
        "The bank's name came too fast to follow.",
    )
    bad = coach.post(
        "/api/coaching/sessions/",
        {"agent": world.other_agent.pk, "scheduled_at": timezone.now().isoformat()},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "agent" in bad.json()["extra"]["errors"]


# Query counts -----------------------------------------------------------------------------------


def _sessions(world, count):
    now = timezone.now()
    for i in range(count):
        session = sess_plan(
            world.coach, world.agent, topics=["greeting"], scheduled_at=now + timedelta(hours=i)
        )
        actions.action_item_add(user=world.coach, session=session, text=f"Item {i}")


def test_session_list_queries_do_not_grow_with_sessions(world, script, client_for):
    coach = client_for(world.coach)
    agent = client_for(world.agent_user)
    _sessions(world, 3)
    few = (
        queries_for(coach, reverse("coaching-sessions")),
        queries_for(agent, reverse("coaching-sessions")),
    )
    _sessions(world, 30)
    many = (
        queries_for(coach, reverse("coaching-sessions")),
        queries_for(agent, reverse("coaching-sessions")),
    )
    assert few == many
    api_few = queries_for(coach, "/api/coaching/sessions/")
    _sessions(world, 10)
    assert queries_for(coach, "/api/coaching/sessions/") == api_few


def test_session_page_queries_do_not_grow_with_links_pins_or_sessions(
    world, script, held, client_for
):
    coach = client_for(world.coach)
    url = reverse("coaching-session", args=[held.pk])
    line = sess_lines(world.north_call)[0]
    sessions.evidence_pin_add(
        user=world.coach, session=held, communication_id=line, criterion_key="greeting"
    )
    few = queries_for(coach, url)
    _sessions(world, 20)
    more = [
        builders.make_conversation(
            agent=world.agent, texts=[("agent", "hello"), ("customer", "hi")]
        )
        for _ in range(3)
    ]
    for conversation in more:
        review = sess_review(script, conversation, {"greeting": "NOT_MET"})
        sessions.session_link_add(user=world.coach, session=held, review_id=review.pk)
        sessions.evidence_pin_add(
            user=world.coach,
            session=held,
            communication_id=sess_lines(conversation)[0],
            criterion_key="greeting",
        )
        actions.action_item_add(user=world.coach, session=held, text="More")
    assert SessionLink.objects.filter(session=held).count() == 4
    assert queries_for(coach, url) == few
    agent = client_for(world.agent_user)
    assert queries_for(agent, url) <= few


def test_a_session_page_with_pinned_lines_is_a_logged_read_of_their_call(
    world, planned, failed, client_for
):
    from apps.conversations.models import TranscriptAccess

    sessions.session_link_add(user=world.coach, session=planned, review_id=failed.pk)
    sessions.evidence_pin_add(
        user=world.coach, session=planned, communication_id=sess_lines(world.north_call)[0]
    )

    page = client_for(world.agent_user).get(reverse("coaching-session", args=[planned.pk]))
    api = client_for(world.coach).get(f"/api/coaching/sessions/{planned.pk}/")

    assert page.status_code == 200 and api.status_code == 200
    assert sorted(
        TranscriptAccess.objects.values_list("username", "conversation_id", "channel")
    ) == [("alice", world.north_call.pk, "PAGE"), ("cora", world.north_call.pk, "API")]


@pytest.mark.parametrize("action", ["pins", "links"])
def test_api_pin_or_link_on_a_session_out_of_scope_is_a_404_whatever_the_body(
    world, planned, client_for, action
):
    # A bad body was a 400 before the session was looked up, telling a coach of another team
    # that the session exists (found by tests/common/test_role_matrix.py).
    stranger = builders.make_user(username="cody", role=Role.COACH, teams=[world.south])
    response = client_for(stranger).post(
        f"/api/coaching/sessions/{planned.pk}/{action}/", {}, content_type="application/json"
    )
    assert response.status_code == 404
