"""The built-in operators and default rules, created when missing (at `migrate`)."""

from __future__ import annotations

from django.db import transaction

from .. import builtins
from ..choices import Backend
from ..models import Operator, OperatorVersion, Rule, RuleOperator


@transaction.atomic
def defaults_ensure() -> dict[str, int]:
    """Create the built-in operators and default rules that are missing (never overwrites)."""
    created = {"operators": 0, "rules": 0}
    operators: dict[str, Operator] = {}
    for spec in builtins.BUILTIN_OPERATORS:
        operator, new = Operator.objects.get_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "kind": spec["kind"],
                "description": spec["description"],
                "is_builtin": True,
            },
        )
        if not operator.versions.exists():
            OperatorVersion.objects.create(
                operator=operator,
                number=1,
                backend=Backend.EMBEDDED,
                parameters=spec["parameters"],
                output_format=builtins.FORMAT_BY_KIND[spec["kind"]],
                output_schema=builtins.SCHEMAS_BY_KIND[spec["kind"]],
                note="Built in",
            )
        created["operators"] += int(new)
        operators[operator.key] = operator
    for spec in builtins.DEFAULT_RULES:
        rule, new = Rule.objects.get_or_create(
            key=spec["key"],
            defaults={
                "name": spec["name"],
                "description": spec["description"],
                "trigger_on": spec["trigger_on"],
                "every_n": spec["every_n"],
                "broadcast": spec["broadcast"],
            },
        )
        if new:
            for position, key in enumerate(spec["operators"]):
                RuleOperator.objects.create(rule=rule, operator=operators[key], position=position)
        created["rules"] += int(new)
    return created
