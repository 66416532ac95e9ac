"""Background tasks: thin wrappers that take ids and call mv.pipeline.

Progress lives on our rows, not in the queue. No task sits waiting on a model: a clip,
character image or scene-writing task submits or polls once, then re-enqueues itself
deferred, so one worker keeps dozens of predictions in flight and a restarted worker
simply picks them up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.tasks import Task, task
from django.utils import timezone

from mv import errors, pipeline
from mv.models import ACTIVE_STATUSES, CharacterImage, Clip, JobStatus, Project, Scene, Stitch

logger = logging.getLogger("mv.tasks")


@task
def write_scenes(project_id: str, token: str | None = None) -> None:
    _poll_chain(write_scenes, pipeline.advance_scenes, Project, project_id, token, project_id=project_id)


@task
def rewrite_scene(scene_id: str, token: str | None = None) -> None:
    _poll_chain(rewrite_scene, pipeline.advance_scene_rewrite, Scene, scene_id, token, scene_id=scene_id)


@task
def advance_clip(clip_id: str, token: str | None = None) -> None:
    _poll_chain(advance_clip, pipeline.advance_clip, Clip, clip_id, token, clip_id=clip_id)


@task
def render_character_image(image_id: str, token: str | None = None) -> None:
    _poll_chain(render_character_image, pipeline.advance_character_image, CharacterImage, image_id, token,
                image_id=image_id)


def _poll_chain(this: Task, step: Callable[[str], bool], model: type[Clip | CharacterImage | Project | Scene],
                pk: str, token: str | None, **ids: str) -> None:
    """Advance a row one step; while its prediction runs, re-enqueue `this` task deferred
    instead of waiting. A chain whose token is no longer the row's (recovery started a
    newer one) ends here, so one chain polls a row."""
    while True:
        if not pipeline.is_current_poll_chain(pk, token, model):
            return
        try:
            done = step(pk)
        except model.DoesNotExist:
            return
        except Exception as exc:
            _fail_active(model, pk, exc)
            return
        if done:
            return
        if this.get_backend().supports_defer:
            run_after = timezone.now() + timedelta(seconds=settings.MV_POLL_INTERVAL)
            this.using(run_after=run_after).enqueue(**ids, token=token)
            return
        time.sleep(settings.MV_POLL_INTERVAL)  # backends that cannot defer (ImmediateBackend)


def _fail_active(model, pk: str, exc: Exception) -> None:
    """A bug must never leave a row running (or writing) forever: fail it with a readable error."""
    logger.exception("%s %s failed unexpectedly", model.__name__, pk)
    fields = pipeline.PREDICTION_FIELDS.get(model)
    message = f"internal error: {errors.public_message(exc)}"
    if fields is None:
        model.objects.filter(pk=pk, status__in=ACTIVE_STATUSES).update(
            status=JobStatus.FAILED, error=message, finished_at=timezone.now())
    else:
        model.objects.filter(pk=pk, **fields.active).update(**fields.failed(message))


@task
def run_stitch(stitch_id: str) -> None:
    try:
        pipeline.run_stitch(stitch_id)
    except Exception as exc:
        _fail_active(Stitch, stitch_id, exc)
