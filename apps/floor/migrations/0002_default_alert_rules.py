"""The default alert rules, so a new portal watches its calls before an admin writes any (the
same four as ``services.alert_rules_ensure``; an admin edits or switches them off)."""

from __future__ import annotations

from django.db import migrations

DEFAULTS = [
    ("Customer upset", "negative_streak", 3, "warning", 300, False),
    ("Critical step missed", "window_missed", 0, "critical", 600, True),
    ("Long silence", "silence", 20, "info", 120, False),
    ("Customer asks for a person", "asks_for_human", 0, "warning", 120, False),
]


def create(apps, schema_editor):
    AlertRule = apps.get_model("floor", "AlertRule")
    for name, kind, threshold, severity, cooldown, flag in DEFAULTS:
        AlertRule.objects.get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "threshold": threshold,
                "severity": severity,
                "cooldown_seconds": cooldown,
                "raise_flag": flag,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("floor", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
