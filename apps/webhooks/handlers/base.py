from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.webhooks.choices import EventStatus


@dataclass
class Outcome:
    status: str = EventStatus.PROCESSED
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ignored(cls, reason: str) -> Outcome:
        return cls(EventStatus.IGNORED, {"reason": reason})
