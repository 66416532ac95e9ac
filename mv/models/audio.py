"""A song as it arrived (upload, URL or trim), with the one check of a time range in it."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from mv import media
from mv.errors import Refused
from mv.models.base import GeneratedName, OwnedQuerySet

TIME_SLACK = 1e-6  # a range may end exactly at the track's end, rounding included


class AudioTrack(models.Model):
    class AnalysisStatus(models.TextChoices):
        ANALYZING = "analyzing", "Analyzing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        URL = "url", "Downloaded from a URL"
        TRIM = "trim", "Trimmed from another track"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audio_tracks")
    title = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    source_url = models.URLField(max_length=2000, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="trims")
    trim_start = models.FloatField(default=0.0)
    trim_end = models.FloatField(null=True, blank=True)
    # The file as received (lossless source for lipsync slices) and an AAC copy made
    # once on arrival, so every stitch can stream-copy the song instead of re-encoding.
    original = models.FileField(upload_to=GeneratedName("audio/original"), max_length=300)
    file = models.FileField(upload_to=GeneratedName("audio"), max_length=300, blank=True)
    waveform = models.FileField(upload_to=GeneratedName("audio/waveforms"), max_length=300, blank=True)
    duration = models.FloatField(default=0.0)
    # The song's analysis (mv.music: tempo, beats, bars, sections, loudness), made once in the
    # background and stored as mv.music.Analysis.to_dict() (it carries its version).
    analysis = models.JSONField(default=dict, blank=True)
    analysis_status = models.CharField(max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.ANALYZING)
    analysis_error = models.TextField(blank=True)
    # Timed lyric lines [{"start": s, "end": s, "text": "..."}], pasted or transcribed.
    lyrics = models.JSONField(default=list, blank=True)
    lyrics_source = models.CharField(max_length=16, blank=True)  # "", "pasted" or "transcribed"
    created_at = models.DateTimeField(default=timezone.now)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or "Untitled song"

    def get_absolute_url(self) -> str:
        return reverse("api_audio_get", args=[self.id])

    def check_range(self, start: float | None, end: float | None, *,
                    names: tuple[str, str] = ("start_time", "end_time")) -> tuple[float, float]:
        """The one time-range rule: 0 <= start < end <= the track's length (end defaults to
        the track's end). The error names the fields and the track's length."""
        return check_range(start, end, self.duration, names=names)

    def media_info(self) -> media.MediaInfo | None:
        """The song's facts when ``file`` is our own transcode (AAC, 44.1 kHz stereo, made
        once on arrival: mv.media.transcode_song), else None (the stitch probes it)."""
        if not self.file or not self.duration:
            return None
        return media.MediaInfo(duration=self.duration, video=None,
                               audio=media.AudioStream("aac", 44100, 2, self.duration, "stereo"))

    def to_dict(self) -> dict[str, Any]:
        return {"audio_id": str(self.pk), "title": self.title, "duration": self.duration,
                "audio_url": reverse("api_audio_get", args=[self.pk]), "source": self.source,
                "parent_audio_id": str(self.parent_id) if self.parent_id else None}


def check_range(start: float | None, end: float | None, duration: float | None, *,
                names: tuple[str, str] = ("start_time", "end_time")) -> tuple[float, float | None]:
    """0 <= start < end <= duration (duration None: not known yet, so only what can be
    checked without it; end None: the rest of the track). Raises Refused naming the
    fields, and the length when it is known."""
    first, second = names
    start = 0.0 if start is None else float(start)
    problem = ""
    if start < 0:
        problem = f"{first} must not be negative"
    elif end is not None and end <= start:
        problem = f"{second} must be greater than {first}"
    elif duration is not None and start >= duration:
        problem = f"{first} must be before the end of the track"
    elif duration is not None and end is not None and end > duration + TIME_SLACK:
        problem = f"{second} must not be past the end of the track"
    if problem:
        details: dict[str, Any] = {first: start, second: end}
        if duration is None:
            raise Refused("invalid_times", f"{problem}.", details)
        raise Refused("invalid_times", f"{problem}: 0 <= {first} < {second} <= {duration:.3f} "
                                       f"(the track is {duration:.3f} s long).", details | {"track_duration": duration})
    if end is None:
        return start, duration
    return start, float(end) if duration is None else min(float(end), duration)
