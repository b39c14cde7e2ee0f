"""The QA workflow in the demo: two flagging rules, a sampling policy, and reviews in every state.

Everything goes through the real services as the demo's people (the rules as `admin`, reviews as
`qa` and `coach`, acknowledgement and disputes as `agent`, Linda), so the demo shows what the
product does, not hand-made rows. The human answers are the hand labels of the 76 calls
(``data/adherence_labels.json``), every one of them reviewed, so the AI-human agreement per
criterion and the trust tiers computed at the end rest on all of them; where a label differs
from the AI, the labeller's note is the override's comment. Only the review dates are then
moved back to after each call, so the trend chart reads like weeks of work: the one direct
write, as a data migration would do.

Idempotent: nothing is added once the demo's sampling policy exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.conversations import selectors as conversations_selectors
from apps.conversations.models import Conversation
from apps.intelligence import selectors as intelligence_selectors
from apps.intelligence import services as intelligence
from apps.qa import services as qa
from apps.qa.choices import BenchmarkMode, Decision, ItemSource, Priority
from apps.qa.models import CalibrationSession, QueueItem, Review, ReviewRevision, SamplingPolicy
from apps.qa.services import calibration

from .dataset import DATA_DIR

LABELS_PATH = DATA_DIR.parent / "adherence_labels.json"
POLICY_NAME = "Weekly sample: 2 calls per agent"
_OUTCOME = {"met": "MET", "not_met": "NOT_MET", "na": "NA"}

FLAG_RULES = (
    {
        "name": "Flag for QA: script adherence below 80%",
        "description": "At the end of a call, when the bank script was followed less than 80%.",
        "operator": "script-adherence",
        "field": "score",
        "op": "lt",
        "value": "80",
        "reason": "Script adherence below 80% at the end of the call",
    },
    {
        "name": "Flag for QA: unhappy customer",
        "description": "At the end of a call, when the customer's sentiment is negative.",
        "operator": "sentiment",
        "field": "customer.label",
        "op": "eq",
        "value": "negative",
        "reason": "The customer sounded unhappy at the end of the call",
    },
)


@dataclass(frozen=True)
class DemoQaResult:
    created: bool
    flagged: int
    sampled: int
    reviews: int


def demo_qa_load() -> DemoQaResult:
    if SamplingPolicy.objects.filter(name=POLICY_NAME).exists():
        return DemoQaResult(False, 0, 0, 0)
    people = {
        u.username: u for u in User.objects.filter(username__in=["admin", "qa", "coach", "agent"])
    }
    if len(people) < 4:
        return DemoQaResult(False, 0, 0, 0)
    conversations = list(
        Conversation.objects.filter(twilio_id__startswith="demo_conversation_")
        .prefetch_related("participants")
        .order_by("ended_at", "id")
    )
    if not conversations:
        return DemoQaResult(False, 0, 0, 0)
    flagged = _flag_rules(people["admin"], conversations)
    sampled = _policy(people, latest=conversations[-1].ended_at)
    reviews = _reviews(people, conversations)
    # The AI as a rater: tiers per criterion from those reviews, then the AI score (auto-QA)
    # of every closed call from the criteria it earned trust on.
    qa.trust_recompute_all()
    qa.ai_scores_sweep(limit=len(conversations))
    return DemoQaResult(True, flagged, sampled, reviews)


def _flag_rules(admin: User, conversations: list[Conversation]) -> int:
    operators = {
        o.key: o.pk for o in intelligence_selectors.operator_list(user=admin) if o.is_builtin
    }
    for spec in FLAG_RULES:
        intelligence.rule_create(
            user=admin,
            data=intelligence.RuleInput(
                name=spec["name"],
                description=spec["description"],
                trigger_on="CONVERSATION_END",
                operators=(
                    intelligence.RuleOperatorInput(operator_id=operators[spec["operator"]]),
                ),
                flag=True,
                flag_operator_id=operators[spec["operator"]],
                flag_field=spec["field"],
                flag_op=spec["op"],
                flag_value=spec["value"],
                flag_reason=spec["reason"],
            ),
        )
    # The new rules run on the calls already loaded (their end trigger point); flags made now
    # become queue items through the QA app's hook.
    intelligence.conversations_backfill(conversation_ids=[c.pk for c in conversations])
    return QueueItem.objects.filter(source=ItemSource.FLAG).count()


def _policy(people: dict[str, User], *, latest: Any) -> int:
    policy = qa.policy_create(
        user=people["admin"],
        data={
            "name": POLICY_NAME,
            "description": "Every agent gets at least two reviews a week, spread over QA and "
            "coaching, so nobody is judged by flagged calls alone.",
            "quota_kind": "PER_AGENT",
            "quota_count": 2,
            "period": "WEEK",
            "reviewer_ids": [people["qa"].pk, people["coach"].pk],
            "priority": Priority.NORMAL,
            "due_days": 7,
            "schedule": "0 6 * * mon-fri",
        },
    )
    # Run as of the demo's last call (the calls are days old): a real run, dated then.
    result = qa.policy_run(policy_id=policy.pk, now=latest + timedelta(hours=1))
    return result.created


def _labels() -> dict[str, dict[str, Any]]:
    document = json.loads(LABELS_PATH.read_text(encoding="utf-8"))
    return {call["sid"]: call for call in document["calls"]}


def _human_answers(review: Review, label: dict[str, Any]) -> dict[str, Any]:
    """The hand labels as the review's answers; the labeller's note where they differ from the
    AI (an override needs a comment)."""
    keys = qa.review_keys(review)
    ai = qa.ai_outcomes(review, keys)
    notes = label.get("notes") or {}
    answers: dict[str, Any] = {}
    for key, criterion in keys.items():
        outcome = _OUTCOME.get(label["labels"].get(criterion.key, "")) or ai.get(key)
        if outcome == "NA" and not criterion.na_allowed:
            outcome = "NOT_MET"
        if outcome is None:
            outcome = "MET"
        comment = notes.get(criterion.key, "")
        if ai.get(key) not in (None, outcome) and not comment:
            comment = "The automatic check missed it; judged on the meaning of what was said."
        answers[key] = {"outcome": outcome, "comment": comment}
    return answers


def _item(conversation: Conversation, user: User) -> QueueItem:
    """The conversation's open item, else one sent to QA by ``user`` for it."""
    open_item = QueueItem.objects.filter(conversation=conversation, status="OPEN").first()
    if open_item is not None:
        return open_item
    return qa.queue_item_send(
        user=user, conversation_id=conversation.pk, reason="Picked for the demo's QA walk-through"
    )


def _start(conversation: Conversation, reviewer: User) -> Review:
    item = _item(conversation, reviewer)
    if item.assignee_id not in (None, reviewer.pk):
        qa.queue_item_reassign(
            user=User.objects.get(username="admin"),
            item=item,
            assignee_id=reviewer.pk,
            reason="Demo: given to the reviewer of the walk-through",
        )
    claimed = qa.queue_item_claim(user=reviewer, item_id=item.pk)
    return qa.review_start(item=claimed, reviewer=reviewer)


def _submit(
    conversation: Conversation, reviewer: User, label: dict[str, Any], feedback: tuple[str, str]
) -> Review:
    review = _start(conversation, reviewer)
    return qa.review_submit(
        user=reviewer,
        review=review,
        answers=_human_answers(review, label),
        strengths=feedback[0],
        improvements=feedback[1],
    )


FEEDBACK = (
    "Clear greeting with the bank's name and your own; you asked for the details the task "
    "needed before acting.",
    "Close every call the same way: confirm what was done, thank the caller for calling, and "
    "wish them a good day.",
)


def _reviews(people: dict[str, User], conversations: list[Conversation]) -> int:
    """Reviews in every state: disputed and decided, disputed, acknowledged, released (on the
    calls of Linda, the `agent` login), plain submitted ones on others' calls, and a half-done
    draft."""
    labels = _labels()
    labelled = [c for c in conversations if c.attributes.get("sid") in labels]
    linda = [c for c in labelled if _agent_is(c, "Linda")]
    others = [c for c in labelled if not _agent_is(c, "Linda")]
    qa_user, coach, agent = people["qa"], people["coach"], people["agent"]

    def submit(conversation: Conversation, reviewer: User) -> Review:
        return _submit(conversation, reviewer, labels[conversation.attributes["sid"]], FEEDBACK)

    def disputed_and_accepted(conversation: Conversation) -> Review:
        review = submit(conversation, coach)
        key = _contestable(review)
        if key is not None:
            dispute = qa.dispute_open(
                user=agent,
                review=review,
                reason="The caller told me that was all before I could ask; I had nothing to add.",
                items=[{"key": key, "proposed_outcome": "MET"}],
            )
            qa.dispute_decide(
                user=qa_user,
                dispute=dispute,
                decision=Decision.ACCEPT,
                reason="Fair: the caller closed the topic themselves. Changed to met.",
            )
        return review

    def disputed_open(conversation: Conversation) -> Review:
        review = submit(conversation, qa_user)
        key = _contestable(review)
        qa.dispute_open(
            user=agent,
            review=review,
            reason="I believe I did this; please listen to the end of the call again.",
            items=[{"key": key, "proposed_outcome": "MET"}] if key else [],
            proposal="" if key else "Score the closing as met.",
        )
        return review

    def acknowledged(conversation: Conversation) -> Review:
        review = submit(conversation, qa_user)
        qa.review_acknowledge(
            user=agent, review=review, comment="Thanks: I will say the full closing from now on."
        )
        return review

    def released(conversation: Conversation) -> Review:
        return submit(conversation, qa_user)

    made: list[Review] = []
    # Disputes are allowed within 14 days of release: Linda's latest calls get the states she
    # takes part in, and those with a step she missed get the disputes.
    latest = list(reversed(linda))[:8]
    missed = [c for c in latest if "not_met" in labels[c.attributes["sid"]]["labels"].values()]
    plans: list[tuple[Any, Conversation]] = list(
        zip((disputed_and_accepted, disputed_open), missed, strict=False)
    )
    rest_of_latest = [c for c in latest if c not in {c for _, c in plans}]
    plans += list(zip((acknowledged, released), rest_of_latest, strict=False))
    with transaction.atomic():
        for plan, conversation in plans:
            made.append(plan(conversation))
        done = {r.conversation_id for r in made}
        rest = [c for c in [*linda[-6:], *others[-9:]] if c.pk not in done]
        for conversation in rest[:-1]:
            made.append(submit(conversation, coach if len(made) % 2 else qa_user))
        # Every other hand-labelled call reviewed too (by QA), so the AI-human agreement per
        # criterion rests on all 76 calls, not a handful.
        done = {r.conversation_id for r in made} | {c.pk for c in rest[-1:]}
        for conversation in labelled:
            if conversation.pk not in done:
                made.append(submit(conversation, qa_user))
        if rest:
            # A draft, half done: the reviewer's next piece of work.
            draft = _start(rest[-1], qa_user)
            first = next(iter(qa.review_keys(draft)))
            qa.review_draft_save(
                user=qa_user,
                review=draft,
                answers={first: {"comment": "Greeting fine; listen to the closing again."}},
            )
        _date(made)
    return len(made) + (1 if rest else 0)


def _agent_is(conversation: Conversation, name: str) -> bool:
    return any(p.agent_id and p.name == name for p in conversation.participants.all())


def _contestable(review: Review) -> str | None:
    """A criterion answered "not met" (the demo's disputes propose "met"), if any."""
    chosen = next(
        (a for a in qa.current_revision(review).answers.all() if a.outcome == "NOT_MET"), None
    )
    if chosen is None:
        return None
    return f"{chosen.segment}:{chosen.criterion_key}"


def _date(reviews: list[Review]) -> None:
    """Move each review's dates to a day after its call (the demo's calls are days old)."""
    for review in reviews:
        conversation = Conversation.objects.get(pk=review.conversation_id)
        when = (conversation.ended_at or review.created_at) + timedelta(hours=20)
        Review.objects.filter(pk=review.pk).update(
            submitted_at=when, release_at=when, created_at=when
        )
        ReviewRevision.objects.filter(review=review, number=1).update(created_at=when)


# Calibration ------------------------------------------------------------------------------------

CLOSED_CALIBRATION = "Calibration: the bank script, week 1"
OPEN_CALIBRATION = "Calibration: closing the call"
# Where the answers differ from the hand labels: the coach is stricter on the closing courtesies
# of the first two calls (fails one the label passes), qa more lenient on the third (passes a
# step the label fails), so the results show a strictest and a most lenient reviewer.
_COURTESIES = ("thanks_for_calling", "wishes_good_day", "offers_further_help")


def _deliberate(index: int, label: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(qa's changes, the coach's changes) to the labels on the closed session's call ``index``."""
    given = label["labels"]
    if index < 2:
        key = next((k for k in _COURTESIES if given.get(k) == "met"), None)
        return {}, ({key: "NOT_MET"} if key else {})
    if index == 2:
        key = next((k for k, v in given.items() if v == "not_met"), None)
        return ({key: "MET"} if key else {}), {}
    return {}, {}


@dataclass(frozen=True)
class DemoCalibrationResult:
    created: bool
    sessions: int
    answers: int


def demo_calibration_load() -> DemoCalibrationResult:
    """Two calibration sessions through the services: a closed one (qa, coach and the AI on
    five hand-labelled calls, answers from the labels with deliberate differences, the
    benchmark agreed after discussion) and an open one where `qa` still has work to do.
    Idempotent: nothing is added once the closed session exists."""
    if CalibrationSession.objects.filter(name=CLOSED_CALIBRATION).exists():
        return DemoCalibrationResult(False, 0, 0)
    people = {u.username: u for u in User.objects.filter(username__in=["admin", "qa", "coach"])}
    labels = _labels()
    if len(people) < 3:
        return DemoCalibrationResult(False, 0, 0)
    admin, qa_user, coach = people["admin"], people["qa"], people["coach"]
    candidates = list(
        Conversation.objects.filter(
            twilio_id__startswith="demo_conversation_", attributes__sid__in=list(labels)
        ).order_by("-ended_at", "id")
    )
    team_of = conversations_selectors.conversation_people(ids=[c.pk for c in candidates])
    reviewable = [
        c
        for c in candidates
        if all(qa.may_review(user, team_of[c.pk]) for user in (qa_user, coach))
    ]
    # Calls with a step missed first, so that there is something to disagree about.
    missed = [c for c in reviewable if "not_met" in labels[c.attributes["sid"]]["labels"].values()]
    rest = [c for c in reviewable if c not in missed]
    # Five calls for the closed session and three for the open one (fewer on a small load: at
    # least three and two, so that `qa` still has work left in the open one).
    open_count = min(3, max(2, len(reviewable) - 5))
    closed_calls = (missed[:3] + rest)[: min(5, len(reviewable) - open_count)]
    open_calls = [c for c in reviewable if c not in closed_calls][:open_count]
    if len(closed_calls) < 3 or len(open_calls) < 2:
        return DemoCalibrationResult(False, 0, 0)
    version_id = intelligence_selectors.review_rubric_version_id(conversation_id=closed_calls[0].pk)
    if version_id is None:
        return DemoCalibrationResult(False, 0, 0)
    made = 0
    with transaction.atomic():
        closed = calibration.calibration_session_create(
            user=admin,
            data=calibration.SessionInput(
                name=CLOSED_CALIBRATION,
                description="Five calls with a step missed: do we read the closing steps alike?",
                rubric_version_id=version_id,
                conversation_ids=[c.pk for c in closed_calls],
                participant_ids=[qa_user.pk, coach.pk],
                deadline=timezone.now() + timedelta(days=1),
            ),
        )
        disputed: list[tuple[Conversation, str]] = []
        for index, conversation in enumerate(closed_calls):
            label = labels[conversation.attributes["sid"]]
            qa_changes, coach_changes = _deliberate(index, label)
            disputed += [(conversation, key) for key in [*qa_changes, *coach_changes]]
            made += _calibration_answer(closed, qa_user, conversation, label, qa_changes)
            made += _calibration_answer(closed, coach, conversation, label, coach_changes)
        calibration.calibration_session_close(
            user=admin,
            session=closed,
            discussion="The thanks counts when the caller hears it, even folded into the "
            "goodbye; confirming the action means saying what was done, not just 'done'.",
        )
        # Where the two disagreed, the majority is a tie: the discussion settles it (the labels).
        segment = {e.conversation_id: e.segments[-1] for e in closed.session_conversations.all()}
        calibration.calibration_benchmark_set(
            user=admin,
            session=closed,
            changes=[
                calibration.BenchmarkChange(
                    conversation_id=conversation.pk,
                    key=f"{segment[conversation.pk]}:{key}",
                    outcome=_OUTCOME[labels[conversation.attributes["sid"]]["labels"][key]],
                    note="Agreed in the discussion.",
                )
                for conversation, key in disputed
            ],
        )
        opened = calibration.calibration_session_create(
            user=admin,
            data=calibration.SessionInput(
                name=OPEN_CALIBRATION,
                description="Three calls; the coach's answers are the benchmark.",
                rubric_version_id=version_id,
                conversation_ids=[c.pk for c in open_calls],
                participant_ids=[qa_user.pk, coach.pk],
                deadline=timezone.now() + timedelta(days=5),
                benchmark_mode=BenchmarkMode.EXPERT,
                expert_id=coach.pk,
            ),
        )
        for conversation in open_calls:
            made += _calibration_answer(
                opened, coach, conversation, labels[conversation.attributes["sid"]], {}
            )
        made += _calibration_answer(
            opened, qa_user, open_calls[0], labels[open_calls[0].attributes["sid"]], {}
        )
    # The closed session's answers now count in the AI-human agreement: the tiers at once,
    # rather than at the next beat run.
    qa.trust_recompute_all()
    return DemoCalibrationResult(True, 2, made)


def _calibration_answer(
    session: CalibrationSession,
    user: User,
    conversation: Conversation,
    label: dict[str, Any],
    changes: dict[str, str],
) -> int:
    item = QueueItem.objects.get(calibration=session, assignee=user, conversation=conversation)
    claimed = qa.queue_item_claim(user=user, item_id=item.pk)
    review = qa.review_start(item=claimed, reviewer=user)
    answers: dict[str, Any] = {}
    for key, criterion in qa.review_keys(review).items():
        outcome = changes.get(criterion.key) or _OUTCOME.get(
            label["labels"].get(criterion.key, ""), "MET"
        )
        if outcome == "NA" and not criterion.na_allowed:
            outcome = "NOT_MET"
        answers[key] = {"outcome": outcome}
    qa.review_submit(user=user, review=review, answers=answers)
    return 1
