"""A lyrics transcription is a new kind of prediction (a track's lyrics heard by the flavor's lyrics_model)."""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mv', '0004_music_range_format_ledger'),
    ]

    operations = [
        migrations.CreateModel(
            name='LyricsTranscription',
            fields=[
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('canceled', 'Canceled')], db_index=True, default='queued', max_length=16)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('provider', models.CharField(blank=True, db_index=True, max_length=32)),
                ('model', models.CharField(blank=True, max_length=200)),
                ('input', models.JSONField(blank=True, default=dict)),
                ('config_flavor', models.CharField(db_index=True, default='default', max_length=64)),
                ('prediction_id', models.CharField(blank=True, db_index=True, max_length=100)),
                ('deadline_at', models.DateTimeField(blank=True, null=True)),
                ('poll_token', models.UUIDField(blank=True, editable=False, null=True)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('estimated_cost_usd', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                ('billed_units', models.JSONField(blank=True, default=dict)),
                ('cost_usd', models.DecimalField(blank=True, decimal_places=6, max_digits=12, null=True)),
                ('text', models.TextField(blank=True)),
                ('track', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='transcriptions', to='mv.audiotrack')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
    ]
