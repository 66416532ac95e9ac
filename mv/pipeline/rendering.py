"""Clips: render one, render a project's, retry, cancel, make current, regenerate a
scene's, lipsync one against a slice of the song, import one from outside.

Nothing is overwritten: each is a new Clip whose parent is the previous one, and a
scene's current clip moves only once the new one succeeded.
"""

from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from mv import files, jobs, media, tasks
from mv.errors import Refused
from mv.flavors import Flavor
from mv.models import ACTIVE_STATUSES, AudioTrack, CharacterImage, Clip, JobStatus, Project, Scene
from mv.pipeline.projects import check_aspect_ratio
from mv.providers import get_provider


def request_clip(
    *,
    owner,
    flavor: Flavor,
    prompt: str,
    negative_prompt: str = "",
    scene: Scene | None = None,
    aspect_ratio: str | None = None,
    duration: float | None = None,
    generate_audio: bool | None = None,
    seed: int | None = None,
    character_image: CharacterImage | None = None,
    refit: bool = False,
) -> Clip:
    """A queued generated clip, rendered in the background; with a scene it becomes the
    scene's current clip only once it succeeded (its parent is the previous one)."""
    provider = get_provider()
    aspect = check_aspect_ratio(flavor, aspect_ratio or (scene.project.aspect_ratio if scene else None))
    rules = flavor.video.rules_template.format(aspect_ratio=aspect).strip()
    style = scene.project.style if scene is not None else None
    if style is not None:
        used_in = "mv.pipeline.rendering.request_clip: director style appended to the prompt"
        rules = f"{style.clip_text(used_in=used_in)}\n{rules}".strip()
    if character_image is None and scene is not None:
        character_image = scene.project.character_image
    if generate_audio is None:
        generate_audio = flavor.video.generate_audio
    if duration is None and scene is not None:
        duration = scene.clip_seconds(flavor)  # the shortest that covers its slot, trimmed to it at the stitch
    generate_audio = bool(generate_audio)
    seconds = float(duration or flavor.video.duration)
    reference = character_image if character_image and character_image.file else None
    with transaction.atomic():
        clip = Clip(
            owner=owner,
            scene=scene,
            kind=Clip.Kind.GENERATED,
            provider=provider.name,
            model=provider.model_for(flavor, "video"),
            prompt=f"{prompt.strip()}\n\n{rules}" if rules else prompt.strip(),
            negative_prompt=negative_prompt,
            config_flavor=flavor.name,
            parent=scene.current_clip if scene else None,
            input={
                "aspect_ratio": aspect,
                "duration": int(seconds) if seconds.is_integer() else seconds,
                "generate_audio": generate_audio,
                "seed": seed,
                "character_image": str(reference.pk) if reference else None,
                "reference_dropped": bool(reference and not provider.takes_reference_image(aspect, seconds)),
                "label": f"Scene {scene.number}" if scene else "Clip",
                **({"refit": True} if refit else {}),
            },
        )
        Clip.admit([clip], owner=owner)  # the money gate: estimate, today's budget
        tasks.follow(clip)
    return clip


def start_project_clips(project: Project, flavor: Flavor) -> list[Clip]:
    """A clip for every scene that has neither a current clip nor one in progress (created in
    one transaction and handed to the queue together)."""
    busy = set(Clip.objects.filter(scene__project=project, status__in=ACTIVE_STATUSES).values_list("scene_id", flat=True))
    clips = []
    with tasks.together(), transaction.atomic():
        for scene in project.scenes.select_related("project__character_image").filter(current_clip__isnull=True):
            if scene.pk in busy:
                continue
            try:
                clips.append(request_clip(owner=project.owner, flavor=flavor, prompt=scene.description,
                                          negative_prompt=scene.negative_description, scene=scene))
            except Refused:  # today's budget is spent: the other scenes wait for their Generate button
                break
    return clips


RETRIED_INPUTS = {"aspect_ratio", "duration", "generate_audio", "seed", "character_image", "label", "options",
                  "start_time", "end_time", "reference_dropped", "refit"}


def retry_clip(clip: Clip) -> Clip:
    """Run a failed clip again as a new clip with the same inputs (the failed one stays)."""
    if clip.status not in (JobStatus.FAILED, JobStatus.CANCELED):
        raise Refused("not_failed", "Only a failed or cancelled clip can be retried.")
    with transaction.atomic():
        again = Clip(
            owner=clip.owner, scene=clip.scene, kind=clip.kind, provider=get_provider().name, model=clip.model,
            prompt=clip.prompt, negative_prompt=clip.negative_prompt, config_flavor=clip.config_flavor,
            parent=clip.parent, audio_track=clip.audio_track, audio_start=clip.audio_start, audio_end=clip.audio_end,
            audio_slice=clip.audio_slice.name, promote_on_success=clip.promote_on_success,
            input={k: v for k, v in clip.input.items() if k in RETRIED_INPUTS},
        )
        Clip.admit([again], owner=clip.owner)
        tasks.follow(again)
    return again


def cancel_clip(clip: Clip) -> Clip:
    """Stop a queued or rendering clip and the prediction it pays for; the scene keeps
    its current clip."""
    if not jobs.cancel(clip):
        raise Refused("not_active", "Only a queued or rendering clip can be cancelled.")
    clip.refresh_from_db()
    return clip


def make_current(clip: Clip) -> Scene:
    if clip.scene is None or clip.status != JobStatus.SUCCEEDED:
        raise Refused("not_ready", "Only a finished clip of a scene can be made current.")
    clip.make_current()
    tasks.prepare_part_later(clip)  # its part for the slot, ahead of the re-stitch
    clip.scene.refresh_from_db()
    return clip.scene


def regenerate_scene(scene: Scene, *, owner, lipsync: bool = False, description: str = "",
                     negative_description: str = "") -> Clip:
    """The card's Regenerate. Plain: a new clip from the prompt as shown (an unsaved edit is
    saved first). With lipsync: the current clip lip-synced to the scene's slot of the song."""
    project = scene.project
    flavor = project.flavor
    if lipsync:
        slot = scene.slot
        if project.audio_track is None or scene.current_clip is None or slot is None:
            raise Refused("lipsync_unavailable", "Lipsync needs a song and a finished clip.")
        return request_lipsync(owner=owner, flavor=flavor, source=scene.current_clip, audio_track=project.audio_track,
                               start_time=slot.start, end_time=slot.end)
    if description and (description, negative_description) != (scene.description, scene.negative_description):
        scene.update_prompt(description, negative_description)
    return request_clip(owner=owner, flavor=flavor, prompt=scene.description,
                        negative_prompt=scene.negative_description, scene=scene)


def request_lipsync(
    *,
    owner,
    flavor: Flavor,
    source: Clip,
    audio_track: AudioTrack,
    start_time: float | None = None,
    end_time: float | None = None,
    options: dict[str, Any] | None = None,
) -> Clip:
    """A queued lipsync of `source` against exactly [start, end) of the track. If the
    source is its scene's current clip, the result replaces it on success and the
    project is re-stitched. The song is cut and the slice stored before the transaction
    that creates the row (no file work inside it); a refused request leaves no slice."""
    if source.status != JobStatus.SUCCEEDED or not source.file:
        raise Refused("video_not_ready", "Only a finished video can be lipsynced.")
    start, end = audio_track.check_range(start_time, end_time)
    provider = get_provider()
    clip = Clip(
        owner=owner, scene=source.scene, kind=Clip.Kind.LIPSYNC, provider=provider.name,
        model=provider.model_for(flavor, "lipsync"), prompt=source.prompt,
        negative_prompt=source.negative_prompt, config_flavor=flavor.name, parent=source,
        audio_track=audio_track, audio_start=start, audio_end=end,
        promote_on_success=bool(source.scene_id and source.scene and source.scene.current_clip_id == source.pk),
        input={"options": {k: v for k, v in (options or {}).items() if v is not None},
               "start_time": start, "end_time": end},
    )
    clip.estimate()  # a clip with no price is refused before any work
    with files.workdir() as workdir, files.local_path(audio_track.original or audio_track.file) as song:
        slice_path = workdir / "slice.wav"
        media.cut_audio(song, start, end, slice_path)
        files.store(clip.audio_slice, slice_path, f"{clip.pk}.wav")
    try:
        with transaction.atomic():
            Clip.admit([clip], owner=owner)  # the money gate: estimate, today's budget
            tasks.follow(clip)
    except BaseException:
        default_storage.delete(clip.audio_slice.name)  # no row keeps it
        raise
    return clip


def import_clip(owner, path, *, source_url: str = "") -> Clip:
    """A video from outside (e.g. the lipsync API's video_url) kept as an uploaded clip,
    so the lipsync result has a parent like any other."""
    info = media.require_video(path)
    clip = Clip(owner=owner, kind=Clip.Kind.UPLOADED, provider="upload", status=JobStatus.SUCCEEDED,
                input={"source_url": source_url}, duration=info.video.duration if info.video else info.duration,
                finished_at=timezone.now(), progress=100, media=info.to_dict())
    with files.workdir() as workdir:
        poster_path = workdir / "poster.jpg"
        media.poster(path, poster_path, at=min(0.5, clip.duration / 2))
        files.store(clip.file, path, f"{clip.pk}.mp4")
        files.store(clip.poster, poster_path, f"{clip.pk}.jpg")
    clip.save()
    return clip
