from django.db import migrations, models

# Criteria move onto the fact row (one JSON object per source) and the criterion rollup keeps
# both sources in one row. Both tables hold derived data: the old criterion rollups are dropped
# and every fact is marked stale, so the refresh (or `insights_rebuild`) fills them again.
MARK_ALL_STALE = """
DELETE FROM insights_criterionrollup;
INSERT INTO insights_staleconversation (conversation_id, marked_at)
SELECT conversation_id, now() FROM insights_conversationfact;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0002_insights_number"),
    ]

    operations = [
        migrations.RemoveField(model_name="conversationfact", name="criteria_digest"),
        migrations.AddField(
            model_name="conversationfact",
            name="ai_criteria",
            field=models.JSONField(default=dict),
        ),
        migrations.AddField(
            model_name="conversationfact",
            name="human_criteria",
            field=models.JSONField(default=dict),
        ),
        migrations.DeleteModel(name="CriterionFact"),
        migrations.RunSQL(MARK_ALL_STALE, migrations.RunSQL.noop),
        migrations.RemoveConstraint(model_name="criterionrollup", name="criterion_rollup_unique"),
        migrations.RemoveIndex(model_name="criterionrollup", name="criterion_rollup_day_idx"),
        migrations.RemoveField(model_name="criterionrollup", name="source"),
        migrations.RemoveField(model_name="criterionrollup", name="met"),
        migrations.RemoveField(model_name="criterionrollup", name="not_met"),
        migrations.RemoveField(model_name="criterionrollup", name="na"),
        *[
            migrations.AddField(
                model_name="criterionrollup",
                name=f"{source}_{column}",
                field=models.IntegerField(default=0),
                preserve_default=False,
            )
            for source in ("ai", "human")
            for column in ("met", "not_met", "na")
        ],
        migrations.AddConstraint(
            model_name="criterionrollup",
            constraint=models.UniqueConstraint(
                fields=("day", "team", "agent", "queue", "channel", "criterion_key"),
                name="criterion_rollup_unique",
                nulls_distinct=False,
            ),
        ),
        migrations.AddIndex(
            model_name="criterionrollup",
            index=models.Index(fields=["day"], name="criterion_rollup_day_idx"),
        ),
    ]
