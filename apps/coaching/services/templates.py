"""Session templates: an agenda and topics to start sessions from, written by admins and
coaches; each says who may use it (only its author, coaches of the author's teams, everyone)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from apps.accounts.scoping import can_use
from apps.accounts.selectors import signed_in
from apps.common.errors import PermissionDenied, ValidationFailed

from ..choices import TemplateVisibility
from ..models import SessionTemplate
from .sessions import _clean_topics, _version

if TYPE_CHECKING:
    from apps.accounts.scoping import Person


def _require(user: Person) -> None:
    if not can_use(user, "coaching_templates"):
        raise PermissionDenied("Only coaches and admins write session templates.")


def may_edit(user: Person, template: SessionTemplate) -> bool:
    return can_use(user, "coaching_templates") and (
        template.created_by_id == user.pk or can_use(user, "admin_site")
    )


def _clean(
    name: str, agenda: str, topics: Sequence[str], visibility: str
) -> tuple[str, str, list[str], str]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the template a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    if visibility not in TemplateVisibility.values:
        errors["visibility"] = ["Choose who may use it."]
    chosen = _clean_topics(topics, _version(), errors)
    if errors:
        raise ValidationFailed(errors)
    return name, (agenda or "").strip(), chosen, visibility


@transaction.atomic
def template_create(
    *,
    user: Person,
    name: str,
    agenda: str = "",
    topics: Sequence[str] = (),
    visibility: str = TemplateVisibility.ALL,
) -> SessionTemplate:
    _require(user)
    name, agenda, chosen, visibility = _clean(name, agenda, topics, visibility)
    return SessionTemplate.objects.create(
        name=name, agenda=agenda, topics=chosen, visibility=visibility, created_by=signed_in(user)
    )


@transaction.atomic
def template_update(
    *,
    user: Person,
    template: SessionTemplate,
    name: str,
    agenda: str = "",
    topics: Sequence[str] = (),
    visibility: str = TemplateVisibility.ALL,
    is_active: bool = True,
) -> SessionTemplate:
    """Its author or an admin changes it; sessions already planned from it keep their copy."""
    _require(user)
    if not may_edit(user, template):
        raise PermissionDenied("Only its author or an admin changes a template.")
    name, agenda, chosen, visibility = _clean(name, agenda, topics, visibility)
    SessionTemplate.objects.filter(pk=template.pk).update(
        name=name,
        agenda=agenda,
        topics=chosen,
        visibility=visibility,
        is_active=is_active,
        updated_at=timezone.now(),
    )
    template.refresh_from_db()
    return template


@transaction.atomic
def template_delete(*, user: Person, template: SessionTemplate) -> None:
    _require(user)
    if not may_edit(user, template):
        raise PermissionDenied("Only its author or an admin deletes a template.")
    SessionTemplate.objects.filter(pk=template.pk).delete()
