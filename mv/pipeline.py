"""The use cases: write scenes, render clips, lipsync, stitch.

Views, the JSON API and management commands call these functions; tasks (mv/tasks.py)
run the slow parts in the background. Rows carry all progress.

CONTRACT (being implemented): every function below keeps this signature and meaning so
the API (mv/api.py), the pages (mv/views.py) and the commands can be written against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mv.flavors import Flavor
from mv.models import AudioTrack, CharacterImage, Clip, Project, Scene, Stitch


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
    raise NotImplementedError


def start_project(project: Project) -> bool:
    """Start the automatic run once: write scenes, then all clips at once, then stitch.
    Returns False (and does nothing) when it had already started: a reload never
    starts paid work again."""
    raise NotImplementedError


def request_scenes(project: Project, flavor: Flavor) -> None:
    """Mark the project's scenes WRITING and enqueue scene writing (on commit).
    Existing scenes are kept until the new ones are written."""
    raise NotImplementedError


def write_scenes(project_id: str) -> None:
    """Task body: ask the provider for scenes with the project's flavor, replace the
    project's scenes, mark READY (or FAILED with a readable error); when the project is
    in its automatic run, start all clips."""
    raise NotImplementedError


def rewrite_scene(scene: Scene, flavor: Flavor) -> None:
    """Enqueue a rewrite of one scene's prompt (its siblings are untouched)."""
    raise NotImplementedError


def update_scene_prompt(scene: Scene, *, description: str, negative_description: str | None = None) -> Scene:
    """Save an inline edit of a scene's prompt."""
    raise NotImplementedError


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
) -> Clip:
    """Create a queued generated Clip and enqueue its rendering on commit. With a scene,
    its parent is the scene's current clip and it becomes current only on success."""
    raise NotImplementedError


def start_project_clips(project: Project, flavor: Flavor) -> list[Clip]:
    """Request a clip for every scene that has neither a current clip nor one in
    progress (idempotent). Returns the clips it requested."""
    raise NotImplementedError


def retry_clip(clip: Clip) -> Clip:
    """A failed clip again: a new clip with the same inputs (the failed one is kept)."""
    raise NotImplementedError


def make_current(clip: Clip) -> Scene:
    """Point the clip's scene at this (succeeded) clip, e.g. from the history list."""
    raise NotImplementedError


def advance_clip(clip_id: str) -> bool:
    """One step of a clip's life: start it when queued, poll it when running, store its
    output when done. Returns True once the clip is finished (any final status)."""
    raise NotImplementedError


def scene_slice(scene: Scene) -> tuple[float, float]:
    """The scene's slice of the song: starts at the project's audio start plus the real
    lengths of the earlier scenes' current clips (8 s each when unknown)."""
    raise NotImplementedError


def request_lipsync(
    *,
    owner,
    flavor: Flavor,
    source: Clip | None = None,
    video_path: Path | None = None,
    audio_track: AudioTrack | None = None,
    audio_path: Path | None = None,
    start_time: float | None = None,
    end_time: float | None = None,
    options: dict[str, Any] | None = None,
) -> Clip:
    """Create a queued lipsync Clip (parent = source) and enqueue it. The audio is cut to
    exactly [start_time, end_time) before it is sent. If the source is a scene's current
    clip, the new clip replaces it on success and the project is re-stitched."""
    raise NotImplementedError


def request_stitch(
    *,
    owner,
    clips: list[Clip],
    audio_track: AudioTrack | None = None,
    audio_start: float = 0.0,
    suppress_video_audio: bool = True,
    project: Project | None = None,
) -> Stitch:
    """Create a queued Stitch of these clips (order kept) and enqueue it on commit."""
    raise NotImplementedError


def restitch_project(project: Project) -> Stitch | None:
    """Stitch the scenes' current clips with the project's audio settings (None when a
    scene has no clip yet)."""
    raise NotImplementedError


def run_stitch(stitch_id: str) -> None:
    """Task body: stitch, verify, store the file; mark succeeded or failed."""
    raise NotImplementedError


def request_character_images(
    *, owner, flavor: Flavor, description: str, num_images: int = 4, seed: int | None = None
) -> list[CharacterImage]:
    """Create queued CharacterImage rows and enqueue their rendering."""
    raise NotImplementedError


def recover_stuck() -> int:
    """On worker start: re-enqueue rows a crash left queued/running (resuming from the
    stored prediction id), fail those that cannot resume. Returns how many it touched."""
    raise NotImplementedError
