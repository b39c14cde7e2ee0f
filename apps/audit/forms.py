"""The filters of the global audit page, its CSV and its API list."""

from __future__ import annotations

from typing import Any

from django import forms

from .selectors import ACTIONS, EventFilters, user_id_named
from .tracked import TRACKED

# The largest id PostgreSQL's bigint holds.
_MAX_ID = 2**63 - 1


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="What",
        required=False,
        choices=[
            ("", "Everything"),
            *sorted(((t.slug, t.title) for t in TRACKED), key=lambda c: c[1]),
        ],
    )
    action = forms.ChoiceField(
        label="Change", required=False, choices=[("", "Any"), *ACTIONS.items()]
    )
    actor = forms.CharField(label="By (username)", required=False, max_length=150)
    since = forms.DateField(label="From", required=False)
    until = forms.DateField(label="To", required=False)
    object = forms.IntegerField(label="Object id", required=False, min_value=1, max_value=_MAX_ID)
    reason = forms.CharField(label="Reason contains", required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end comes before the start.")
        return data

    def filters(self) -> EventFilters | None:
        """The filters, or None when an actor was named who does not exist (nothing matches)."""
        data = self.cleaned_data
        actor_id = None
        if data.get("actor"):
            actor_id = user_id_named(data["actor"])
            if actor_id is None:
                return None
        return EventFilters(
            kinds=(data["kind"],) if data.get("kind") else (),
            actor_id=actor_id,
            since=data.get("since"),
            until=data.get("until"),
            object_id=data.get("object"),
            reason=(data.get("reason") or "").strip(),
            action=data.get("action") or "",
        )
