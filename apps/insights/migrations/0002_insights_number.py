from __future__ import annotations

from django.db import migrations

# A JSON value as a number, or NULL: stored operator results come from other systems and are
# read tolerantly (a number, or a string holding one; absurd magnitudes are ignored).
CREATE = r"""
CREATE OR REPLACE FUNCTION insights_number(value jsonb) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(value)
        WHEN 'number' THEN
            CASE WHEN abs(value::numeric) < 1e15 THEN value::numeric::double precision END
        WHEN 'string' THEN
            CASE WHEN value #>> '{}' ~ '^\s*[-+]?[0-9]{1,15}(\.[0-9]{1,15})?\s*$'
                THEN (value #>> '{}')::double precision END
    END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("insights", "0001_initial")]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION IF EXISTS insights_number(jsonb);")
    ]
