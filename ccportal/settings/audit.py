"""The audit trail (apps/audit): django-pghistory's event tables, written by triggers."""

from __future__ import annotations

import pghistory

from .env import get_int

# Each event row carries its own copy of the context (who, which URL or task, the reason) as
# JSON: nothing an event points to can change after it is written (pghistory's default keeps
# the context in a shared row that later statements of the same request update).
PGHISTORY_CONTEXT_FIELD = pghistory.ContextJSONField()
# Inserts, updates (of a snapshot field) and deletes of every tracked model.
PGHISTORY_DEFAULT_TRACKERS = (
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
)
# The time of the statement, not of its transaction: the events of one request (or of one
# test) are ordered across tables as they happened.
PGHISTORY_CREATED_AT_FUNCTION = "clock_timestamp()"
# Every event table gets a trigger that rejects UPDATE and DELETE (pgtrigger.Protect); the one
# way around it is apps.audit.services.events_purge (retention), see docs/security.md.
PGHISTORY_APPEND_ONLY = True
# A snapshot's foreign keys are plain ids: no constraint (the row they name may be deleted
# later) and no index (each would slow every audited write; lookups go by object and time).
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)
# The middleware tags GET, POST, PUT, PATCH and DELETE (pghistory's default): a page that writes
# on GET is still attributed. SELECTs are never prefixed with the context, so reads cost nothing.

# Events per page on the audit pages.
AUDIT_PAGE_SIZE = get_int("AUDIT_PAGE_SIZE", 50, minimum=10)
