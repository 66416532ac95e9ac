"""A song can be "importing": its bytes are stored and the worker checks, transcodes and draws
it. Only the choices grow; every existing row keeps its status."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mv', '0008_merge_webhooks_and_media_facts'),
    ]

    operations = [
        migrations.AlterField(
            model_name='audiotrack',
            name='analysis_status',
            field=models.CharField(choices=[('importing', 'Importing'), ('analyzing', 'Analyzing'), ('ready', 'Ready'), ('failed', 'Failed')], default='analyzing', max_length=16),
        ),
    ]
