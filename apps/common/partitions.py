"""Tables partitioned by their conversation's month: the migration's SQL and the maintenance.

``conversations_communication`` and ``intelligence_operatorresult`` are ``PARTITION BY RANGE
(conversation_month)`` (a date, the first of the UTC month in which the conversation's row was
created; ``apps.conversations.fields``), one partition a month and a DEFAULT partition, so an
insert is never refused for want of a partition. docs/scaling.md, "Partitioning", says why.

- Primary key (id, conversation_month); Django still sees ``id``.
- The Twilio id (``twilio_id``, ``result_id``) cannot be unique on the partitioned table itself
  (a unique index must include the partition key), so a key table (``CommunicationKey``,
  ``OperatorResultKey``) holds it, unique, kept by triggers: a row's insert claims its key and
  raises a unique violation when another row holds it (as the unique index did: the writers'
  IntegrityError handling is unchanged); a delete frees the keys of the rows deleted.
- Foreign keys into these tables have no database constraint (``db_constraint=False``): Django
  emulates on_delete anyway; ``references_check`` counts dangling ids daily.

``partition_sql`` is used by the migrations (conversations 0007, intelligence 0008): do not
change what it generates; write a new function for a new migration.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

KEY = "conversation_month"
MONTHS_AHEAD = 2
_BOUNDS = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class MonthTable:
    table: str
    unique_column: str  # the Twilio id, unique across months
    key_table: str
    key_row_column: str  # the key table's column naming the row's id


COMMUNICATIONS = MonthTable(
    "conversations_communication",
    "twilio_id",
    "conversations_communicationkey",
    "communication_id",
)
OPERATOR_RESULTS = MonthTable(
    "intelligence_operatorresult",
    "result_id",
    "intelligence_operatorresultkey",
    "operator_result_id",
)
TABLES = (COMMUNICATIONS, OPERATOR_RESULTS)

# Foreign keys into the partitioned tables, kept without a database constraint:
# (referencing table, column, referenced table).
REFERENCES = (
    ("intelligence_ruleexecution", "through_communication_id", COMMUNICATIONS.table),
    ("coaching_evidencepin", "communication_id", COMMUNICATIONS.table),
    ("insights_suggestionscore", "reply_id", COMMUNICATIONS.table),
    ("intelligence_flag", "operator_result_id", OPERATOR_RESULTS.table),
    ("intelligence_observation", "operator_result_id", OPERATOR_RESULTS.table),
)


def partition_sql(spec: MonthTable) -> tuple[str, str]:
    """The migration's forward and backward SQL for ``spec`` (frozen: migrations use it).

    Forward: the table is rebuilt as ``PARTITION BY RANGE (conversation_month)`` and its rows
    copied (ids kept, the identity continuing after the largest), each with its conversation's
    month; one partition per month from the oldest conversation's to two months ahead, and a
    DEFAULT partition. Indexes and outgoing foreign keys are re-created as they were (from the
    catalog, so their names stay Django's), except the unique Twilio id, which moves to the key
    table. The copy holds an ACCESS EXCLUSIVE lock (docs/scaling.md has its cost).
    """
    t, u, k, r = spec.table, spec.unique_column, spec.key_table, spec.key_row_column
    forward = rf"""
DO $migration$
DECLARE
    index_defs text[];
    fk_defs text[];
    stmt text;
    month date;
    last date;
BEGIN
    SELECT coalesce(array_agg(indexdef), '{{}}') INTO index_defs FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = '{t}'
        AND indexname NOT IN ('{t}_pkey', '{t}_{u}_key');
    SELECT coalesce(array_agg(format('ALTER TABLE {t} ADD CONSTRAINT %I %s', conname,
        pg_get_constraintdef(oid))), '{{}}') INTO fk_defs
        FROM pg_constraint WHERE conrelid = '{t}'::regclass AND contype = 'f';

    ALTER TABLE {t} RENAME TO {t}_unpartitioned;
    LOCK TABLE {t}_unpartitioned IN ACCESS EXCLUSIVE MODE;
    CREATE TABLE {t} (
        LIKE {t}_unpartitioned INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS,
        {KEY} date NOT NULL
    ) PARTITION BY RANGE ({KEY});
    CREATE TABLE {t}_default PARTITION OF {t} DEFAULT;

    month := date_trunc('month', LEAST(
        (SELECT min(c.created_at) FROM conversations_conversation c
         WHERE c.id IN (SELECT conversation_id FROM {t}_unpartitioned)),
        now()) AT TIME ZONE 'UTC')::date;
    last := (date_trunc('month', now() AT TIME ZONE 'UTC')
        + interval '{MONTHS_AHEAD} months')::date;
    WHILE month <= last LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF {t} FOR VALUES FROM (%L) TO (%L)',
            '{t}_p' || to_char(month, 'YYYY_MM'), month, (month + interval '1 month')::date);
        month := (month + interval '1 month')::date;
    END LOOP;

    INSERT INTO {t} OVERRIDING SYSTEM VALUE
        SELECT o.*, date_trunc('month', c.created_at AT TIME ZONE 'UTC')::date
        FROM {t}_unpartitioned o JOIN conversations_conversation c ON c.id = o.conversation_id;
    INSERT INTO {k} ({u}, {KEY}, {r})
        SELECT {u}, {KEY}, id FROM {t};
    PERFORM setval(
        pg_get_serial_sequence('{t}', 'id'),
        GREATEST((SELECT max(id) FROM {t}_unpartitioned), 1),
        (SELECT max(id) IS NOT NULL FROM {t}_unpartitioned)
    );
    DROP TABLE {t}_unpartitioned;

    ALTER TABLE {t} ADD PRIMARY KEY (id, {KEY});
    FOREACH stmt IN ARRAY index_defs LOOP
        EXECUTE stmt;
    END LOOP;
    EXECUTE 'CREATE INDEX {t}_{u}_idx ON {t} ({u})';
    FOREACH stmt IN ARRAY fk_defs LOOP
        EXECUTE stmt;
    END LOOP;
END $migration$;
-- New tables have no statistics: without them a transcript read planned a parallel scan of
-- every partition (6 ms instead of 0.4). Autovacuum analyzes the partitions later, never the
-- partitioned parent.
ANALYZE {t};
ANALYZE {k};

-- One row per Twilio id in all months. A row moved to another month by an update (its
-- conversation_month is never changed by the code) keeps its own key.
CREATE FUNCTION {t}_key_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {k} ({u}, {KEY}, {r}) VALUES (NEW.{u}, NEW.{KEY}, NEW.id)
        ON CONFLICT ({u}) DO UPDATE SET {KEY} = EXCLUDED.{KEY}
        WHERE {k}.{r} = EXCLUDED.{r};
    IF NOT FOUND THEN
        RAISE unique_violation USING
            MESSAGE = format('duplicate key value violates unique constraint "{k}_{u}_key"'),
            DETAIL = format('Key ({u})=(%s) already exists.', NEW.{u}),
            CONSTRAINT = '{k}_{u}_key', TABLE = '{t}';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER {t}_key_claim BEFORE INSERT ON {t}
    FOR EACH ROW EXECUTE FUNCTION {t}_key_claim();

CREATE FUNCTION {t}_key_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {k} k USING gone g WHERE k.{u} = g.{u} AND k.{r} = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER {t}_key_release AFTER DELETE ON {t}
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION {t}_key_release();
"""
    backward = rf"""
DO $migration$
DECLARE
    index_defs text[];
    fk_defs text[];
    stmt text;
BEGIN
    SELECT coalesce(array_agg(indexdef), '{{}}') INTO index_defs FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = '{t}'
        AND indexname NOT IN ('{t}_pkey', '{t}_{u}_idx');
    SELECT coalesce(array_agg(format('ALTER TABLE {t} ADD CONSTRAINT %I %s', conname,
        pg_get_constraintdef(oid))), '{{}}') INTO fk_defs
        FROM pg_constraint WHERE conrelid = '{t}'::regclass AND contype = 'f'
        AND conparentid = 0;
    DROP TRIGGER {t}_key_release ON {t};
    DROP TRIGGER {t}_key_claim ON {t};
    DROP FUNCTION {t}_key_release();
    DROP FUNCTION {t}_key_claim();
    ALTER TABLE {t} RENAME TO {t}_partitioned;
    CREATE TABLE {t} (
        LIKE {t}_partitioned INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS
    );
    ALTER TABLE {t} DROP COLUMN {KEY};
    EXECUTE (
        SELECT 'INSERT INTO {t} OVERRIDING SYSTEM VALUE SELECT '
            || string_agg(quote_ident(attname), ', ' ORDER BY attnum)
            || ' FROM {t}_partitioned'
        FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attnum > 0 AND NOT attisdropped
    );
    PERFORM setval(
        pg_get_serial_sequence('{t}', 'id'),
        GREATEST((SELECT max(id) FROM {t}_partitioned), 1),
        (SELECT max(id) IS NOT NULL FROM {t}_partitioned)
    );
    DROP TABLE {t}_partitioned;
    DELETE FROM {k};
    ALTER TABLE {t} ADD PRIMARY KEY (id);
    ALTER TABLE {t} ADD CONSTRAINT {t}_{u}_key UNIQUE ({u});
    FOREACH stmt IN ARRAY index_defs LOOP
        EXECUTE replace(stmt, ' ON ONLY ', ' ON ');
    END LOOP;
    FOREACH stmt IN ARRAY fk_defs LOOP
        EXECUTE stmt;
    END LOOP;
END $migration$;
ANALYZE {t};
"""
    return forward, backward


def key_months(spec: MonthTable, values: Iterable[str]) -> dict[str, date]:
    """The month of the row each Twilio id of ``values`` names (``spec.unique_column``), read
    from the key table: one probe of its unique index per id, where a lookup of the partitioned
    table by the id alone probes every month's index. Ids no row holds are left out, so a
    writer that finds none knows the ids are new without reading the partitioned table.

    Add ``conversation_month__in`` (the months found) to the lookup and PostgreSQL reads those
    months' partitions only (docs/scaling.md, "Partitioning", lookups by Twilio id)."""
    wanted = sorted(set(values))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "{spec.unique_column}", {KEY} FROM "{spec.key_table}"'
            f' WHERE "{spec.unique_column}" = ANY(%s)',
            [wanted],
        )
        return dict(cursor.fetchall())


# Maintenance (the daily beat task).


@dataclass(frozen=True)
class Partition:
    name: str
    start: date
    end: date


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_partitions(table: str) -> list[Partition]:
    """``table``'s month partitions, oldest first (the default partition is not listed)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [table],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUNDS.search(bound)
        if match:
            start, end = (date.fromisoformat(value) for value in match.groups())
            found.append(Partition(name, start, end))
    return sorted(found, key=lambda partition: partition.start)


@transaction.atomic
def month_partition_create(*, table: str, month: date) -> bool:
    """Make ``table``'s partition of ``month`` unless it exists; rows of that month waiting in
    the default partition move into it. Returns True when it was made."""
    if any(p.start == month for p in month_partitions(table)):
        return False
    name, end, default = f"{table}_p{month:%Y_%m}", _next_month(month), f"{table}_default"
    with connection.cursor() as cursor:
        # CREATE ... PARTITION OF refuses a range that rows in the default partition fall in:
        # make the table, move those rows (straight between partitions: the key triggers of
        # the parent do not fire, and the rows keep their ids, so their keys stay right), then
        # attach it, which builds its indexes and adds the row triggers.
        cursor.execute(
            f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
        )
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{default}" WHERE {KEY} >= %s AND {KEY} < %s'
            f' RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            [month, end],
        )
        cursor.execute(
            f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
            [month, end],
        )
    return True


def month_partitions_ensure(
    *, table: str, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD
) -> int:
    """This month's and the next ``months_ahead`` months' partitions of ``table``, and those of
    any month whose rows wait in the default partition; returns how many were made."""
    moment = (now or timezone.now()).astimezone(UTC)
    month = date(moment.year, moment.month, 1)
    months = {month}
    for _ in range(months_ahead):
        month = _next_month(month)
        months.add(month)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT {KEY} FROM "{table}_default"')
        months.update(date(m.year, m.month, 1) for (m,) in cursor.fetchall())
    return sum(month_partition_create(table=table, month=m) for m in sorted(months))


def references_check() -> dict[str, int]:
    """Rows whose reference into a partitioned table names no row (there is no foreign key
    constraint to refuse them): by ``table.column``, only those with any. Django's on_delete
    keeps them at 0; a raw DELETE or a restore of one table alone would not."""
    dangling = {}
    with connection.cursor() as cursor:
        for table, column, target in REFERENCES:
            cursor.execute(
                f'SELECT count(*) FROM "{table}" r WHERE r."{column}" IS NOT NULL'
                f' AND NOT EXISTS (SELECT 1 FROM "{target}" t WHERE t.id = r."{column}")'
            )
            (count,) = cursor.fetchone() or (0,)
            if count:
                dangling[f"{table}.{column}"] = count
    return dangling


def month_partitions_maintain(*, now: datetime | None = None) -> dict[str, object]:
    """The daily task: months ahead made for every table, references checked (logged)."""
    made = {spec.table: month_partitions_ensure(table=spec.table, now=now) for spec in TABLES}
    dangling = references_check()
    if dangling:
        logger.error("references into partitioned tables name missing rows: %s", dangling)
    return {"made": made, "dangling": dangling}


def run_raw(sql: str) -> object:
    """A migration operation's function running ``sql`` on the raw DB-API connection: Django's
    cursor wrappers (pghistory's context injection) would read the ``%I``/``%L``/``%s`` of
    PL/pgSQL's ``format`` as query placeholders. Same connection, same transaction."""

    def run(apps: object, schema_editor: object) -> None:
        with schema_editor.connection.connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(sql)

    return run
