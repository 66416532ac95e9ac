"""A project's scenes (each a slot of the song) and the scene writer's predictions that write
them: a whole plan, or one scene's prompt again."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

from mv import costs, flavors, music, planning
from mv.errors import Refused
from mv.models.base import JobStatus, OwnedQuerySet, Prediction
from mv.providers.base import JobUpdate, ProviderError, parse_scenes

if TYPE_CHECKING:
    from mv.models.clips import Clip
    from mv.providers.base import Provider

logger = logging.getLogger("mv.models")

# A clip this much shorter than its slot still covers it (the stitch holds its last frame):
# a tenth of a second (two or three frames), what a model's rounding of its length may take off.
FIT_TOLERANCE = 0.1


class SceneQuerySet(OwnedQuerySet):
    owner_path = "project__owner"


class Scene(models.Model):
    class PromptStatus(models.TextChoices):
        READY = "ready", "Ready"
        WRITING = "writing", "Rewriting"
        FAILED = "failed", "Rewrite failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="scenes")
    position = models.PositiveSmallIntegerField()
    description = models.TextField()
    negative_description = models.TextField(blank=True)
    # The scene's slot of the song, in seconds (null when the project has no song): the one
    # rule for its lipsync slice, its place in the stitch and what the pages show.
    start = models.FloatField(null=True, blank=True)
    end = models.FloatField(null=True, blank=True)
    section = models.CharField(max_length=32, blank=True)  # e.g. "chorus" (from the song's analysis)
    energy = models.FloatField(null=True, blank=True)  # 0..1, the section's loudness
    lyrics = models.TextField(blank=True)  # the lines sung inside the slot
    current_clip = models.ForeignKey(
        "Clip", null=True, blank=True, on_delete=models.SET_NULL, related_name="current_for"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SceneQuerySet.as_manager()

    class Meta:
        ordering = ["project", "position"]
        constraints = [models.UniqueConstraint(fields=["project", "position"], name="scene_unique_position")]

    def __str__(self) -> str:
        return f"Scene {self.position + 1}"

    @property
    def number(self) -> int:
        return self.position + 1

    @property
    def slot(self) -> music.Slot | None:
        """The scene's part of the song (start, end, length, section, energy, lyrics), or None
        without a song: the one rule for its lipsync slice, its length in the stitch, the clip
        length it is asked for and what the pages show."""
        if self.start is None or self.end is None:
            return None
        return music.Slot(self.start, self.end, self.section, self.energy, self.lyrics)

    def fits(self, clip: Clip | None) -> bool:
        """Whether the clip covers the scene's slot (the stitch trims it to the slot), so the
        scene needs no new clip: always for a scene without a song or a clip of unknown length;
        a slot longer than the video model's longest clip is covered by a clip that long (the
        stitch holds its last frame; no new clip would do better)."""
        if clip is None:
            return False
        slot = self.slot
        if slot is None or clip.duration is None:
            return True
        return clip.duration >= min(slot.length, self.project.longest_clip) - FIT_TOLERANCE

    def clip_seconds(self, flavor: flavors.Flavor) -> int | None:
        """The clip length it is asked for: the shortest the video model makes that covers its
        slot (None without a song: the flavor's length)."""
        slot = self.slot
        return planning.clip_seconds_for(slot.length, flavor) if slot is not None else None

    @property
    def suggest_lipsync(self) -> bool:
        """Whether its card starts with "with lipsync" ticked: it has lyrics and the flavor
        says scenes with lyrics should be lip-synced."""
        if not self.lyrics.strip():
            return False
        return self.project.flavor.video.lipsync_scenes_with_lyrics

    @property
    def rewrite(self) -> SceneWriting | None:
        """The latest rewrite of this scene's prompt (prefetched by the pages as
        ``newest_rewrites``)."""
        if hasattr(self, "newest_rewrites"):
            return self.newest_rewrites[0] if self.newest_rewrites else None
        return self.rewrites.order_by("-created_at").first()

    @property
    def prompt_status(self) -> str:
        rewrite = self.rewrite
        if rewrite is None or rewrite.status == JobStatus.SUCCEEDED:
            return self.PromptStatus.READY
        return self.PromptStatus.WRITING if rewrite.is_active else self.PromptStatus.FAILED

    def update_prompt(self, description: str, negative_description: str | None = None) -> None:
        self.description = description
        fields = ["description", "updated_at"]
        if negative_description is not None:
            self.negative_description = negative_description
            fields.append("negative_description")
        self.save(update_fields=fields)

    def to_dict(self) -> dict[str, Any]:
        return {"id": str(self.pk), "position": self.position, "description": self.description,
                "negative_description": self.negative_description,
                "start": self.start, "end": self.end, "section": self.section, "energy": self.energy,
                "lyrics": self.lyrics,
                "current_video_id": str(self.current_clip_id) if self.current_clip_id else None}


class SceneWriting(Prediction):
    """The scene writer (an LLM) at work: a project's whole scene plan, or, with ``scene``
    set, a rewrite of that one scene's prompt (the whole set is asked again so the new
    prompt fits the story, and only that scene's is kept)."""

    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="writings")
    scene = models.ForeignKey(Scene, null=True, blank=True, on_delete=models.CASCADE, related_name="rewrites")
    number_of_scenes = models.PositiveSmallIntegerField(default=1)
    text = models.TextField(blank=True)  # the writer's whole answer

    owner_path = "project__owner"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Scene rewrite for {self.scene}" if self.scene_id else f"Scene plan for {self.project}"

    @property
    def owner(self):
        return self.project.owner

    def _flavor(self) -> flavors.Flavor:
        return flavors.resolve(self.config_flavor)

    @property
    def slots(self) -> list[music.Slot] | None:
        """The scene plan it was asked to write for (fixed when it was requested)."""
        stored = self.input.get("plan")
        return planning.slots_from(stored) if stored else None

    def may_start(self) -> bool:
        """A whole plan waits for its song's analysis, so the cuts follow the music. Nothing
        waits on a clock: the song-analysed event starts it (mv.pipeline.followups)."""
        track = self.project.audio_track if self.scene_id is None else None
        return track is None or track.is_settled

    def waits_for_event(self) -> bool:
        """Still queued for its song: its poll chain ends here; the song's event starts a new one."""
        return self.status == JobStatus.QUEUED and self.started_at is None and not self.may_start()

    def plan_now(self, flavor: flavors.Flavor) -> list[music.Slot] | None:
        """Cut the whole plan now, on the song as it stands, and keep it on the writing (its
        scene count follows the plan). Refused when the part asked for does not fit the song."""
        slots = self.project.plan(flavor)
        self.input = self.input | {"plan": [slot.to_dict() for slot in slots or []]}
        self.number_of_scenes = len(slots) if slots else self.number_of_scenes
        self.save(update_fields=["input", "number_of_scenes"])
        return slots

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        flavor = self._flavor()
        slots = self.slots
        if slots is None and self.scene_id is None and self.project.audio_track_id is not None:
            try:  # asked for before its song arrived, and its event could not cut it
                slots = self.plan_now(flavor)
            except Refused as exc:
                raise ProviderError(exc.message) from None
        request = self.project.scene_request(flavor, used_in="mv.models.SceneWriting.start_job", slots=slots)
        return provider.start_scenes(flavor, request)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll_text(prediction_id)

    def project_key(self) -> Any:
        return self.project_id

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        parse_scenes(update.text or "", self.number_of_scenes)  # an answer we cannot use fails here
        return {"text": update.text or "", "model": update.model or self.model}

    def keep_output(self, update: JobUpdate, fields: dict[str, Any]) -> None:
        """The scenes are written in the finishing transaction (a row cancelled meanwhile,
        replaced by a newer request, writes nothing)."""
        self.succeed(**fields)
        if not self.finished_here:
            return
        written = parse_scenes(self.text, self.number_of_scenes)
        logger.info("scenes written for project %s with %s (flavor %s)", self.project_id, self.model or "the scene writer",
                    self.config_flavor)
        if self.scene_id is None:
            self._write_plan(written)
        else:
            spec = written[self.scene.position % len(written)]
            self.scene.update_prompt(spec.description, spec.negative_description)

    def _write_plan(self, written: list) -> None:
        """Texts replaced in place (clips stay attached); each scene gets its slot of the plan;
        scenes past the new count go (their clips stay, without a scene)."""
        project = self.project
        slots: list[music.Slot | None] = list(self.slots or [None] * len(written))
        existing = {s.position: s for s in project.scenes.select_for_update()}
        for position, (spec, slot) in enumerate(zip(written, slots, strict=True)):
            scene = existing.pop(position, None) or Scene(project=project, position=position)
            scene.description, scene.negative_description = spec.description, spec.negative_description
            scene.start, scene.end = (slot.start, slot.end) if slot else (None, None)
            scene.section, scene.energy, scene.lyrics = (slot.section, slot.energy, slot.lyrics) if slot else ("", None, "")
            scene.save()
        for extra in existing.values():
            extra.delete()

    def media_failure(self, detail: str) -> str:
        return "The scene writer's answer could not be used."

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        return costs.estimate_scene_writing(flavor)

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Tokens in and out, as the provider counts them; else counted from the prompt sent
        and the answer (a failed or cancelled call that reports nothing wrote nothing)."""
        done = self.status == JobStatus.SUCCEEDED
        sent = str((self.input.get("sent") or {}).get("prompt", ""))
        return "scene_writing", {
            "input_tokens": reported.get("input_token_count", costs.approx_tokens(sent) if done else 0),
            "output_tokens": reported.get("output_token_count", costs.approx_tokens(self.text) if done else 0)}

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"project_id": str(self.project_id),
                                    "scene_id": str(self.scene_id) if self.scene_id else None}



__all__ = ["Scene", "SceneWriting"]
