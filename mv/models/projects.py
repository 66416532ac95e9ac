"""A project, its scenes (each a slot of the song) and the scene writer's predictions."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from mv import costs, flavors, music, planning
from mv.errors import Refused
from mv.models.audio import AudioTrack
from mv.models.base import ACTIVE_STATUSES, JobStatus, OwnedQuerySet, Prediction
from mv.providers.base import JobUpdate, SceneRequest, parse_scenes

if TYPE_CHECKING:
    from mv.providers.base import Provider

logger = logging.getLogger("mv.models")


MONEY = models.DecimalField(max_digits=12, decimal_places=6)


def _spend() -> models.Expression:
    """A project's ledger so far, as an annotation: the cost of its scenes' clips and of its
    scene writings (exact; rows not finished yet cost nothing so far)."""
    Clip = apps.get_model("mv", "Clip")  # by name: mv.models.clips imports this module

    def total(queryset: models.QuerySet, key: str) -> models.Expression:
        summed = queryset.order_by().values(key).annotate(total=models.Sum("cost_usd")).values("total")
        return Coalesce(models.Subquery(summed[:1], output_field=MONEY), models.Value(Decimal(0)), output_field=MONEY)

    return (total(Clip.objects.filter(scene__project=models.OuterRef("pk")), "scene__project")
            + total(SceneWriting.objects.filter(project=models.OuterRef("pk")), "project"))


class ProjectQuerySet(OwnedQuerySet):
    def with_spend(self) -> ProjectQuerySet:
        return self.annotate(spend=_spend())

    def with_summary(self) -> ProjectQuerySet:
        """What the project list shows, in one query: scene and ready-clip counts, the first
        scene's clip as a cover, and the latest finished stitch's length."""
        Stitch = apps.get_model("mv", "Stitch")  # by name: mv.models.clips imports this module

        first_scene = Scene.objects.filter(project=models.OuterRef("pk"), position=0).exclude(current_clip__poster="")
        stitched = Stitch.objects.filter(project=models.OuterRef("pk"), status=JobStatus.SUCCEEDED).order_by("-created_at")
        return self.annotate(
            scene_count=models.Count("scenes", distinct=True),
            ready_count=models.Count("scenes", filter=models.Q(scenes__current_clip__isnull=False), distinct=True),
            cover_clip_id=models.Subquery(first_scene.values("current_clip")[:1], output_field=models.UUIDField()),
            stitch_duration=models.Subquery(stitched.values("duration")[:1]),
            spend=_spend(),
        )


class Project(models.Model):
    class Mode(models.TextChoices):
        MUSIC_VIDEO = "music_video", "Music Video"
        AD_CREATIVE = "ad_creative", "Ad Creative"

    class ScenesStatus(models.TextChoices):
        """Where the project's scene plan stands (read from its latest SceneWriting)."""

        NEW = "new", "Not started"
        WRITING = "writing", "Writing scenes"
        READY = "ready", "Scenes ready"
        FAILED = "failed", "Scene writing failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    title = models.CharField(max_length=120, blank=True)  # blank: taken from the description on save
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.MUSIC_VIDEO)
    video_description = models.TextField()
    character_description = models.TextField(blank=True)
    character_image = models.ForeignKey(
        "CharacterImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.PROTECT, related_name="projects")
    audio_start = models.FloatField(default=0.0)  # where the chosen part of the song starts (the API's song_start)
    song_end = models.FloatField(null=True, blank=True)  # where it ends (null: the end of the song)
    aspect_ratio = models.CharField(max_length=8, default="16:9")
    config_flavor = models.CharField(max_length=64, default="default")
    # Scene-writing overrides (blank = the flavor's value).
    number_of_scenes = models.PositiveSmallIntegerField(null=True, blank=True)
    scene_parameters = models.JSONField(default=dict, blank=True)
    # True once the automatic "all clips, then stitch" run has been started, so paid work
    # is never started twice for it.
    autorun_started = models.BooleanField(default=False)
    auto_stitch_done = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @staticmethod
    def title_from(description: str) -> str:
        """The default name of a project: the start of its description."""
        text = " ".join(description.split())
        return text[:60] + ("…" if len(text) > 60 else "")

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.title:
            self.title = self.title_from(self.video_description) or "Untitled project"
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "title"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("quick_gen", args=[self.id])

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self.__dict__.pop("plan_writing", None)
        self.__dict__.pop("spend", None)

    @property
    def spend_usd(self) -> Decimal:
        """What its predictions have cost so far (the ``spend`` annotation when loaded with it)."""
        if "spend" not in self.__dict__:
            self.__dict__["spend"] = Project.objects.filter(pk=self.pk).with_spend().values_list("spend", flat=True).first()
        return costs.exact(self.__dict__["spend"] or 0)

    @property
    def plan_writing(self) -> SceneWriting | None:
        """The latest request to write this project's scenes (None: never asked)."""
        if "plan_writing" not in self.__dict__:
            self.__dict__["plan_writing"] = self.writings.filter(scene__isnull=True).order_by("-created_at").first()
        return self.__dict__["plan_writing"]

    @property
    def scenes_status(self) -> str:
        writing = self.plan_writing
        if writing is None:
            return self.ScenesStatus.NEW
        if writing.is_active:
            return self.ScenesStatus.WRITING
        return self.ScenesStatus.READY if writing.status == JobStatus.SUCCEEDED else self.ScenesStatus.FAILED

    @property
    def scenes_error(self) -> str:
        writing = self.plan_writing
        return writing.error if writing is not None and self.scenes_status == self.ScenesStatus.FAILED else ""

    def scene_request(self, flavor: flavors.Flavor, *, used_in: str = "mv.models.Project.scene_request",
                      slots: Sequence[music.Slot] | None = None) -> SceneRequest:
        """What the scene writer is asked: the flavor's parameters, overridden per project, and
        the scene plan (`slots`, else planned now; with a song its count is the plan's)."""
        overrides = self.scene_parameters or {}

        def param(key: str) -> Any:
            if overrides.get(key) not in (None, ""):
                return overrides[key]
            return flavor.get("parameters", key, used_in=f"{used_in}: {key}")

        if slots is None and self.audio_track_id is not None:
            slots = self.plan(flavor)
        count = len(slots) if slots else int(self.number_of_scenes or param("number_of_scenes"))
        video_type = param("video_type")
        if self.mode == self.Mode.AD_CREATIVE and not overrides.get("video_type"):
            video_type = "product ad creative"  # the mode decides what kind of video is written
        clip_seconds = int(flavor.get("image_params", "video_duration", used_in=f"{used_in}: clip length"))
        return SceneRequest(
            idea=self.video_description,
            character_description=self.character_description,
            character_characteristics=param("character_characteristics"),
            number_of_scenes=count,
            video_type=video_type,
            video_characteristics=param("video_characteristics"),
            camera_angle=param("camera_angle"),
            mode=self.mode,
            scene_plan=planning.plan_text(slots, count, clip_seconds),
        )

    def plan(self, flavor: flavors.Flavor) -> list[music.Slot] | None:
        """The chosen part of the song cut into scenes (None without a song); raises Refused
        when the range or the scene count asked for does not fit."""
        if self.audio_track is None:
            return None
        return planning.plan(self.audio_track, start=self.audio_start, end=self.song_end,
                             count=self.number_of_scenes, flavor=flavor)

    def planned_slots(self) -> list[music.Slot] | None:
        """The scenes' slots as they stand (None when a scene has none: no song)."""
        slots = [scene.as_slot() for scene in self.scenes.order_by("position")]
        return slots if slots and all(slots) else None  # type: ignore[return-value]

    @property
    def song_range(self) -> tuple[float, float] | None:
        """[song_start, song_end] of the chosen part (None without a song)."""
        if self.audio_track is None:
            return None
        end = self.song_end if self.song_end is not None else self.audio_track.duration
        return self.audio_start, min(end, self.audio_track.duration)

    def to_dict(self) -> dict[str, Any]:
        scenes = list(self.scenes.select_related("current_clip"))
        latest = self.stitches.order_by("-created_at").first()
        return {
            "project_id": str(self.pk),
            "title": self.title,
            "aspect_ratio": self.aspect_ratio,
            "status": self.scenes_status,
            "error": self.scenes_error or None,
            "status_url": reverse("api_project", args=[self.pk]),
            "config_flavor": self.config_flavor,
            "audio_id": str(self.audio_track_id) if self.audio_track_id else None,
            "audio_start": self.audio_start,
            "song_start": self.song_range[0] if self.song_range else None,
            "song_end": self.song_range[1] if self.song_range else None,
            "scenes": [] if self.scenes_status == self.ScenesStatus.WRITING else [s.to_dict() for s in scenes],
            "latest_stitch": latest.to_dict() if latest else None,
            "spend_usd": float(costs.cents(self.spend_usd)),
        }


class Scene(models.Model):
    class PromptStatus(models.TextChoices):
        READY = "ready", "Ready"
        WRITING = "writing", "Rewriting"
        FAILED = "failed", "Rewrite failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scenes")
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

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="writings")
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

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Tokens in and out, as the provider counts them; else counted from the prompt sent
        and the answer (a failed or cancelled call that reports nothing wrote nothing)."""
        from mv import costs

        done = self.status == JobStatus.SUCCEEDED
        sent = str((self.input.get("sent") or {}).get("prompt", ""))
        return "scene_writing", {
            "input_tokens": reported.get("input_token_count", costs.approx_tokens(sent) if done else 0),
            "output_tokens": reported.get("output_token_count", costs.approx_tokens(self.text) if done else 0)}

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"project_id": str(self.project_id),
                                    "scene_id": str(self.scene_id) if self.scene_id else None}


__all__ = ["Project", "ProjectQuerySet", "Scene", "SceneWriting"]
