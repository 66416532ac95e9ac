"""Projects and their scenes: create, start the automatic run, write and rewrite scenes."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from mv import flavors, jobs, planning, styles, tasks
from mv.errors import Refused
from mv.flavors import Flavor
from mv.models import (ACTIVE_STATUSES, AudioTrack, CharacterImage, Clip, JobStatus,
                       Project, Scene, SceneWriting, Stitch, StitchItem)
from mv.models.locks import lock_project
from mv.providers import get_provider


def create_project(
    *,
    owner,
    video_description: str,
    character_description: str = "",
    mode: str = Project.Mode.MUSIC_VIDEO,
    audio_track: AudioTrack | None = None,
    audio_start: float = 0.0,
    song_end: float | None = None,
    flavor: Flavor,
    character_image: CharacterImage | None = None,
    number_of_scenes: int | None = None,
    scene_parameters: dict[str, Any] | None = None,
    aspect_ratio: str | None = None,
    director_style: str = "",
) -> Project:
    """Create a project (no paid work starts here). With a song, the part to cover and the
    scene count are checked first: a plan that cannot fit is refused with the numbers; an
    unknown director style is refused too."""
    style = styles.resolve(director_style)
    if audio_track is not None:
        planning.plan(audio_track, start=audio_start, end=song_end, count=number_of_scenes, flavor=flavor)
    return Project.objects.create(
        aspect_ratio=check_aspect_ratio(flavor, aspect_ratio),
        owner=owner,
        video_description=video_description,
        character_description=character_description,
        mode=mode,
        audio_track=audio_track,
        audio_start=audio_start,
        song_end=song_end,
        config_flavor=flavor.name,
        director_style=style.name if style else "",
        character_image=character_image,
        number_of_scenes=number_of_scenes,
        scene_parameters=scene_parameters or {},
    )


def revise_project(project: Project, *, flavor: Flavor, video_description: str, character_description: str = "",
                   number_of_scenes: int | None = None, scene_parameters: dict[str, Any] | None = None,
                   audio_track: AudioTrack | None = None, song_start: float | None = None,
                   song_end: float | None = None, aspect_ratio: str | None = None,
                   director_style: str | None = None) -> Project:
    """Change a project's brief before its scenes are written again (fields left out keep
    their values); the song range and scene count are checked before anything is saved."""
    if director_style is not None:
        style = styles.resolve(director_style)
        project.director_style = style.name if style else ""
    track = audio_track or project.audio_track
    if audio_track is not None or song_start is not None:
        project.audio_start = song_start or 0.0
    if audio_track is not None or song_end is not None:
        project.song_end = song_end
    project.audio_track = track
    project.number_of_scenes = number_of_scenes or project.number_of_scenes
    if track is not None:
        planning.plan(track, start=project.audio_start, end=project.song_end, count=project.number_of_scenes,
                      flavor=flavor)
    project.video_description = video_description
    project.character_description = character_description or project.character_description
    project.scene_parameters = (project.scene_parameters or {}) | (scene_parameters or {})
    if aspect_ratio:
        project.aspect_ratio = check_aspect_ratio(flavor, aspect_ratio)
    project.save(update_fields=["video_description", "character_description", "number_of_scenes", "scene_parameters",
                                "audio_track", "audio_start", "song_end", "aspect_ratio", "director_style",
                                "updated_at"])
    return project


def aspect_ratios(flavor: Flavor) -> list[str]:
    """The screen formats the flavor's video model takes."""
    return list(flavor.video.aspect_ratios)


def check_aspect_ratio(flavor: Flavor, aspect_ratio: str | None) -> str:
    """The chosen format, or the flavor's default; one its video model cannot make is refused."""
    if not aspect_ratio:
        return flavor.video.aspect_ratio
    allowed = aspect_ratios(flavor)
    if aspect_ratio not in allowed:
        raise Refused("bad_aspect_ratio", f"The {flavor.name} flavor's video model makes {', '.join(allowed)} videos; "
                                          f"choose one of those.", {"allowed": allowed})
    return aspect_ratio


def rename_project(project: Project, title: str) -> Project:
    title = " ".join(title.split())
    if not title:
        raise Refused("empty_title", "Give the project a name.")
    project.title = title[:120]
    project.save(update_fields=["title", "updated_at"])
    return project


def duplicate_project(project: Project) -> Project:
    """A new project with the same song, flavor, format, prompts and scene slots, and no clips
    (nothing is rendered until asked)."""
    with transaction.atomic():
        copy = Project.objects.create(
            owner=project.owner, title=f"{project.title} (copy)"[:120], mode=project.mode,
            video_description=project.video_description, character_description=project.character_description,
            character_image=project.character_image, audio_track=project.audio_track, audio_start=project.audio_start,
            song_end=project.song_end, aspect_ratio=project.aspect_ratio, config_flavor=project.config_flavor,
            number_of_scenes=project.number_of_scenes, scene_parameters=project.scene_parameters,
        )
        scenes = list(project.scenes.order_by("position"))
        if scenes:
            original = project.plan_writing
            SceneWriting.objects.create(project=copy, provider=original.provider if original else "local",
                                        config_flavor=copy.config_flavor, text=original.text if original else "",
                                        status=JobStatus.SUCCEEDED, number_of_scenes=len(scenes),
                                        finished_at=timezone.now(), progress=100)
        Scene.objects.bulk_create(
            Scene(project=copy, position=s.position, description=s.description, negative_description=s.negative_description,
                  start=s.start, end=s.end, section=s.section, energy=s.energy, lyrics=s.lyrics) for s in scenes)
    return copy


def delete_project(project: Project) -> None:
    """The project, its scenes, clips and full videos and their media files (the song stays:
    it may be used again). Work still under way is cancelled first."""
    clips = Clip.objects.filter(scene__project=project)
    for clip in clips.filter(status__in=ACTIVE_STATUSES):
        jobs.cancel(clip, "The project was deleted.")  # each told to the provider as its cancel commits
    with transaction.atomic():
        lock_project(project.pk)  # first, as every writer of a project's rows does
        stitches = Stitch.objects.filter(project=project)
        clip_ids = list(clips.values_list("pk", flat=True))
        keep = set(StitchItem.objects.filter(clip__in=clip_ids).exclude(stitch__in=stitches)
                   .values_list("clip_id", flat=True))  # also in a stitch made outside this project
        doomed = [*stitches, *Clip.objects.filter(pk__in=clip_ids).exclude(pk__in=keep)]
        names = [f.name for row in doomed for f in _files_of(row) if f]
        stitches.delete()
        Clip.objects.filter(pk__in=clip_ids).exclude(pk__in=keep).delete()
        project.delete()
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


def _files_of(row: Clip | Stitch) -> list:
    return [row.file, row.poster, row.audio_slice] if isinstance(row, Clip) else [row.file]


def start_project(project: Project) -> bool:
    """Start the automatic run once: scenes, then every clip at once, then the stitch.
    The flag is claimed atomically, so a second submit (or two tabs) never pays twice."""
    if not Project.objects.filter(pk=project.pk, autorun_started=False).update(autorun_started=True):
        return False
    project.autorun_started = True
    request_scenes(project, flavors.resolve(project.config_flavor))
    return True


def request_scenes(project: Project, flavor: Flavor) -> SceneWriting:
    """Ask the scene writer for the project's scenes; old scenes stay until the answer is
    in. A writing still under way for an earlier request is cancelled (the provider is told
    once this transaction commits). The song's row is locked first, then the project's: the
    order the song-analysed event takes them."""
    with transaction.atomic():
        if project.audio_track_id is not None:
            project.audio_track = AudioTrack.objects.select_for_update().get(pk=project.audio_track_id)
        lock_project(project.pk)
        for older in project.writings.filter(scene__isnull=True, status__in=ACTIVE_STATUSES):
            jobs.cancel(older, "Replaced by a newer request.")
        project.config_flavor = flavor.name
        project.auto_stitch_done = False  # the new plan's clips are stitched once they are all in
        project.save(update_fields=["config_flavor", "auto_stitch_done", "updated_at"])
        writing = _new_writing(project, flavor, scene=None)
    project.refresh_from_db()
    return writing


def rewrite_scene(scene: Scene, flavor: Flavor) -> SceneWriting:
    """Start a rewrite of one scene's prompt; its siblings are untouched."""
    project = scene.project
    with transaction.atomic():
        lock_project(project.pk)
        for older in scene.rewrites.filter(status__in=ACTIVE_STATUSES):
            jobs.cancel(older, "Replaced by a newer request.")
        if project.config_flavor != flavor.name:
            project.config_flavor = flavor.name
            project.save(update_fields=["config_flavor", "updated_at"])
        return _new_writing(project, flavor, scene=scene)


def _new_writing(project: Project, flavor: Flavor, *, scene: Scene | None) -> SceneWriting:
    """The plan is fixed here and kept on the writing: a whole plan is cut from the song now
    (Refused when it does not fit), a rewrite keeps the scenes' slots as they are."""
    provider = get_provider()
    slots = _whole_plan(project, flavor) if scene is None else project.planned_slots()
    count = project.scene_request(flavor, used_in="mv.pipeline.projects: number of scenes", slots=slots).number_of_scenes
    with transaction.atomic():
        writing = SceneWriting(
            project=project, scene=scene, provider=provider.name, config_flavor=flavor.name,
            model=provider.model_for(flavor, "scenes"), number_of_scenes=count,
            input={"plan": [slot.to_dict() for slot in slots]} if slots else {},
        )
        SceneWriting.admit([writing], owner=project.owner)  # the money gate: estimate, today's budget
        tasks.follow(writing)
    return writing


def _whole_plan(project: Project, flavor: Flavor) -> list | None:
    """The plan cut now when the song's analysis is in (or will never come). While the song
    is importing or analysing, None: what can be checked is (Refused otherwise), and the
    song-analysed event cuts the plan and starts the writing (``start_after_song``). The
    caller holds the track row's lock, so this request and that event never miss each other."""
    if project.audio_track is None:
        return None
    slots = project.plan(flavor)
    return slots if project.audio_track.is_settled else None


def start_after_song(writing: SceneWriting) -> None:
    """A whole plan that waited for its song (sent inside the transaction that stores the
    song's analysis, or its failure): cut it now on the analysis, under a lock on the project
    row, and start it on commit. A plan that no longer fits, or a song that could not be
    imported, fails it at its start with the plain message."""
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=writing.project_id)
        writing.project = project
        with contextlib.suppress(Refused):
            writing.plan_now(flavors.resolve(writing.config_flavor))
        tasks.follow(writing)


def stop_project(project: Project) -> int:
    """Stop all: cancel the project's queued and running predictions (its scenes' clips and
    its scene writing, at the provider too); every finished clip stays. How many stopped."""
    active = [*Clip.objects.filter(scene__project=project, status__in=ACTIVE_STATUSES),
              *project.writings.filter(status__in=ACTIVE_STATUSES)]
    return sum(jobs.cancel(row, "Stopped with Stop all.") for row in active)


def update_scene_prompt(scene: Scene, *, description: str, negative_description: str | None = None) -> Scene:
    scene.update_prompt(description, negative_description)
    return scene
