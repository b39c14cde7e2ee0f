"""The rule executions' foreign keys lose their own indexes (issue 17, "Where PostgreSQL's CPU
goes per event"): ``execution_once_per_point`` (rule, conversation, trigger point) leads with the
rule and ``execution_conv_rule_idx`` (conversation, rule, -id) with the conversation, so each
single-column index only cost a write per execution (several per line).

Only the indexes are dropped: Django's AlterField would also drop and re-add both foreign keys,
re-checking every row of the table under an exclusive lock.
"""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("conversation_id", "intelligence_ruleexecution_conversation_id_1c726585"),
    ("rule_id", "intelligence_ruleexecution_rule_id_14917c47"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0008_drop_pattern_indexes"),
        ("intelligence", "0010_drop_pattern_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ruleexecution",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rule_executions",
                        to="conversations.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="ruleexecution",
                    name="rule",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="executions",
                        to="intelligence.rule",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=f"DROP INDEX IF EXISTS {name}",
                    reverse_sql=(
                        f"CREATE INDEX IF NOT EXISTS {name}"
                        f" ON intelligence_ruleexecution ({column})"
                    ),
                )
                for column, name in INDEXES
            ],
        )
    ]
