"""Language operators: one interface, two backends (embedded and llm)."""

from .base import OperatorContext, OperatorOutput, TranscriptLine
from .registry import run_operator

__all__ = ["OperatorContext", "OperatorOutput", "TranscriptLine", "run_operator"]
