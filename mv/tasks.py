"""Background tasks: thin wrappers that take ids and run mv.jobs steps, a stitch, a clip's
part, a song's import or its analysis.

Progress lives on our rows, not in the queue. No task sits waiting on a model: a
prediction's task advances it one step, then re-enqueues itself deferred, so one worker
keeps dozens of predictions in flight and a restarted worker simply picks them up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.tasks import Task, task
from django.utils import timezone

from mv import dbretry, jobs
from mv.models import AudioTrack, Clip, Prediction, Stitch
from mv.models.parts import prepare_part as prepare_clip_part

logger = logging.getLogger("mv.tasks")

NEW_WORK_PRIORITY = 10  # above polls (re-enqueued at the default 0): a new start never waits behind them


@task
def advance_prediction(kind: str, pk: str, token: str | None = None) -> None:
    """Advance one prediction row; while it runs, come back deferred instead of waiting."""
    while (delay := dbretry.call(jobs.advance, kind, pk, token)) is not None:
        if advance_prediction.get_backend().supports_defer:
            run_after = timezone.now() + timedelta(seconds=delay)
            # The queue is in the database too: a busy moment must not end the poll chain.
            dbretry.call(advance_prediction.using(run_after=run_after).enqueue, kind=kind, pk=pk, token=token)
            return
        time.sleep(delay)  # backends that cannot defer (ImmediateBackend)


@task
def deliver_prediction(prediction_id: str, payload: dict[str, Any]) -> None:
    """Take in what a webhook said about a prediction (its download and checks run here,
    in a worker, not in the web request that received it)."""
    dbretry.call(jobs.deliver, prediction_id, payload)


@task
def run_stitch(stitch_id: str) -> None:
    dbretry.call(_stitch, stitch_id)


def _stitch(stitch_id: str) -> None:
    stitch = Stitch.objects.filter(pk=stitch_id).first()
    if stitch is None:
        return
    try:
        stitch.render()
    except Exception as exc:
        if dbretry.is_transient(exc):
            raise  # run again by dbretry.call: a database that is busy for a while fails no stitch
        logger.exception("stitch %s failed unexpectedly", stitch_id)
        stitch.mark_failed("Something went wrong on our side; re-stitch to try again.")


@task
def prepare_part(clip_id: str) -> None:
    """Make a clip's part for its scene's slot ahead of the stitch (mv.models.parts)."""
    clip = Clip.objects.select_related("scene__project").filter(pk=clip_id).first()
    if clip is None:
        return
    try:
        prepare_clip_part(clip)
    except Exception:  # the stitch makes it then; nothing is lost
        logger.exception("the part of clip %s could not be made ahead", clip_id)


@task
def import_track(track_id: str) -> None:
    """Check, transcode and draw a stored (or URL) song: the slow part of an upload, off the request."""
    from mv import audio  # mv.audio enqueues this task

    track = AudioTrack.objects.filter(pk=track_id).first()
    if track is not None and track.is_importing:
        try:
            audio.finish_import(track)
        except Exception:
            logger.exception("import of track %s failed unexpectedly", track_id)
            audio.fail_import(track, audio.CONVERT_FAILED)


@task
def analyze_track(track_id: str) -> None:
    """Analyse one song (tempo, beats, sections) in the background, once per track."""
    track = AudioTrack.objects.filter(pk=track_id).first()
    if track is not None:
        track.analyze()


@dataclass
class Held:
    """Work started inside ``held()``: not enqueued, the caller runs it itself."""

    predictions: list[Prediction] = field(default_factory=list)
    stitches: list[Stitch] = field(default_factory=list)


_held: ContextVar[Held | None] = ContextVar("mv_tasks_held", default=None)


@contextlib.contextmanager
def held() -> Iterator[Held]:
    """Keep the work started inside out of the queue: ``make_video`` runs a whole video
    in its own process and needs no worker."""
    holder = Held()
    reset = _held.set(holder)
    try:
        yield holder
    finally:
        _held.reset(reset)


@contextlib.contextmanager
def together() -> Iterator[None]:
    """Enqueue the work started inside in one transaction once the block's own commits
    (a project's clips: one write to the queue instead of one per clip, each of which
    waited its turn for SQLite's lock beside the workers' claims). Inside ``held()`` the
    work stays with its holder."""
    if _held.get() is not None:
        yield
        return
    with held() as holder:
        yield
    transaction.on_commit(partial(_enqueue_all, holder))


def _enqueue_all(holder: Held) -> None:
    # A queue that runs tasks inline (ImmediateBackend) must not run them inside one transaction.
    with transaction.atomic() if runs_later() else contextlib.nullcontext():
        for row in holder.predictions:
            _ahead(advance_prediction).enqueue(kind=row.kind_name(), pk=str(row.pk), token=str(row.poll_token))
        for stitch in holder.stitches:
            _ahead(run_stitch).enqueue(stitch_id=str(stitch.pk))


def _ahead(this: Task) -> Task:
    """New work goes ahead of polls where the queue can order them."""
    return this.using(priority=NEW_WORK_PRIORITY) if this.get_backend().supports_priority else this


def _enqueue(this: Task, **kwargs: Any) -> None:
    """Enqueue once the current transaction commits, ahead of polls where the queue can."""
    transaction.on_commit(partial(_ahead(this).enqueue, **kwargs))


def follow(row: Prediction) -> None:
    """Start a poll chain for the row (a new chain: any older one ends at its next step)."""
    token = row.new_chain()
    holder = _held.get()
    if holder is not None:
        holder.predictions.append(row)
        return
    _enqueue(advance_prediction, kind=row.kind_name(), pk=str(row.pk), token=str(token))


def deliver_later(prediction_id: str, payload: dict[str, Any]) -> None:
    _enqueue(deliver_prediction, prediction_id=prediction_id, payload=payload)


def stitch_later(stitch: Stitch) -> None:
    holder = _held.get()
    if holder is not None:
        holder.stitches.append(stitch)
        return
    _enqueue(run_stitch, stitch_id=str(stitch.pk))


def prepare_part_later(clip: Clip) -> None:
    """Once the current transaction commits, make the clip's part for its slot in a worker
    (not inside ``held()``: there the stitch, run in the same process, makes it)."""
    if _held.get() is None:
        _enqueue(prepare_part, clip_id=str(clip.pk))


def analyze_later(track_id: str) -> None:
    _enqueue(analyze_track, track_id=str(track_id))


def import_later(track_id: str) -> None:
    _enqueue(import_track, track_id=str(track_id))


def runs_later() -> bool:
    """Whether the queue runs tasks later (a worker), not inline when they are enqueued."""
    return advance_prediction.get_backend().supports_defer


def resume_interrupted() -> int:
    """On worker start: follow every unfinished prediction again, re-run stitches, and
    analyse songs whose analysis was cut off or is of an older version."""
    predictions, stitches = jobs.recover()
    for row in predictions:
        follow(row)
    for stitch in stitches:
        stitch_later(stitch)
    tracks = [str(pk) for pk in AudioTrack.objects.needing_analysis().values_list("pk", flat=True)]
    for track_id in tracks:
        analyze_later(track_id)
    imports = [str(pk) for pk in AudioTrack.objects.needing_import().values_list("pk", flat=True)]
    for track_id in imports:
        import_later(track_id)
    return len(predictions) + len(stitches) + len(tracks) + len(imports)
