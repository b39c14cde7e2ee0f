"""Forms of the operator and rule pages.

They check what a form can (types, JSON syntax, required fields) and hand the rest to
``definitions``; the view puts the service's ``{path: [message]}`` errors next to the fields
with ``add_service_errors``, so a refused form comes back with everything as it was typed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms

from apps.common.forms import add_service_errors

from .choices import Backend, ConditionOp, OperatorKind, TriggerOn
from .models import Operator, OperatorVersion, Rule
from .services.operators import KEY_MAX, NAME_MAX, NOTE_MAX
from .services.rules import EVERY_N_MAX, RuleInput, RuleOperatorInput

EXAMPLE_PARAMETERS: dict[str, Any] = {
    OperatorKind.CLASSIFIER: {
        "labels": [
            {
                "label": "cancel",
                "phrases": ["cancel my account"],
                "keywords": ["cancel", "close my account"],
                "regex": ["close (?:my|the) account"],
            },
            {"label": "complaint", "keywords": ["complaint", "unacceptable"]},
        ],
        "default_label": "other",
        "tolerance": 85,
        "speaker": "customer",
    },
    OperatorKind.EXTRACTOR: {
        "patterns": [
            {"label": "order", "regex": "order (?:number )?(?P<value>\\d{5,})"},
            {"label": "product", "keywords": ["credit card", "debit card"]},
        ],
        "speaker": "any",
    },
}
EXAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["reason", "resolved"],
    "properties": {
        "reason": {"type": "string", "description": "Why the customer called, in a few words"},
        "resolved": {"type": "boolean"},
    },
}
EXAMPLE_PROMPT = (
    "Read the call transcript. Say in a few words why the customer called, and whether the "
    "agent resolved it."
)


def parse_json(text: str) -> Any:
    """JSON typed into a form; ValueError says where it stops being JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"This is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


class StyledForm(forms.Form):
    """Bootstrap classes on every widget, and ``is-invalid`` on the fields with errors (Django
    adds ``aria-invalid`` and links the messages itself)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style_widgets()

    def _choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        return field

    def style_widgets(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput):
                continue
            if isinstance(widget, forms.CheckboxInput):
                base = "form-check-input"
            elif isinstance(widget, forms.Select):
                base = "form-select"
            else:
                base = "form-control"
            classes = widget.attrs.get("class", "").split()
            if base not in classes:
                widget.attrs["class"] = " ".join([base, *classes])

    def full_clean(self) -> None:
        super().full_clean()
        self._mark_invalid()

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        self._mark_invalid()

    def _mark_invalid(self) -> None:
        for name in getattr(self, "_errors", None) or {}:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                classes = attrs.get("class", "").split()
                if "is-invalid" not in classes:
                    attrs["class"] = " ".join([*classes, "is-invalid"])


class JSONTextField(forms.CharField):
    """JSON typed into a textarea; the cleaned value is the parsed JSON (None when blank)."""

    widget = forms.Textarea

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)
        self.widget.attrs.update({"rows": 14, "spellcheck": "false", "class": "font-monospace"})

    def to_python(self, value: Any) -> Any:
        text = super().to_python(value)
        if text is None or not text.strip():
            return None
        try:
            return parse_json(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------


class OperatorCreateForm(StyledForm):
    """A custom operator of one kind: its name and the settings of its version 1."""

    kind = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(max_length=NAME_MAX)
    key = forms.CharField(
        max_length=KEY_MAX,
        required=False,
        help_text="Lowercase letters, digits and hyphens; made from the name when left empty. "
        "Results and webhooks name the operator by it.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    parameters = JSONTextField(
        label="Parameters (JSON)",
        required=False,
        help_text="Every problem is listed with the path of its field, e.g. labels[0].regex[0].",
    )
    prompt = forms.CharField(
        label="Instructions for the language model",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    output_schema = JSONTextField(
        label="Output JSON schema",
        required=False,
        help_text='A JSON Schema (2020-12) whose root is "type": "object"; every answer is '
        "checked against it.",
    )
    note = forms.CharField(
        label="Note on this version",
        max_length=NOTE_MAX,
        required=False,
        help_text="What this version is for; shown in the version history.",
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].initial = kind
        if kind == OperatorKind.LLM_PROMPT:
            del self.fields["parameters"]
            self.fields["prompt"].required = True
            self.fields["output_schema"].required = True
            self.fields["prompt"].initial = EXAMPLE_PROMPT
            self.fields["output_schema"].initial = pretty(EXAMPLE_SCHEMA)
        else:
            del self.fields["prompt"]
            del self.fields["output_schema"]
            self.fields["parameters"].required = True
            self.fields["parameters"].initial = pretty(EXAMPLE_PARAMETERS.get(kind, {}))


class OperatorVersionForm(StyledForm):
    """The next version of an operator, prefilled with the latest one's settings.

    Built-in operators may switch backend; Script Adherence picks its rubric from the rubrics
    with a published version (it then overrides ``rubric_id`` in the parameters).
    """

    backend = forms.ChoiceField(choices=Backend.choices)
    rubric = forms.ChoiceField(
        label="Rubric to judge by",
        required=False,
        help_text="Only rubrics with a published version can be chosen.",
    )
    parameters = JSONTextField(label="Parameters (JSON)")
    prompt = forms.CharField(
        label="Instructions for the language model", widget=forms.Textarea(attrs={"rows": 6})
    )
    output_schema = JSONTextField(
        label="Output JSON schema",
        help_text='A JSON Schema (2020-12) whose root is "type": "object".',
    )
    note = forms.CharField(
        label="Note on this version",
        max_length=NOTE_MAX,
        required=False,
        help_text="What changed, for the version history.",
    )

    def __init__(
        self,
        *args: Any,
        operator: Operator,
        latest: OperatorVersion | None,
        rubrics: list[Any] = (),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.operator = operator
        kind = operator.kind
        parameters = dict(latest.parameters or {}) if latest else {}
        if not operator.is_builtin:
            del self.fields["backend"]
        else:
            self.fields["backend"].initial = latest.backend if latest else Backend.EMBEDDED
        if kind == OperatorKind.SCRIPT_ADHERENCE:
            choices = [
                ("", "Automatic: the only rubric with a published version"),
                *[
                    (str(r.pk), f"{r.name} (version {r.published_number} in force)")
                    for r in rubrics
                ],
            ]
            current = parameters.pop("rubric_id", None)
            if current is not None and all(str(r.pk) != str(current) for r in rubrics):
                # Kept visible rather than silently replaced; saving it is refused until the
                # rubric has a published version again.
                choices.append((str(current), f"Rubric {current} (no version in force)"))
            self._choice_field("rubric").choices = choices
            self.fields["rubric"].initial = "" if current is None else str(current)
            self.fields["parameters"].required = False
            self.fields["parameters"].help_text = "Other settings; the rubric is chosen above."
        else:
            del self.fields["rubric"]
        if kind == OperatorKind.LLM_PROMPT:
            del self.fields["parameters"]
            self.fields["prompt"].initial = latest.prompt if latest else ""
            self.fields["output_schema"].initial = pretty(latest.output_schema if latest else {})
        else:
            del self.fields["prompt"]
            del self.fields["output_schema"]
            self.fields["parameters"].initial = pretty(parameters)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "rubric" in self.fields and "parameters" not in self.errors:
            parameters = cleaned.get("parameters")
            if parameters is None:
                parameters = {}
            if isinstance(parameters, dict):
                rubric = cleaned.get("rubric")
                cleaned["parameters"] = {
                    **parameters,
                    "rubric_id": int(rubric) if rubric else None,
                }
        return cleaned


class ActiveForm(forms.Form):
    active = forms.TypedChoiceField(choices=[("1", "on"), ("0", "off")], coerce=lambda v: v == "1")


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


class RuleForm(StyledForm):
    """A rule: trigger, operators (one row per operator: use it, pin a version, order) and
    actions. ``to_input`` gives the service's ``RuleInput``."""

    name = forms.CharField(max_length=NAME_MAX)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(label="Active", required=False, initial=True)
    trigger_on = forms.ChoiceField(
        label="Runs", choices=TriggerOn.choices, initial=TriggerOn.CONVERSATION_END
    )
    every_n = forms.IntegerField(
        label="Every N communications",
        min_value=1,
        max_value=EVERY_N_MAX,
        initial=1,
        help_text=f"1 to {EVERY_N_MAX}; only for rules that run on communications.",
    )
    store_results = forms.BooleanField(label="Store the results", required=False, initial=True)
    broadcast = forms.BooleanField(
        label="Broadcast the results to open conversation pages", required=False
    )
    flag = forms.BooleanField(label="Raise a flag for QA review", required=False)
    flag_operator = forms.ChoiceField(
        label="When the result of", required=False, help_text="One of the operators above."
    )
    flag_field = forms.CharField(
        label="Field",
        max_length=120,
        required=False,
        help_text="Dotted path in the result, e.g. label, score or customer.label; empty for "
        "the whole result.",
    )
    flag_op = forms.ChoiceField(
        label="Comparison", required=False, choices=[("", "—"), *ConditionOp.choices]
    )
    flag_value = forms.CharField(label="Value", max_length=255, required=False)
    flag_reason = forms.CharField(
        label="Reason shown on the flag",
        max_length=255,
        required=False,
        help_text="Defaults to “Raised by rule <name>”.",
    )
    webhook_url = forms.CharField(
        label="Post the results to (webhook URL)",
        max_length=500,
        required=False,
        help_text="https:// on a public address; signed JSON, retried until it is taken.",
    )
    webhook_secret = forms.CharField(
        label="Webhook secret",
        max_length=200,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs every request (X-Ccportal-Signature); give the receiver the same one. "
        "At least 16 characters. Leave empty to keep the current secret.",
    )

    def __init__(
        self, *args: Any, operators: list[Operator], rule: Rule | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.operators = operators
        self.operators_errors: list[str] = []
        chosen = {}
        if rule is not None:
            chosen = {
                item.operator_id: (index, item.version.number if item.version else None)
                for index, item in enumerate(rule.rule_operators.all())
            }
        for index, operator in enumerate(operators):
            position, pinned = chosen.get(operator.pk, (None, None))
            self.fields[f"op_{operator.pk}_use"] = forms.BooleanField(
                label=operator.name, required=False, initial=position is not None
            )
            numbers = [v.number for v in operator.versions.all()]
            self.fields[f"op_{operator.pk}_version"] = forms.ChoiceField(
                label=f"Version of {operator.name}",
                required=False,
                choices=[("", "Latest"), *[(str(n), f"Version {n}") for n in numbers]],
                initial="" if pinned is None else str(pinned),
            )
            self.fields[f"op_{operator.pk}_order"] = forms.IntegerField(
                label=f"Order of {operator.name}",
                required=False,
                min_value=0,
                max_value=999,
                initial=(position if position is not None else len(chosen) + index) + 1,
            )
        self._choice_field("flag_operator").choices = [
            ("", "any result (flag on every run)"),
            *[(str(o.pk), o.name) for o in operators],
        ]
        if rule is not None:
            self.fields["flag_operator"].initial = (
                str(rule.flag_operator_id) if rule.flag_operator_id else ""
            )
        self.style_widgets()

    def operator_rows(self) -> list[dict[str, Any]]:
        """One row per operator for the template: its fields and the operator."""
        return [
            {
                "operator": operator,
                "use": self[f"op_{operator.pk}_use"],
                "version": self[f"op_{operator.pk}_version"],
                "order": self[f"op_{operator.pk}_order"],
            }
            for operator in self.operators
        ]

    def chosen_operators(self) -> list[Operator]:
        """The ticked operators in the order asked for (ties: the page's order)."""
        data = self.cleaned_data
        ticked = [
            (data.get(f"op_{o.pk}_order") or 0, index, o)
            for index, o in enumerate(self.operators)
            if data.get(f"op_{o.pk}_use")
        ]
        return [operator for _, _, operator in sorted(ticked, key=lambda t: (t[0], t[1]))]

    def to_input(self) -> RuleInput:
        data = self.cleaned_data
        chosen = self.chosen_operators()
        return RuleInput(
            name=data["name"],
            description=data.get("description", ""),
            is_active=data.get("is_active", False),
            trigger_on=data["trigger_on"],
            every_n=data["every_n"],
            operators=tuple(
                RuleOperatorInput(operator_id=o.pk, version=data.get(f"op_{o.pk}_version") or None)
                for o in chosen
            ),
            store_results=data.get("store_results", False),
            flag=data.get("flag", False),
            flag_operator_id=data.get("flag_operator") or None,
            flag_field=data.get("flag_field", ""),
            flag_op=data.get("flag_op", ""),
            flag_value=data.get("flag_value", ""),
            flag_reason=data.get("flag_reason", ""),
            broadcast=data.get("broadcast", False),
            webhook_url=data.get("webhook_url", ""),
            webhook_secret=data.get("webhook_secret") or None,
        )

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """The service's errors next to their fields; ``operators.<i>.version`` is the version
        field of the i-th ticked operator, ``operators`` goes above the operator table."""
        self.operators_errors = list(errors.get("operators", []))
        aliases = {}
        for index, operator in enumerate(self.chosen_operators()):
            aliases[f"operators.{index}.operator"] = f"op_{operator.pk}_use"
            aliases[f"operators.{index}.version"] = f"op_{operator.pk}_version"
        rest = {path: messages for path, messages in errors.items() if path != "operators"}
        add_service_errors(self, rest, aliases)


class RuleRunForm(StyledForm):
    """Run a rule now on one conversation; ``request_key`` makes a double submit one run."""

    conversation = forms.IntegerField(
        label="Conversation id",
        min_value=1,
        help_text="The number in the conversation page's address, /conversations/<id>/.",
    )
    request_key = forms.CharField(max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["request_key"].initial = uuid.uuid4().hex
