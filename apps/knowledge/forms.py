"""Forms of the knowledge and customer memory pages.

They check the shape of what was typed; the services check the rest and their
``ValidationFailed`` errors come back next to the same fields
(``apps.common.forms.add_service_errors``), so a page shown again after an error keeps
everything that was typed.
"""

from __future__ import annotations

from typing import Any

from django import forms

from .models import KnowledgeArticle
from .services import OBSERVATION_MAX_LENGTH


class KnowledgeSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search articles")
    tag = forms.CharField(required=False, max_length=50)


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=255)
    body = forms.CharField(label="Text", strip=False)
    tags = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Separate tags with commas, e.g. billing, lost card.",
    )
    is_published = forms.BooleanField(
        required=False,
        initial=True,
        label="Published",
        help_text="Agents see published articles, and Next Best Response grounds its "
        "suggestions in them. Leave unticked to keep a draft.",
    )

    @classmethod
    def for_article(cls, article: KnowledgeArticle, data: Any = None) -> ArticleForm:
        initial = {
            "title": article.title,
            "body": article.body,
            "tags": ", ".join(article.tags),
            "is_published": article.is_published,
        }
        return cls(data, initial=initial)

    def service_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "body": data["body"],
            "tags": data["tags"],
            "is_published": data["is_published"],
        }


class CustomerSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search customers")


class ObservationForm(forms.Form):
    text = forms.CharField(
        max_length=OBSERVATION_MAX_LENGTH,
        label="What should the next agent know?",
        error_messages={"required": "Write what you learnt about the customer."},
    )
