from django.db import migrations, models

# The new columns are filled when a bucket is summed again: every bucket is marked dirty, so the
# insights worker re-sums them all from the facts (or run `manage.py insights_rebuild`).
MARK_ALL_DIRTY = """
INSERT INTO insights_dirtybucket (day, team_id, agent_id, queue, channel)
SELECT day, team_id, agent_id, queue, channel FROM insights_rollup;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0003_criteria_on_the_fact"),
    ]

    operations = [
        migrations.AddField(
            model_name="rollup",
            name="ai_outcome_n",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="rollup",
            name="ai_task_success",
            field=models.IntegerField(default=0),
        ),
        migrations.RunSQL(MARK_ALL_DIRTY, migrations.RunSQL.noop),
    ]
