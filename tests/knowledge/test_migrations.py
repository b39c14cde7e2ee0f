"""Knowledge and memory moved out of the intelligence app without losing a row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.knowledge.models import CustomerProfile, KnowledgeArticle, Observation
from tests.fixtures import builders

BEFORE = [("intelligence", "0002_engine"), ("knowledge", None)]
STATE = [("intelligence", "0002_engine"), ("contenttypes", "0002_remove_content_type_name")]


# Unapplies and reapplies every migration above intelligence 0002 (the audit trail's too):
# the slowest test of the suite; CI runs it on the oldest Python only (marker "once").
@pytest.mark.once
@pytest.mark.django_db(transaction=True)
def test_articles_profiles_and_observations_made_before_the_move_are_there_after_it():
    conversation = builders.make_conversation(texts=[("customer", "hello")])
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(STATE).apps
    try:
        article = old.get_model("intelligence", "KnowledgeArticle").objects.create(
            title="Replacing a card", body="Order a new card in the app.", tags=["cards"]
        )
        profile = old.get_model("intelligence", "CustomerProfile").objects.create(
            key="address:+15550001111", display_name="Nora"
        )
        profile.conversations.add(conversation.pk)
        old.get_model("intelligence", "Observation").objects.create(
            profile=profile, text="Prefers email", digest="d1", source="user"
        )
        ContentType = old.get_model("contenttypes", "ContentType")
        ContentType.objects.get_or_create(app_label="intelligence", model="observation")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    moved = KnowledgeArticle.objects.get(pk=article.pk)
    assert (moved.title, moved.tags) == ("Replacing a card", ["cards"])
    assert KnowledgeArticle.objects.filter(search_vector="card").exists()  # still generated
    customer = CustomerProfile.objects.get(pk=profile.pk)
    assert list(customer.conversations.values_list("pk", flat=True)) == [conversation.pk]
    assert list(Observation.objects.filter(profile=customer).values_list("text", flat=True)) == [
        "Prefers email"
    ]
    labels = ContentType.objects.filter(model="observation").values_list("app_label", flat=True)
    assert list(labels) == ["knowledge"]
