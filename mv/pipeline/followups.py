"""What happens when a prediction finishes (mv.jobs sends ``finished`` once per row, inside
the transaction that finishes it, with its project's row locked: every row written here
commits with the finish; tasks are enqueued on commit), or a song's analysis is stored.

- A clip frees a slot under MV_MAX_CONCURRENT_PREDICTIONS / MV_USER_MAX_ACTIVE_PREDICTIONS:
  it is granted, in the same transaction, to the waiting clip the fair-share pick chooses
  (waiting clips do not poll); any other kind finishing frees its owner's turn under
  MV_USER_MAX_ACTIVE_PREDICTIONS (which counts every kind) the same way.
- A successful lipsync of a scene's current clip re-stitches its project.
- The automatic run, and a project with a song made through the API, stitch once every
  scene has a clip.
- A clip rendered to bring an edited timeline up to date re-stitches once every scene fits.
- A project's scenes, once written in the automatic run, start every clip at once.
- A song's files in (``arrived``) queue its analysis.
- A song's first analysis starts transcribing its lyrics and, where a structure model runs,
  hearing its structure (mv.models.audio sends ``analysed``).
- A song's analysis stored (and, where the structure model hears it, its answer in, failed
  or refused), or failed, or its import failed (``settled``) starts the scene plans waiting
  for it, cut on the analysis.
- A clip that succeeded for its scene makes its part for the scene's slot ahead of the stitch.
- A start frame or a song's vocal stem finished (whichever way): the clips waiting for it
  start (a failed one fails them at their start, with its message).
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.dispatch import receiver

from mv import audio, flavors, jobs, tasks
from mv.errors import Refused
from mv.models import (AudioTrack, Clip, JobStatus, Project, SceneWriting, SongGeneration, StartFrame,
                       StructureAnalysis, VocalStem)
from mv.models.audio import analysed, arrived, settled
from mv.models.locks import lock_slots, slots_granted
from mv.music import Analysis
from mv.pipeline import projects, rendering, songs, stitching, timeline
from mv.providers import get_provider


@receiver(jobs.finished, sender=Clip)
def clip_finished(sender, row: Clip, **kwargs) -> None:
    """In the clip's finishing transaction, under its project's lock: every row it causes."""
    if row.waits_for_slots():
        for granted in Clip.grant_slots(row.provider):  # the slot it frees (the slot lock is held)
            tasks.follow(granted)
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


@receiver(slots_granted)
def start_granted(sender, rows: list, **kwargs) -> None:
    """A start that found slots free granted them to other waiting rows too: start their chains."""
    for row in rows:
        tasks.follow(row)


@receiver(jobs.finished, sender=Clip)
def clip_part_ahead(sender, row: Clip, **kwargs) -> None:
    """Its part for its slot, made in a worker once this commits (mv.models.parts); only
    projects under a song have slots to trim to."""
    if (row.status == JobStatus.SUCCEEDED and row.scene_id and row.promote_on_success
            and Project.objects.filter(scenes__pk=row.scene_id, audio_track__isnull=False).exists()):
        tasks.prepare_part_later(row)


@receiver(jobs.finished)
def turn_freed(sender, row, **kwargs) -> None:
    """Any other kind finishing (lyrics, an image, a scene writing) frees its owner's turn
    under MV_USER_MAX_ACTIVE_PREDICTIONS, which counts every kind: the waiting clips that may
    start now are granted their slots in this finish's transaction (slot lock after the
    project's, the one lock order)."""
    if sender is Clip or settings.MV_USER_MAX_ACTIVE_PREDICTIONS is None or not get_provider(row.provider).paid:
        return
    lock_slots(Clip, row.provider)
    for granted in Clip.grant_slots(row.provider):
        tasks.follow(granted)


@receiver(jobs.finished, sender=SceneWriting)
def scenes_written(sender, row: SceneWriting, **kwargs) -> None:
    project = row.project
    if row.scene_id is None and row.status == JobStatus.SUCCEEDED and project.autorun_started:
        rendering.start_project_clips(project, flavors.resolve(row.config_flavor))


@receiver(settled, sender=AudioTrack)
def song_settled(sender, track: AudioTrack, **kwargs) -> None:
    """The song-analysed event (its analysis is in, or will never come), sent inside the
    transaction that stores it: the whole scene plans waiting for the song are cut now and
    start on commit. Nothing waits on a clock for it."""
    waiting = SceneWriting.objects.filter(project__audio_track=track, scene__isnull=True,
                                          status=JobStatus.QUEUED, started_at__isnull=True)
    for writing in waiting.select_related("project"):
        projects.start_after_song(writing)


@receiver(arrived, sender=AudioTrack)
def song_arrived(sender, track: AudioTrack, **kwargs) -> None:
    """A song's files are in: analyse it (queued when they commit)."""
    tasks.analyze_later(track.pk)


@receiver(jobs.finished, sender=SongGeneration)
def song_made(sender, row: SongGeneration, **kwargs) -> None:
    """A made song is imported like an upload (checked, transcoded, drawn, then analysed); a
    generation that failed fails its track with the same message, in the same transaction."""
    if row.status == JobStatus.SUCCEEDED:
        tasks.import_later(row.track_id)
    else:
        audio.fail_import(row.track, row.error or "The song could not be made; try again.")


@receiver(analysed, sender=AudioTrack)
def song_analysed(sender, track: AudioTrack, analysis: Analysis, **kwargs) -> None:
    """Once per track, never again on a re-analysis (it would pay twice); a silent song has
    nothing to transcribe, pasted or inherited lyrics need none, and a song our music model
    made has the words it was given or none (it plays no vocals)."""
    if (max(analysis.envelope, default=0.0) > 0 and not track.lyrics_source and not track.transcriptions.exists()
            and track.source != AudioTrack.Source.GENERATED):
        songs.request_transcription(track)
    if analysis.source == "local" and not analysis.fell_back:  # silence and noise have no structure to hear
        songs.request_structure(track)


@receiver(jobs.finished, sender=StructureAnalysis)
def structure_heard(sender, row: StructureAnalysis, **kwargs) -> None:
    """The structure model answered (its analysis was kept in this transaction), failed or was
    cancelled: the song is settled now, and the scene plans that waited for the better
    analysis are cut and start on commit."""
    row.track.settle()


@receiver(jobs.finished, sender=StartFrame)
@receiver(jobs.finished, sender=VocalStem)
def waited_for(sender, row: StartFrame | VocalStem, **kwargs) -> None:
    """The clips that wait for this start frame (or these vocals) get a poll chain, started
    when the finish commits (``Clip.waits_for_event``: they did not poll meanwhile)."""
    key = "input__start_frame" if sender is StartFrame else "input__vocals"
    for clip in Clip.objects.filter(**{key: str(row.pk)}, status=JobStatus.QUEUED, started_at__isnull=True):
        tasks.follow(clip)
