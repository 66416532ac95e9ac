"""A project: the song and the part of it to cover, the description, the flavor and its
scene-writing overrides, and what the project list and the API show of it (its scenes and
their writing: mv.models.scenes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.text import slugify
from django.utils import timezone

from mv import costs, flavors, music, planning, styles
from mv.music import captions
from mv.models.audio import AudioTrack
from mv.models.base import JobStatus, OwnedQuerySet
from mv.models.scenes import Scene, SceneWriting
from mv.providers.base import SceneRequest

MONEY = models.DecimalField(max_digits=12, decimal_places=6)


def _spend() -> models.Expression:
    """A project's ledger so far, as an annotation: the cost of its scenes' clips and start
    frames and of its scene writings (exact; rows not finished yet cost nothing so far)."""
    Clip = apps.get_model("mv", "Clip")  # by name: mv.models.clips imports this module
    StartFrame = apps.get_model("mv", "StartFrame")

    def total(queryset: models.QuerySet, key: str) -> models.Expression:
        summed = queryset.order_by().values(key).annotate(total=models.Sum("cost_usd")).values("total")
        return Coalesce(models.Subquery(summed[:1], output_field=MONEY), models.Value(Decimal(0)), output_field=MONEY)

    return (total(Clip.objects.filter(scene__project=models.OuterRef("pk")), "scene__project")
            + total(StartFrame.objects.filter(scene__project=models.OuterRef("pk")), "scene__project")
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
    # The saved character cast in it; character_description and character_image are the copy
    # the project keeps of it (so a later rename, re-pick or delete changes nothing made).
    character = models.ForeignKey("Character", null=True, blank=True, on_delete=models.SET_NULL, related_name="projects")
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.PROTECT, related_name="projects")
    audio_start = models.FloatField(default=0.0)  # where the chosen part of the song starts (the API's song_start)
    song_end = models.FloatField(null=True, blank=True)  # where it ends (null: the end of the song)
    aspect_ratio = models.CharField(max_length=8, default="16:9")
    config_flavor = models.CharField(max_length=64, default="default")
    # A director style (configs/styles/<name>.yaml) combined with the flavor; "" for none.
    director_style = models.CharField(max_length=64, blank=True, default="")
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

    def download_stem(self) -> str:
        """The title as a file name people recognise (rooftop-concert): downloads and exports."""
        return slugify(self.title)[:60].strip("-")

    def use_flavor(self, name: str) -> None:
        """The flavor every later call uses (scene writing, clips); what is made already stays."""
        self.config_flavor = name
        self.save(update_fields=["config_flavor", "updated_at"])
        self.__dict__.pop("flavor", None)

    @property
    def flavor(self) -> flavors.Flavor:
        """Its flavor, resolved once per row (a page asks it for every card: fits, prices, lipsync)."""
        if self.__dict__.get("flavor") is None or self.__dict__["flavor"].name != self.config_flavor:
            self.__dict__["flavor"] = flavors.resolve(self.config_flavor)
        return self.__dict__["flavor"]

    @property
    def longest_clip(self) -> int:
        """The longest clip its video model makes, in seconds."""
        return self.flavor.video.longest

    @property
    def max_speedup(self) -> float:
        """How much faster a clip may play to fill its scene (mv.planning.max_speedup of its flavor)."""
        return planning.max_speedup(self.flavor)

    def use_style(self, name: str) -> None:
        """The director style every later scene writing and clip uses ("" for none); raises
        styles.UnknownStyle for a name that is not loaded."""
        self.director_style = styles.resolve(name).name if name else ""
        self.save(update_fields=["director_style", "updated_at"])

    @property
    def style(self) -> styles.DirectorStyle | None:
        """The project's director style (None: none chosen, or one no longer installed)."""
        try:
            return styles.resolve(self.director_style)
        except styles.UnknownStyle:
            return None

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self.__dict__.pop("plan_writing", None)
        self.__dict__.pop("spend", None)
        self.__dict__.pop("flavor", None)

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
    def waiting_for_song(self) -> str:
        """"importing" or "analyzing" (also while the structure model hears it) while the scene
        plan waits for its song (the song's event starts it), else ""."""
        writing = self.plan_writing
        if writing is None or not writing.waits_for_event() or self.audio_track is None:
            return ""
        return "importing" if self.audio_track.is_importing else "analyzing"

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
        clip_seconds = flavor.video.duration
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
            director_style=self.style.writer_text(used_in=f"{used_in}: director_style") if self.style else "",
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
        slots = [scene.slot for scene in self.scenes.order_by("position")]
        return slots if slots and all(slots) else None  # type: ignore[return-value]

    @property
    def song_range(self) -> tuple[float, float] | None:
        """[song_start, song_end] of the chosen part (None without a song)."""
        if self.audio_track is None:
            return None
        end = self.song_end if self.song_end is not None else self.audio_track.duration
        return self.audio_start, min(end, self.audio_track.duration)

    @property
    def has_lyrics(self) -> bool:
        """Whether its song has lyric lines (so captions can be offered)."""
        return self.audio_track_id is not None and bool(self.audio_track.lyrics)  # type: ignore[union-attr]

    def caption_name(self, fmt: str) -> str:
        """The captions' file name, beside the video's (e.g. rooftop-concert.srt)."""
        from django.utils.text import slugify

        return f"{slugify(self.title)[:60].strip('-') or 'video'}.{fmt}"

    def video_span(self) -> tuple[float, float] | None:
        """The part of the song the full video covers: its scenes' slots, first start to last
        end (as the stitch cuts it), else the chosen range (None without a song)."""
        slots = self.planned_slots()
        if slots:
            return slots[0].start, slots[-1].end
        return self.song_range

    def caption_cues(self) -> list[music.LyricLine]:
        """The song's lyric lines sung in the video, on the video's clock (for SRT, VTT and
        burned-in captions)."""
        span = self.video_span()
        if span is None or self.audio_track is None:
            return []
        return captions.video_cues(self.audio_track.lyric_lines(), *span)

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
            "director_style": self.director_style or None,
            "character_id": str(self.character_id) if self.character_id else None,
            "character_description": self.character_description,
            "reference_image_id": str(self.character_image_id) if self.character_image_id else None,
            "audio_id": str(self.audio_track_id) if self.audio_track_id else None,
            "audio_start": self.audio_start,
            "song_start": self.song_range[0] if self.song_range else None,
            "song_end": self.song_range[1] if self.song_range else None,
            "scenes": [] if self.scenes_status == self.ScenesStatus.WRITING else [s.to_dict() for s in scenes],
            "latest_stitch": latest.to_dict() if latest else None,
            "spend_usd": float(costs.cents(self.spend_usd)),
        } | self.clip_seconds(scenes)

    def clip_seconds(self, scenes: Sequence[Scene] | None = None) -> dict[str, float]:
        """`paid_seconds` and `trimmed_seconds` of the scenes as they stand (mv.planning.clip_seconds)."""
        scenes = list(self.scenes.all()) if scenes is None else scenes
        slots = [scene.slot for scene in scenes]
        flavor = flavors.resolve(self.config_flavor)
        return planning.clip_seconds([s for s in slots if s] if all(slots) else None, flavor, scenes=len(scenes))


__all__ = ["Project", "ProjectQuerySet"]
