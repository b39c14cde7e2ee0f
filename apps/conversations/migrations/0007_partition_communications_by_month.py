"""Communications, partitioned by their conversation's month (docs/scaling.md, "Partitioning").

The table is rebuilt as ``PARTITION BY RANGE (conversation_month)`` with its rows copied under an
ACCESS EXCLUSIVE lock (ingest waits; docs/scaling.md has the time at a million rows): see
``apps.common.partitions.partition_sql``. ``twilio_id`` stays unique across months through
``conversations_communicationkey`` and two triggers. The foreign keys into the table were
dropped first (coaching 0003, insights 0005, intelligence 0007). Reversible.
"""

from __future__ import annotations

from django.db import migrations, models

import apps.conversations.fields
from apps.common.partitions import COMMUNICATIONS, partition_sql, run_raw

FORWARD, BACKWARD = partition_sql(COMMUNICATIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_list_index_covers_team"),
        ("coaching", "0003_evidencepin_communication_no_constraint"),
        ("insights", "0005_suggestionscore_reply_no_constraint"),
        ("intelligence", "0007_references_no_constraint"),
    ]

    operations = [
        migrations.CreateModel(
            name="CommunicationKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("twilio_id", models.CharField(max_length=128, unique=True)),
                ("conversation_month", models.DateField()),
                ("communication_id", models.BigIntegerField()),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="communication",
                    name="conversation_month",
                    field=apps.conversations.fields.ConversationMonthField(),
                ),
                migrations.AlterField(
                    model_name="communication",
                    name="twilio_id",
                    field=models.CharField(db_index=True, max_length=128),
                ),
            ],
            database_operations=[migrations.RunPython(run_raw(FORWARD), run_raw(BACKWARD))],
        ),
    ]
