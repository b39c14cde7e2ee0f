"""Rules as admins define them: operators to run, a trigger, actions (admins only).

``rule_create`` and ``rule_update`` take a ``RuleInput`` (from the form or the API) and report
every problem at once, keyed by field path; ``rule_set_active`` is a guarded flip;
``rule_delete`` refuses the default rules (they would come back with the next update).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from apps.accounts.selectors import signed_in
from apps.common import outbound
from apps.common.errors import Conflict, NotFound, ValidationFailed

from ..choices import ConditionOp, TriggerOn
from ..models import Operator, OperatorVersion, Rule, RuleOperator
from .operators import name_errors, require_manage

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

URL_MAX = 500
WEBHOOK_SECRET_MIN = 16


EVERY_N_MAX = 20


_FIELD_PATH = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$")


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
    # None or "": keep the rule's current secret (it is never shown back to be resent).
    webhook_secret: str | None = None


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
    if problems := name_errors(data.name or ""):
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
    secret = (data.webhook_secret or "").strip() or (rule.webhook_secret if rule else "")
    if url:
        try:
            if len(url) > URL_MAX:
                raise DjangoValidationError("too long")
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError:
            errors["webhook_url"] = [f"An https:// address (at most {URL_MAX} characters)."]
        else:
            try:
                outbound.url_check(url)
            except outbound.OutboundRefused as refused:
                errors["webhook_url"] = [str(refused)]
        if (data.webhook_secret or "").strip() and len(secret) < WEBHOOK_SECRET_MIN:
            errors["webhook_secret"] = [
                f"At least {WEBHOOK_SECRET_MIN} characters; the receiver checks the signature "
                "made with it."
            ]
        elif not secret and not settings.INTELLIGENCE_WEBHOOK_SECRET:
            errors["webhook_secret"] = [
                "A webhook needs a secret to sign its requests with (at least "
                f"{WEBHOOK_SECRET_MIN} characters); give the same one to the receiver."
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
            "webhook_secret": secret if url else "",
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
def rule_create(*, user: Person, data: RuleInput) -> Rule:
    """A rule with its operators in the order given; ValidationFailed names every problem."""
    require_manage(user, "Only admins may create rules.")
    clean = _clean_rule(data)
    rule = Rule.objects.create(**clean.fields, created_by=signed_in(user))
    _operators_store(rule, clean.operators)
    return rule


@transaction.atomic
def rule_update(*, user: Person, rule: Rule, data: RuleInput) -> Rule:
    """Replace the rule's definition (operators included); its executions stay as they are."""
    require_manage(user, "Only admins may change rules.")
    locked = Rule.objects.select_for_update().filter(pk=rule.pk).first()
    if locked is None:
        raise NotFound("No such rule.")
    clean = _clean_rule(data, rule=locked)
    # updated_at moves: selectors.rule_specs reloads the operators at the next execution.
    Rule.objects.filter(pk=locked.pk).update(**clean.fields, updated_at=timezone.now())
    _operators_store(locked, clean.operators)
    return Rule.objects.get(pk=locked.pk)


@transaction.atomic
def rule_set_active(*, user: Person, rule: Rule, active: bool) -> bool:
    """Switch a rule on or off; True if it changed, False if it already was so."""
    require_manage(user, "Only admins may switch rules on or off.")
    changed = Rule.objects.filter(pk=rule.pk, is_active=not active).update(
        is_active=active, updated_at=timezone.now()
    )
    rule.is_active = active
    return bool(changed)


@transaction.atomic
def rule_delete(*, user: Person, rule: Rule) -> None:
    """Delete a rule with its execution history (flags and results stay, unlinked).

    The default rules are refused: ``services.defaults_ensure`` would bring them back at the
    next update; switching them off is what lasts.
    """
    require_manage(user, "Only admins may delete rules.")
    if rule.key:
        raise Conflict(
            f"“{rule.name}” is one of the default rules and would come back with the next "
            "update; switch it off instead."
        )
    Rule.objects.filter(pk=rule.pk).delete()
