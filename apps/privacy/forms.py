from __future__ import annotations

from django import forms

from .choices import IdentifierKind


class ErasureForm(forms.Form):
    kind = forms.ChoiceField(
        choices=IdentifierKind.choices, initial=IdentifierKind.ADDRESS, label="Find the customer by"
    )
    identifier = forms.CharField(
        max_length=255,
        label="Phone number, email address or profile number",
        help_text="As the customer gave it: +1 555 010 0199, pat@example.com, or a profile's "
        "number from Knowledge, Customers.",
    )
