"""The QA queue: flags in, claiming (also under concurrency), putting back, reassigning,
removing, sending by hand."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.models import Notification
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.intelligence import services as intelligence
from apps.intelligence.choices import FlagStatus
from apps.intelligence.models import Flag, Rule
from apps.qa import services
from apps.qa.choices import ItemAction, ItemSource, ItemStatus, Priority, ReviewStatus
from apps.qa.models import QueueItem, Review
from tests.fixtures import builders
from tests.fixtures import qa as build

pytestmark = pytest.mark.django_db


def flag_rule(admin) -> Rule:
    """A rule that flags every conversation it runs on (sentiment, any result)."""
    intelligence.defaults_ensure()
    sentiment = next(o for o in intelligence_operators(admin) if o.key == "sentiment")
    return intelligence.rule_create(
        user=admin,
        data=intelligence.RuleInput(
            name="Flag everything",
            trigger_on="ON_DEMAND",
            operators=(intelligence.RuleOperatorInput(operator_id=sentiment.pk),),
            flag=True,
            flag_reason="Needs a look",
        ),
    )


def intelligence_operators(user):
    from apps.intelligence import selectors

    return list(selectors.operator_list(user=user))


def run(rule, conversation, key: str) -> None:
    from apps.accounts.models import User

    admin = User.objects.get(username="ada")
    intelligence.rule_run_on_demand(
        user=admin, rule_id=rule.pk, conversation_id=conversation.pk, request_key=key
    )
    intelligence.executions_drain()


# Flags become items ----------------------------------------------------------------------------


def test_a_flag_raised_by_a_rule_becomes_one_high_priority_pool_item_with_its_reason(world):
    rule = flag_rule(world.admin)
    run(rule, world.north_call, "first")
    item = QueueItem.objects.get(conversation=world.north_call)
    flag = Flag.objects.get(conversation=world.north_call)
    assert item.source == ItemSource.FLAG
    assert item.flag_id == flag.pk
    assert item.reason == "Needs a look"
    assert item.priority == Priority.HIGH
    assert item.assignee_id is None and item.status == ItemStatus.OPEN
    assert item.due_at > timezone.now()
    assert item.agent_id == world.agent.pk


def test_a_flag_raised_twice_makes_one_item(world):
    rule = flag_rule(world.admin)
    run(rule, world.north_call, "first")
    run(rule, world.north_call, "second")
    assert Flag.objects.get(conversation=world.north_call).raised_count == 2
    assert QueueItem.objects.filter(conversation=world.north_call).count() == 1


def test_the_sweeper_queues_open_flags_that_have_no_item_and_only_once(world):
    rule = flag_rule(world.admin)
    run(rule, world.north_call, "first")
    QueueItem.objects.all().delete()  # as if raised before QA was installed
    assert services.queue_flags_sweep()["created"] == 1
    assert services.queue_flags_sweep()["created"] == 0
    assert QueueItem.objects.filter(source=ItemSource.FLAG).count() == 1


def test_qa_analysts_hear_of_new_pool_items_in_one_folded_notification(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        item = build.manual_item(world.north_call)
        build.manual_item(world.south_call, key="manual:other")
    notes = Notification.objects.filter(user=world.qa_analyst)
    assert notes.count() == 1
    assert notes.get().count == 2
    assert not Notification.objects.filter(user=world.admin).exists()
    assert item.pk


# Claiming ---------------------------------------------------------------------------------------


def test_claim_next_takes_the_callers_own_items_before_the_pools(world, script):
    pool = build.manual_item(world.north_call, priority=Priority.URGENT)
    mine = build.manual_item(world.south_call, key="manual:mine", assignee_id=world.qa_analyst.pk)
    assert services.queue_claim_next(user=world.qa_analyst).pk == mine.pk
    assert services.queue_claim_next(user=world.qa_analyst).pk == pool.pk
    assert services.queue_claim_next(user=world.qa_analyst) is None


def test_claim_next_takes_the_most_urgent_then_the_earliest_due(world, script):
    later = timezone.now() + timedelta(days=3)
    sooner = timezone.now() + timedelta(days=1)
    a = build.manual_item(world.north_call, key="a", priority=Priority.NORMAL, due_at=sooner)
    b = build.manual_item(world.north_call, key="b", priority=Priority.HIGH, due_at=later)
    c = build.manual_item(world.north_call, key="c", priority=Priority.HIGH, due_at=sooner)
    order = []
    for _ in range(3):
        item = services.queue_claim_next(user=world.qa_analyst)
        order.append(item.pk)
        services.queue_item_unclaim(user=world.qa_analyst, item=item)
        QueueItem.objects.filter(pk=item.pk).update(status=ItemStatus.REMOVED)
    assert order == [c.pk, b.pk, a.pk]


def test_claiming_records_who_and_when_and_the_claimer_then_starts_the_review(world, script):
    item = build.manual_item(world.north_call)
    claimed = services.queue_claim_next(user=world.qa_analyst)
    assert claimed.status == ItemStatus.CLAIMED
    assert claimed.claimed_by_id == world.qa_analyst.pk
    with pytest.raises(Conflict, match="Claim the item"):
        services.review_start(item=claimed, reviewer=world.admin)
    review = services.review_start(item=claimed, reviewer=world.qa_analyst)
    assert review.status == ReviewStatus.DRAFT and review.reviewer_id == world.qa_analyst.pk
    assert services.review_start(item=claimed, reviewer=world.qa_analyst) == review
    assert list(item.events.values_list("action", flat=True)) == [
        ItemAction.CREATED,
        ItemAction.CLAIMED,
    ]


def test_nobody_claims_their_own_conversation(world, script):
    world.agent.user = world.coach
    world.agent.save()
    build.manual_item(world.north_call)
    assert services.queue_claim_next(user=world.coach) is None
    assert services.queue_claim_next(user=world.qa_analyst) is not None


def test_a_coach_claims_only_items_of_their_teams(world, script):
    build.manual_item(world.south_call)
    assert services.queue_claim_next(user=world.coach) is None
    north = build.manual_item(world.north_call)
    assert services.queue_claim_next(user=world.coach).pk == north.pk


def test_supervisors_and_agents_do_not_work_the_queue(world, script):
    build.manual_item(world.north_call)
    for user in (world.supervisor, world.agent_user, world.outsider):
        with pytest.raises(PermissionDenied):
            services.queue_claim_next(user=user)


def test_without_a_published_rubric_the_review_says_so_and_the_item_goes_back(world):
    item = build.manual_item(world.north_call)
    claimed = services.queue_claim_next(user=world.qa_analyst)
    with pytest.raises(Conflict, match="publish a rubric"):
        services.review_start(item=claimed, reviewer=world.qa_analyst)
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN and item.claimed_by_id is None
    assert not Review.objects.exists()


def test_claiming_an_item_someone_else_claimed_is_a_conflict(world, script):
    item = build.manual_item(world.north_call)
    services.queue_item_claim(user=world.qa_analyst, item_id=item.pk)
    with pytest.raises(Conflict, match="claimed"):
        services.queue_item_claim(user=world.admin, item_id=item.pk)


@pytest.mark.django_db(transaction=True)
def test_ten_threads_claiming_from_five_items_get_exactly_five_distinct_items(world, script):
    reviewers = [builders.make_user(role=Role.QA_ANALYST) for _ in range(10)]
    items = [build.manual_item(world.north_call, key=f"manual:{i}") for i in range(5)]
    claimed: list[int | None] = []
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def claim(user) -> None:
        try:
            start.wait()
            item = services.queue_claim_next(user=user)
            claimed.append(item.pk if item else None)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    got = [pk for pk in claimed if pk is not None]
    assert sorted(got) == sorted(item.pk for item in items)
    assert claimed.count(None) == 5
    assert set(QueueItem.objects.values_list("status", flat=True)) == {ItemStatus.CLAIMED}


# Putting back, reassigning, removing --------------------------------------------------------------


def test_putting_an_item_back_discards_its_draft_and_opens_it_again(world, script):
    item = build.manual_item(world.north_call)
    services.review_start(
        item=services.queue_claim_next(user=world.qa_analyst), reviewer=world.qa_analyst
    )
    services.queue_item_unclaim(user=world.qa_analyst, item=item)
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN and item.claimed_by_id is None
    assert item.assignee_id is None  # back to the pool it came from
    assert not Review.objects.exists()


def test_a_claimed_item_is_the_claimers_and_an_assigned_one_goes_back_to_its_assignee(
    world, script
):
    pooled = build.manual_item(world.north_call, key="pooled")
    mine = build.manual_item(world.south_call, key="mine", assignee_id=world.qa_analyst.pk)
    claimed = services.queue_item_claim(user=world.qa_analyst, item_id=pooled.pk)
    assert claimed.assignee_id == world.qa_analyst.pk and claimed.claimed_from_pool
    services.queue_item_unclaim(user=world.admin, item=claimed)
    claimed = services.queue_item_claim(user=world.qa_analyst, item_id=mine.pk)
    services.queue_item_unclaim(user=world.qa_analyst, item=claimed)
    pooled.refresh_from_db()
    mine.refresh_from_db()
    assert pooled.assignee_id is None
    assert mine.assignee_id == world.qa_analyst.pk and mine.status == ItemStatus.OPEN


def test_only_the_claimer_or_an_admin_puts_an_item_back(world, script):
    item = build.manual_item(world.north_call)
    services.queue_claim_next(user=world.qa_analyst)
    with pytest.raises(PermissionDenied):
        services.queue_item_unclaim(user=world.coach, item=item)
    services.queue_item_unclaim(user=world.admin, item=item)


def test_reassigning_a_claimed_item_hands_its_draft_to_the_new_reviewer(world, script):
    item = build.manual_item(world.north_call)
    claimed = services.queue_claim_next(user=world.qa_analyst)
    review = services.review_start(item=claimed, reviewer=world.qa_analyst)
    services.review_draft_save(user=world.qa_analyst, review=review, strengths="Kind tone")
    services.queue_item_reassign(
        user=world.admin, item=item, assignee_id=world.coach.pk, reason="Coach knows the team"
    )
    item.refresh_from_db()
    review.refresh_from_db()
    assert item.claimed_by_id == world.coach.pk and item.assignee_id == world.coach.pk
    assert review.reviewer_id == world.coach.pk
    assert review.draft["strengths"] == "Kind tone"
    event = item.events.get(action=ItemAction.REASSIGNED)
    assert event.note == "Coach knows the team" and event.assignee_id == world.coach.pk


def test_reassigning_needs_a_reason_and_a_reviewer_who_may_review_the_conversation(world, script):
    item = build.manual_item(world.south_call)
    with pytest.raises(ValidationFailed) as failed:
        services.queue_item_reassign(
            user=world.admin, item=item, assignee_id=world.coach.pk, reason=""
        )
    assert set(failed.value.errors) == {"reason", "assignee"}  # the coach leads north, not south
    with pytest.raises(PermissionDenied):
        services.queue_item_reassign(user=world.qa_analyst, item=item, assignee_id=None, reason="x")


def test_removing_an_item_needs_a_reason_and_resolves_its_flag(world):
    rule = flag_rule(world.admin)
    run(rule, world.north_call, "first")
    item = QueueItem.objects.get()
    with pytest.raises(ValidationFailed):
        services.queue_item_remove(user=world.admin, item=item, reason=" ")
    services.queue_item_remove(user=world.admin, item=item, reason="A test call")
    item.refresh_from_db()
    flag = Flag.objects.get()
    assert item.status == ItemStatus.REMOVED and item.removed_reason == "A test call"
    assert flag.status == FlagStatus.RESOLVED
    assert flag.resolution == "Removed from the QA queue: A test call"
    with pytest.raises(Conflict):
        services.queue_item_remove(user=world.admin, item=item, reason="again")


# Sending by hand --------------------------------------------------------------------------------


def test_sending_a_conversation_to_qa_makes_one_open_manual_item(world, script):
    item = services.queue_item_send(
        user=world.supervisor, conversation_id=world.north_call.pk, reason="Customer asked for me"
    )
    assert item.source == ItemSource.MANUAL
    assert item.reason == "Sent to QA by sam: Customer asked for me"
    with pytest.raises(Conflict, match="already in the QA queue"):
        services.queue_item_send(
            user=world.qa_analyst, conversation_id=world.north_call.pk, reason="Again"
        )


def test_sending_again_after_the_review_is_done_makes_a_new_item(world, script):
    first = services.queue_item_send(
        user=world.qa_analyst, conversation_id=world.north_call.pk, reason="First look"
    )
    QueueItem.objects.filter(pk=first.pk).update(status=ItemStatus.DONE)
    second = services.queue_item_send(
        user=world.qa_analyst, conversation_id=world.north_call.pk, reason="Second look"
    )
    assert second.pk != first.pk


def test_nobody_sends_a_conversation_they_may_not_see(world, script):
    from apps.common.errors import NotFound

    with pytest.raises(NotFound):
        services.queue_item_send(
            user=world.supervisor, conversation_id=world.south_call.pk, reason="Peek"
        )
    with pytest.raises(PermissionDenied):
        services.queue_item_send(
            user=world.agent_user, conversation_id=world.north_call.pk, reason="Me"
        )
