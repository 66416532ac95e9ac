"""What the pages show about a project: per-scene clip state and counts.

Built from a fixed number of queries whatever the number of scenes, so the quick-gen
page and its polls stay fast. A scene's slot of the song is its own (Scene.slot).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch

from mv.models import (
    ACTIVE_STATUSES,
    Clip,
    JobStatus,
    Project,
    Scene,
    SceneWriting,
    Stitch,
)


@dataclass
class SceneState:
    scene: Scene
    current: Clip | None
    active: Clip | None  # the newest clip still queued or running
    failed: Clip | None  # the newest attempt, when it failed
    history: list[Clip] = field(default_factory=list)  # every other clip of the scene, newest first

    @property
    def state(self) -> str:
        if self.active is not None:
            return "generating"
        if self.failed is not None:
            return "failed"
        return "ready" if self.current is not None else "waiting"

    @property
    def slice(self) -> tuple[float, float] | None:
        return self.scene.slot


def scene_state(scene: Scene, clips: list[Clip]) -> SceneState:
    """clips: this scene's clips, newest first."""
    active = next((c for c in clips if c.status in ACTIVE_STATUSES), None)
    newest = clips[0] if clips else None
    failed = newest if newest is not None and newest.status in (JobStatus.FAILED, JobStatus.CANCELED) else None
    current = next((c for c in clips if c.pk == scene.current_clip_id), None)
    history = [c for c in clips if c.pk != scene.current_clip_id and c.status == JobStatus.SUCCEEDED]
    return SceneState(scene=scene, current=current, active=active, failed=failed, history=history)


def _with_rewrites(scenes):
    return scenes.prefetch_related(
        Prefetch("rewrites", queryset=SceneWriting.objects.order_by("-created_at"), to_attr="newest_rewrites"))


def project_states(project: Project) -> list[SceneState]:
    scenes = list(_with_rewrites(project.scenes.order_by("position")))
    by_scene: dict = defaultdict(list)
    for clip in Clip.objects.filter(scene__in=scenes).select_related("parent").order_by("-created_at"):
        by_scene[clip.scene_id].append(clip)
    return [scene_state(scene, by_scene.get(scene.pk, [])) for scene in scenes]


def active_clip(scene: Scene) -> Clip | None:
    """The one query a status poll needs while a clip renders."""
    return Clip.objects.filter(scene=scene, status__in=ACTIVE_STATUSES).order_by("-created_at").first()


def single_state(scene: Scene) -> SceneState:
    return scene_state(scene, list(Clip.objects.filter(scene=scene).select_related("parent").order_by("-created_at")))


def counts(states: list[SceneState]) -> dict[str, int]:
    result = {"generating": 0, "ready": 0, "failed": 0}
    for state in states:
        if state.state in result:
            result[state.state] += 1
    return result


def latest_stitch(project: Project) -> Stitch | None:
    return project.stitches.order_by("-created_at").first()


def boundaries(states: list[SceneState], duration: float) -> list[float]:
    """Scene boundaries as percentages of the song, for the waveform picture."""
    if not duration:
        return []
    marks = [s.slice[0] for s in states if s.slice] + ([states[-1].slice[1]] if states and states[-1].slice else [])
    return [round(m / duration * 100, 3) for m in marks if 0 < m < duration]
