"""What happens when a prediction finishes (mv.jobs sends ``finished`` once per row), or a
song's analysis is stored.

- A clip frees a slot under MV_MAX_CONCURRENT_PREDICTIONS: the oldest clip waiting for
  one starts now instead of at its next check.
- A successful lipsync of a scene's current clip re-stitches its project.
- The automatic run, and a project with a song made through the API, stitch once every
  scene has a clip.
- A clip rendered to bring an edited timeline up to date re-stitches once every scene fits.
- A project's scenes, once written in the automatic run, start every clip at once.
- A song's first analysis starts transcribing its lyrics and, where a structure model runs,
  hearing its structure (mv.models.audio sends ``analysed``).
"""

from __future__ import annotations

import contextlib

from django.dispatch import receiver

from mv import flavors, jobs, tasks
from mv.errors import Refused
from mv.models import AudioTrack, Clip, JobStatus, Project, SceneWriting
from mv.models.audio import analysed
from mv.music import Analysis
from mv.pipeline import rendering, songs, stitching, timeline
from mv.providers import get_provider


@receiver(jobs.finished, sender=Clip)
def clip_finished(sender, row: Clip, **kwargs) -> None:
    _hand_over_slot(row)
    if not row.scene_id:
        return
    project = Project.objects.get(scenes__pk=row.scene_id)
    if row.kind == Clip.Kind.LIPSYNC and row.status == JobStatus.SUCCEEDED and row.promote_on_success:
        try:
            row.followup_stitch = stitching.restitch_project(project)
        except Refused:
            return
        row.save(update_fields=["followup_stitch"])
        return
    if row.status == JobStatus.SUCCEEDED and row.input.get("refit"):
        timeline.restitch_after_refit(row)
        return
    planned = project.autorun_started or project.audio_track_id is not None  # a page project, or an API one with a song
    if planned and not project.auto_stitch_done and stitching.all_scenes_ready(project):
        if Project.objects.filter(pk=project.pk, auto_stitch_done=False).update(auto_stitch_done=True):
            with contextlib.suppress(Refused):  # a scene lost its clip meanwhile: the Re-stitch button says so
                stitching.restitch_project(project)


def _hand_over_slot(clip: Clip) -> None:
    if not get_provider(clip.provider).limits_concurrency or not tasks.can_hand_over():
        return
    waiting = jobs.next_waiting(Clip, clip.provider)
    if waiting is not None:
        tasks.follow(waiting)


@receiver(jobs.finished, sender=SceneWriting)
def scenes_written(sender, row: SceneWriting, **kwargs) -> None:
    project = row.project
    if row.scene_id is None and row.status == JobStatus.SUCCEEDED and project.autorun_started:
        rendering.start_project_clips(project, flavors.resolve(row.config_flavor))


@receiver(analysed, sender=AudioTrack)
def song_analysed(sender, track: AudioTrack, analysis: Analysis, **kwargs) -> None:
    """Once per track, never again on a re-analysis (it would pay twice); a silent song has
    nothing to transcribe, and pasted or inherited lyrics need none."""
    if max(analysis.envelope, default=0.0) > 0 and not track.lyrics_source and not track.transcriptions.exists():
        songs.request_transcription(track)
    if analysis.source == "local" and not analysis.fell_back:  # silence and noise have no structure to hear
        songs.request_structure(track)
