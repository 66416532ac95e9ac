"""A project's own title (renamable); existing projects are named after the start of their
description, as the page showed them before."""

from django.db import migrations, models


def fill_titles(apps, schema_editor):
    Project = apps.get_model("mv", "Project")
    for project in Project.objects.filter(title="").only("pk", "video_description").iterator():
        text = " ".join(project.video_description.split())
        title = (text[:60] + ("…" if len(text) > 60 else "")) or "Untitled project"
        Project.objects.filter(pk=project.pk).update(title=title)


class Migration(migrations.Migration):

    dependencies = [
        ("mv", "0004_music_range_format_ledger"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="title",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.RunPython(fill_titles, migrations.RunPython.noop),
    ]
