"""Errors the rubric services raise; all are in the ``apps.common.errors`` family (409s here).

Invalid content raises ``apps.common.errors.ValidationFailed`` with field-keyed messages, and a
user who may not manage rubrics gets ``apps.common.errors.PermissionDenied``.
"""

from __future__ import annotations

from apps.common.errors import Conflict


class VersionNotEditable(Conflict):
    """The version is published or retired: its content is frozen. Create a new draft instead."""

    code = "version_not_editable"


class InvalidTransition(Conflict):
    """The version is not in the state the action starts from (e.g. publishing a published one)."""

    code = "invalid_transition"


class DraftExists(Conflict):
    """The rubric already has a draft; finish, publish or discard it first."""

    code = "draft_exists"


class VersionInUse(Conflict):
    """The version is used (published, or pinned by a score, form or result) and must be kept."""

    code = "version_in_use"
