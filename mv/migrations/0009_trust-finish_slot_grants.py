"""Prediction.granted_at: a slot granted by the finish that freed it (existing rows: none
granted yet; rows already started keep counting by their started_at)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mv', '0008_merge_webhooks_and_media_facts'),
    ]

    operations = [
        migrations.AddField(
            model_name='characterimage',
            name='granted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='clip',
            name='granted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='lyricstranscription',
            name='granted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='scenewriting',
            name='granted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
