"""EvidencePin.communication loses its database constraint: communications become partitioned
by month (conversations 0007). Django's CASCADE is unchanged (it always ran in Python)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_list_index_covers_team"),
        ("coaching", "0002_audit_triggers"),
    ]

    operations = [
        migrations.AlterField(
            model_name="evidencepin",
            name="communication",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="conversations.communication",
            ),
        ),
    ]
