"""Joins this branch's two migrations on 0004 (webhook deliveries, clip media facts)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("mv", "0005_clip_media_facts"),
        ("mv", "0005_webhook_deliveries"),
    ]

    operations = []
