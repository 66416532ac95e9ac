"""Editing a project's timeline: split, delete, duplicate and reorder scenes, move a boundary,
and bring the video up to date afterwards.

Every edit keeps every clip (a deleted scene's clips stay stored, without a scene) and
changes only the slots it touches. A scene whose current clip no longer fits its slot is
out of date (`Scene.fits`); `refresh` renders just those, and once every scene has a
fitting clip the full video is re-stitched (here after an edit, in followups after a render).
"""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import F

from mv import planning, status
from mv.errors import Refused
from mv.models import ACTIVE_STATUSES, Clip, Project, Scene, Stitch
from mv.pipeline import rendering, stitching

MIN_SLOT = 0.5  # seconds: no edit leaves a scene shorter than this


def beats(project: Project) -> list[float]:
    """The song's beat times when its analysis is in (empty otherwise)."""
    track = project.audio_track
    analysis = (track.analysis or {}) if track else {}
    return [float(b) for b in analysis.get("beats") or []]


def _snap(project: Project, t: float, low: float, high: float, margin: float = MIN_SLOT) -> float:
    """The beat nearest to t at least `margin` inside (low, high), else t clamped into it."""
    inside = [b for b in beats(project) if low + margin <= b <= high - margin]
    if inside:
        return min(inside, key=lambda b: abs(b - t))
    return round(min(max(t, low + margin), high - margin), 3)


PART = re.compile(r"\bPart \d+ of \d+\b")  # how a written prompt says where its scene is in the story


def _renumber(project: Project) -> None:
    """Prompts that say where their scene is ("Part 2 of 6") say it again after an edit that
    added, removed or moved scenes."""
    scenes = list(project.scenes.order_by("position").only("pk", "position", "description"))
    for each in scenes:
        text = PART.sub(f"Part {each.position + 1} of {len(scenes)}", each.description)
        if text != each.description:
            Scene.objects.filter(pk=each.pk).update(description=text)


def _ordered(project: Project) -> list[Scene]:
    return list(project.scenes.select_for_update().order_by("position"))


def _shift_after(project: Project, position: int, by: int) -> None:
    """Move the scenes after `position` by `by` places (in two steps: positions are unique)."""
    later = project.scenes.filter(position__gt=position)
    later.update(position=F("position") + 1000)
    project.scenes.filter(position__gt=1000).update(position=F("position") - 1000 + by)


def split_scene(scene: Scene, at: float | None = None, *, margin: float = MIN_SLOT) -> Scene:
    """Add a scene by cutting this one in two (at the beat nearest `at`, by default its middle,
    each half at least `margin` long); the new second half starts with the same prompt and no
    clip (the first keeps its clip, which still covers its shorter slot)."""
    project = scene.project
    if scene.slot is None:
        raise Refused("no_song", "Scenes can be split only in a project with a song; duplicate it instead.")
    start, end = scene.slot.start, scene.slot.end
    if end - start < 2 * MIN_SLOT:
        raise Refused("too_short", "This scene is too short to split.")
    cut = _snap(project, (start + end) / 2 if at is None else at, start, end, margin)
    with transaction.atomic():
        _shift_after(project, scene.position, 1)
        Scene.objects.filter(pk=scene.pk).update(end=cut)
        added = Scene.objects.create(project=project, position=scene.position + 1, description=scene.description,
                                     negative_description=scene.negative_description, start=cut, end=end,
                                     section=scene.section, energy=scene.energy)
        _renumber(project)
    _restitch_if_ready(project)
    added.refresh_from_db()
    return added


def duplicate_scene(scene: Scene) -> Scene:
    """Two scenes with this scene's prompt where it was: its slot split on the beat nearest its
    middle (each half at least the video model's shortest clip when the scene is two of those
    long), the copy second and needing a clip. The scenes always fill the chosen part of the
    song, so a copy can only take time from its original. Without a song: a copy right after it."""
    project = scene.project
    if scene.slot is not None:
        shortest = min(planning.durations(project.flavor))
        return split_scene(scene, margin=shortest if scene.slot.length >= 2 * shortest else MIN_SLOT)
    with transaction.atomic():
        _shift_after(project, scene.position, 1)
        copy = Scene.objects.create(project=project, position=scene.position + 1, description=scene.description,
                                    negative_description=scene.negative_description)
        _renumber(project)
    _restitch_if_ready(project)
    copy.refresh_from_db()
    return copy


def delete_scene(scene: Scene) -> None:
    """Remove a scene; its clips stay stored, and the scene before it (or after it, for the
    first) takes over its part of the song."""
    project = scene.project
    with transaction.atomic():
        scenes = _ordered(project)
        if len(scenes) <= 1:
            raise Refused("last_scene", "A project needs at least one scene.")
        index = next(i for i, s in enumerate(scenes) if s.pk == scene.pk)
        if scene.slot is not None:
            if index > 0:
                Scene.objects.filter(pk=scenes[index - 1].pk).update(end=scene.end)
            else:
                Scene.objects.filter(pk=scenes[1].pk).update(start=scene.start)
        position = scene.position
        scene.delete()  # clips keep their rows (scene set to null)
        _shift_after(project, position, -1)
        _renumber(project)
    _restitch_if_ready(project)


def move_boundary(scene: Scene, at: float) -> Scene:
    """Move where this scene starts (and the one before it ends), snapped to the nearest beat
    when the song's beats are known, and kept inside both scenes and the song."""
    project = scene.project
    if scene.slot is None:
        raise Refused("no_song", "Scene boundaries can be moved only in a project with a song.")
    if scene.position == 0:
        raise Refused("first_scene", "The first scene starts where the song starts; move the song's start instead.")
    previous = project.scenes.get(position=scene.position - 1)
    low, high = previous.start, scene.end
    song = project.song_range
    if song is not None:
        low, high = max(low, song[0]), min(high, song[1])
    if high - low < 2 * MIN_SLOT:
        raise Refused("too_short", "These two scenes are too short to move the boundary between them.")
    cut = _snap(project, at, low, high)
    with transaction.atomic():
        Scene.objects.filter(pk=previous.pk).update(end=cut)
        Scene.objects.filter(pk=scene.pk).update(start=cut)
    scene.refresh_from_db()
    _restitch_if_ready(project)
    return scene


def move_scene(scene: Scene, to: int) -> Scene:
    """Put a scene at another place (0-based). Every scene keeps its length, so clips stay
    fitting; only the slots between the old and the new place change."""
    project = scene.project
    with transaction.atomic():
        scenes = _ordered(project)
        if not 0 <= to < len(scenes):
            raise Refused("bad_position", f"Choose a place between 1 and {len(scenes)}.")
        scenes.remove(next(s for s in scenes if s.pk == scene.pk))
        scenes.insert(to, scene)
        project.scenes.update(position=F("position") + 1000)
        for position, each in enumerate(scenes):
            each.position = position
            Scene.objects.filter(pk=each.pk).update(position=position)
        if scene.slot is not None:
            _replan(project, scenes, keep_lengths=True)
        _renumber(project)
    scene.refresh_from_db()
    _restitch_if_ready(project)
    return scene


def _replan(project: Project, scenes: list[Scene], *, keep_lengths: bool) -> None:
    """Lay the scenes end to end from the first one's start, each keeping its length, and
    end the last ones at the end of the song. Only changed slots are written."""
    song = project.song_range
    if song is None or not scenes:
        return
    cursor = min(s.start for s in scenes if s.start is not None)
    for each in scenes:
        length = (each.end or 0) - (each.start or 0)
        start, end = min(cursor, song[1]), min(cursor + length, song[1])
        if end - start < MIN_SLOT:
            raise Refused("no_room", "There is no room left in the song for that; shorten or delete a scene first.")
        if (start, end) != (each.start, each.end):
            Scene.objects.filter(pk=each.pk).update(start=round(start, 3), end=round(end, 3))
        cursor = end


def out_of_date(project: Project) -> list[Scene]:
    """Scenes without a clip, or whose clip no longer fits their slot, and nothing rendering."""
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    busy = set(Clip.objects.filter(scene__project=project, status__in=ACTIVE_STATUSES).values_list("scene_id", flat=True))
    return [s for s in scenes if s.pk not in busy and not s.fits(s.current_clip)]


def refresh(project: Project, owner) -> list[Clip]:
    """The one "bring up to date" button: render every out-of-date scene for its slot; the
    full video follows by itself once they are in (or now, if nothing needs rendering)."""
    flavor = project.flavor
    stale = out_of_date(project)
    clips = [rendering.request_clip(owner=owner, flavor=flavor, prompt=s.description,
                                    negative_prompt=s.negative_description, scene=s, refit=True) for s in stale]
    if not clips and not _restitch_if_ready(project):
        raise Refused("up_to_date", "Everything is up to date.")
    return clips


def _restitch_if_ready(project: Project) -> Stitch | None:
    """Re-stitch once every scene has a fitting clip, nothing renders and the full video
    does not show the current scenes (only for a project that was stitched before)."""
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        latest = status.latest_stitch(locked)
        if latest is None or not stitching.all_scenes_ready(locked):
            return None
        scenes = list(locked.scenes.select_related("current_clip").order_by("position"))
        if not all(s.fits(s.current_clip) for s in scenes):
            return None
        if status.stitch_is_current(latest, scenes):
            return None
        try:
            return stitching.restitch_project(locked)
        except Refused:
            return None  # e.g. a clip without its file: the page still offers Re-stitch


def restitch_after_refit(clip: Clip) -> None:
    """Called when a clip started by `refresh` finishes (mv.pipeline.followups)."""
    if clip.scene_id and clip.input.get("refit"):
        _restitch_if_ready(Project.objects.get(scenes__pk=clip.scene_id))
