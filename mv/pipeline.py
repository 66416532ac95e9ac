"""The use cases: write scenes, render clips, lipsync, stitch.

Views, the JSON API and management commands call these functions; tasks (mv/tasks.py)
run the slow parts in the background, and every bit of progress lives on our rows.
Nothing generated is ever overwritten: a regeneration or a lipsync is a new Clip whose
parent is the previous one, and a scene's current clip moves only once it succeeded.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mv import errors, files, flavors, media
from mv.flavors import Flavor
from mv.models import (
    ACTIVE_STATUSES,
    AudioTrack,
    CharacterImage,
    Clip,
    JobStatus,
    Project,
    Scene,
    Stitch,
    StitchItem,
)
from mv.providers import Provider, ProviderError, get_provider
from mv.providers.base import ClipRequest, JobUpdate, LipsyncRequest, SceneRequest, SceneSpec, parse_scenes

logger = logging.getLogger("mv.pipeline")

DEFAULT_CLIP_SECONDS = 8.0


NEW_WORK_PRIORITY = 10  # above polls (re-enqueued at the default 0): a new start never waits behind them


def _enqueue(task, **kwargs: Any) -> None:
    if task.get_backend().supports_priority:
        task = task.using(priority=NEW_WORK_PRIORITY)
    transaction.on_commit(partial(task.enqueue, **kwargs))


@dataclass(frozen=True)
class PredictionFields:
    """Where one kind of row keeps the prediction it waits on, so one step
    (`_prediction_step`), one poll chain (tasks._poll_chain) and one recovery serve clips
    and character images (their own status) and scene writing (a project's scenes, or one
    scene's prompt)."""

    waiting: dict[str, Any]  # lookups: the row waits for a start (the model has not accepted it yet)
    active: dict[str, Any]  # lookups: the row is not finished (what recovery resumes)
    failed: Callable[[str], dict[str, Any]]  # the field values that fail it with this message
    running: Callable[[Any, JobUpdate], dict[str, Any]] = lambda row, update: {}  # set once accepted
    started_at: str = "started_at"
    prediction_id: str = "prediction_id"
    deadline_at: str = "deadline_at"
    poll_token: str = "poll_token"

    def is_waiting(self, row: Any) -> bool:
        return _matches(row, self.waiting)

    def is_active(self, row: Any) -> bool:
        return _matches(row, self.active)

    @property
    def finished_fields(self) -> list[str]:
        return list(self.failed(""))

    def fail(self, row: Any, message: str) -> None:
        values = self.failed(message)
        for name, value in values.items():
            setattr(row, name, value)
        row.save(update_fields=list(values))


def _matches(row: Any, lookups: dict[str, Any]) -> bool:
    """The row, as read, satisfies these lookups (exact values, or `__in` a collection)."""
    for lookup, value in lookups.items():
        name, _, op = lookup.partition("__")
        if not (getattr(row, name) in value if op == "in" else getattr(row, name) == value):
            return False
    return True


def _job_failed(message: str) -> dict[str, Any]:
    return {"status": JobStatus.FAILED, "error": message[:2000], "finished_at": timezone.now()}


def _job_running(row: Clip | CharacterImage, update: JobUpdate) -> dict[str, Any]:
    return {"status": JobStatus.RUNNING, "model": update.model or row.model, "input": row.input | {"sent": update.input}}


_JOB = PredictionFields(waiting={"status": JobStatus.QUEUED}, active={"status__in": ACTIVE_STATUSES},
                        failed=_job_failed, running=_job_running)
PREDICTION_FIELDS: dict[type, PredictionFields] = {
    Clip: _JOB,
    CharacterImage: _JOB,
    Project: PredictionFields(
        waiting={"scenes_status": Project.ScenesStatus.WRITING, "scenes_prediction_id": ""},
        active={"scenes_status": Project.ScenesStatus.WRITING},
        failed=lambda message: {"scenes_status": Project.ScenesStatus.FAILED, "scenes_error": message[:2000],
                                "updated_at": timezone.now()},
        started_at="scenes_started_at", prediction_id="scenes_prediction_id", deadline_at="scenes_deadline_at",
        poll_token="scenes_poll_token",
    ),
    Scene: PredictionFields(
        waiting={"prompt_status": Scene.PromptStatus.WRITING, "prompt_prediction_id": ""},
        active={"prompt_status": Scene.PromptStatus.WRITING},
        failed=lambda message: {"prompt_status": Scene.PromptStatus.FAILED, "prompt_error": message[:2000],
                                "updated_at": timezone.now()},
        started_at="prompt_started_at", prediction_id="prompt_prediction_id", deadline_at="prompt_deadline_at",
        poll_token="prompt_poll_token",
    ),
}


def _new_poll_chain(model: type[Clip | CharacterImage | Project | Scene], task, pk: Any, **ids: str) -> None:
    """Give the row a new poll token and start a chain with it; any older chain of the row
    ends at its next step (see tasks._poll_chain)."""
    token = uuid.uuid4()
    model.objects.filter(pk=pk).update(**{PREDICTION_FIELDS[model].poll_token: token})
    _enqueue(task, **ids, token=str(token))


# --- projects and scenes ------------------------------------------------------------------


def create_project(
    *,
    owner,
    video_description: str,
    character_description: str = "",
    mode: str = Project.Mode.MUSIC_VIDEO,
    audio_track: AudioTrack | None = None,
    audio_start: float = 0.0,
    flavor: Flavor,
    character_image: CharacterImage | None = None,
    number_of_scenes: int | None = None,
    scene_parameters: dict[str, Any] | None = None,
) -> Project:
    """Create a project (no paid work starts here)."""
    if audio_track is not None and not audio_track.accepts_start(audio_start):
        raise ValueError(f"audio start must be between 0 and the track length ({audio_track.duration:.2f} s)")
    return Project.objects.create(
        owner=owner,
        video_description=video_description,
        character_description=character_description,
        mode=mode,
        audio_track=audio_track,
        audio_start=audio_start,
        config_flavor=flavor.name,
        character_image=character_image,
        number_of_scenes=number_of_scenes,
        scene_parameters=scene_parameters or {},
    )


def start_project(project: Project) -> bool:
    """Start the automatic run once: scenes, then every clip at once, then the stitch.
    The flag is claimed atomically, so a reload (or two tabs) never pays twice."""
    claimed = Project.objects.filter(pk=project.pk, autorun_started=False).update(autorun_started=True)
    if not claimed:
        return False
    project.autorun_started = True
    request_scenes(project, flavors.resolve(project.config_flavor))
    return True


def scene_request(project: Project, flavor: Flavor, *, used_in: str = "mv.pipeline.write_scenes") -> SceneRequest:
    """What the scene writer is asked: the flavor's parameters, overridden per project."""
    overrides = project.scene_parameters or {}

    def param(key: str) -> Any:
        if overrides.get(key) not in (None, ""):
            return overrides[key]
        return flavor.get("parameters", key, used_in=f"{used_in}: {key}")

    count = project.number_of_scenes or param("number_of_scenes")
    video_type = param("video_type")
    if project.mode == Project.Mode.AD_CREATIVE and not overrides.get("video_type"):
        video_type = "product ad creative"  # the mode decides what kind of video is written
    return SceneRequest(
        idea=project.video_description,
        character_description=project.character_description,
        character_characteristics=param("character_characteristics"),
        number_of_scenes=int(count),
        video_type=video_type,
        video_characteristics=param("video_characteristics"),
        camera_angle=param("camera_angle"),
        mode=project.mode,
    )


def request_scenes(project: Project, flavor: Flavor, *, enqueue: bool = True) -> None:
    """Mark scenes as being written and start the writer's poll chain; old scenes stay until
    then. A write still under way for an earlier request is dropped (its chain ends)."""
    from mv import tasks

    project.config_flavor = flavor.name
    project.scenes_status = Project.ScenesStatus.WRITING
    project.scenes_error = ""
    project.scenes_started_at = project.scenes_deadline_at = None
    project.scenes_prediction_id = ""
    project.save(update_fields=["config_flavor", "scenes_status", "scenes_error", "scenes_started_at",
                                "scenes_prediction_id", "scenes_deadline_at", "updated_at"])
    if enqueue:
        _new_poll_chain(Project, tasks.write_scenes, project.pk, project_id=str(project.pk))


def advance_scenes(project_id: str) -> bool:
    """One step of writing a project's scenes with its flavor: start the writer, poll it, or
    apply its scenes (texts replaced, clips stay attached; the clips start when in the
    automatic run). Returns True once the writing is over, either way."""
    project = Project.objects.get(pk=project_id)
    flavor = flavors.resolve(project.config_flavor)
    written = _scene_writer_step(project, project, flavor, "mv.pipeline.write_scenes")
    if isinstance(written, bool):
        return written
    with transaction.atomic():
        if not Project.objects.select_for_update().filter(
            pk=project.pk, scenes_status=Project.ScenesStatus.WRITING, scenes_prediction_id=project.scenes_prediction_id
        ).exists():
            return True  # asked again meanwhile: the newer request's chain writes them
        existing = {s.position: s for s in project.scenes.select_for_update()}
        for position, spec in enumerate(written):
            scene = existing.pop(position, None)
            if scene is None:
                Scene.objects.create(project=project, position=position, description=spec.description,
                                     negative_description=spec.negative_description)
            else:
                scene.description = spec.description
                scene.negative_description = spec.negative_description
                scene.prompt_status = Scene.PromptStatus.READY
                scene.save(update_fields=["description", "negative_description", "prompt_status", "updated_at"])
        for extra in existing.values():
            extra.delete()  # its clips survive (scene=NULL); only the now-unused prompt goes
        project.scenes_status = Project.ScenesStatus.READY
        project.save(update_fields=["scenes_status", "updated_at"])
    if project.autorun_started:
        start_project_clips(project, flavor)
    return True


def rewrite_scene(scene: Scene, flavor: Flavor) -> None:
    """Start a rewrite of one scene's prompt; its siblings are untouched."""
    from mv import tasks

    scene.prompt_status = Scene.PromptStatus.WRITING
    scene.prompt_error = ""
    scene.prompt_started_at = scene.prompt_deadline_at = None
    scene.prompt_prediction_id = ""
    scene.save(update_fields=["prompt_status", "prompt_error", "prompt_started_at", "prompt_prediction_id",
                              "prompt_deadline_at", "updated_at"])
    project = scene.project
    if project.config_flavor != flavor.name:
        project.config_flavor = flavor.name
        project.save(update_fields=["config_flavor", "updated_at"])
    _new_poll_chain(Scene, tasks.rewrite_scene, scene.pk, scene_id=str(scene.pk))


def advance_scene_rewrite(scene_id: str) -> bool:
    """One step of rewriting one scene: ask for the whole set again (so the new prompt fits
    the story) and keep only the scene at this position. True once the rewrite is over."""
    scene = Scene.objects.select_related("project").get(pk=scene_id)
    flavor = flavors.resolve(scene.project.config_flavor)
    written = _scene_writer_step(scene, scene.project, flavor, "mv.pipeline.run_rewrite_scene")
    if isinstance(written, bool):
        return written
    spec = written[scene.position % len(written)]
    Scene.objects.filter(pk=scene.pk, prompt_status=Scene.PromptStatus.WRITING,
                         prompt_prediction_id=scene.prompt_prediction_id).update(
        description=spec.description, negative_description=spec.negative_description,
        prompt_status=Scene.PromptStatus.READY, updated_at=timezone.now())
    return True


def _scene_writer_step(row: Project | Scene, project: Project, flavor: Flavor, used_in: str) -> list[SceneSpec] | bool:
    """One step of the scene writer for the row waiting on it (a project, or a scene being
    rewritten), like a clip's: start it, poll it, fail it past its deadline. Returns the
    scenes once written, False while it runs, True when the row is finished here (failed,
    or no longer waiting)."""
    fields = PREDICTION_FIELDS[type(row)]
    if not fields.is_active(row):
        return True
    provider = get_provider()
    try:
        step = _prediction_step(row, provider, lambda: provider.start_scenes(
            flavor, scene_request(project, flavor, used_in=used_in)), provider.poll_text)
        if isinstance(step, bool):
            return step
        if step.state == "running":
            return False
        if step.state == "succeeded":
            count = scene_request(project, flavor, used_in=f"{used_in} (checking the answer)").number_of_scenes
            written = parse_scenes(step.text or "", count)
            logger.info("scenes written for %s %s with %s (flavor %s)", type(row).__name__.lower(), row.pk,
                        step.model or "the scene writer", flavor.name)
            return written
        fields.fail(row, step.error or "the scene writer failed without saying why")
    except ProviderError as exc:
        if not exc.permanent and getattr(row, fields.prediction_id):
            logger.warning("scene writer for %s: transient provider error, will poll again: %s", row.pk, exc.message)
            return False
        fields.fail(row, exc.message)
    return True


def update_scene_prompt(scene: Scene, *, description: str, negative_description: str | None = None) -> Scene:
    scene.description = description
    fields = ["description", "updated_at"]
    if negative_description is not None:
        scene.negative_description = negative_description
        fields.append("negative_description")
    scene.save(update_fields=fields)
    return scene


# --- clips --------------------------------------------------------------------------------


def _video_defaults(flavor: Flavor, used_in: str) -> dict[str, Any]:
    return {
        "model": flavor.get("image_params", "video_model", used_in=f"{used_in}: model"),
        "aspect_ratio": flavor.get("image_params", "video_aspect_ratio", used_in=f"{used_in}: aspect_ratio"),
        "duration": flavor.get("image_params", "video_duration", used_in=f"{used_in}: duration"),
        "generate_audio": flavor.get("image_params", "video_generate_audio", used_in=f"{used_in}: generate_audio"),
        "rules": flavor.get("image_params", "video_rules_template", used_in=f"{used_in}: rules appended to the prompt"),
    }


def request_clip(
    *,
    owner,
    flavor: Flavor,
    prompt: str,
    negative_prompt: str = "",
    scene: Scene | None = None,
    aspect_ratio: str | None = None,
    duration: int | None = None,
    generate_audio: bool | None = None,
    seed: int | None = None,
    character_image: CharacterImage | None = None,
    enqueue: bool = True,
) -> Clip:
    """A queued generated clip, rendered in the background; with a scene it becomes the
    scene's current clip only once it succeeded (its parent is the previous one)."""
    from mv import tasks

    defaults = _video_defaults(flavor, "mv.pipeline.request_clip")
    aspect = aspect_ratio or defaults["aspect_ratio"]
    rules = defaults["rules"].format(aspect_ratio=aspect).strip()
    full_prompt = f"{prompt.strip()}\n\n{rules}" if rules else prompt.strip()
    if character_image is None and scene is not None:
        character_image = scene.project.character_image
    clip = Clip.objects.create(
        owner=owner,
        scene=scene,
        kind=Clip.Kind.GENERATED,
        provider=settings.MV_PROVIDER,
        model=defaults["model"] if settings.MV_PROVIDER == "replicate" else "local/preview",
        prompt=full_prompt,
        negative_prompt=negative_prompt,
        config_flavor=flavor.name,
        parent=scene.current_clip if scene else None,
        input={
            "aspect_ratio": aspect,
            "duration": int(duration or defaults["duration"]),
            "generate_audio": defaults["generate_audio"] if generate_audio is None else bool(generate_audio),
            "seed": seed,
            "character_image": str(character_image.pk) if character_image and character_image.file else None,
            "label": f"Scene {scene.number}" if scene else "Clip",
        },
    )
    if enqueue:
        _enqueue(tasks.advance_clip, clip_id=str(clip.pk))
    return clip


def start_project_clips(project: Project, flavor: Flavor, *, enqueue: bool = True) -> list[Clip]:
    """A clip for every scene that has neither a current clip nor one in progress."""
    busy = set(
        Clip.objects.filter(scene__project=project, status__in=ACTIVE_STATUSES).values_list("scene_id", flat=True)
    )
    started = []
    for scene in project.scenes.select_related("project__character_image").filter(current_clip__isnull=True):
        if scene.pk not in busy:
            started.append(
                request_clip(owner=project.owner, flavor=flavor, prompt=scene.description,
                             negative_prompt=scene.negative_description, scene=scene, enqueue=enqueue)
            )
    return started


def retry_clip(clip: Clip, *, enqueue: bool = True) -> Clip:
    """Run a failed clip again as a new clip with the same inputs (the failed one stays)."""
    from mv import tasks

    if clip.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise ValueError("only a failed or canceled clip can be retried")
    again = Clip.objects.create(
        owner=clip.owner, scene=clip.scene, kind=clip.kind, provider=settings.MV_PROVIDER, model=clip.model,
        prompt=clip.prompt, negative_prompt=clip.negative_prompt, config_flavor=clip.config_flavor,
        parent=clip.parent, audio_track=clip.audio_track, audio_start=clip.audio_start, audio_end=clip.audio_end,
        audio_slice=clip.audio_slice.name, promote_on_success=clip.promote_on_success,
        input={k: v for k, v in clip.input.items() if k in {"aspect_ratio", "duration", "generate_audio", "seed",
                                                            "character_image", "label", "options"}},
    )
    if enqueue:
        _enqueue(tasks.advance_clip, clip_id=str(again.pk))
    return again


def cancel_clip(clip: Clip) -> Clip:
    """Stop a queued or rendering clip and the prediction it pays for; the scene keeps its
    current clip. A start under way when this lands cancels its own prediction (see
    _prediction_step), and the poll chain ends at its next step."""
    if not Clip.objects.filter(pk=clip.pk, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.CANCELED, error="cancelled by you", finished_at=timezone.now()
    ):
        raise ValueError("only a queued or rendering clip can be cancelled")
    clip.refresh_from_db()
    if clip.prediction_id:
        get_provider(clip.provider).cancel(clip.prediction_id)
    _after_clip_finished(clip)
    return clip


def make_current(clip: Clip) -> Scene:
    if clip.scene is None or clip.status != JobStatus.SUCCEEDED:
        raise ValueError("only a finished clip of a scene can be made current")
    Scene.objects.filter(pk=clip.scene_id).update(current_clip=clip, updated_at=timezone.now())
    clip.scene.refresh_from_db()
    return clip.scene


def _at_capacity(clip: Clip) -> bool:
    """Bound in-flight predictions (the provider's rate limits); local renders are bounded
    by the worker count instead."""
    if clip.provider != "replicate":
        return False
    running = Clip.objects.filter(provider="replicate", status=JobStatus.RUNNING).exclude(pk=clip.pk).count()
    return running >= settings.MV_MAX_CONCURRENT_PREDICTIONS


def _clip_request(clip: Clip, workdir, stack: contextlib.ExitStack) -> ClipRequest:
    data = clip.input
    reference = None
    if data.get("character_image"):
        image = CharacterImage.objects.filter(pk=data["character_image"]).first()
        if image and image.file:
            reference = stack.enter_context(files.local_path(image.file))
    return ClipRequest(
        prompt=clip.prompt, negative_prompt=clip.negative_prompt, aspect_ratio=data.get("aspect_ratio", "16:9"),
        duration=int(data.get("duration", 8)), generate_audio=bool(data.get("generate_audio", True)),
        seed=data.get("seed"), reference_image=reference, label=data.get("label", ""),
    )


def _lipsync_request(clip: Clip, stack: contextlib.ExitStack) -> LipsyncRequest:
    if clip.parent is None or not clip.parent.file or not clip.audio_slice:
        raise ProviderError("the source clip or its audio slice is missing")
    options = clip.input.get("options", {})
    return LipsyncRequest(
        video=stack.enter_context(files.local_path(clip.parent.file)),
        audio=stack.enter_context(files.local_path(clip.audio_slice)),
        temperature=options.get("temperature"),
        occlusion_detection_enabled=options.get("occlusion_detection_enabled"),
        active_speaker_detection=options.get("active_speaker_detection"),
    )


def _prediction_step(row: Clip | CharacterImage | Project | Scene, provider: Provider, start: Callable[[], JobUpdate],
                     poll: Callable[[str], JobUpdate], *, may_start: Callable[[], bool] = lambda: True
                     ) -> JobUpdate | bool:
    """The part of a job's life that clips, character images and scene writing share
    (each row's fields are in PREDICTION_FIELDS). A waiting row is claimed and started, and
    its prediction id stored before anything waits on it; a running one is polled, or
    cancelled and failed past its deadline. Returns the update to apply, False when there
    is nothing to do this step (another worker is starting it, or `may_start` says wait),
    or True when the row finished here. Never starts twice: a start cut off by a crash is
    failed once MV_START_GRACE has passed."""
    model = type(row)
    fields = PREDICTION_FIELDS[model]
    started_at = getattr(row, fields.started_at)
    if fields.is_waiting(row):
        if started_at is not None:
            if timezone.now() - started_at < timedelta(seconds=settings.MV_START_GRACE):
                return False  # another worker may still be inside the create call
            # The model may have accepted that start, so starting again could pay twice.
            fields.fail(row, "interrupted while starting (the worker restarted); retry to run it again")
            return True
        if not may_start():
            return False
        started_at = timezone.now()
        if not model.objects.filter(pk=row.pk, **fields.waiting, **{f"{fields.started_at}__isnull": True}).update(
            **{fields.started_at: started_at}
        ):
            return False  # another worker is starting it
        setattr(row, fields.started_at, started_at)
        update = start()
        accepted = {fields.prediction_id: update.prediction_id,
                    fields.deadline_at: timezone.now() + timedelta(seconds=settings.MV_PREDICTION_TIMEOUT),
                    **fields.running(row, update)}
        if not model.objects.filter(pk=row.pk, **fields.waiting, **{fields.started_at: started_at}).update(**accepted):
            # Failed, cancelled or asked again meanwhile (the start outlived MV_START_GRACE, a
            # Cancel, a new scene request): nobody will collect this prediction, so stop paying.
            provider.cancel(update.prediction_id)
            row.refresh_from_db(fields=fields.finished_fields)
            return True
        for name, value in accepted.items():
            setattr(row, name, value)
        return update
    prediction_id = getattr(row, fields.prediction_id)
    if not prediction_id:
        fields.fail(row, "interrupted before the model accepted the job; retry to run it again")
        return True
    deadline_at = getattr(row, fields.deadline_at)
    if deadline_at and timezone.now() > deadline_at:
        provider.cancel(prediction_id)
        fields.fail(row, f"timed out after {settings.MV_PREDICTION_TIMEOUT:.0f} s; the prediction was cancelled")
        return True
    return poll(prediction_id)


def advance_clip(clip_id: str) -> bool:
    """One step of a clip's life: start it when queued, poll it when running, store the
    output when done. Returns True once the clip is finished. Safe to call again after a
    crash: a running clip with a prediction id is polled, never started twice."""
    clip = Clip.objects.select_related("parent", "scene").get(pk=clip_id)
    if clip.is_finished:
        return True
    provider = get_provider(clip.provider)
    flavor = flavors.resolve(clip.config_flavor)
    with files.workdir() as workdir, contextlib.ExitStack() as stack:

        def start() -> JobUpdate:
            if clip.kind == Clip.Kind.LIPSYNC:
                return provider.start_lipsync(flavor, _lipsync_request(clip, stack), workdir=workdir)
            return provider.start_clip(flavor, _clip_request(clip, workdir, stack), workdir=workdir)

        def step() -> bool:
            update = _prediction_step(clip, provider, start, partial(provider.poll, workdir=workdir),
                                      may_start=lambda: not _at_capacity(clip))
            return update if isinstance(update, bool) else _apply(clip, update)

        done = _guarded_step(clip, step, media_failure="could not process the video: {}")
    if done:
        _after_clip_finished(clip)
    return done


def _guarded_step(row: Clip | CharacterImage, step: Callable[[], bool], *, media_failure: str) -> bool:
    """Run one step of a clip or image. A transient provider error on a running row means
    poll again; any other provider or media error fails the row. True once it finished."""
    try:
        return step()
    except ProviderError as exc:
        if not exc.permanent and row.status == JobStatus.RUNNING:
            logger.warning("%s %s: transient provider error, will poll again: %s", type(row).__name__, row.pk,
                           exc.message)
            return False
        row.mark_failed(exc.message)
    except media.MediaError as exc:
        row.mark_failed(media_failure.format(exc))
    return True


def _apply(clip: Clip, update: JobUpdate) -> bool:
    if update.state == "running":
        if update.progress != clip.progress:
            clip.progress = update.progress
            clip.save(update_fields=["progress"])
        return False
    if update.state == "succeeded":
        if update.output_path is None:
            raise ProviderError("the model finished but returned no video")
        try:
            info = media.require_video(update.output_path)
        except media.MediaError as exc:
            raise ProviderError(f"the model's output is not a playable video ({exc})") from None
        poster_path = update.output_path.with_name("poster.jpg")
        media.poster(update.output_path, poster_path, at=min(0.5, info.duration / 2))
        files.store(clip.file, update.output_path, f"{clip.pk}.mp4")
        files.store(clip.poster, poster_path, f"{clip.pk}.jpg")
        clip.duration = info.video.duration if info.video else info.duration
        clip.predict_time = update.predict_time
        clip.progress = 100
        clip.status = JobStatus.SUCCEEDED
        clip.error = ""
        clip.finished_at = timezone.now()
        clip.save(update_fields=["file", "poster", "duration", "predict_time", "progress", "status", "error", "finished_at"])
        _promote(clip)
    elif update.state == "canceled":
        clip.mark_canceled(update.error or "the prediction was cancelled")
    else:
        clip.mark_failed(update.error or "the model failed without saying why")
    return True


def _promote(clip: Clip) -> None:
    """Point the scene at the new clip. Concurrent finishes each set the pointer as they
    finish, so the scene ends on the last one to finish."""
    if clip.scene_id and clip.promote_on_success:
        Scene.objects.filter(pk=clip.scene_id).update(current_clip=clip, updated_at=timezone.now())


def _hand_over_slot(clip: Clip) -> None:
    """A finished prediction frees a slot under MV_MAX_CONCURRENT_PREDICTIONS: the oldest
    clip waiting for one starts now instead of at its next check."""
    from mv import tasks

    if clip.provider != "replicate" or not tasks.advance_clip.get_backend().supports_defer:
        return  # backends that run tasks inline have nobody waiting
    waiting = (Clip.objects.filter(provider="replicate", status=JobStatus.QUEUED, started_at__isnull=True)
               .order_by("created_at").values_list("pk", flat=True).first())
    if waiting is not None:
        _new_poll_chain(Clip, tasks.advance_clip, waiting, clip_id=str(waiting))


def _after_clip_finished(clip: Clip) -> None:
    """Follow-ups: the freed slot goes to a waiting clip; a successful lipsync of a current
    clip re-stitches its project; the automatic run stitches once every scene has a clip."""
    _hand_over_slot(clip)
    if not clip.scene_id:
        return
    project = Project.objects.get(scenes__pk=clip.scene_id)
    if clip.kind == Clip.Kind.LIPSYNC and clip.status == JobStatus.SUCCEEDED and clip.promote_on_success:
        stitch = restitch_project(project)
        if stitch is not None:
            clip.followup_stitch = stitch
            clip.save(update_fields=["followup_stitch"])
        return
    if project.autorun_started and not project.auto_stitch_done and _all_scenes_ready(project):
        if Project.objects.filter(pk=project.pk, auto_stitch_done=False).update(auto_stitch_done=True):
            restitch_project(project)


def _all_scenes_ready(project: Project) -> bool:
    scenes = project.scenes.all()
    if not scenes.exists() or scenes.filter(current_clip__isnull=True).exists():
        return False
    return not Clip.objects.filter(scene__project=project, status__in=ACTIVE_STATUSES).exists()


def regenerate_scene(scene: Scene, *, owner, lipsync: bool = False, description: str = "",
                     negative_description: str = "") -> Clip:
    """The card's Regenerate. Plain: a new clip from the prompt as shown (an unsaved edit is
    saved first). With lipsync: the current clip lip-synced to the scene's slice of the song."""
    project = scene.project
    flavor = flavors.resolve(project.config_flavor)
    if lipsync:
        if project.audio_track is None or scene.current_clip is None:
            raise ValueError("Lipsync needs a song and a finished clip.")
        start, end = scene_slice(scene)
        return request_lipsync(owner=owner, flavor=flavor, source=scene.current_clip, audio_track=project.audio_track,
                               start_time=start, end_time=end)
    if description and (description, negative_description) != (scene.description, scene.negative_description):
        update_scene_prompt(scene, description=description, negative_description=negative_description)
    return request_clip(owner=owner, flavor=flavor, prompt=scene.description,
                        negative_prompt=scene.negative_description, scene=scene)


# --- lipsync ------------------------------------------------------------------------------


def scene_slice(scene: Scene) -> tuple[float, float]:
    """The scene's slice of the song: after the audio start and the real lengths of the
    earlier scenes' current clips (8 s each when unknown)."""
    project = scene.project
    earlier = (
        Scene.objects.filter(project=project, position__lt=scene.position).select_related("current_clip")
    )
    start = project.audio_start + sum((s.current_clip.duration if s.current_clip and s.current_clip.duration
                                       else DEFAULT_CLIP_SECONDS) for s in earlier)
    own = scene.current_clip.duration if scene.current_clip and scene.current_clip.duration else DEFAULT_CLIP_SECONDS
    end = start + own
    if project.audio_track is not None:
        end = min(end, project.audio_track.duration)
    return round(start, 6), round(end, 6)


def request_lipsync(
    *,
    owner,
    flavor: Flavor,
    source: Clip,
    audio_track: AudioTrack,
    start_time: float | None = None,
    end_time: float | None = None,
    options: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> Clip:
    """A queued lipsync of `source` against exactly [start, end) of the track. If the
    source is its scene's current clip, the result replaces it on success and the
    project is re-stitched."""
    from mv import tasks

    if source.status != JobStatus.SUCCEEDED or not source.file:
        raise ValueError("the source clip has no finished video yet")
    start = 0.0 if start_time is None else float(start_time)
    end = audio_track.duration if end_time is None else float(end_time)
    if not (0 <= start < end <= audio_track.duration + 1e-6):
        raise ValueError(
            f"start_time and end_time must satisfy 0 <= start < end <= {audio_track.duration:.3f} (the track length)"
        )
    model = flavor.get("image_params", "lipsync_model", used_in="mv.pipeline.request_lipsync: model")
    with files.workdir() as workdir, files.local_path(audio_track.original or audio_track.file) as song:
        slice_path = workdir / "slice.wav"
        media.cut_audio(song, start, end, slice_path)
        clip = Clip(
            owner=owner, scene=source.scene, kind=Clip.Kind.LIPSYNC, provider=settings.MV_PROVIDER,
            model=model if settings.MV_PROVIDER == "replicate" else "local/lipsync-preview",
            prompt=source.prompt, negative_prompt=source.negative_prompt, config_flavor=flavor.name,
            parent=source, audio_track=audio_track, audio_start=start, audio_end=end,
            promote_on_success=bool(source.scene_id and source.scene and source.scene.current_clip_id == source.pk),
            input={"options": {k: v for k, v in (options or {}).items() if v is not None},
                   "start_time": start, "end_time": end},
        )
        files.store(clip.audio_slice, slice_path, f"{clip.pk}.wav")
        clip.save()
    if enqueue:
        _enqueue(tasks.advance_clip, clip_id=str(clip.pk))
    return clip


# --- stitching ----------------------------------------------------------------------------


def request_stitch(
    *,
    owner,
    clips: list[Clip],
    audio_track: AudioTrack | None = None,
    audio_start: float = 0.0,
    suppress_video_audio: bool = True,
    project: Project | None = None,
    enqueue: bool = True,
) -> Stitch:
    """A queued stitch of these clips, in this order."""
    from mv import tasks

    unfinished = [str(c.pk) for c in clips if c.status != JobStatus.SUCCEEDED or not c.file]
    if not clips or unfinished:
        raise ValueError("these clips have no finished video: " + ", ".join(unfinished) if unfinished else "no clips")
    if audio_track is not None and not 0 <= audio_start < audio_track.duration:
        raise ValueError(f"audio_start must be between 0 and the track length ({audio_track.duration:.2f} s)")
    with transaction.atomic():
        stitch = Stitch.objects.create(owner=owner, project=project, audio_track=audio_track, audio_start=audio_start,
                                       suppress_video_audio=suppress_video_audio, num_clips=len(clips))
        StitchItem.objects.bulk_create(StitchItem(stitch=stitch, clip=c, position=i) for i, c in enumerate(clips))
    if enqueue:
        _enqueue(tasks.run_stitch, stitch_id=str(stitch.pk))
    return stitch


def restitch_project(project: Project, *, enqueue: bool = True) -> Stitch | None:
    """Stitch the scenes' current clips (read now, never from stale state) with the
    project's audio settings; None while a scene has no clip."""
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    if not scenes or any(s.current_clip is None for s in scenes):
        return None
    return request_stitch(owner=project.owner, clips=[s.current_clip for s in scenes], audio_track=project.audio_track,
                          audio_start=project.audio_start, suppress_video_audio=project.audio_track is not None,
                          project=project, enqueue=enqueue)


def run_stitch(stitch_id: str) -> None:
    stitch = Stitch.objects.select_related("audio_track").get(pk=stitch_id)
    if stitch.is_finished:
        return
    stitch.mark_running()
    try:
        with files.workdir() as workdir, contextlib.ExitStack() as stack:
            paths = [stack.enter_context(files.local_path(c.file)) for c in stitch.ordered_clips()]
            audio = None
            if stitch.audio_track is not None:
                track = stitch.audio_track
                audio = stack.enter_context(files.local_path(track.file or track.original))
            out = workdir / "stitch.mp4"
            result = media.stitch(paths, out, audio=audio, audio_start=stitch.audio_start,
                                  suppress_video_audio=stitch.suppress_video_audio, workdir=workdir)
            files.store(stitch.file, out, f"{stitch.pk}.mp4")
    except (media.MediaError, OSError, ValueError) as exc:
        stitch.mark_failed(f"stitching failed: {errors.public_message(exc)}")
        return
    stitch.duration = result.duration
    stitch.reencoded_clips = result.reencoded
    stitch.status = JobStatus.SUCCEEDED
    stitch.finished_at = timezone.now()
    stitch.save(update_fields=["file", "duration", "reencoded_clips", "status", "finished_at"])


# --- character images ---------------------------------------------------------------------


def request_character_images(
    *, owner, flavor: Flavor, description: str, num_images: int = 4, seed: int | None = None, enqueue: bool = True
) -> list[CharacterImage]:
    from mv import tasks

    template = flavor.get("image_prompts", "character_reference_prompt",
                          used_in="mv.pipeline.request_character_images: prompt template")
    model = flavor.get("image_params", "model", used_in="mv.pipeline.request_character_images: model")
    prompt = template.format(character_description=description)
    images = [
        CharacterImage.objects.create(
            owner=owner, description=description, prompt=prompt, provider=settings.MV_PROVIDER,
            model=model if settings.MV_PROVIDER == "replicate" else "local/preview", config_flavor=flavor.name,
            input={"seed": None if seed is None else seed + i},
        )
        for i in range(num_images)
    ]
    if enqueue:
        for image in images:
            _enqueue(tasks.render_character_image, image_id=str(image.pk))
    return images


def advance_character_image(image_id: str) -> bool:
    """One step of a character image, like a clip's: start, poll, store. True once finished."""
    image = CharacterImage.objects.get(pk=image_id)
    if image.is_finished:
        return True
    provider = get_provider(image.provider)
    with files.workdir() as workdir:

        def start() -> JobUpdate:
            return provider.start_image(flavors.resolve(image.config_flavor), image.prompt,
                                        seed=image.input.get("seed"), workdir=workdir)

        def step() -> bool:
            update = _prediction_step(image, provider, start, partial(provider.poll, workdir=workdir))
            return update if isinstance(update, bool) else _apply_image(image, update)

        return _guarded_step(image, step, media_failure="the model's output is not a usable image ({})")


def _apply_image(image: CharacterImage, update: JobUpdate) -> bool:
    if update.state == "running":
        return False
    if update.state == "succeeded":
        if update.output_path is None:
            raise ProviderError("the model finished but returned no image")
        kind = media.require_image(update.output_path)  # stored under the extension its bytes say
        files.store(image.file, update.output_path, f"{image.pk}.{kind}")
        image.status = JobStatus.SUCCEEDED
        image.error = ""
        image.finished_at = timezone.now()
        image.save(update_fields=["file", "status", "error", "finished_at"])
    elif update.state == "canceled":
        image.mark_canceled(update.error or "the prediction was cancelled")
    else:
        image.mark_failed(update.error or "the model failed without saying why")
    return True


# --- waiting and recovery -----------------------------------------------------------------


def wait_for(rows: list, seconds: float) -> bool:
    """Re-read rows until all are finished or the time is up (the API's `wait`)."""
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        for row in rows:
            row.refresh_from_db()
        if all(r.is_finished for r in rows):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def is_current_poll_chain(pk: str, token: str | None, model: type[Clip | CharacterImage | Project | Scene] = Clip) -> bool:
    current = model.objects.filter(pk=pk).values_list(PREDICTION_FIELDS[model].poll_token, flat=True).first()
    return (str(current) if current else None) == token


def recover_stuck() -> int:
    """On worker start: pick up what a crash left behind. Clips, character images and scene
    writing resume from their stored prediction id in a new poll chain (older chains end);
    a start cut off mid-way is failed once MV_START_GRACE has passed (never silently paid
    twice)."""
    from mv import tasks

    touched = 0
    for model, task, key in ((Clip, tasks.advance_clip, "clip_id"),
                             (CharacterImage, tasks.render_character_image, "image_id"),
                             (Project, tasks.write_scenes, "project_id"),
                             (Scene, tasks.rewrite_scene, "scene_id")):
        for pk in model.objects.filter(**PREDICTION_FIELDS[model].active).values_list("pk", flat=True):
            _new_poll_chain(model, task, pk, **{key: str(pk)})
            touched += 1
    for stitch in Stitch.objects.filter(status__in=ACTIVE_STATUSES):
        Stitch.objects.filter(pk=stitch.pk).update(status=JobStatus.QUEUED)
        tasks.run_stitch.enqueue(stitch_id=str(stitch.pk))
        touched += 1
    return touched


def import_clip(owner, path, *, source_url: str = "") -> Clip:
    """A video from outside (e.g. the lipsync API's video_url) kept as an uploaded clip,
    so the lipsync result has a parent like any other."""
    info = media.require_video(path)
    clip = Clip(owner=owner, kind=Clip.Kind.UPLOADED, provider="upload", status=JobStatus.SUCCEEDED,
                input={"source_url": source_url}, duration=info.video.duration if info.video else info.duration,
                finished_at=timezone.now(), progress=100)
    with files.workdir() as workdir:
        poster_path = workdir / "poster.jpg"
        media.poster(path, poster_path, at=min(0.5, clip.duration / 2))
        files.store(clip.file, path, f"{clip.pk}.mp4")
        files.store(clip.poster, poster_path, f"{clip.pk}.jpg")
    clip.save()
    return clip
