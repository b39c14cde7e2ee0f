"""Import a rubric from a Twilio Script Adherence script or a ccportal JSON document.

Kept apart from ``services`` (which it calls) because it adds no rule of its own: it parses,
then creates the rubric or its next draft and fills it through the services, which validate,
lock and audit as for any edit. The fill is audited as IMPORT, its ``changes`` holding the diff
and ``source``: the format and, for a script, its text; for a document, the ``source`` it was
exported from. It follows the CREATE or NEW_VERSION entry of the version it filled.
"""

from __future__ import annotations

from typing import Any, Literal

from django.db import transaction

from apps.common.errors import ValidationFailed

from .choices import AuditAction
from .jsonformat import data_from_document
from .models import Rubric, RubricVersion
from .scripttext import parse_script
from .services import draft_update, rubric_create, version_new_draft

Format = Literal["twilio", "json"]
FORMATS: tuple[str, ...] = ("twilio", "json")


@transaction.atomic
def rubric_import(
    *,
    fmt: Format,
    actor: Any,
    text: str | None = None,
    document: Any = None,
    rubric: Rubric | None = None,
    name: str = "",
    description: str = "",
) -> RubricVersion:
    """Import ``text`` (fmt "twilio") or ``document`` (fmt "json") and return the filled draft.

    Without ``rubric`` a new rubric is created, named ``name`` (required for a script; a JSON
    document names its rubric, ``name`` overrides it). With ``rubric`` the import becomes its
    next draft (``DraftExists`` when it already has one); the rubric keeps its name and
    description.

    Parsing and validation come first, so a bad import writes nothing. Raises ``ScriptInvalid``
    (line-numbered problems of a script), ``ValidationFailed`` (path-keyed problems of a document,
    or of ``name``), ``DraftExists``, ``PermissionDenied``.
    """
    if fmt == "twilio":
        if not isinstance(text, str):
            raise ValidationFailed({"text": ["Send the script text."]})
        data = parse_script(text)
        source: dict[str, Any] = {"format": fmt, "script": text}
    elif fmt == "json":
        data = data_from_document(document)
        # Where the document was exported from (another portal, another rubric), if it says.
        source = {"format": fmt, "exported_from": document.get("source")}
    else:
        raise ValidationFailed({"format": [f"Choose one of: {', '.join(FORMATS)}."]})

    identity = {"name": data.pop("name", ""), "description": data.pop("description", "")}
    if rubric is None:
        if name.strip():
            identity = {"name": name, "description": description or identity["description"]}
        if not identity["name"].strip():
            raise ValidationFailed({"name": ["Name the new rubric."]})
        rubric = rubric_create(
            name=identity["name"], description=identity["description"], actor=actor
        )
        draft = rubric.versions.get()
    else:
        draft = version_new_draft(rubric=rubric, actor=actor)
    return draft_update(
        version=draft,
        actor=actor,
        data=data,
        audit_action=AuditAction.IMPORT,
        audit_extra={"source": source},
    )
