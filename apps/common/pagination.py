"""Pages over long lists whose exact size is not worth a full count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import BooleanField, Count, F, Func, Q, QuerySet, Subquery, Window
from django.utils.functional import cached_property

COUNT_CAP = 10_000


def capped_count(rows: Any, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many ``rows`` there are, counting no further than ``cap`` (PostgreSQL stops reading
    there): the count and whether there are more."""
    counted = rows.order_by().values("pk")[: cap + 1].count()
    return min(counted, cap), counted > cap


def among_ids(ids: QuerySet[Any] | list[Any]) -> Q:
    """``pk = ANY(ARRAY(ids))``: rows whose id is among ``ids`` (a subquery of a page's ids, or
    the ids themselves),
    the ids read first (an init plan, once) and then looked up by primary key. ``pk__in=ids``
    is a semi-join that PostgreSQL places after the other joins when a row has more of them
    than ``join_collapse_limit`` (8): a reviews page joined all 2,700 reviews to their
    conversations (a sequential scan of 80,000) before keeping its 50."""
    if isinstance(ids, list):
        return Q(pk__in=ids)
    return Q(_AmongIds(F("pk"), Subquery(ids)))


class _AmongIds(Func):
    """``<pk> = ANY(ARRAY(<subquery>))`` (``Subquery`` compiles with its own parentheses).
    No ids at all (an empty queryset, ``none()``) matches nothing, as ``pk__in`` does."""

    output_field = BooleanField()

    def as_sql(  # type: ignore[override]  # none of Func's template arguments apply
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        pk, ids = self.get_source_expressions()
        pk_sql, pk_params = compiler.compile(pk)
        ids_sql, ids_params = compiler.compile(ids)  # EmptyResultSet: the WHERE matches nothing
        return f"{pk_sql} = ANY(ARRAY{ids_sql})", [*pk_params, *ids_params]


class CappedPaginator(Paginator):
    """A paginator that counts at most ``cap`` rows: a queue of 100,000 items shows "10,000+"
    and its first 400 pages instead of counting every row on every request. ``capped`` says
    whether there are more (pages show "+"); filters narrow the list to reach them."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        cap: int = COUNT_CAP,
        known: tuple[int, bool] | None = None,
        **kwargs: Any,
    ):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap
        self.capped = False
        self.known = known  # (count, more) already counted by the caller: not counted again

    @cached_property
    def count(self) -> int:
        total, self.capped = self.known or capped_count(self.object_list, self.cap)
        return total


class RowsByIdPaginator(Paginator):
    """A paginator that finds a page's ids first and only then reads its rows with ``rows(ids)``.

    ``object_list`` is the filtered, ordered list (its annotations are left out of the count
    and the ids); ``rows`` takes the page's ids as a subquery and adds what a row shows
    (joins, per-row subqueries such as a count). With a plain OFFSET, PostgreSQL evaluates a
    row's select list for every row it skips: page 500 of a list with a per-row count ran
    12,500 counts. Here the skipped rows are index entries only, and the page is still one
    query (the ids are a subquery of it). The rows keep ``object_list``'s ordering.
    """

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *,
        rows: Callable[[QuerySet[Any]], QuerySet[Any]],
        **kwargs: Any,
    ):
        super().__init__(object_list, per_page, **kwargs)
        self.rows = rows

    def page(self, number: Any) -> Page[Any]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        rows: QuerySet[Any] = self.object_list  # type: ignore[assignment]  # a queryset here
        ids = rows.values("pk")[bottom:top]
        ordering = rows.query.order_by or rows.model._meta.ordering
        return Page(self.rows(ids).order_by(*ordering), number, self)


class CappedRowsByIdPaginator(RowsByIdPaginator, CappedPaginator):
    """``RowsByIdPaginator`` counting no further than ``cap`` (``CappedPaginator``)."""


_OFFSET_LIMIT = 2**62


class CountedRowsByIdPaginator(RowsByIdPaginator):
    """``RowsByIdPaginator`` reading a page's ids and the list's count in one query
    (``count(*) OVER ()``), for lists whose filter is the costly part: a search builds its
    matching set (10,000 conversations for "card") once instead of once for the count and
    again for the page. The whole filtered list is read and top-N sorted, so for an unfiltered
    list whose page is a short index walk the two queries of ``RowsByIdPaginator`` are cheaper.
    A page past the end is counted on its own (one more query) and becomes the last page
    (``get_page``), as before."""

    def page(self, number: Any) -> Page[Any]:
        number = self._number(number)
        bottom = (number - 1) * self.per_page
        rows: QuerySet[Any] = self.object_list  # type: ignore[assignment]  # a queryset here
        found = (
            list(
                rows.prefetch_related(None)
                .annotate(_list_count=Window(Count("*")))
                .values_list("pk", "_list_count")[bottom : bottom + self.per_page + self.orphans]
            )
            if bottom
            < _OFFSET_LIMIT  # a page number past any list: PostgreSQL's OFFSET is a bigint
            else []
        )
        if found:
            self.__dict__["count"] = found[0][1]  # the cached property, known now
        number = self.validate_number(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = [pk for pk, _ in found[: top - bottom]]
        ordering = rows.query.order_by or rows.model._meta.ordering
        return Page(self.rows(ids).order_by(*ordering), number, self)  # type: ignore[arg-type]

    def get_page(self, number: Any) -> Page[Any]:
        """``Paginator.get_page`` without its first ``validate_number`` (a count of its own)."""
        try:
            return self.page(number)
        except PageNotAnInteger:
            return self.page(1)
        except EmptyPage:
            return self.page(self.num_pages)

    def _number(self, number: Any) -> int:
        """``validate_number``'s checks that need no count."""
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from error
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number
