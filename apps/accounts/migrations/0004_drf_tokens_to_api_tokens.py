"""DRF's plain tokens (rest_framework.authtoken, no longer installed) become hashed ApiTokens
that expire in API_TOKEN_DEFAULT_DAYS, so scripts that use one keep working until then; then
their table goes."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=user_id,
            name="API token (from before hashed tokens)",
            prefix=key[:8],
            secret_hash=hashlib.sha256(key.encode()).hexdigest(),
            created_at=created,
            expires_at=now + timedelta(days=settings.API_TOKEN_DEFAULT_DAYS),
        )
        for key, user_id, created in rows
    )
    schema_editor.execute("DROP TABLE authtoken_token CASCADE")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_api_token")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True)]
