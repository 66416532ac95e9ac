"""Rows built directly for tests that are not about rendering, and one step of a
prediction's life as a worker's poll chain would take it."""

from __future__ import annotations

from django.utils import timezone

from mv import jobs
from mv.models import (
    Clip,
    JobStatus,
    Prediction,
    Project,
    Scene,
    SceneWriting,
    Stitch,
    StitchItem,
)


def advance(row: Prediction) -> bool:
    """One step of the row's life (re-read first, as a worker would). True once finished."""
    row.refresh_from_db()
    return jobs.advance_row(row)


def written_project(owner, *, scenes: int = 3, flavor: str = "default", audio_track=None, seconds: float = 8.0,
                    **fields) -> Project:
    """A project whose scene plan is written (no provider involved)."""
    project = Project.objects.create(owner=owner, video_description=fields.pop("video_description", "a test video"),
                                     config_flavor=flavor, audio_track=audio_track, **fields)
    SceneWriting.objects.create(project=project, status=JobStatus.SUCCEEDED, provider="local",
                                number_of_scenes=scenes, finished_at=timezone.now())
    for position in range(scenes):
        start = end = None
        if audio_track is not None:  # an even grid from the audio start, cut at the end of the song
            start = min(project.audio_start + position * seconds, audio_track.duration)
            end = min(start + seconds, audio_track.duration)
        Scene.objects.create(project=project, position=position, description=f"scene {position + 1}",
                             start=start, end=end)
    return project


def finished_clip(scene: Scene, source_file=None, *, duration: float = 8.0, current: bool = True) -> Clip:
    """A succeeded clip of the scene (files optional: most page tests only read rows)."""
    clip = Clip.objects.create(owner=scene.project.owner, scene=scene, provider="local", status=JobStatus.SUCCEEDED,
                               prompt=scene.description, duration=duration, progress=100, finished_at=timezone.now())
    if source_file is not None:
        from mv import files, media

        files.store(clip.file, source_file, f"{clip.pk}.mp4")
        with files.workdir() as workdir:
            media.poster(source_file, workdir / "poster.jpg", at=0.1)
            files.store(clip.poster, workdir / "poster.jpg", f"{clip.pk}.jpg")
        clip.save(update_fields=["file", "poster"])
    if current:
        Scene.objects.filter(pk=scene.pk).update(current_clip=clip)
    return clip


def finished_stitch(project: Project, source_file=None, *, duration: float = 16.0) -> Stitch:
    """A succeeded stitch of the project's current clips (file optional)."""
    clips = [s.current_clip for s in project.scenes.select_related("current_clip").order_by("position")]
    stitch = Stitch.objects.create(owner=project.owner, project=project, status=JobStatus.SUCCEEDED,
                                   audio_track=project.audio_track, audio_start=project.audio_start,
                                   num_clips=len(clips), duration=duration, finished_at=timezone.now())
    lengths = [s.slot.length if s.slot else None for s in project.scenes.order_by("position")]  # as restitch cuts them
    StitchItem.objects.bulk_create(StitchItem(stitch=stitch, clip=c, position=i, length=lengths[i])
                                   for i, c in enumerate(clips))
    if source_file is not None:
        from mv import files

        files.store(stitch.file, source_file, f"{stitch.pk}.mp4")
        stitch.save(update_fields=["file"])
    return stitch


def rendered_project(owner, source_file, *, scenes: int = 2, **fields) -> Project:
    """A project as its automatic run leaves it: scenes written, a clip per scene, stitched."""
    project = written_project(owner, scenes=scenes, autorun_started=True, auto_stitch_done=True, **fields)
    for scene in project.scenes.all():
        finished_clip(scene, source_file)
    finished_stitch(project, source_file)
    return project
