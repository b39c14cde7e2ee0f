"""A row shown on a page: a model instance with what the page works out about it."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Shown(Generic[T]):
    """``item``'s own attributes, plus ``extras`` (a label, a count): templates read both alike
    (``rule.name``, ``rule.trigger_text``), and the model instance is never given attributes
    that are not its fields."""

    def __init__(self, item: T, **extras: Any) -> None:
        self.item = item
        self.__dict__.update(extras)

    def __getattr__(self, name: str) -> Any:  # only for what the instance itself has
        return getattr(self.item, name)

    def __repr__(self) -> str:
        return f"Shown({self.item!r})"
