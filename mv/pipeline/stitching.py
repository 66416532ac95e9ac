"""Stitching: clips in order under the song (the ffmpeg work runs in a task, Stitch.render)."""

from __future__ import annotations

from django.db import transaction

from mv import tasks
from mv.errors import Refused
from mv.models import AudioTrack, Clip, JobStatus, Project, Stitch, StitchItem


def request_stitch(
    *,
    owner,
    clips: list[Clip],
    audio_track: AudioTrack | None = None,
    audio_start: float = 0.0,
    suppress_video_audio: bool = True,
    project: Project | None = None,
    lengths: list[float] | None = None,
) -> Stitch:
    """A queued stitch of these clips, in this order (each trimmed to its `lengths`, if given)."""
    if not clips:
        raise Refused("no_clips", "There are no clips to stitch.")
    unfinished = [str(c.pk) for c in clips if c.status != JobStatus.SUCCEEDED or not c.file]
    if unfinished:
        raise Refused("video_not_ready", "Only finished videos can be stitched.", {"unfinished_video_ids": unfinished})
    if audio_track is not None:
        audio_track.check_range(audio_start, None, names=("audio_start", "end"))
    with transaction.atomic():
        stitch = Stitch.objects.create(owner=owner, project=project, audio_track=audio_track, audio_start=audio_start,
                                       suppress_video_audio=suppress_video_audio, num_clips=len(clips))
        StitchItem.objects.bulk_create(StitchItem(stitch=stitch, clip=c, position=i, length=lengths[i] if lengths else None)
                                       for i, c in enumerate(clips))
    tasks.stitch_later(stitch)
    return stitch


def restitch_project(project: Project) -> Stitch:
    """Stitch the scenes' current clips (read now, never from stale state) with the
    project's audio settings, each trimmed to its scene's slot: the video covers the chosen
    part of the song, from its first scene's start."""
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    if not scenes or any(s.current_clip is None for s in scenes):
        raise Refused("scenes_not_ready", "Every scene needs a finished clip before the video can be stitched.")
    slots = [s.slot for s in scenes]
    planned = project.audio_track is not None and all(slots)
    return request_stitch(owner=project.owner, clips=[s.current_clip for s in scenes], audio_track=project.audio_track,
                          audio_start=slots[0].start if planned else project.audio_start,  # type: ignore[union-attr]
                          suppress_video_audio=project.audio_track is not None, project=project,
                          lengths=[slot.length for slot in slots] if planned else None)  # type: ignore[union-attr]


def all_scenes_ready(project: Project) -> bool:
    """Every scene has a clip and none is still rendering (when the automatic run stitches)."""
    scenes = project.scenes.all()
    if not scenes.exists() or scenes.filter(current_clip__isnull=True).exists():
        return False
    return not Clip.objects.filter(scene__project=project, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists()
