"""Clips (generated, lipsync, uploaded) and stitches.

Nothing generated is ever overwritten: a regeneration or a lipsync makes a new Clip whose
``parent`` is the old one, and a scene's ``current_clip`` moves only once it succeeded.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from mv import costs, files, flavors, media, music
from mv.models.audio import AudioTrack
from mv.models.base import GeneratedName, Job, JobStatus, OwnedQuerySet, Prediction
from mv.models.characters import CharacterImage
from mv.models.performing import PerformerInputs
from mv.models.parts import stitch_with_parts
from mv.music import LyricLine, captions
from mv.models.projects import Project
from mv.models.scenes import Scene
from mv.providers import get_provider
from mv.providers.base import (
    ClipRequest,
    JobUpdate,
    LipsyncRequest,
    Provider,
    ProviderError,
)

logger = logging.getLogger("mv.models")


class VideoMixin:
    """Clips and stitches are both "videos" to the API: one id space, one media URL."""

    id: uuid.UUID
    status: str
    error: str

    @property
    def video_url(self) -> str:
        return reverse("api_get_video", args=[self.id])

    def get_absolute_url(self) -> str:
        return self.video_url

    def video_dict(self) -> dict[str, Any]:
        """What the API says of any video, clip or stitch (the rest is each kind's own)."""
        return {
            "video_id": str(self.id),
            "status": self.status,
            "error": self.error or None,
            "video_url": self.video_url if self.status == JobStatus.SUCCEEDED else None,
            "status_url": reverse("api_get_video_info", args=[self.id]),
        }

    def download_name(self) -> str:
        """A file name people recognise: the project's title (e.g. rooftop-concert.mp4)."""
        project = self.project if isinstance(self, Stitch) else (self.scene.project if self.scene else None)
        stem = project.download_stem() if project else ""
        if isinstance(self, Clip) and self.scene:
            stem = f"{stem}-scene-{self.scene.number}"
        return f"{stem or 'video'}.mp4"


class Clip(VideoMixin, PerformerInputs, Prediction):
    class Kind(models.TextChoices):
        GENERATED = "generated", "Generated"
        LIPSYNC = "lipsync", "Lipsync"
        UPLOADED = "uploaded", "Uploaded"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    scene = models.ForeignKey(Scene, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.GENERATED, db_index=True)
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    audio_start = models.FloatField(null=True, blank=True)
    audio_end = models.FloatField(null=True, blank=True)
    # Whether this clip becomes its scene's current clip when it succeeds (a lipsync of
    # an old clip from the history does not replace the current one).
    promote_on_success = models.BooleanField(default=True)
    audio_slice = models.FileField(upload_to=GeneratedName("slices"), max_length=300, blank=True)  # what lipsync was sent
    followup_stitch = models.ForeignKey(
        "Stitch", null=True, blank=True, on_delete=models.SET_NULL, related_name="triggered_by"
    )  # the re-stitch a successful lipsync started
    file = models.FileField(upload_to=GeneratedName("clips"), max_length=300, blank=True)
    # Your own video as it was uploaded, before it was fitted to the project (kind UPLOADED).
    footage = models.FileField(upload_to=GeneratedName("footage"), max_length=300, blank=True)
    poster = models.FileField(upload_to=GeneratedName("posters"), max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True)
    predict_time = models.FloatField(null=True, blank=True)
    # The file's media facts (codec, size, frame rate, durations, audio layout: media.MediaInfo),
    # stored when it arrives so a stitch probes nothing it already knows.
    media = models.JSONField(default=dict, blank=True)

    objects = OwnedQuerySet.as_manager()

    takes_a_slot = True

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} clip {str(self.id)[:8]}"

    def waits_for_slots(self) -> bool:
        """On a provider that bounds its in-flight predictions (MV_MAX_CONCURRENT_PREDICTIONS),
        or a paid one with MV_USER_MAX_ACTIVE_PREDICTIONS, a clip starts once a slot is
        granted to it (``Prediction.grant_slots``: shared fairly between users); local renders
        are bounded by the worker count instead."""
        try:
            provider = get_provider(self.provider)
        except ProviderError:
            return False
        return provider.limits_concurrency or bool(provider.paid and settings.MV_USER_MAX_ACTIVE_PREDICTIONS)

    def project_key(self) -> Any:
        if not self.scene_id:
            return None
        return Scene.objects.filter(pk=self.scene_id).values_list("project_id", flat=True).first()

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        """A generated clip: the seconds asked of the video model (with or without audio); a
        lipsync: its slice of the song, at least the model's minimum billed length."""
        if self.kind == self.Kind.LIPSYNC:
            return costs.estimate_lipsync(flavor, [max(0.0, (self.audio_end or 0.0) - (self.audio_start or 0.0))])
        if self.kind == self.Kind.UPLOADED:
            return costs.Estimate()  # made by nobody we pay
        seconds = self.input.get("duration") or flavor.get("image_params", "video_duration",
                                                           used_in="mv.models.Clip.paid_estimate: clip length")
        audio = self.input.get("generate_audio")
        if audio is None:
            audio = flavor.get("image_params", "video_generate_audio", used_in="mv.models.Clip.paid_estimate: audio")
        return costs.estimate_clips(flavor, [seconds], bool(audio))

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Seconds of output, measured from the file (a failed or cancelled clip made none)."""
        if self.kind == self.Kind.UPLOADED:
            return None
        seconds = (self.duration or 0.0) if self.status == JobStatus.SUCCEEDED else 0.0
        if self.kind == self.Kind.LIPSYNC:
            return "lipsync", {"seconds": seconds}
        return ("video_with_audio" if self.input.get("generate_audio", True) else "video"), {"seconds": seconds}

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        flavor = flavors.resolve(self.config_flavor)
        if self.kind == self.Kind.LIPSYNC:
            self._use_vocals(workdir)
            return provider.start_lipsync(flavor, self._lipsync_request(stack, workdir), workdir=workdir)
        return provider.start_clip(flavor, self._clip_request(stack, workdir), workdir=workdir)

    def _clip_request(self, stack: contextlib.ExitStack, workdir: Path) -> ClipRequest:
        data = self.input
        reference = None
        if data.get("character_image"):
            image = CharacterImage.objects.filter(pk=data["character_image"]).first()
            if image and image.file:
                reference = stack.enter_context(files.local_path(image.file))
        return ClipRequest(
            prompt=self.prompt, negative_prompt=self.negative_prompt, aspect_ratio=data.get("aspect_ratio", "16:9"),
            duration=float(data.get("duration", 8)), generate_audio=bool(data.get("generate_audio", True)),
            seed=data.get("seed"), reference_image=reference, start_image=self._start_image(stack, workdir),
            label=data.get("label", ""),
            footage=stack.enter_context(files.local_path(self.footage)) if self.footage else None,
            footage_format=self._project_format() if self.footage else None, fit=bool(data.get("fit", True)),
        )

    def _lipsync_request(self, stack: contextlib.ExitStack, workdir: Path) -> LipsyncRequest:
        if self.parent is None or not self.parent.file or not self.audio_slice:
            raise ProviderError("the source clip or its audio slice is missing")
        options = self.input.get("options", {})
        return LipsyncRequest(
            video=self._lipsync_video(stack.enter_context(files.local_path(self.parent.file)), workdir),
            audio=stack.enter_context(files.local_path(self.audio_slice)),
            temperature=options.get("temperature"),
            occlusion_detection_enabled=options.get("occlusion_detection_enabled"),
            active_speaker_detection=options.get("active_speaker_detection"),
        )

    def _lipsync_video(self, source: Path, workdir: Path) -> Path:
        """The source clip as its scene shows it for this lipsync's slice: played faster to fill
        the slice when the stitch would retime it there (so the lips follow the pictures shown,
        and the lipsync, as long as its slice, is not retimed again), else the clip itself."""
        project = self.scene.project if self.scene_id and self.scene is not None else None
        slot = self.scene.slot if project is not None else None
        seconds = (self.audio_end or 0.0) - (self.audio_start or 0.0)
        if slot is None or abs(slot.length - seconds) > 0.001:  # a slice other than the scene's: the clip as it is
            return source
        if not self.parent.fills_by_retime(slot.length, project.max_speedup):  # type: ignore[union-attr]
            return source
        video = self.parent.media_info(source).video  # type: ignore[union-attr]
        if video is None:
            return source
        retimed = workdir / "lipsync-source.mp4"
        media.make_part(source, retimed, video, media.frame_counts([seconds], video.fps)[0], video, workdir, retime=True)
        return retimed

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        if update.output_path is None:
            raise ProviderError("the model finished but returned no video")
        try:
            info = media.require_video(update.output_path)
        except media.MediaError:
            raise ProviderError("The model's output is not a playable video.") from None
        poster_path = update.output_path.with_name("poster.jpg")
        media.poster(update.output_path, poster_path, at=min(0.5, info.duration / 2))
        files.store(self.file, update.output_path, f"{self.pk}.mp4")
        files.store(self.poster, poster_path, f"{self.pk}.jpg")
        return {"file": self.file, "poster": self.poster, "predict_time": update.predict_time,
                "duration": info.video.duration if info.video else info.duration, "media": info.to_dict()}

    def keep_output(self, update: JobUpdate, fields: dict[str, Any]) -> None:
        self.succeed(**fields)
        if self.finished_here and self.scene_id and self.promote_on_success:
            # Finishes in one project run one at a time (its row is locked): the last one wins.
            Scene.objects.filter(pk=self.scene_id).update(current_clip=self, updated_at=timezone.now())

    def media_failure(self, detail: str) -> str:
        return "The video could not be processed."

    def media_info(self, path: Path) -> media.MediaInfo:
        """Its stored media facts; a clip from before they were stored is probed once and
        remembered."""
        info = media.MediaInfo.from_dict(self.media or {})
        if info is None:
            info = media.probe(path)
            self.media = info.to_dict()
            Clip.objects.filter(pk=self.pk).update(media=self.media)
        return info

    def _project_format(self) -> dict[str, Any] | None:
        """The video facts of the project's other clips in this clip's format (landscape or
        portrait), so your own fitted clip joins them by stream copy at the stitch."""
        portrait = self.input.get("aspect_ratio") == "9:16"
        others = Clip.objects.filter(current_for__project__scenes=self.scene_id).exclude(pk=self.pk).exclude(file="")
        for clip in others.distinct()[:4]:
            info = media.MediaInfo.from_dict(clip.media or {})
            if info is None:
                with files.local_path(clip.file) as path:
                    info = clip.media_info(path)
            if info.video is not None and (info.video.height > info.video.width) == portrait:
                return info.video.__dict__ | {"duration": 0.0, "frames": 0}
        return None

    @property
    def fit_note(self) -> str:
        """How your own clip was fitted to its scene, in words for its card ("" for other clips)."""
        sent = self.input.get("sent", {}) if self.kind == self.Kind.UPLOADED else {}
        source, slot = sent.get("source_seconds"), sent.get("slot_seconds")
        if sent.get("fitted") == "held":
            return f"Your clip lasts {source:.1f} s, shorter than the scene ({slot:.1f} s): its last frame is held to the end."
        if sent.get("fitted") == "trimmed":
            return f"Your clip lasts {source:.1f} s: its first {slot:.1f} s fill the scene."
        return ""

    def fills_by_retime(self, slot_seconds: float, max_speedup: float) -> bool:
        """Whether the stitch plays this clip faster to fill a slot of ``slot_seconds`` rather than
        trimming it (mv.music.retimed on its own length). A lipsync never: its lips follow the
        song's slice, and it was made from the retimed clip already (``_lipsync_request``)."""
        if self.kind == self.Kind.LIPSYNC or not self.duration:
            return False
        length = music.planned_length(self.duration, self.input.get("duration"))
        return bool(music.retimed(length, slot_seconds, max_speedup))

    def make_current(self) -> None:
        Scene.objects.filter(pk=self.scene_id).update(current_clip=self, updated_at=timezone.now())

    def to_dict(self) -> dict[str, Any]:
        return self.video_dict() | {
            "config_flavor": self.config_flavor,
            "stitch_id": str(self.followup_stitch_id) if self.followup_stitch_id else None,
            **self.cost_fields(),
            "metadata": {
                "kind": self.kind,
                "provider": self.provider,
                "model_used": self.model,
                "prompt": self.prompt,
                "parent_video_id": str(self.parent_id) if self.parent_id else None,
                "scene_id": str(self.scene_id) if self.scene_id else None,
                "duration_seconds": self.duration,
                "progress": self.progress,
                "predict_time": self.predict_time,
                "audio_id": str(self.audio_track_id) if self.audio_track_id else None,
                "start_time": self.audio_start,
                "end_time": self.audio_end,
                "start_frame_id": self.input.get("start_frame"),
                "continues_video_id": self.input.get("continue_from"),
                "reference_image_sent": bool(self.input.get("character_image")) and not self.input.get("reference_dropped"),
                "audio_source": self.input.get("audio_source") if self.kind == self.Kind.LIPSYNC else None,
                "audio_note": self.input.get("audio_note") if self.kind == self.Kind.LIPSYNC else None,
            },
        }


class Stitch(VideoMixin, Job):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the API's video_id
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stitches")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="stitches")
    clips = models.ManyToManyField(Clip, through="StitchItem", related_name="stitches")
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    audio_start = models.FloatField(default=0.0)
    suppress_video_audio = models.BooleanField(default=True)
    file = models.FileField(upload_to=GeneratedName("stitches"), max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True)
    num_clips = models.PositiveIntegerField(default=0)
    reencoded_clips = models.PositiveIntegerField(default=0)  # clips re-encoded (whole, or their last frames) by this stitch
    # The lyric lines burned into it, on the video's clock (LyricLine.to_dict()); empty: none.
    captions = models.JSONField(default=list, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "stitches"

    def __str__(self) -> str:
        return f"Stitch {str(self.id)[:8]}"

    def ordered_clips(self) -> list[Clip]:
        return [item.clip for item in self.items.select_related("clip").order_by("position")]

    def planned_lengths(self) -> list[float] | None:
        """Each clip's planned length, when every clip has one (a project's scenes with a song)."""
        lengths = list(self.items.order_by("position").values_list("length", flat=True))
        return lengths if lengths and None not in lengths else None

    def render(self) -> None:
        """Stitch the clips under the song (the slow part, run by a task)."""
        if self.is_finished:
            return
        self.mark_running()
        failure = "The clips could not be stitched; re-stitch to try again."
        try:
            with files.workdir() as workdir:
                clips, track = self.ordered_clips(), self.audio_track
                # Parts kept from earlier stitches are used, the missing ones made and kept; on S3 the
                # files it reads are fetched at once, or taken from this machine's cache.
                out = workdir / "stitch.mp4"
                result = stitch_with_parts(clips, out, workdir=workdir, track=track, lengths=self.planned_lengths(),
                                           audio_start=self.audio_start, suppress_video_audio=self.suppress_video_audio,
                                           max_speedup=self.project.max_speedup if self.project else 1.0)
                if self.captions:
                    failure = "The captions could not be burned in; re-stitch without them, or try again."
                    out = self.burn_captions(out, workdir)
                files.store(self.file, out, f"{self.pk}.mp4")
        except (media.MediaError, OSError, ValueError) as exc:
            logger.warning("stitch %s failed: %s", self.pk, exc)
            self.mark_failed(failure)
            return
        self.duration, self.reencoded_clips = result.duration, result.reencoded
        self.status, self.finished_at = JobStatus.SUCCEEDED, timezone.now()
        self.save(update_fields=["file", "duration", "reencoded_clips", "status", "finished_at"])

    def burn_captions(self, video: Path, workdir: Path) -> Path:
        """The stitched video with its caption lines drawn in (styled for its shape)."""
        info = media.probe(video, index_only=True)
        cues = [LyricLine.from_dict(cue) for cue in self.captions]
        burned = workdir / "captioned.mp4"
        media.burn_captions(video, burned, captions.to_ass(cues, info.video.width, info.video.height),  # type: ignore[union-attr]
                            workdir=workdir)
        return burned

    def to_dict(self) -> dict[str, Any]:
        return self.video_dict() | {
            "kind": "stitch",
            "metadata": {
                "num_videos_stitched": self.num_clips,
                "video_duration_seconds": self.duration,
                "audio_overlay_applied": self.audio_track_id is not None,
                "audio_overlay_id": str(self.audio_track_id) if self.audio_track_id else None,
                "audio_start": self.audio_start,
                "input_video_ids": [str(c.pk) for c in self.ordered_clips()],
                "reencoded_clips": self.reencoded_clips,
                "captions_burned_in": bool(self.captions),
            },
        }


class StitchItem(models.Model):
    stitch = models.ForeignKey(Stitch, on_delete=models.CASCADE, related_name="items")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="stitch_items")
    position = models.PositiveIntegerField()
    length = models.FloatField(null=True, blank=True)  # seconds the clip is trimmed to (its scene's slot); null: all of it

    class Meta:
        ordering = ["stitch", "position"]
        constraints = [models.UniqueConstraint(fields=["stitch", "position"], name="stitch_item_unique_position")]
