"""RuleExecution.through_communication and Flag.operator_result lose their database constraints:
communications and operator results become partitioned by month (conversations 0007,
intelligence 0008). Django's SET_NULL is unchanged (it always ran in Python)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intelligence", "0006_audit_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="ruleexecution",
            name="through_communication",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="conversations.communication",
            ),
        ),
        migrations.AlterField(
            model_name="flag",
            name="operator_result",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="intelligence.operatorresult",
            ),
        ),
    ]
