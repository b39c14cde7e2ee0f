"""Observation.operator_result loses its database constraint: operator results become
partitioned by month (intelligence 0008), and a foreign key into a partitioned table must name
the partition key too. Django's SET_NULL is unchanged (it always ran in Python)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intelligence", "0006_audit_triggers"),
        ("knowledge", "0003_audit_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="observation",
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
