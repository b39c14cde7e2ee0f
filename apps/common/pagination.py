"""Pages over long lists whose exact size is not worth a full count."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
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
