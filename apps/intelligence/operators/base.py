"""What every operator receives and returns, whatever its backend.

An operator is a function ``(OperatorSpec, OperatorContext) -> OperatorOutput | None``: no ORM
writes, no transactions. The engine (``services.execution_run``) builds the context, calls the
operators outside any transaction (a language model may take seconds) and stores the outputs.
``None`` means "nothing to say at this point" (a suggestion after an agent's own line) and
stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.knowledge.selectors import KnowledgeHit
from apps.rubrics.structure import RubricStructure

from ..choices import ResultStatus


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One communication as operators see it (text already redacted at ingest)."""

    pk: int
    twilio_id: str
    role: str  # "customer", "agent" or "other"
    author_type: str | None  # participant type: CUSTOMER, HUMAN_AGENT, AI_AGENT, AGENT...
    offset_ms: int | None
    duration_ms: int | None
    text: str


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """One operator version, detached from the ORM."""

    version_id: int
    operator_id: int
    key: str
    name: str
    kind: str
    number: int
    backend: str
    output_format: str
    parameters: dict[str, Any]
    output_schema: dict[str, Any]
    prompt: str = ""


@dataclass(frozen=True, slots=True)
class PinnedRubric:
    rubric_id: int
    rubric_name: str
    version_id: int
    version_number: int
    structure: RubricStructure


@dataclass
class OperatorContext:
    """The conversation so far, the part this execution is about, and what is known around it."""

    conversation_id: int
    conversation_twilio_id: str
    lines: Sequence[TranscriptLine]  # every communication so far, in spoken order
    window: Sequence[TranscriptLine]  # the communications since the rule's previous execution
    final: bool  # the conversation has ended
    trigger_on: str
    agent_type: str | None = None  # HUMAN_AGENT, AI_AGENT or None (unknown)
    memory_loader: Callable[[], Sequence[str]] | None = None  # read only when an operator asks
    started_at: datetime | None = None
    knowledge_search: Callable[[str, int], list[KnowledgeHit]] | None = None
    rubric_for: Callable[[OperatorSpec], PinnedRubric | None] | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def memory(self) -> Sequence[str]:
        """Observations about the customer, newest first (loaded on first use)."""
        if "memory" not in self.cache:
            self.cache["memory"] = list(self.memory_loader()) if self.memory_loader else []
        return self.cache["memory"]

    @property
    def latest(self) -> TranscriptLine | None:
        return self.window[-1] if self.window else (self.lines[-1] if self.lines else None)


@dataclass
class OperatorOutput:
    output_format: str
    result: Any
    status: str = ResultStatus.OK
    error: str = ""
    raw_output: str = ""
    system: dict[str, Any] = field(default_factory=dict)  # metadata.system (model, latency...)
    observations: list[str] = field(default_factory=list)  # to remember about the customer
    # Whether they hold words said in the conversation (then they stay with it); only texts an
    # admin wrote, such as a classifier's label, may reach the customer's other conversations.
    observations_quote: bool = True
    rubric_version_id: int | None = None
    communication_first: str = ""
    communication_last: str = ""

    @classmethod
    def failure(
        cls, output_format: str, error: str, *, raw: str = "", system: dict[str, Any] | None = None
    ) -> OperatorOutput:
        return cls(
            output_format=output_format,
            result=None,
            status=ResultStatus.ERROR,
            error=error,
            raw_output=raw,
            system=system or {},
        )

    @classmethod
    def skipped(cls, output_format: str, reason: str) -> OperatorOutput:
        return cls(
            output_format=output_format, result=None, status=ResultStatus.SKIPPED, error=reason
        )


class OperatorError(Exception):
    """An operator cannot run as configured (a message for the person who configured it)."""
