"""The unfinished rule executions, in id order: what engine._claim reads (issue 17, "Where
PostgreSQL's CPU goes per event"). Without it the claim walked the primary key past every
finished execution."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0007_partition_communications_by_month'),
        ('intelligence', '0008_partition_operator_results_by_month'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='ruleexecution',
            index=models.Index(condition=models.Q(('status__in', ['PENDING', 'RUNNING'])), fields=['id'], name='execution_claimable_idx'),
        ),
    ]
