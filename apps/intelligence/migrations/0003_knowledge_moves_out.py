# The knowledge app's models (articles, customer profiles, observations) move to apps.knowledge.
# Only Django's idea of where they live changes: the tables keep their names and their rows
# (apps/knowledge/migrations/0001_initial.py takes them over).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('intelligence', '0002_engine'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='observation',
                    name='profile',
                ),
                migrations.RemoveField(
                    model_name='knowledgearticle',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='knowledgearticle',
                    name='updated_by',
                ),
                migrations.RemoveField(
                    model_name='observation',
                    name='conversation',
                ),
                migrations.RemoveField(
                    model_name='observation',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='observation',
                    name='operator_result',
                ),
                migrations.DeleteModel(
                    name='CustomerProfile',
                ),
                migrations.DeleteModel(
                    name='KnowledgeArticle',
                ),
                migrations.DeleteModel(
                    name='Observation',
                ),
            ],
            database_operations=[],
        ),
    ]
