"""Pages over long lists whose exact size is not worth a full count."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_CAP = 10_000


def capped_count(rows: Any, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many ``rows`` there are, counting no further than ``cap`` (PostgreSQL stops reading
    there): the count and whether there are more."""
    counted = rows.order_by().values("pk")[: cap + 1].count()
    return min(counted, cap), counted > cap


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
