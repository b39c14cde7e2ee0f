"""Forms of the QA pages: they parse what a browser posts into what the services take; the
services check everything again (the API reaches them without these forms)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.http import QueryDict

from apps.accounts import selectors as accounts
from apps.conversations.choices import Channel

from .answers import answer_key
from .choices import (
    BenchmarkMode,
    Decision,
    ItemSource,
    ItemStatus,
    ParticipantMix,
    Period,
    Priority,
    QuotaKind,
    Sentiment,
)
from .selectors import SORTS, TABS

if TYPE_CHECKING:
    from apps.accounts.scoping import Person

    from .selectors import ReviewPage

_NUMBERS = re.compile(r"\d+")


def _blank(choices: Any, label: str = "Any") -> list[tuple[Any, str]]:
    return [("", label), *choices]


def _choices(form: forms.Form, name: str, choices: list[tuple[Any, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


class QueueFilterForm(forms.Form):
    """The queue page's tabs, filters and sort (GET); anything invalid is ignored."""

    tab = forms.ChoiceField(choices=[(t, t) for t in TABS], required=False)
    q = forms.CharField(required=False, max_length=200, label="Search")
    source = forms.ChoiceField(choices=_blank(ItemSource.choices), required=False)
    status = forms.ChoiceField(choices=_blank(ItemStatus.choices), required=False)
    priority = forms.TypedChoiceField(
        choices=_blank(Priority.choices), required=False, coerce=int, empty_value=None
    )
    team = forms.TypedChoiceField(choices=[], required=False, coerce=int, empty_value=None)
    agent = forms.TypedChoiceField(choices=[], required=False, coerce=int, empty_value=None)
    policy = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    overdue = forms.BooleanField(required=False, label="Overdue only")
    sort = forms.ChoiceField(
        choices=[
            ("priority", "Priority, then due date"),
            ("due", "Due date"),
            ("newest", "Newest first"),
            ("oldest", "Oldest first"),
        ],
        required=False,
    )

    def __init__(self, data: QueryDict, *, user: Person) -> None:
        super().__init__(data)
        _choices(self, "team", _blank([(t.pk, t.name) for t in accounts.team_choices(user=user)]))
        _choices(
            self,
            "agent",
            _blank([(a.pk, a.display_name) for a in accounts.agent_choices(user=user)]),
        )

    def values(self) -> dict[str, Any]:
        """The cleaned filters, each invalid one dropped (a bad link still shows the queue)."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        sort = cleaned.get("sort") or "priority"
        return {
            "tab": cleaned.get("tab") or "mine",
            "query": (cleaned.get("q") or "").strip(),
            "source": cleaned.get("source") or "",
            "status": cleaned.get("status") or "",
            "priority": cleaned.get("priority"),
            "team_id": cleaned.get("team"),
            "agent_id": cleaned.get("agent"),
            "policy_id": cleaned.get("policy"),
            "overdue": bool(cleaned.get("overdue")),
            "sort": sort if sort in SORTS else "priority",
        }


class SendForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    review_now = forms.BooleanField(required=False, label="Review it myself now")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class ReassignForm(ReasonForm):
    assignee = forms.TypedChoiceField(choices=[], required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, reviewers: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(
            self,
            "assignee",
            _blank(
                [(u.pk, f"{u} ({u.role_label})") for u in reviewers],
                "The pool (nobody in particular)",
            ),
        )


def review_input(post: QueryDict, page: ReviewPage) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The answers of a posted review form (``<key>-outcome``, ``-comment``, ``-evidence`` with
    transcript line numbers) as the services take them, and the line numbers that name no line."""
    by_number = {number: pk for pk, number in page.numbers.items()}
    answers: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for criterion in page.criteria:
        key = criterion.key
        item: dict[str, Any] = {"outcome": post.get(f"{key}-outcome") or None}
        if f"{key}-comment" in post:
            item["comment"] = post.get(f"{key}-comment", "")
        if f"{key}-evidence" in post:
            numbers = [int(n) for n in _NUMBERS.findall(post.get(f"{key}-evidence", ""))[:60]]
            missing = [n for n in numbers if n not in by_number]
            if missing:
                errors[f"answers.{key}.evidence"] = [
                    f"No line {', '.join(map(str, missing))} in this transcript."
                ]
            item["evidence"] = [by_number[n] for n in numbers if n in by_number]
        answers[key] = item
    return answers, errors


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


def dispute_input(post: QueryDict, page: ReviewPage) -> dict[str, Any]:
    """A posted dispute: the ticked criteria with their proposed outcomes, or the whole review."""
    items = [
        {"key": c.key, "proposed_outcome": post.get(f"dispute-{c.key}-proposed") or None}
        for c in page.criteria
        if post.get(f"dispute-{c.key}") == "on"
    ]
    return {
        "reason": post.get("reason", ""),
        "proposal": post.get("proposal", ""),
        "items": items,
    }


def decision_input(post: QueryDict, dispute: Any) -> dict[str, Any]:
    outcomes = {}
    for item in dispute.items.all():
        key = answer_key(item.segment, item.criterion_key)
        if post.get(f"accept-{item.pk}") == "on":
            outcomes[key] = post.get(f"outcome-{item.pk}") or item.proposed_outcome
    for key, value in post.items():
        if key.startswith("whole-") and value:
            outcomes[key.removeprefix("whole-")] = value
    decision = post.get("decision", "")
    return {
        "decision": decision if decision in Decision.values else "",
        "reason": post.get("reason", ""),
        "outcomes": outcomes,
    }


class PolicyForm(forms.Form):
    """A sampling policy as admins write it; ``service_data`` is what ``policy_spec_clean``
    takes (which checks it again)."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    is_active = forms.BooleanField(
        required=False, initial=True, label="Active (runs on its schedule)"
    )
    teams = forms.TypedMultipleChoiceField(choices=[], required=False, coerce=int)
    agents = forms.TypedMultipleChoiceField(choices=[], required=False, coerce=int)
    queues = forms.CharField(
        required=False, max_length=2000, help_text="Comma separated; empty: every queue."
    )
    channels = forms.MultipleChoiceField(
        choices=Channel.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    participant_mix = forms.MultipleChoiceField(
        choices=ParticipantMix.choices,
        required=False,
        label="Who handled it",
        widget=forms.CheckboxSelectMultiple,
    )
    sentiments = forms.MultipleChoiceField(
        choices=Sentiment.choices,
        required=False,
        label="Customer sentiment",
        widget=forms.CheckboxSelectMultiple,
    )
    adherence_min = forms.DecimalField(
        required=False, min_value=0, max_value=100, decimal_places=1, label="AI adherence from"
    )
    adherence_max = forms.DecimalField(
        required=False, min_value=0, max_value=100, decimal_places=1, label="to"
    )
    duration_min_seconds = forms.IntegerField(
        required=False, min_value=0, label="Duration from (s)"
    )
    duration_max_seconds = forms.IntegerField(required=False, min_value=0, label="to (s)")
    quota_kind = forms.ChoiceField(
        choices=QuotaKind.choices, initial=QuotaKind.PER_AGENT, widget=forms.RadioSelect
    )
    quota_count = forms.IntegerField(
        required=False, min_value=1, max_value=1000, initial=3, label="Conversations per agent"
    )
    percent = forms.DecimalField(
        required=False, min_value=0, max_value=100, decimal_places=2, label="Share per agent (%)"
    )
    minimum = forms.IntegerField(
        required=False, min_value=0, max_value=1000, initial=1, label="At least"
    )
    period = forms.ChoiceField(
        choices=[(p, p.title()) for p, _ in Period.choices], initial=Period.WEEK, label="Per"
    )
    reviewers = forms.TypedMultipleChoiceField(choices=[], required=False, coerce=int)
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    due_days = forms.IntegerField(min_value=0, max_value=365, initial=7, label="Due after (days)")
    schedule = forms.CharField(
        max_length=100,
        initial="0 6 * * *",
        help_text="Crontab: minute hour day-of-month month day-of-week.",
    )

    def __init__(self, *args: Any, user: Person, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "teams", [(t.pk, t.name) for t in accounts.team_choices(user=user)])
        _choices(
            self,
            "agents",
            [
                (a.pk, f"{a.display_name}{f' ({a.team.name})' if a.team else ''}")
                for a in accounts.agent_choices(user=user)
            ],
        )
        _choices(
            self,
            "reviewers",
            [
                (u.pk, f"{u} ({u.role_label})")
                for u in accounts.user_choices(features=["qa_review"])
            ],
        )
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(
                widget, forms.RadioSelect | forms.CheckboxInput | forms.CheckboxSelectMultiple
            ):
                widget.attrs.update({"class": "form-check-input"})
                continue
            if isinstance(widget, forms.SelectMultiple):
                widget.attrs.update({"class": "form-select form-select-sm", "size": "5"})
            elif isinstance(widget, forms.Select):
                widget.attrs.update({"class": "form-select form-select-sm"})
            else:
                widget.attrs.update({"class": "form-control form-control-sm"})
            if self.is_bound and name in self.errors:
                widget.attrs["class"] += " is-invalid"

    @classmethod
    def initial_for(cls, policy: Any) -> dict[str, Any]:
        return {
            "name": policy.name,
            "description": policy.description,
            "is_active": policy.is_active,
            "teams": [t.pk for t in policy.teams.all()],
            "agents": [a.pk for a in policy.agents.all()],
            "queues": ", ".join(policy.queues),
            "channels": policy.channels,
            "participant_mix": policy.participant_mix,
            "sentiments": policy.sentiments,
            "adherence_min": policy.adherence_min,
            "adherence_max": policy.adherence_max,
            "duration_min_seconds": policy.duration_min_seconds,
            "duration_max_seconds": policy.duration_max_seconds,
            "quota_kind": policy.quota_kind,
            "quota_count": policy.quota_count,
            "percent": policy.percent,
            "minimum": policy.minimum,
            "period": policy.period,
            "reviewers": [u.pk for u in policy.reviewers.all()],
            "priority": policy.priority,
            "due_days": policy.due_days,
            "schedule": policy.schedule,
        }

    def service_data(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "name": d["name"],
            "description": d.get("description") or "",
            "is_active": d.get("is_active", False),
            "team_ids": list(d.get("teams") or []),
            "agent_ids": list(d.get("agents") or []),
            "queues": d.get("queues") or "",
            "channels": list(d.get("channels") or []),
            "participant_mix": list(d.get("participant_mix") or []),
            "sentiments": list(d.get("sentiments") or []),
            "adherence_min": d.get("adherence_min"),
            "adherence_max": d.get("adherence_max"),
            "duration_min_seconds": d.get("duration_min_seconds"),
            "duration_max_seconds": d.get("duration_max_seconds"),
            "quota_kind": d["quota_kind"],
            "quota_count": d.get("quota_count") or 1,
            "percent": d.get("percent"),
            "minimum": d.get("minimum") if d.get("minimum") is not None else 1,
            "period": d["period"],
            "reviewer_ids": list(d.get("reviewers") or []),
            "priority": d["priority"],
            "due_days": d["due_days"],
            "schedule": d["schedule"],
        }


# Calibration -----------------------------------------------------------------------------------


_CHECK = {"class": "form-check-input"}


class CalibrationForm(forms.Form):
    """A new calibration session: the conversations are ticked in the picker or pasted as ids."""

    name = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"class": "form-control"}))
    description = forms.CharField(
        required=False,
        max_length=5000,
        label="What to look at (optional)",
        widget=forms.Textarea(attrs={"class": "form-control", "rows": 2}),
    )
    rubric_version = forms.TypedChoiceField(
        coerce=int, widget=forms.Select(attrs={"class": "form-select"})
    )
    conversations = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple(attrs=_CHECK)
    )
    conversation_ids = forms.CharField(
        required=False,
        label="Or paste conversation ids",
        help_text="Numbers separated by spaces or commas, e.g. from a conversation's address.",
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": "e.g. 12 15 31"}),
    )
    participants = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple(attrs=_CHECK)
    )
    include_ai = forms.BooleanField(
        required=False,
        initial=True,
        label="The AI answers too, as one more participant",
        widget=forms.CheckboxInput(attrs=_CHECK),
    )
    blind = forms.BooleanField(
        required=False,
        initial=True,
        label="Blind: nobody sees the others' answers (nor the AI's) until the session closes",
        widget=forms.CheckboxInput(attrs=_CHECK),
    )
    deadline = forms.DateTimeField(
        required=False,
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(
            attrs={"class": "form-control", "type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
        ),
    )
    benchmark_mode = forms.ChoiceField(
        choices=BenchmarkMode.choices,
        initial=BenchmarkMode.CONSENSUS,
        label="The benchmark",
        widget=forms.RadioSelect(attrs=_CHECK),
    )
    expert = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        label="The expert (an expert's answers as the benchmark)",
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def __init__(
        self,
        *args: Any,
        versions: list[tuple[int, str]],
        conversations: list[tuple[int, str]],
        reviewers: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "rubric_version", _blank(versions, "Choose a version"))
        if len(versions) == 1 and not self.is_bound:
            self.initial.setdefault("rubric_version", versions[0][0])
        _choices(self, "conversations", conversations)
        _choices(self, "participants", reviewers)
        _choices(self, "expert", _blank(reviewers, "Nobody (consensus)"))

    def conversation_id_list(self) -> list[int]:
        pasted = [int(n) for n in _NUMBERS.findall(self.cleaned_data.get("conversation_ids") or "")]
        return list(dict.fromkeys([*self.cleaned_data.get("conversations", []), *pasted]))
