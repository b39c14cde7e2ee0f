"""The goal form (page and the partial a session page embeds) and the goals list's filters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from .choices import GoalStatus, Metric
from .selectors import goals as goal_selectors

_SELECT = {"class": "form-select form-select-sm"}
_INPUT = {"class": "form-control form-control-sm"}


class GoalForm(forms.Form):
    agent: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None,  # type: ignore[arg-type]
        widget=forms.Select(attrs=_SELECT),
    )
    metric = forms.ChoiceField(choices=Metric.choices, widget=forms.Select(attrs=_SELECT))
    criterion_key = forms.ChoiceField(
        label="Criterion",
        required=False,
        help_text="For a criterion's pass rate: which one (from the published rubric).",
        widget=forms.Select(attrs=_SELECT),
    )
    target = forms.FloatField(
        help_text="QA score and AI adherence: 0-100 points; pass rate: 0-100 %; sentiment "
        "change: -2 to 2; handle time: seconds (lower is better).",
        widget=forms.NumberInput(attrs={**_INPUT, "step": "any"}),
    )
    start_on = forms.DateField(
        label="Start",
        required=False,
        help_text="The baseline is the 30 days before this date, frozen when you save.",
        widget=forms.DateInput(attrs={**_INPUT, "type": "date"}),
    )
    due_on = forms.DateField(label="Due", widget=forms.DateInput(attrs={**_INPUT, "type": "date"}))
    session = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = goal_selectors.agent_choices(user=user)
        criteria = goal_selectors.published_criteria()
        choice = self.fields["criterion_key"]
        assert isinstance(choice, forms.ChoiceField)
        choice.choices = [("", "—"), *sorted(criteria.items(), key=lambda kv: kv[1])]
        today = timezone.localdate()
        self.fields["start_on"].initial = today
        self.fields["due_on"].initial = today + timedelta(days=30)


class GoalEditForm(forms.Form):
    target = forms.FloatField(widget=forms.NumberInput(attrs={**_INPUT, "step": "any"}))
    due_on = forms.DateField(label="Due", widget=forms.DateInput(attrs={**_INPUT, "type": "date"}))


class GoalFilterForm(forms.Form):
    agent: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None,  # type: ignore[arg-type]
        required=False,
        empty_label="All agents",
        widget=forms.Select(attrs=_SELECT),
    )
    status = forms.ChoiceField(
        choices=[("", "Any status"), *GoalStatus.choices],
        required=False,
        widget=forms.Select(attrs=_SELECT),
    )
    sort = forms.ChoiceField(
        choices=[
            ("due", "Due soonest"),
            ("-due", "Due latest"),
            ("status", "Needs attention first"),
            ("agent", "Agent"),
            ("new", "Newest"),
        ],
        required=False,
        widget=forms.Select(attrs=_SELECT),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = goal_selectors.agent_choices(user=user)

    def values(self) -> dict[str, Any]:
        if not self.is_valid():
            return {"agent_id": None, "status": "", "sort": "due"}
        agent = self.cleaned_data.get("agent")
        return {
            "agent_id": agent.pk if agent else None,
            "status": self.cleaned_data.get("status") or "",
            "sort": self.cleaned_data.get("sort") or "due",
        }
