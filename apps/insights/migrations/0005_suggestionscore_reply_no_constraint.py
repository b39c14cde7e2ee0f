"""SuggestionScore.reply loses its database constraint: communications become partitioned by
month (conversations 0007). Django's CASCADE is unchanged (it always ran in Python)."""

from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0006_list_index_covers_team"),
        ("insights", "0004_ai_task_success"),
    ]

    operations = [
        migrations.AlterField(
            model_name="suggestionscore",
            name="reply",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="conversations.communication",
            ),
        ),
    ]
