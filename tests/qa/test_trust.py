"""Trust tiers per criterion: from the lower bound of the AI-human kappa, n and the disputes the
AI would have lost; every change logged with its figures; their effect on the review form."""

from __future__ import annotations

import itertools

import pytest

from apps.qa import services, stats, tasks
from apps.qa.choices import DisputeStatus, TrustTier
from apps.qa.models import CriterionTrust, Dispute, DisputeItem, ReviewAnswer, TrustChange
from tests.fixtures import qa as build

pytestmark = pytest.mark.django_db

H = "HUMAN_AGENT"
_keys = itertools.count(1)


def figures(n: int, low: float | None, kappa: float = 0.9) -> stats.Agreement:
    return stats.Agreement(n=n, agreement=0.95, kappa=kappa, low=low, high=1.0, few=n < 20)


# The rule at its boundaries ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "low", "lost", "tier"),
    [
        (30, 0.80, 2, TrustTier.TRUSTED),  # every bound met exactly
        (30, 0.7999, 0, TrustTier.REVIEW),  # lower bound just short of trusted
        (29, 0.95, 0, TrustTier.REVIEW),  # too little data, however good
        (30, 0.95, 3, TrustTier.REVIEW),  # would have lost one dispute too many
        (30, 0.40, 0, TrustTier.REVIEW),  # review bound met exactly
        (30, 0.3999, 0, TrustTier.MANUAL),  # below it
        (200, -0.2, 0, TrustTier.MANUAL),
        (29, -0.5, 0, TrustTier.REVIEW),  # too little data to condemn it either
        (40, None, 0, TrustTier.REVIEW),  # kappa undefined: one answer throughout
    ],
)
def test_tier_for_applies_the_settings_at_their_boundaries(n, low, lost, tier):
    assert services.tier_for(figures(n, low), lost).tier == tier


def test_the_reason_reads_plainly():
    verdict = services.tier_for(figures(140, 0.62), 0)
    assert verdict.reason == "κ lower bound 0.62 < 0.80 with n = 140"
    assert "too little data: n = 12 < 30" in services.tier_for(figures(12, 0.9), 0).reason
    assert "lost 3 disputes > 2" in services.tier_for(figures(50, 0.9), 3).reason


@pytest.mark.parametrize(
    ("rarer", "low", "tier"),
    [
        (("not met", 4), 0.95, TrustTier.REVIEW),  # near-perfect, but only 4 failures seen
        (("not met", 5), 0.95, TrustTier.TRUSTED),
        (("not met", 1), -0.2, TrustTier.REVIEW),  # too few to condemn it either
        (("met", 5), 0.1, TrustTier.MANUAL),
    ],
)
def test_a_tier_needs_enough_answers_of_the_rarer_outcome(rarer, low, tier):
    verdict = services.tier_for(figures(75, low), 0, rarer=rarer)
    assert verdict.tier == tier
    if rarer[1] < 5:
        assert verdict.reason.startswith(f"only {rarer[1]} {rarer[0]!r} answer")
        assert verdict.reason.endswith("in 75: 5 needed to judge")


def test_the_rarer_outcome_is_counted_from_peoples_answers():
    def pair(human: str) -> services.Pair:
        return services.Pair(1, "k", H, "MET", human, "review")

    pairs = [pair("MET")] * 70 + [pair("NOT_MET")] * 3 + [pair("NA")] * 2
    assert services.rarer_outcome(pairs) == ("not met", 3)
    assert services.rarer_outcome([pair("NOT_MET")] * 9 + [pair("MET")] * 2) == ("met", 2)


def test_the_thresholds_are_settings(settings):
    settings.QA_TRUST_KAPPA_TRUSTED = 0.6
    settings.QA_TRUST_MIN_N = 10
    assert services.tier_for(figures(10, 0.61), 0).tier == TrustTier.TRUSTED


# Recomputing from answers ------------------------------------------------------------------------

AGREEING = [("MET", "MET")] * 30 + [("NOT_MET", "NOT_MET")] * 10
SLIPPING = [("MET", "NOT_MET")] * 25 + [("NOT_MET", "MET")] * 25


def test_a_criterion_earns_trusted_with_a_logged_change_and_its_figures(world, script):
    build.rated_many(script, world.north_call, "greeting", AGREEING)
    result = services.trust_recompute(version=script)
    assert result.tiers["greeting"] == TrustTier.TRUSTED
    trust = CriterionTrust.objects.get(rubric_version=script, criterion_key="greeting")
    assert (trust.tier, trust.n, trust.agreement, trust.kappa) == ("TRUSTED", 40, 1.0, 1.0)
    assert trust.kappa_low == 1.0
    change = TrustChange.objects.get(criterion_key="greeting")
    assert (change.from_tier, change.to_tier) == ("REVIEW", "TRUSTED")
    assert change.figures["n"] == 40 and change.figures["kappa_low"] == 1.0
    assert change.figures["thresholds"]["trusted"] == 0.8
    assert change.reason.startswith("κ lower bound 1.00 ≥ 0.80 with n = 40")
    assert trust.reason == change.reason  # the current reason stays on the tier itself
    assert CriterionTrust.objects.get(criterion_key="offer_help").reason == (
        "too little data: n = 0 < 30"
    )
    # No answers on the other criteria: REVIEW as before, so no change logged for them.
    assert CriterionTrust.objects.get(criterion_key="offer_help").tier == "REVIEW"
    assert TrustChange.objects.count() == 1


def test_recomputing_the_same_answers_changes_nothing(world, script):
    build.rated_many(script, world.north_call, "greeting", AGREEING)
    services.trust_recompute(version=script)
    again = services.trust_recompute(version=script)
    assert again.changes == []
    assert TrustChange.objects.count() == 1


def test_a_criterion_drops_a_tier_when_agreement_slips(world, script):
    build.rated_many(script, world.north_call, "greeting", AGREEING)
    services.trust_recompute(version=script)
    build.rated_many(script, world.north_call, "greeting", SLIPPING)
    result = services.trust_recompute(version=script)
    assert result.tiers["greeting"] == TrustTier.MANUAL
    drop = TrustChange.objects.filter(criterion_key="greeting").first()  # newest first
    assert (drop.from_tier, drop.to_tier) == ("TRUSTED", "MANUAL")
    assert drop.figures["n"] == 90
    assert "< 0.40 with n = 90" in drop.reason


def _lost_dispute(review, key: str, final: str) -> None:
    dispute = Dispute.objects.create(
        review=review, revision_number=1, reason="no", status=DisputeStatus.ACCEPTED
    )
    DisputeItem.objects.create(
        dispute=dispute,
        segment=H,
        criterion_key=key,
        current_outcome="MET",
        proposed_outcome=final,
        accepted=True,
        final_outcome=final,
    )


def test_disputes_the_ai_would_have_lost_hold_it_back(world, script):
    reviews = build.rated_many(script, world.north_call, "greeting", AGREEING)
    # Decided against the AI's MET three times; a fourth decided for it does not count, nor an
    # open one.
    for review in reviews[:3]:
        _lost_dispute(review, "greeting", "NOT_MET")
    _lost_dispute(reviews[3], "greeting", "MET")
    Dispute.objects.create(review=reviews[4], revision_number=1, reason="open")
    assert services.disputes_lost(version_id=script.pk) == {"greeting": 3}
    result = services.trust_recompute(version=script)
    assert result.tiers["greeting"] == TrustTier.REVIEW
    trust = CriterionTrust.objects.get(criterion_key="greeting")
    assert trust.disputes_lost == 3
    assert not TrustChange.objects.exists()  # REVIEW → REVIEW is no change


def test_the_task_runs_twice_with_one_effect(world, script):
    build.rated_many(script, world.north_call, "greeting", AGREEING)
    tasks.recompute_trust(script.pk)
    tasks.recompute_trust(script.pk)
    assert TrustChange.objects.count() == 1
    assert CriterionTrust.objects.filter(rubric_version=script).count() == 4
    assert tasks.recompute_trust(999_999) is None  # a version gone: nothing to do


# Effects on the review form ----------------------------------------------------------------------


def _set_tier(version, key: str, tier: str) -> None:
    CriterionTrust.objects.update_or_create(
        rubric_version=version, criterion_key=key, defaults={"tier": tier}
    )


def _start(world, user=None):
    item = build.manual_item(world.north_call, key=f"manual:trust{next(_keys)}")
    claimed = services.queue_item_claim(user=user or world.qa_analyst, item_id=item.pk)
    return services.review_start(item=claimed, reviewer=user or world.qa_analyst)


def test_a_manual_criterion_is_not_prefilled_yet_still_measured(world, script):
    _set_tier(script, "greeting", TrustTier.MANUAL)
    review = _start(world)
    assert review.draft["answers"][f"{H}:greeting"]["outcome"] is None
    assert review.draft["answers"][f"{H}:offer_help"]["outcome"] == "NOT_MET"  # REVIEW: as today
    assert review.ai["criteria"]["greeting"]["outcome"] == "MET"  # kept, to go on measuring
    assert review.ai["tiers"] == {"greeting": "MANUAL"}
    # The reviewer never saw the AI's answer: giving another needs no comment.
    services.review_submit(
        user=world.qa_analyst,
        review=review,
        answers={
            f"{H}:greeting": {"outcome": "NOT_MET"},
            f"{H}:offer_help": {"outcome": "NOT_MET"},
            f"{H}:verify_identity": {"outcome": "MET"},
            f"{H}:confirm_address": {"outcome": "NA"},
        },
    )
    answer = ReviewAnswer.objects.get(revision__review=review, criterion_key="greeting")
    assert (answer.ai_outcome, answer.outcome, answer.agreed) == ("MET", "NOT_MET", False)


def test_the_review_form_hides_a_manual_criterions_ai_answer(world, script, client_for):
    _set_tier(script, "greeting", TrustTier.MANUAL)
    review = _start(world)
    page = client_for(world.qa_analyst).get(f"/qa/reviews/{review.pk}/").content.decode()
    card = page.split(f'data-criterion="{H}:greeting"')[1].split('data-criterion="')[0]
    assert 'data-testid="manual-note"' in card and "AI: Met" not in card


def test_a_trusted_criterion_is_prefilled_and_shown_folded_with_a_badge(world, script, client_for):
    _set_tier(script, "greeting", TrustTier.TRUSTED)
    review = _start(world)
    assert review.draft["answers"][f"{H}:greeting"]["outcome"] == "MET"
    page = client_for(world.qa_analyst).get(f"/qa/reviews/{review.pk}/").content.decode()
    card = page.split(f'data-criterion="{H}:greeting"')[1].split('data-criterion="')[0]
    assert 'data-testid="ai-trusted"' in card
    assert '<details class="trusted-criterion" data-testid="trusted-fold">' in card  # closed
    # Overridden, it stays open, so the change is in view.
    services.review_draft_save(
        user=world.qa_analyst,
        review=review,
        answers={f"{H}:greeting": {"outcome": "NOT_MET", "comment": "Said too late."}},
    )
    page = client_for(world.qa_analyst).get(f"/qa/reviews/{review.pk}/").content.decode()
    card = page.split(f'data-criterion="{H}:greeting"')[1].split('data-criterion="')[0]
    assert '<details class="trusted-criterion" open data-testid="trusted-fold">' in card
    other = page.split(f'data-criterion="{H}:offer_help"')[1].split('data-criterion="')[0]
    assert "trusted-fold" not in other
