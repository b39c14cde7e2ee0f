"""Reads of Enterprise Knowledge and Conversation Memory, for the pages, the API and operators.

Who may see what is decided here, once, for the pages and the API alike: everyone with the
``knowledge`` feature reads published articles, ``knowledge_manage`` (admins) also drafts;
customer profiles are those of conversations the user may see
(``CustomerProfile.objects.for_user``). Operators read without a user: ``knowledge_search``
(published articles) and ``memory_for_conversation``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import CharField, Count, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.accounts.scoping import can_use
from apps.common.errors import NotFound
from apps.conversations import selectors as conversations

from .models import CustomerProfile, KnowledgeArticle, Observation

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class KnowledgeHit:
    """An article found for an operator, detached from the ORM."""

    id: int
    title: str
    body: str
    rank: float
    tags: tuple[str, ...] = ()


# Enterprise Knowledge ----------------------------------------------------------------------------


def can_manage_knowledge(user: Person) -> bool:
    return can_use(user, "knowledge_manage")


def knowledge_search(
    query: str, limit: int = 5, *, published_only: bool = True
) -> list[KnowledgeHit]:
    """Articles ranked by PostgreSQL full-text search; any of the query's words may match."""
    words = sorted(set(_WORD.findall(query.lower())))
    if not words:
        return []
    search = SearchQuery(" | ".join(words), search_type="raw", config="english")
    articles = KnowledgeArticle.objects.filter(search_vector=search)
    if published_only:
        articles = articles.filter(is_published=True)
    ranked = articles.annotate(rank=SearchRank(F("search_vector"), search)).order_by("-rank", "id")[
        :limit
    ]
    return [
        KnowledgeHit(id=a.pk, title=a.title, body=a.body, rank=float(a.rank), tags=tuple(a.tags))
        for a in ranked
    ]


def published_articles() -> list[KnowledgeHit]:
    """Every published article (rank 0), for a caller that ranks them itself in memory (the
    virtual agent: a knowledge base of tens of articles, read once a while, not per turn)."""
    return [
        KnowledgeHit(id=a.pk, title=a.title, body=a.body, rank=0.0, tags=tuple(a.tags))
        for a in KnowledgeArticle.objects.filter(is_published=True).order_by("id")
    ]


def knowledge_search_many(
    queries: Iterable[tuple[str, int]],
) -> dict[tuple[str, int], list[KnowledgeHit]]:
    """``knowledge_search`` (published articles) of several ``(query, limit)`` in one
    statement, keyed by the pair: the rule engine runs a batch of suggestions at once."""
    wanted = list(dict.fromkeys(queries))
    found: dict[tuple[str, int], list[KnowledgeHit]] = {pair: [] for pair in wanted}
    searched = [
        (pair, " | ".join(words))
        for pair in wanted
        if (words := sorted(set(_WORD.findall(pair[0].lower()))))
    ]
    if not searched:
        return found
    table = KnowledgeArticle._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT q.n, a.id, a.title, a.body, a.rank, a.tags
              FROM (SELECT n, lim, to_tsquery('english', t) AS tsq
                      FROM unnest(%s::text[], %s::int[]) WITH ORDINALITY AS u(t, lim, n)) q
             CROSS JOIN LATERAL (
                   SELECT k.id, k.title, k.body, k.tags,
                          ts_rank(k.search_vector, q.tsq) AS rank
                     FROM {table} k
                    WHERE k.search_vector @@ q.tsq AND k.is_published
                    ORDER BY rank DESC, k.id
                    LIMIT q.lim) a
             ORDER BY q.n, a.rank DESC, a.id
            """,
            [[raw for _, raw in searched], [pair[1] for pair, _ in searched]],
        )
        for n, pk, title, body, rank, tags in cursor.fetchall():
            found[searched[n - 1][0]].append(
                KnowledgeHit(id=pk, title=title, body=body, rank=float(rank), tags=tuple(tags))
            )
    return found


def _knowledge_list(*, query: str = "", tag: str = "") -> QuerySet[KnowledgeArticle]:
    articles = KnowledgeArticle.objects.all()
    if tag:
        articles = articles.filter(tags__contains=[tag])
    if query.strip():
        words = sorted(set(_WORD.findall(query.lower())))
        if words:
            search = SearchQuery(" & ".join(words), search_type="raw", config="english")
            articles = (
                articles.filter(search_vector=search)
                .annotate(rank=SearchRank(F("search_vector"), search))
                .order_by("-rank", "title", "id")
            )
    return articles


def _normalise_tag(tag: str) -> str:
    # Tags are stored lower-case with single spaces (services.clean_tags); match them so.
    return " ".join(tag.split()).lower()


def _readable_articles(
    user: Person, articles: QuerySet[KnowledgeArticle]
) -> QuerySet[KnowledgeArticle]:
    if not can_use(user, "knowledge"):
        return articles.none()
    if not can_manage_knowledge(user):
        # Drafts are for the people who write them; Next Best Response never reads them either.
        articles = articles.filter(is_published=True)
    return articles


def article_list(*, user: Person, query: str = "", tag: str = "") -> QuerySet[KnowledgeArticle]:
    """Articles ``user`` may read: by title, or best match first when searching."""
    articles = _knowledge_list(query=query, tag=_normalise_tag(tag))
    return _readable_articles(user, articles).select_related("created_by", "updated_by")


def article_get(*, user: Person, pk: int) -> KnowledgeArticle:
    """One article ``user`` may read; NotFound otherwise (drafts too, for non-admins)."""
    article = article_list(user=user).filter(pk=pk).first()
    if article is None:
        raise NotFound("No such article.")
    return article


def article_tags(*, user: Person) -> list[str]:
    """Every tag used by an article ``user`` may read, alphabetically."""
    articles = _readable_articles(user, KnowledgeArticle.objects.all())
    return list(
        articles.annotate(tag=Func(F("tags"), function="unnest", output_field=CharField()))
        .values_list("tag", flat=True)
        .order_by("tag")
        .distinct()
    )


# Conversation Memory -----------------------------------------------------------------------------


def profile_list(*, user: Person, query: str = "") -> QuerySet[CustomerProfile]:
    """Customer profiles ``user`` may see, with how many observations and conversations (those
    ``user`` may see) each has; ``query`` matches the name, address or Twilio profile id."""
    if not can_use(user, "memory"):
        return CustomerProfile.objects.none()
    # Correlated counts: computed only for the rows of the page, never joined into one another.
    links = CustomerProfile.conversations.through.objects.filter(
        customerprofile_id=OuterRef("pk"),
        conversation_id__in=conversations.conversations_of(user=user).values("pk"),
    )
    observations = Observation.objects.for_user(user).filter(profile_id=OuterRef("pk"))
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


def profile_get(*, user: Person, pk: int) -> CustomerProfile:
    """One profile ``user`` may see; NotFound otherwise, so profile ids do not leak."""
    profile = profile_list(user=user).filter(pk=pk).first()
    if profile is None:
        raise NotFound("No such customer.")
    return profile


def profile_visible(*, user: Person, profile: CustomerProfile) -> bool:
    return CustomerProfile.objects.for_user(user).filter(pk=profile.pk).exists()


def profile_observations(*, user: Person, profile: CustomerProfile) -> QuerySet[Observation]:
    """What ``user`` may read of what is remembered about the customer (people's notes, and
    what came from conversations ``user`` may see), newest first, with where each came from."""
    return (
        Observation.objects.for_user(user)
        .filter(profile=profile)
        .select_related("conversation", "operator_result", "created_by")
        .order_by("-created_at", "-id")
    )


def can_delete_observation(*, user: Person, observation: Observation) -> bool:
    """The person who wrote it, or an admin."""
    return can_use(user, "memory_manage") or (
        observation.created_by_id is not None and observation.created_by_id == user.pk
    )


def profile_conversations(*, user: Person, profile: CustomerProfile) -> QuerySet[Any]:
    """The customer's conversations that ``user`` may see, newest first."""
    return (
        conversations.conversations_of(user=user)
        .filter(profiles=profile)
        .select_related("team")
        .order_by(F("started_at").desc(nulls_last=True), "-id")
    )


def profile_detail_list(*, user: Person) -> QuerySet[CustomerProfile]:
    """``profile_list`` with each profile's observations and visible conversations prefetched
    (``visible_conversations``), for the API's detail."""
    return profile_list(user=user).prefetch_related(
        Prefetch(
            "observations",
            queryset=Observation.objects.for_user(user)
            .select_related("operator_result", "created_by")
            .order_by("-created_at", "-id"),
        ),
        Prefetch(
            "conversations",
            queryset=conversations.conversations_of(user=user).order_by(
                F("started_at").desc(nulls_last=True), "-id"
            ),
            to_attr="visible_conversations",
        ),
    )


def observation_get(*, user: Person, profile: CustomerProfile, pk: int) -> Observation:
    observation = profile_observations(user=user, profile=profile).filter(pk=pk).first()
    if observation is None:
        raise NotFound("No such observation.")
    observation.profile = profile
    return observation


def profiles_for_conversation(*, conversation_id: int) -> QuerySet[CustomerProfile]:
    return CustomerProfile.objects.filter(conversations__id=conversation_id)


def memory_for_conversation(*, conversation_id: int, limit: int = 20) -> list[str]:
    """What the conversation's operators are told about its customer(s), newest first: nothing
    said in another conversation (``ObservationQuerySet.shared_with``)."""
    texts = (
        Observation.objects.shared_with(conversation_id)
        .filter(profile__conversations__id=conversation_id)
        .order_by("-created_at", "-id")
        .values_list("text", flat=True)[: limit * 5]
    )
    # Once each: a conversation linked to two profiles (a profile id and an address) has a copy
    # of what it taught on each.
    return list(dict.fromkeys(texts))[:limit]


# Erasure (apps/privacy) ---------------------------------------------------------------------------


class ProfileIdentity(NamedTuple):
    address: str
    profile_id: str
    conversation_ids: list[int]


def profile_identity(*, pk: int) -> ProfileIdentity | None:
    """How a customer profile is known (its address, Twilio profile id, conversations)."""
    profile = CustomerProfile.objects.filter(pk=pk).first()
    if profile is None:
        return None
    return ProfileIdentity(
        address=profile.address,
        profile_id=profile.profile_id,
        conversation_ids=list(profile.conversations.values_list("pk", flat=True)),
    )


def profile_ids_for(*, addresses: Iterable[str], profile_ids: Iterable[str]) -> set[int]:
    """Customer profiles known by one of these addresses or Twilio profile ids."""
    addresses = [a for a in addresses if a]
    profile_ids = [p for p in profile_ids if p]
    return set(
        CustomerProfile.objects.filter(
            Q(address__in=addresses)
            | Q(key__in=[f"address:{a.lower()}" for a in addresses])
            | Q(profile_id__in=profile_ids)
            | Q(key__in=[f"profile:{p}" for p in profile_ids])
        ).values_list("pk", flat=True)
    )


def profile_conversation_ids(*, profile_ids: Iterable[int]) -> set[int]:
    return set(
        CustomerProfile.conversations.through.objects.filter(
            customerprofile_id__in=list(profile_ids)
        ).values_list("conversation_id", flat=True)
    )
