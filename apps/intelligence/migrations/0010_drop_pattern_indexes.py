"""Drop the ``varchar_pattern_ops`` twins of the operator results' ids (issue 17, "Where
PostgreSQL's CPU goes per event"): as conversations 0008 does for the communications. Result
ids and call SIDs are opaque and looked up by equality only; in the soak these indexes were
never read while each stored result wrote three of them (the partition's two, the key table's
one). The model state is left as it is.
"""

from __future__ import annotations

from django.db import migrations

INDEXES = [
    ("intelligence_operatorresult", "result_id", "intelligence_operatorresult_result_id_1695f68d_like"),
    ("intelligence_operatorresult", "call_sid", "intelligence_operatorresult_call_sid_37780cee_like"),
    ("intelligence_operatorresultkey", "result_id", "intelligence_operatorresultkey_result_id_8769c4ed_like"),
]


class Migration(migrations.Migration):
    dependencies = [("intelligence", "0009_execution_claimable_idx")]

    operations = [
        migrations.RunSQL(
            sql=f"DROP INDEX IF EXISTS {name}",
            reverse_sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)",
        )
        for table, column, name in INDEXES
    ]
