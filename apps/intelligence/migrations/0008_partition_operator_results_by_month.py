"""Operator results, partitioned by their conversation's month (docs/scaling.md,
"Partitioning"), as communications are (conversations 0007): ``partition_sql``. ``result_id``
stays unique across months through ``intelligence_operatorresultkey``. The foreign keys into
the table were dropped first (intelligence 0007, knowledge 0004). Reversible.
"""

from __future__ import annotations

from django.db import migrations, models

import apps.conversations.fields
from apps.common.partitions import OPERATOR_RESULTS, partition_sql, run_raw

FORWARD, BACKWARD = partition_sql(OPERATOR_RESULTS)


class Migration(migrations.Migration):
    dependencies = [
        ("intelligence", "0007_references_no_constraint"),
        ("knowledge", "0004_observation_result_no_constraint"),
        ("conversations", "0007_partition_communications_by_month"),
    ]

    operations = [
        migrations.CreateModel(
            name="OperatorResultKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("result_id", models.CharField(max_length=128, unique=True)),
                ("conversation_month", models.DateField()),
                ("operator_result_id", models.BigIntegerField()),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="operatorresult",
                    name="conversation_month",
                    field=apps.conversations.fields.ConversationMonthField(),
                ),
                migrations.AlterField(
                    model_name="operatorresult",
                    name="result_id",
                    field=models.CharField(db_index=True, max_length=128),
                ),
            ],
            database_operations=[migrations.RunPython(run_raw(FORWARD), run_raw(BACKWARD))],
        ),
    ]
