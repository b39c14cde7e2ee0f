"""The QA demo: reviews in every state, made through the services, loaded once."""

from __future__ import annotations

import pytest

from apps.demo.qa import demo_qa_load
from apps.qa.choices import DisputeStatus, ItemSource, ReviewStatus
from apps.qa.models import Dispute, QueueItem, Review, SamplingPolicy

pytestmark = pytest.mark.django_db


def test_the_qa_demo_has_flags_samples_and_reviews_in_every_state(demo_qa):
    assert demo_qa.created
    assert QueueItem.objects.filter(source=ItemSource.FLAG).exists()
    assert SamplingPolicy.objects.get().items.exists()
    assert Review.objects.filter(status=ReviewStatus.DRAFT).exists()
    assert Review.objects.filter(status=ReviewStatus.SUBMITTED).exists()
    decided = Dispute.objects.get(status=DisputeStatus.ACCEPTED)
    assert decided.review.revision_count == 2 and decided.resulting_revision.number == 2
    # The human answers are the hand labels: Linda missed "anything else" on this call.
    changed = decided.items.get()
    assert (changed.criterion_key, changed.current_outcome) == ("offers_further_help", "NOT_MET")


def test_loading_the_qa_demo_again_adds_nothing(demo_qa):
    before = (QueueItem.objects.count(), Review.objects.count(), Dispute.objects.count())
    assert not demo_qa_load().created
    assert (QueueItem.objects.count(), Review.objects.count(), Dispute.objects.count()) == before
