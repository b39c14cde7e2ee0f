"""Drop the ``varchar_pattern_ops`` twins of the communications' ids (issue 17, "Where
PostgreSQL's CPU goes per event").

Django makes a ``LIKE 'prefix%'`` index next to the plain one for every indexed or unique
``CharField``. Twilio ids are opaque and only ever looked up by equality (the plain btree or the
unique key serves that), and in the soak these indexes were never read while each communication
wrote all of them: one index entry per id per line, in the partitions and in the key table.
The model state is left as it is (Django drops the twins with IF EXISTS when a field changes).
"""

from __future__ import annotations

from django.db import migrations

INDEXES = [
    ("conversations_communication", "twilio_id", "conversations_communication_twilio_id_cddd77d3_like"),
    ("conversations_communication", "channel_id", "conversations_communication_channel_id_3a839998_like"),
    ("conversations_communicationkey", "twilio_id", "conversations_communicationkey_twilio_id_a7d3ee64_like"),
]


class Migration(migrations.Migration):
    dependencies = [("conversations", "0007_partition_communications_by_month")]

    operations = [
        migrations.RunSQL(
            sql=f"DROP INDEX IF EXISTS {name}",
            reverse_sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)",
        )
        for table, column, name in INDEXES
    ]
