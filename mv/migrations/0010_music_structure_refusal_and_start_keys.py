# Why the structure model did not hear a song (today's budget), for the song card; and the
# structure analyses get the fields every Prediction now has (slot grants, start keys).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mv', '0009_music_structure_analysis'),
    ]

    operations = [
        migrations.AddField(
            model_name='audiotrack',
            name='structure_refusal',
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name='structureanalysis',
            name='granted_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='structureanalysis',
            name='start_key',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='structureanalysis',
            name='start_sent_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='structureanalysis',
            name='started_by',
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
    ]
