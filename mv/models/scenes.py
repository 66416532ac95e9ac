"""A project's scenes (each a slot of the song) and the scene writer's predictions that write
them: a whole plan, or one scene's prompt again."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from mv import costs, flavors, music, planning
from mv.errors import Refused
from mv.models.base import ACTIVE_STATUSES, JobStatus, Prediction
from mv.providers.base import JobUpdate, parse_scenes

if TYPE_CHECKING:
    from mv.providers.base import Provider

logger = logging.getLogger("mv.models")


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

    class Meta:
        ordering = ["project", "position"]
        constraints = [models.UniqueConstraint(fields=["project", "position"], name="scene_unique_position")]

    def __str__(self) -> str:
        return f"Scene {self.position + 1}"

    @property
    def number(self) -> int:
        return self.position + 1

    @property
    def slot(self) -> tuple[float, float] | None:
        """(start, end) of the scene in the song, or None without a song."""
        if self.start is None or self.end is None:
            return None
        return self.start, self.end

    def as_slot(self) -> music.Slot | None:
        if self.start is None or self.end is None:
            return None
        return music.Slot(self.start, self.end, self.section, self.energy, self.lyrics)

    @property
    def suggest_lipsync(self) -> bool:
        """Whether its card starts with "with lipsync" ticked: it has lyrics and the flavor
        says scenes with lyrics should be lip-synced."""
        if not self.lyrics.strip():
            return False
        flavor = flavors.resolve(self.project.config_flavor)
        return bool(flavor.get("image_params", "lipsync_scenes_with_lyrics", default=False,
                               used_in="mv.models.Scene.suggest_lipsync"))

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
        """A whole plan waits a little for its song's analysis, so the cuts follow the music
        (MV_ANALYSIS_WAIT after the song arrived; then it goes ahead on what there is)."""
        track = self.project.audio_track if self.scene_id is None else None
        if track is None or track.analysis_status != track.AnalysisStatus.ANALYZING:
            return True
        return timezone.now() - track.created_at >= timedelta(seconds=settings.MV_ANALYSIS_WAIT)

    def _replan(self, flavor: flavors.Flavor) -> None:
        """Cut the plan again now: the song's analysis may have arrived since it was asked for
        (the count asked for was checked then and still fits the same part of the song)."""
        project = self.project
        if self.scene_id is not None or project.audio_track is None:
            return
        try:
            slots = project.plan(flavor)
        except Refused:
            return  # the plan it was asked for stands
        self.input = self.input | {"plan": [slot.to_dict() for slot in slots or []]}
        if len(slots or []) != self.number_of_scenes:
            self.number_of_scenes = len(slots or [])
            self.save(update_fields=["number_of_scenes"])

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        flavor = self._flavor()
        self._replan(flavor)
        request = self.project.scene_request(flavor, used_in="mv.models.SceneWriting.start_job", slots=self.slots)
        return provider.start_scenes(flavor, request)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll_text(prediction_id)

    def keep_output(self, update: JobUpdate) -> None:
        written = parse_scenes(update.text or "", self.number_of_scenes)
        logger.info("scenes written for project %s with %s (flavor %s)", self.project_id,
                    update.model or "the scene writer", self.config_flavor)
        with transaction.atomic():
            if not SceneWriting.objects.select_for_update().filter(pk=self.pk, status__in=ACTIVE_STATUSES).exists():
                return  # cancelled meanwhile (a newer request took over)
            if self.scene_id is None:
                self._write_plan(written)
            else:
                spec = written[self.scene.position % len(written)]
                self.scene.update_prompt(spec.description, spec.negative_description)
            self.succeed(text=update.text or "", model=update.model or self.model)

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
