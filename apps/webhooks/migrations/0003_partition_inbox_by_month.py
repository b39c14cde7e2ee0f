"""The inbox, partitioned by month of ``received_at`` (docs/scaling.md, "Partitioning").

The table is rebuilt as ``PARTITION BY RANGE (received_at)`` with its rows copied (ids kept, the
identity continuing after the largest): one partition per month from the oldest row's to two
months ahead, and a DEFAULT partition so that a delivery is never refused for want of one (the
daily maintenance task moves such rows into their month's partition). The primary key becomes
(id, received_at); the unique (source, idempotency_key) moves to webhooks_inboxkey, kept by two
triggers. Copying takes an ACCESS EXCLUSIVE lock for as long as the copy: at about 150k rows/s
here, run it with the web tier stopped or drained if the inbox is large (it is short-lived:
INBOX_RETENTION_DAYS).
"""

from __future__ import annotations

from django.db import migrations, models

TABLE = "webhooks_inboundevent"

FORWARD = r"""
ALTER TABLE webhooks_inboundevent RENAME TO webhooks_inboundevent_unpartitioned;
LOCK TABLE webhooks_inboundevent_unpartitioned IN ACCESS EXCLUSIVE MODE;

CREATE TABLE webhooks_inboundevent (
    LIKE webhooks_inboundevent_unpartitioned
    INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS
) PARTITION BY RANGE (received_at);
ALTER TABLE webhooks_inboundevent ADD PRIMARY KEY (id, received_at);

CREATE TABLE webhooks_inboundevent_default PARTITION OF webhooks_inboundevent DEFAULT;
DO $$
DECLARE
    month date := date_trunc('month', LEAST(
        (SELECT min(received_at) FROM webhooks_inboundevent_unpartitioned), now()
    ) AT TIME ZONE 'UTC')::date;
    last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months')::date;
BEGIN
    WHILE month <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF webhooks_inboundevent'
            ' FOR VALUES FROM (%L) TO (%L)',
            'webhooks_inboundevent_p' || to_char(month, 'YYYY_MM'),
            month::timestamp AT TIME ZONE 'UTC',
            (month + interval '1 month')::timestamp AT TIME ZONE 'UTC'
        );
        month := (month + interval '1 month')::date;
    END LOOP;
END $$;

INSERT INTO webhooks_inboundevent OVERRIDING SYSTEM VALUE
    SELECT * FROM webhooks_inboundevent_unpartitioned;
INSERT INTO webhooks_inboxkey (source, idempotency_key, received_at, event_id)
    SELECT source, idempotency_key, received_at, id FROM webhooks_inboundevent_unpartitioned
    WHERE idempotency_key IS NOT NULL;
SELECT setval(
    pg_get_serial_sequence('webhooks_inboundevent', 'id'),
    GREATEST((SELECT max(id) FROM webhooks_inboundevent_unpartitioned), 1),
    (SELECT max(id) IS NOT NULL FROM webhooks_inboundevent_unpartitioned)
);
DROP TABLE webhooks_inboundevent_unpartitioned;

CREATE INDEX inbound_event_claimed_idx ON webhooks_inboundevent (claimed_at)
    WHERE status = 'processing';
CREATE INDEX inbound_event_filter_idx ON webhooks_inboundevent (source, status, received_at DESC);
CREATE INDEX inbound_event_pending_idx ON webhooks_inboundevent (available_at, id)
    WHERE status = 'pending';
CREATE INDEX webhooks_inboundevent_received_at_68670453 ON webhooks_inboundevent (received_at);

-- One key per (source, idempotency_key) in all months: a second delivery is not stored. An
-- UPDATE of received_at that moves a row to another month inserts it there again (row
-- movement): the key is then its own (same event id) and follows it.
CREATE FUNCTION webhooks_inbox_key_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.idempotency_key IS NULL THEN
        RETURN NEW;
    END IF;
    INSERT INTO webhooks_inboxkey (source, idempotency_key, received_at, event_id)
        VALUES (NEW.source, NEW.idempotency_key, NEW.received_at, NEW.id)
        ON CONFLICT (source, idempotency_key) DO UPDATE SET received_at = EXCLUDED.received_at
        WHERE webhooks_inboxkey.event_id = EXCLUDED.event_id;
    IF FOUND THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inbox_key_claim BEFORE INSERT ON webhooks_inboundevent
    FOR EACH ROW EXECUTE FUNCTION webhooks_inbox_key_claim();

-- Deleted rows (retention, erasure) free their keys, as the unique index did.
CREATE FUNCTION webhooks_inbox_key_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM webhooks_inboxkey k USING gone g
        WHERE k.source = g.source AND k.idempotency_key = g.idempotency_key
        AND k.event_id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER inbox_key_release AFTER DELETE ON webhooks_inboundevent
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION webhooks_inbox_key_release();
"""

BACKWARD = r"""
DROP TRIGGER inbox_key_release ON webhooks_inboundevent;
DROP TRIGGER inbox_key_claim ON webhooks_inboundevent;
DROP FUNCTION webhooks_inbox_key_release();
DROP FUNCTION webhooks_inbox_key_claim();
ALTER TABLE webhooks_inboundevent RENAME TO webhooks_inboundevent_partitioned;
CREATE TABLE webhooks_inboundevent (
    LIKE webhooks_inboundevent_partitioned
    INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS
);
INSERT INTO webhooks_inboundevent OVERRIDING SYSTEM VALUE
    SELECT * FROM webhooks_inboundevent_partitioned;
SELECT setval(
    pg_get_serial_sequence('webhooks_inboundevent', 'id'),
    GREATEST((SELECT max(id) FROM webhooks_inboundevent_partitioned), 1),
    (SELECT max(id) IS NOT NULL FROM webhooks_inboundevent_partitioned)
);
DROP TABLE webhooks_inboundevent_partitioned;
ALTER TABLE webhooks_inboundevent ADD PRIMARY KEY (id);
CREATE INDEX inbound_event_claimed_idx ON webhooks_inboundevent (claimed_at)
    WHERE status = 'processing';
CREATE INDEX inbound_event_filter_idx ON webhooks_inboundevent (source, status, received_at DESC);
CREATE INDEX inbound_event_pending_idx ON webhooks_inboundevent (available_at, id)
    WHERE status = 'pending';
CREATE INDEX webhooks_inboundevent_received_at_68670453 ON webhooks_inboundevent (received_at);
CREATE UNIQUE INDEX inbound_event_idempotency ON webhooks_inboundevent (source, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_raw_body_permission"),
    ]

    operations = [
        migrations.CreateModel(
            name="InboxKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source", models.CharField(max_length=20)),
                ("idempotency_key", models.CharField(max_length=255)),
                ("received_at", models.DateTimeField(db_index=True)),
                ("event_id", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("source", "idempotency_key"), name="inbox_key_unique"
                    )
                ],
            },
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="inboundevent", name="inbound_event_idempotency"
                ),
            ],
            database_operations=[migrations.RunSQL(FORWARD, BACKWARD)],
        ),
    ]
