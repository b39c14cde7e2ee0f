# Takes over the tables the intelligence app made (intelligence 0003): state only, no data moves.
# Content types follow, so permissions and admin history keep pointing at the same models.

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in ["knowledgearticle", "customerprofile", "observation"]:
        old = ContentType.objects.filter(app_label="intelligence", model=model)
        if ContentType.objects.filter(app_label="knowledge", model=model).exists():
            old.delete()  # migrated back and forth: the knowledge one is already in use
        else:
            old.update(app_label="knowledge")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('conversations', '0002_call'),
        ('intelligence', '0003_knowledge_moves_out'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CustomerProfile',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('key', models.CharField(max_length=300, unique=True)),
                        ('profile_id', models.CharField(blank=True, max_length=128)),
                        ('address', models.CharField(blank=True, max_length=255)),
                        ('display_name', models.CharField(blank=True, max_length=255)),
                        ('conversations', models.ManyToManyField(blank=True, related_name='profiles', to='conversations.conversation')),
                    ],
                    options={
                        'db_table': 'intelligence_customerprofile',
                        'ordering': ['display_name', 'key'],
                    },
                ),
                migrations.CreateModel(
                    name='KnowledgeArticle',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('title', models.CharField(max_length=255)),
                        ('body', models.TextField()),
                        ('tags', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(max_length=50), blank=True, default=list, size=None)),
                        ('is_published', models.BooleanField(default=True)),
                        ('search_vector', models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.CombinedSearchVector(django.contrib.postgres.search.SearchVector('title', config='english', weight='A'), '||', django.contrib.postgres.search.SearchVector('body', config='english', weight='B'), django.contrib.postgres.search.SearchConfig('english')), output_field=django.contrib.postgres.search.SearchVectorField())),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'intelligence_knowledgearticle',
                        'ordering': ['title', 'id'],
                        'indexes': [django.contrib.postgres.indexes.GinIndex(fields=['search_vector'], name='knowledge_search_gin'), django.contrib.postgres.indexes.GinIndex(fields=['tags'], name='knowledge_tags_gin')],
                    },
                ),
                migrations.CreateModel(
                    name='Observation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('text', models.TextField()),
                        ('digest', models.CharField(max_length=64)),
                        ('source', models.CharField(choices=[('operator', 'Operator'), ('user', 'Person'), ('twilio', 'Twilio')], max_length=10)),
                        ('conversation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='conversations.conversation')),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('operator_result', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='intelligence.operatorresult')),
                        ('profile', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='observations', to='knowledge.customerprofile')),
                    ],
                    options={
                        'db_table': 'intelligence_observation',
                        'ordering': ['-created_at', '-id'],
                        'constraints': [models.UniqueConstraint(fields=('profile', 'digest'), name='observation_once')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, reverse_code=migrations.RunPython.noop),
    ]
