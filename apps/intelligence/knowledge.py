"""Reads and writes behind the Enterprise Knowledge and Conversation Memory pages and API.

Who may see what is decided here, once, for the pages and the API alike: everyone with the
``knowledge`` feature reads published articles, ``knowledge_manage`` (admins) also drafts;
customer profiles are those of conversations the user may see
(``CustomerProfile.objects.for_user``). The article writes themselves are
``services.knowledge_article_*``; the observation writes here wrap ``services.observations_add``
(which operators call without a user) with the person's permission and input checks.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import CharField, Count, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.conversations.models import Conversation

from . import selectors, services
from .choices import ObservationSource
from .models import CustomerProfile, KnowledgeArticle, Observation

OBSERVATION_MAX_LENGTH = 2000


# Enterprise Knowledge ----------------------------------------------------------------------------


def can_manage_knowledge(user: Any) -> bool:
    return can_use(user, "knowledge_manage")


def _normalise_tag(tag: str) -> str:
    # Tags are stored lower-case with single spaces (services._clean_tags); match them so.
    return " ".join(tag.split()).lower()


def _readable_articles(
    user: Any, articles: QuerySet[KnowledgeArticle]
) -> QuerySet[KnowledgeArticle]:
    if not can_use(user, "knowledge"):
        return articles.none()
    if not can_manage_knowledge(user):
        # Drafts are for the people who write them; Next Best Response never reads them either.
        articles = articles.filter(is_published=True)
    return articles


def article_list(*, user: Any, query: str = "", tag: str = "") -> QuerySet[KnowledgeArticle]:
    """Articles ``user`` may read: by title, or best match first when searching."""
    articles = selectors.knowledge_list(query=query, tag=_normalise_tag(tag))
    return _readable_articles(user, articles).select_related("created_by", "updated_by")


def article_get(*, user: Any, pk: int) -> KnowledgeArticle:
    """One article ``user`` may read; 404 otherwise (drafts too, for non-admins)."""
    article = article_list(user=user).filter(pk=pk).first()
    if article is None:
        raise Http404("No such article.")
    return article


def article_tags(*, user: Any) -> list[str]:
    """Every tag used by an article ``user`` may read, alphabetically."""
    articles = _readable_articles(user, KnowledgeArticle.objects.all())
    return list(
        articles.annotate(tag=Func(F("tags"), function="unnest", output_field=CharField()))
        .values_list("tag", flat=True)
        .order_by("tag")
        .distinct()
    )


# Conversation Memory -----------------------------------------------------------------------------


def _visible_conversations(user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.for_user(user)


def profile_list(*, user: Any, query: str = "") -> QuerySet[CustomerProfile]:
    """Customer profiles ``user`` may see, with how many observations and conversations (those
    ``user`` may see) each has; ``query`` matches the name, address or Twilio profile id."""
    if not can_use(user, "memory"):
        return CustomerProfile.objects.none()
    # Correlated counts: computed only for the rows of the page, never joined into one another.
    links = CustomerProfile.conversations.through.objects.filter(
        customerprofile_id=OuterRef("pk"),
        conversation_id__in=_visible_conversations(user).values("pk"),
    )
    observations = Observation.objects.filter(profile_id=OuterRef("pk"))
    profiles: QuerySet[CustomerProfile] = CustomerProfile.objects.filter(
        pk__in=CustomerProfile.objects.for_user(user).values("pk")
    )
    profiles = profile_search(profiles, query)
    return profiles.annotate(
        observation_count=Coalesce(Subquery(_count(observations, "profile_id")), 0),
        conversation_count=Coalesce(Subquery(_count(links, "customerprofile_id")), 0),
    ).order_by("display_name", "key", "id")


def profile_search(profiles: QuerySet[CustomerProfile], query: str) -> QuerySet[CustomerProfile]:
    """The profiles whose name, address or Twilio profile id contains ``query``."""
    query = query.strip()
    if not query:
        return profiles
    return profiles.filter(
        Q(display_name__icontains=query)
        | Q(address__icontains=query)
        | Q(profile_id__icontains=query)
    )


def _count(rows: QuerySet[Any], group: str) -> QuerySet[Any]:
    return rows.order_by().values(group).annotate(n=Count("*")).values("n")


def profile_get(*, user: Any, pk: int) -> CustomerProfile:
    """One profile ``user`` may see; 404 otherwise, so profile ids do not leak."""
    profile = profile_list(user=user).filter(pk=pk).first()
    if profile is None:
        raise Http404("No such customer.")
    return profile


def profile_observations(*, profile: CustomerProfile) -> QuerySet[Observation]:
    """What is remembered about the customer, newest first, with where each came from."""
    return (
        Observation.objects.filter(profile=profile)
        .select_related("conversation", "operator_result", "created_by")
        .order_by("-created_at", "-id")
    )


def profile_conversations(*, user: Any, profile: CustomerProfile) -> QuerySet[Conversation]:
    """The customer's conversations that ``user`` may see, newest first."""
    return (
        _visible_conversations(user)
        .filter(profiles=profile)
        .select_related("team")
        .order_by(F("started_at").desc(nulls_last=True), "-id")
    )


def profile_detail_list(*, user: Any) -> QuerySet[CustomerProfile]:
    """``profile_list`` with each profile's observations and visible conversations prefetched
    (``visible_conversations``), for the API's detail."""
    return profile_list(user=user).prefetch_related(
        Prefetch(
            "observations",
            queryset=Observation.objects.select_related("operator_result", "created_by").order_by(
                "-created_at", "-id"
            ),
        ),
        Prefetch(
            "conversations",
            queryset=_visible_conversations(user).order_by(
                F("started_at").desc(nulls_last=True), "-id"
            ),
            to_attr="visible_conversations",
        ),
    )


def observation_get(*, profile: CustomerProfile, pk: int) -> Observation:
    observation = profile_observations(profile=profile).filter(pk=pk).first()
    if observation is None:
        raise Http404("No such observation.")
    observation.profile = profile
    return observation


def _check_memory_access(user: Any, profile: CustomerProfile) -> None:
    if not can_use(user, "memory"):
        raise PermissionDenied("Your role does not include customer memory.")
    if not CustomerProfile.objects.for_user(user).filter(pk=profile.pk).exists():
        raise NotFound("No such customer.")


@transaction.atomic
def observation_add(*, user: Any, profile: CustomerProfile, text: str) -> tuple[Observation, bool]:
    """Remember ``text`` about the customer, as written by ``user``; once per text.

    Returns the observation and whether it is new: the same text again (ignoring case and
    spacing) finds the one already remembered.
    """
    _check_memory_access(user, profile)
    text = text.strip()
    if not text:
        raise ValidationFailed({"text": ["Write what you learnt about the customer."]})
    if len(text) > OBSERVATION_MAX_LENGTH:
        raise ValidationFailed({"text": [f"Keep it under {OBSERVATION_MAX_LENGTH} characters."]})
    # The digest is the observation's identity (unique per profile); services computes it.
    digest = services.observation_digest(text)
    known = Observation.objects.filter(profile=profile, digest=digest).exists()
    services.observations_add(
        profile=profile, texts=[text], source=ObservationSource.USER, user=user
    )
    observation = profile_observations(profile=profile).get(digest=digest)
    return observation, not known


@transaction.atomic
def observation_delete(*, user: Any, observation: Observation) -> None:
    """Forget one observation (wrong, outdated, or not for the record)."""
    _check_memory_access(user, observation.profile)
    Observation.objects.filter(pk=observation.pk).delete()
