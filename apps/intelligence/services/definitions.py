"""Definitions of language operators and rules: what admins write, and what their pages read.

Writes (admins only, ``FEATURES["intelligence_manage"]``; each one checks):

- ``operator_create``: a custom operator (classifier, extractor or language-model prompt) with
  its version 1. Classifier and extractor parameters go through ``nlp.patterns``' validators, a
  prompt's output schema through ``llm.schema_problems``; every problem is reported at once,
  each with its path ("labels[0].regex[0]: ..."), and nothing is stored.
- ``operator_version_create``: an operator's next version. Versions are immutable (every result
  names the one that produced it), so an edit is always a new version.
- ``operator_set_active``, ``rule_set_active``: guarded flips (``UPDATE ... WHERE is_active =
  <old>``); the answer says whether anything changed.
- ``rule_create``, ``rule_update``, ``rule_delete``.

``selectors.rule_specs`` keeps each rule's operator versions per (rule, ``updated_at``), so every
write here that changes what a rule runs (its operators, a new version of one of them, an
operator switched off or on) touches the rules concerned (``_rules_touch``).

Reads for the operator and rule pages and API are at the end of this module: they belong with
``selectors``, and live here only while that module has another owner.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.text import slugify

from apps.accounts.scoping import can_use
from apps.common.errors import Conflict, PermissionDenied, ValidationFailed
from apps.rubrics import selectors as rubrics_selectors

from .. import builtins, llm
from ..choices import CUSTOM_KINDS, Backend, ConditionOp, OperatorKind, TriggerOn
from ..models import (
    Operator,
    OperatorVersion,
    OutputFormat,
    Rule,
    RuleOperator,
)
from ..nlp import patterns

NAME_MAX = 255
KEY_MAX = 64
NOTE_MAX = 255
PROMPT_MAX = 20_000
URL_MAX = 500
EVERY_N_MAX = 20

_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FIELD_PATH = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$")
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


def _require_manage(user: Any, message: str) -> None:
    if not can_use(user, "intelligence_manage"):
        raise PermissionDenied(message)


def _rules_touch(*, operator_id: int) -> int:
    """Make ``selectors.rule_specs`` reload the rules that run ``operator_id``."""
    return Rule.objects.filter(rule_operators__operator_id=operator_id).update(
        updated_at=timezone.now()
    )


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


def _name_errors(name: str) -> list[str]:
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
    user: Any,
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
    _require_manage(user, "Only admins may create operators.")
    errors: dict[str, list[str]] = {}
    if kind not in CUSTOM_KINDS:
        errors["kind"] = ["Choose one of: " + ", ".join(str(k.label) for k in CUSTOM_KINDS) + "."]
    if problems := _name_errors(name):
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
                created_by=user,
            )
    except IntegrityError as exc:  # the key was taken in between
        raise ValidationFailed({"key": ["That key was just taken; choose another."]}) from exc
    _version_store(operator=operator, number=1, definition=definition, note=note, user=user)
    return operator


def _version_store(
    *, operator: Operator, number: int, definition: _Definition, note: str, user: Any
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
        created_by=user,
    )


@transaction.atomic
def operator_version_create(
    *,
    user: Any,
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
    _require_manage(user, "Only admins may change operators.")
    # The lock serialises numbering: two admins saving at once get versions n+1 and n+2.
    locked = Operator.objects.select_for_update().filter(pk=operator.pk).first()
    if locked is None:
        raise Http404("No such operator.")
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
    _rules_touch(operator_id=locked.pk)
    return version


@transaction.atomic
def operator_set_active(*, user: Any, operator: Operator, active: bool) -> bool:
    """Switch an operator on or off everywhere (rules skip inactive operators); True if it
    changed, False if it already was so."""
    _require_manage(user, "Only admins may switch operators on or off.")
    changed = Operator.objects.filter(pk=operator.pk, is_active=not active).update(
        is_active=active, updated_at=timezone.now()
    )
    if changed:
        _rules_touch(operator_id=operator.pk)
    operator.is_active = active
    return bool(changed)


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleOperatorInput:
    """An operator of a rule: ``version`` is the number of a pinned version, None the latest."""

    operator_id: Any
    version: Any = None


# The fields of a rule that a form or an API request sets one for one (operators aside).
RULE_SCALAR_FIELDS = (
    "name",
    "description",
    "is_active",
    "trigger_on",
    "every_n",
    "store_results",
    "broadcast",
    "flag",
    "flag_field",
    "flag_op",
    "flag_value",
    "flag_reason",
    "webhook_url",
)


@dataclass(frozen=True)
class RuleInput:
    """Everything a rule is made of, as the form or the API gives it (checked by the service)."""

    name: str
    trigger_on: str
    description: str = ""
    is_active: bool = True
    every_n: Any = 1
    operators: tuple[RuleOperatorInput, ...] = ()
    store_results: bool = True
    flag: bool = False
    flag_operator_id: Any = None
    flag_field: str = ""
    flag_op: str = ""
    flag_value: str = ""
    flag_reason: str = ""
    broadcast: bool = False
    webhook_url: str = ""


def rule_input(rule: Rule) -> RuleInput:
    """A stored rule as the input that would recreate it (the API's PATCH starts from it)."""
    return RuleInput(
        name=rule.name,
        description=rule.description,
        is_active=rule.is_active,
        trigger_on=rule.trigger_on,
        every_n=rule.every_n,
        operators=tuple(
            RuleOperatorInput(
                operator_id=item.operator_id,
                version=item.version.number if item.version is not None else None,
            )
            for item in rule.rule_operators.select_related("version").order_by("position", "id")
        ),
        store_results=rule.store_results,
        flag=rule.flag,
        flag_operator_id=rule.flag_operator_id,
        flag_field=rule.flag_field,
        flag_op=rule.flag_op,
        flag_value=rule.flag_value,
        flag_reason=rule.flag_reason,
        broadcast=rule.broadcast,
        webhook_url=rule.webhook_url,
    )


@dataclass
class _CleanRule:
    fields: dict[str, Any]
    operators: list[tuple[Operator, OperatorVersion | None]] = field(default_factory=list)


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return None


def _rule_operators(
    items: tuple[RuleOperatorInput, ...], *, current: set[int], errors: dict[str, list[str]]
) -> list[tuple[Operator, OperatorVersion | None]]:
    if not items:
        errors["operators"] = ["Choose at least one operator to run."]
        return []
    ids = [_whole(item.operator_id) for item in items]
    known = Operator.objects.in_bulk([pk for pk in ids if pk is not None])
    numbers = {
        (version.operator_id, version.number): version
        for version in OperatorVersion.objects.filter(operator_id__in=list(known))
    }
    chosen: list[tuple[Operator, OperatorVersion | None]] = []
    seen: set[int] = set()
    for index, (item, pk) in enumerate(zip(items, ids, strict=True)):
        path = f"operators.{index}"
        operator = known.get(pk) if pk is not None else None
        if operator is None:
            errors[f"{path}.operator"] = ["No such operator."]
            continue
        if operator.pk in seen:
            errors[f"{path}.operator"] = [f"“{operator.name}” is listed twice."]
            continue
        seen.add(operator.pk)
        if not operator.is_active and operator.pk not in current:
            errors[f"{path}.operator"] = [
                f"“{operator.name}” is switched off; switch it on before adding it to a rule."
            ]
            continue
        version = None
        if item.version not in (None, ""):
            number = _whole(item.version)
            version = numbers.get((operator.pk, number)) if number is not None else None
            if version is None:
                errors[f"{path}.version"] = [f"“{operator.name}” has no version {item.version}."]
                continue
        chosen.append((operator, version))
    return chosen


def _condition_errors(
    data: RuleInput, operator_ids: set[int], errors: dict[str, list[str]]
) -> dict[str, Any]:
    """The flag and its condition, checked; without ``flag`` the condition is dropped."""
    blank = {
        "flag": False,
        "flag_operator_id": None,
        "flag_field": "",
        "flag_op": "",
        "flag_value": "",
        "flag_reason": "",
    }
    if not data.flag:
        return blank
    operator_id = _whole(data.flag_operator_id) if data.flag_operator_id not in (None, "") else None
    field_path = (data.flag_field or "").strip()
    op = (data.flag_op or "").strip()
    value = (data.flag_value or "").strip()
    reason = (data.flag_reason or "").strip()
    if len(reason) > 255:
        errors["flag_reason"] = ["Keep the reason under 255 characters."]
    if data.flag_operator_id in (None, ""):
        if field_path or op or value:
            errors["flag_operator"] = ["Choose the operator whose result the condition reads."]
        return {**blank, "flag": True, "flag_reason": reason}
    if operator_id is None or operator_id not in operator_ids:
        errors["flag_operator"] = ["Choose one of this rule's operators."]
    if field_path and (len(field_path) > 120 or not _FIELD_PATH.match(field_path)):
        errors["flag_field"] = [
            "A field of the result, dotted for nested ones: “label”, “score” or “customer.label”."
        ]
    if op not in ConditionOp.values:
        errors["flag_op"] = ["Choose how the field is compared."]
    elif op != ConditionOp.ANY:
        if not value:
            errors["flag_value"] = ["Give the value to compare with."]
        elif op in (ConditionOp.LESS_THAN, ConditionOp.GREATER_THAN):
            try:
                float(value)
            except ValueError:
                errors["flag_value"] = ["Give a number to compare with."]
    if len(value) > 255:
        errors["flag_value"] = ["Keep the value under 255 characters."]
    return {
        "flag": True,
        "flag_operator_id": operator_id,
        "flag_field": field_path,
        "flag_op": op,
        "flag_value": "" if op == ConditionOp.ANY else value,
        "flag_reason": reason,
    }


def _clean_rule(data: RuleInput, *, rule: Rule | None = None) -> _CleanRule:
    errors: dict[str, list[str]] = {}
    if problems := _name_errors(data.name or ""):
        errors["name"] = problems
    if data.trigger_on not in TriggerOn.values:
        errors["trigger_on"] = ["Choose when the rule runs."]
    every_n = _whole(data.every_n)
    if every_n is None or not 1 <= every_n <= EVERY_N_MAX:
        errors["every_n"] = [f"A whole number from 1 to {EVERY_N_MAX}."]
    elif every_n != 1 and data.trigger_on != TriggerOn.COMMUNICATION:
        errors["every_n"] = [
            "Only rules that run on communications count them; leave this at 1 for this trigger."
        ]
    current = set(rule.rule_operators.values_list("operator_id", flat=True)) if rule else set()
    operators = _rule_operators(tuple(data.operators), current=current, errors=errors)
    condition = _condition_errors(data, {op.pk for op, _ in operators}, errors)
    url = (data.webhook_url or "").strip()
    if url:
        try:
            if len(url) > URL_MAX:
                raise DjangoValidationError("too long")
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError:
            errors["webhook_url"] = [
                f"An http:// or https:// address (at most {URL_MAX} characters)."
            ]
    if not (data.store_results or data.broadcast or data.flag or url):
        errors["__all__"] = [
            "This rule would do nothing: store the results, broadcast them, raise flags or post "
            "them to a webhook."
        ]
    if errors:
        raise ValidationFailed(errors)
    return _CleanRule(
        fields={
            "name": data.name.strip(),
            "description": (data.description or "").strip(),
            "is_active": bool(data.is_active),
            "trigger_on": data.trigger_on,
            "every_n": every_n,
            "store_results": bool(data.store_results),
            "broadcast": bool(data.broadcast),
            "webhook_url": url,
            **condition,
        },
        operators=operators,
    )


def _operators_store(rule: Rule, operators: list[tuple[Operator, OperatorVersion | None]]) -> None:
    RuleOperator.objects.filter(rule=rule).delete()
    RuleOperator.objects.bulk_create(
        RuleOperator(rule=rule, operator=operator, version=version, position=position)
        for position, (operator, version) in enumerate(operators)
    )


@transaction.atomic
def rule_create(*, user: Any, data: RuleInput) -> Rule:
    """A rule with its operators in the order given; ValidationFailed names every problem."""
    _require_manage(user, "Only admins may create rules.")
    clean = _clean_rule(data)
    rule = Rule.objects.create(**clean.fields, created_by=user)
    _operators_store(rule, clean.operators)
    return rule


@transaction.atomic
def rule_update(*, user: Any, rule: Rule, data: RuleInput) -> Rule:
    """Replace the rule's definition (operators included); its executions stay as they are."""
    _require_manage(user, "Only admins may change rules.")
    locked = Rule.objects.select_for_update().filter(pk=rule.pk).first()
    if locked is None:
        raise Http404("No such rule.")
    clean = _clean_rule(data, rule=locked)
    # updated_at moves: selectors.rule_specs reloads the operators at the next execution.
    Rule.objects.filter(pk=locked.pk).update(**clean.fields, updated_at=timezone.now())
    _operators_store(locked, clean.operators)
    return Rule.objects.get(pk=locked.pk)


@transaction.atomic
def rule_set_active(*, user: Any, rule: Rule, active: bool) -> bool:
    """Switch a rule on or off; True if it changed, False if it already was so."""
    _require_manage(user, "Only admins may switch rules on or off.")
    changed = Rule.objects.filter(pk=rule.pk, is_active=not active).update(
        is_active=active, updated_at=timezone.now()
    )
    rule.is_active = active
    return bool(changed)


@transaction.atomic
def rule_delete(*, user: Any, rule: Rule) -> None:
    """Delete a rule with its execution history (flags and results stay, unlinked).

    The default rules are refused: ``services.defaults_ensure`` would bring them back at the
    next update; switching them off is what lasts.
    """
    _require_manage(user, "Only admins may delete rules.")
    if rule.key:
        raise Conflict(
            f"“{rule.name}” is one of the default rules and would come back with the next "
            "update; switch it off instead."
        )
    Rule.objects.filter(pk=rule.pk).delete()


def parse_json(text: str) -> Any:
    """JSON typed into a form; ValueError says where it stops being JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"This is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
