"""One entry point for every operator: pick the backend, run, check the result's schema."""

from __future__ import annotations

import logging
import time
from typing import Any

from jsonschema import Draft202012Validator

from ..choices import Backend, ResultStatus
from . import embedded, llm_backend
from .base import OperatorContext, OperatorError, OperatorOutput, OperatorSpec

logger = logging.getLogger(__name__)


_VALIDATORS: dict[int, Draft202012Validator] = {}


def _validator(spec: OperatorSpec) -> Draft202012Validator:
    # Versions are immutable, so one compiled validator per version id is enough.
    validator = _VALIDATORS.get(spec.version_id)
    if validator is None:
        if len(_VALIDATORS) > 512:
            _VALIDATORS.clear()
        validator = _VALIDATORS[spec.version_id] = Draft202012Validator(spec.output_schema)
    return validator


def schema_violations(spec: OperatorSpec, result: Any) -> list[str]:
    """Problems of ``result`` against the version's output schema ("path: message")."""
    if not spec.output_schema:
        return []
    validator = _validator(spec)
    problems = []
    for error in validator.iter_errors(result):
        path = "/".join(str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{path}: {error.message}")
    return sorted(problems)


def run_operator(
    spec: OperatorSpec, ctx: OperatorContext, **llm_options: Any
) -> OperatorOutput | None:
    """Run one operator; errors become error outputs, never exceptions (the rule goes on)."""
    started = time.perf_counter()
    output = _run(spec, ctx, **llm_options)
    if output is not None and "latencyMs" not in output.system:
        # Embedded operators report their own compute time, as a model's call reports its own.
        output.system = {
            **output.system,
            "latencyMs": round((time.perf_counter() - started) * 1000, 2),
        }
    return output


def _run(spec: OperatorSpec, ctx: OperatorContext, **llm_options: Any) -> OperatorOutput | None:
    try:
        if spec.backend == Backend.LLM:
            output = llm_backend.run(spec, ctx, **llm_options)
        else:
            runner = embedded.RUNNERS.get(spec.kind)
            if runner is None:
                return OperatorOutput.failure(
                    spec.output_format,
                    f"The embedded backend cannot run {spec.kind} operators; choose the llm "
                    "backend.",
                )
            output = runner(spec, ctx)
    except OperatorError as error:
        return OperatorOutput.failure(spec.output_format, str(error))
    except Exception as error:  # an operator bug must not stop the other operators
        logger.exception("operator %s v%s failed", spec.key, spec.number)
        return OperatorOutput.failure(spec.output_format, f"internal error: {error!r}")
    if output is None or output.status != ResultStatus.OK:
        return output
    if spec.backend == Backend.EMBEDDED:
        # Our own code wrote this result; the tests hold every embedded kind to its schema
        # (tests/intelligence/test_schemas.py). Checking here would double the per-line cost.
        return output
    problems = schema_violations(spec, output.result)
    if problems:
        import json

        return OperatorOutput.failure(
            spec.output_format,
            "The result does not match the operator's output schema: " + "; ".join(problems[:5]),
            raw=json.dumps(output.result, default=str)[:20_000],
            system=output.system,
        )
    return output
