"""Language operators as admins define them (admins only, ``FEATURES["intelligence_manage"]``).

- ``operator_create``: a custom operator (classifier, extractor or language-model prompt) with
  its version 1. Classifier and extractor parameters go through ``nlp.patterns``' validators, a
  prompt's output schema through ``llm.schema_problems``; every problem is reported at once,
  each with its path ("labels[0].regex[0]: ..."), and nothing is stored.
- ``operator_version_create``: an operator's next version. Versions are immutable (every result
  names the one that produced it), so an edit is always a new version.
- ``operator_set_active``: a guarded flip (``UPDATE ... WHERE is_active = <old>``); the answer
  says whether anything changed.

``selectors.rule_specs`` keeps each rule's operator versions per (rule, ``updated_at``), so every
write that changes what a rule runs (a new version of one of its operators, an operator switched
off or on) touches the rules concerned (``rules_touch``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.scoping import can_use
from apps.accounts.selectors import signed_in
from apps.common.errors import NotFound, PermissionDenied, ValidationFailed
from apps.rubrics import selectors as rubrics_selectors

from .. import builtins, llm
from ..choices import CUSTOM_KINDS, Backend, OperatorKind
from ..models import Operator, OperatorVersion, OutputFormat, Rule
from ..nlp import patterns

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

NAME_MAX = 255


KEY_MAX = 64


NOTE_MAX = 255


PROMPT_MAX = 20_000


_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


# Whole-number settings of the built-in operators (what the embedded runners read).
_BUILTIN_COUNTS: dict[str, tuple[str, ...]] = {
    OperatorKind.SENTIMENT: ("delta_window_seconds",),
    OperatorKind.SUMMARY: ("max_sentences", "max_chars"),
    OperatorKind.NEXT_BEST_RESPONSE: ("candidates",),
}


# Kinds that only one backend can run (operators.registry / operators.llm_backend).
_ONLY_BACKEND: dict[str, str] = {
    OperatorKind.CLASSIFIER: Backend.EMBEDDED,
    OperatorKind.EXTRACTOR: Backend.EMBEDDED,
    OperatorKind.LLM_PROMPT: Backend.LLM,
}


def require_manage(user: Person, message: str) -> None:
    if not can_use(user, "intelligence_manage"):
        raise PermissionDenied(message)


def rules_touch(*, operator_id: int) -> int:
    """Make ``selectors.rule_specs`` reload the rules that run ``operator_id``."""
    return Rule.objects.filter(rule_operators__operator_id=operator_id).update(
        updated_at=timezone.now()
    )


def name_errors(name: str) -> list[str]:
    if not name.strip():
        return ["Give it a name."]
    if len(name.strip()) > NAME_MAX:
        return [f"Keep the name under {NAME_MAX} characters."]
    return []


def _rubric_problem(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return "rubric_id: must be the id of a rubric (a whole number) or null"
    rubric = rubrics_selectors.rubric_by_id(pk=value)
    if rubric is None or rubrics_selectors.published_version(rubric=rubric) is None:
        return f"rubric_id: no rubric with a published version has id {value}"
    return None


def _parameter_problems(kind: str, parameters: Any) -> list[str]:
    if not isinstance(parameters, dict):
        return ["The parameters must be a JSON object ({...})."]
    if kind == OperatorKind.CLASSIFIER:
        return patterns.validate_classifier(parameters)
    if kind == OperatorKind.EXTRACTOR:
        return patterns.validate_extractor(parameters)
    problems = []
    if kind == OperatorKind.SCRIPT_ADHERENCE:
        problem = _rubric_problem(parameters.get("rubric_id"))
        if problem:
            problems.append(problem)
    for name in _BUILTIN_COUNTS.get(kind, ()):
        value = parameters.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{name}: must be a whole number")
        elif value is not None and value < 1:
            problems.append(f"{name}: must be at least 1, not {value}")
    return problems


@dataclass(frozen=True)
class _Definition:
    """One version's settings once checked: what ``OperatorVersion`` stores."""

    backend: str
    parameters: dict[str, Any]
    output_format: str
    output_schema: dict[str, Any]
    prompt: str


def _definition(
    *, kind: str, backend: str, parameters: Any, prompt: str, output_schema: Any
) -> _Definition:
    """The checked settings of a version of a ``kind`` operator; ValidationFailed lists all
    problems, keyed ``backend``, ``parameters``, ``prompt`` and ``output_schema``."""
    errors: dict[str, list[str]] = {}
    only = _ONLY_BACKEND.get(kind)
    if backend not in Backend.values:
        errors["backend"] = [f"Choose one of: {', '.join(Backend.values)}."]
    elif only is not None and backend != only:
        errors["backend"] = [
            f"{OperatorKind(kind).label} operators run on the {Backend(only).label} backend only."
        ]
    if kind != OperatorKind.LLM_PROMPT:
        problems = _parameter_problems(kind, parameters)
        if problems:
            errors["parameters"] = problems
        if errors:
            raise ValidationFailed(errors)
        return _Definition(
            backend=backend,
            parameters=parameters,
            output_format=builtins.FORMAT_BY_KIND[kind],
            output_schema=builtins.SCHEMAS_BY_KIND[kind],
            prompt="",
        )
    if parameters is not None and not isinstance(parameters, dict):
        errors["parameters"] = ["The parameters must be a JSON object ({...})."]
    if not (prompt or "").strip():
        errors["prompt"] = ["Write the instructions the language model follows."]
    elif len(prompt) > PROMPT_MAX:
        errors["prompt"] = [f"Keep the instructions under {PROMPT_MAX} characters."]
    schema_problems = llm.schema_problems(output_schema)
    if schema_problems:
        errors["output_schema"] = schema_problems
    if errors:
        raise ValidationFailed(errors)
    return _Definition(
        backend=backend,
        parameters=parameters or {},
        output_format=OutputFormat.JSON,
        output_schema=output_schema,
        prompt=prompt.strip(),
    )


def _free_key(name: str) -> str:
    base = slugify(name)[: KEY_MAX - 4].strip("-") or "operator"
    taken = set(Operator.objects.filter(key__startswith=base).values_list("key", flat=True))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key


@transaction.atomic
def operator_create(
    *,
    user: Person,
    kind: str,
    name: str,
    key: str = "",
    description: str = "",
    parameters: Any = None,
    prompt: str = "",
    output_schema: Any = None,
    note: str = "",
) -> Operator:
    """A custom operator and its version 1; nothing is stored unless everything is valid.

    ``key`` (a slug) defaults to one made from the name. Classifiers and extractors run on the
    embedded backend, language-model prompts on the llm backend.
    """
    require_manage(user, "Only admins may create operators.")
    errors: dict[str, list[str]] = {}
    if kind not in CUSTOM_KINDS:
        errors["kind"] = ["Choose one of: " + ", ".join(str(k.label) for k in CUSTOM_KINDS) + "."]
    if problems := name_errors(name):
        errors["name"] = problems
    key = (key or "").strip().lower()
    if key and (len(key) > KEY_MAX or not _KEY.match(key)):
        errors["key"] = [
            f"Use lowercase letters, digits and hyphens (at most {KEY_MAX}), e.g. “cancel-intent”."
        ]
    elif key and Operator.objects.filter(key=key).exists():
        errors["key"] = [f"An operator with the key “{key}” exists already."]
    if len(note) > NOTE_MAX:
        errors["note"] = [f"Keep the note under {NOTE_MAX} characters."]
    definition = None
    if "kind" not in errors:
        try:
            definition = _definition(
                kind=kind,
                backend=_ONLY_BACKEND[kind],
                parameters={} if parameters is None else parameters,
                prompt=prompt,
                output_schema=output_schema,
            )
        except ValidationFailed as exc:
            errors |= exc.errors
    if errors or definition is None:
        raise ValidationFailed(errors)
    try:
        with transaction.atomic():
            operator = Operator.objects.create(
                key=key or _free_key(name),
                name=name.strip(),
                description=description.strip(),
                kind=kind,
                is_builtin=False,
                created_by=signed_in(user),
            )
    except IntegrityError as exc:  # the key was taken in between
        raise ValidationFailed({"key": ["That key was just taken; choose another."]}) from exc
    _version_store(operator=operator, number=1, definition=definition, note=note, user=user)
    return operator


def _version_store(
    *, operator: Operator, number: int, definition: _Definition, note: str, user: Person
) -> OperatorVersion:
    return OperatorVersion.objects.create(
        operator=operator,
        number=number,
        backend=definition.backend,
        parameters=definition.parameters,
        output_format=definition.output_format,
        output_schema=definition.output_schema,
        prompt=definition.prompt,
        note=note.strip(),
        created_by=signed_in(user),
    )


@transaction.atomic
def operator_version_create(
    *,
    user: Person,
    operator: Operator,
    backend: str | None = None,
    parameters: Any = None,
    prompt: str | None = None,
    output_schema: Any = None,
    note: str = "",
) -> OperatorVersion:
    """The operator's next version; what is not given (None) is copied from the latest one.

    Refused when it would be the same as the latest version. The rules running the operator are
    touched, so they pick the version up at their next execution (unless they pin one).
    """
    require_manage(user, "Only admins may change operators.")
    # The lock serialises numbering: two admins saving at once get versions n+1 and n+2.
    locked = Operator.objects.select_for_update().filter(pk=operator.pk).first()
    if locked is None:
        raise NotFound("No such operator.")
    latest = locked.versions.order_by("-number").first()
    if len(note) > NOTE_MAX:
        raise ValidationFailed({"note": [f"Keep the note under {NOTE_MAX} characters."]})
    definition = _definition(
        kind=locked.kind,
        backend=backend or (latest.backend if latest else Backend.EMBEDDED),
        parameters=parameters if parameters is not None else (latest.parameters if latest else {}),
        prompt=prompt if prompt is not None else (latest.prompt if latest else ""),
        output_schema=output_schema
        if output_schema is not None
        else (latest.output_schema if latest else None),
    )
    if latest is not None and (
        latest.backend,
        latest.parameters,
        latest.prompt,
        latest.output_schema,
    ) == (definition.backend, definition.parameters, definition.prompt, definition.output_schema):
        raise ValidationFailed(
            {"__all__": [f"This is version {latest.number} as it is; change something first."]}
        )
    version = _version_store(
        operator=locked,
        number=(latest.number if latest else 0) + 1,
        definition=definition,
        note=note,
        user=user,
    )
    Operator.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    rules_touch(operator_id=locked.pk)
    return version


@transaction.atomic
def operator_set_active(*, user: Person, operator: Operator, active: bool) -> bool:
    """Switch an operator on or off everywhere (rules skip inactive operators); True if it
    changed, False if it already was so."""
    require_manage(user, "Only admins may switch operators on or off.")
    changed = Operator.objects.filter(pk=operator.pk, is_active=not active).update(
        is_active=active, updated_at=timezone.now()
    )
    if changed:
        rules_touch(operator_id=operator.pk)
    operator.is_active = active
    return bool(changed)
