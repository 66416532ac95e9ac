"""A song as it arrived (upload, URL or trim), with the one check of a time range in it, its
music analysis (``AudioTrack.analyze``, run by a task once per track) and its lyrics (pasted,
or transcribed by a ``LyricsTranscription``)."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from mv import files, flavors, media, music
from mv.errors import Refused
from mv.models.base import (
    ACTIVE_STATUSES,
    GeneratedName,
    JobStatus,
    OwnedQuerySet,
    Prediction,
)
from mv.music import ANALYSIS_VERSION, Analysis, LyricLine, from_transcription
from mv.music.analysis import ENVELOPE_RATE
from mv.providers import get_provider
from mv.providers.base import JobUpdate, ProviderError

if TYPE_CHECKING:
    from mv.providers.base import Provider

logger = logging.getLogger("mv.models")

TIME_SLACK = 1e-6  # a range may end exactly at the track's end, rounding included
ANALYSIS_FAILED = "The song could not be analysed; scenes use an even grid."

# Sent once a track's analysis is stored (with the Analysis); mv.pipeline.followups then starts
# transcribing its lyrics.
analysed = Signal()


class AudioTrackQuerySet(OwnedQuerySet):
    def needing_analysis(self) -> AudioTrackQuerySet:
        """What a starting worker analyses: tracks still analysing (cut off, or never queued)
        or analysed by an older ANALYSIS_VERSION."""
        stale = (Q(analysis_status=AudioTrack.AnalysisStatus.READY) & ~Q(analysis__version=ANALYSIS_VERSION)
                 & ~Q(analysis__source="model"))
        return self.filter(Q(analysis_status=AudioTrack.AnalysisStatus.ANALYZING) | stale)


class AudioTrack(models.Model):
    class AnalysisStatus(models.TextChoices):
        ANALYZING = "analyzing", "Analyzing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class LyricsSource(models.TextChoices):
        PASTED = "pasted", "Pasted"
        TRANSCRIBED = "transcribed", "Transcribed"

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

    objects = AudioTrackQuerySet.as_manager()

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

    # --- music analysis and lyrics ---------------------------------------------------------

    @property
    def analysis_is_current(self) -> bool:
        """Analysed by this version, or by the structure model (never replaced by a local analysis)."""
        return self.analysis_status == self.AnalysisStatus.READY and (
            self.analysis.get("version") == ANALYSIS_VERSION or self.analysis.get("source") == "model")

    def music_analysis(self) -> Analysis | None:
        """The stored analysis (None while analyzing, when it failed, or if it cannot be read)."""
        if self.analysis_status != self.AnalysisStatus.READY or not self.analysis:
            return None
        try:
            return Analysis.from_dict(self.analysis)
        except (KeyError, TypeError, ValueError):
            logger.warning("track %s: stored analysis is unreadable", self.pk)
            return None

    def analyze(self) -> bool:
        """Analyse the stored original and keep the result (a track already analysed by this
        version is left alone; a trim first takes its part of its parent's lyrics). Whatever
        the song, the track stays usable: one that cannot be read is failed with a plain
        message. True when an analysis was stored (``analysed`` is then sent)."""
        if self.analysis_is_current:
            return False
        self.inherit_lyrics()
        try:
            with files.local_path(self.original or self.file) as path:
                result = music.analyze(path)
        except music.AnalysisError as exc:
            logger.info("track %s: analysis failed: %s", self.pk, exc)
            self.analysis_failed(f"{exc} Scenes use an even grid.")
            return False
        except Exception:
            logger.exception("track %s: analysis failed unexpectedly", self.pk)
            self.analysis_failed(ANALYSIS_FAILED)
            return False
        self.record_analysis(result)
        analysed.send(sender=AudioTrack, track=self, analysis=result)
        return True

    def record_analysis(self, result: Analysis) -> None:
        self._set_analysis(result.to_dict(), self.AnalysisStatus.READY, "")

    def analysis_failed(self, message: str) -> None:
        self._set_analysis({}, self.AnalysisStatus.FAILED, message[:2000])

    def _set_analysis(self, analysis: dict, status: str, error: str) -> None:
        """Only these fields (lyrics pasted meanwhile stay); a track deleted meanwhile is no error."""
        self.analysis, self.analysis_status, self.analysis_error = analysis, status, error
        AudioTrack.objects.filter(pk=self.pk).update(analysis=analysis, analysis_status=status, analysis_error=error)

    def lyric_lines(self) -> list[LyricLine]:
        return [LyricLine.from_dict(line) for line in self.lyrics or []]

    def inherit_lyrics(self) -> None:
        """A trim keeps the lines of its part of the song it was cut from (pasted or heard),
        moved to its own times, instead of paying to hear them again."""
        parent = self.parent
        if self.lyrics_source or parent is None or not parent.lyrics_source:
            return
        start, end = self.trim_start, self.trim_start + self.duration
        part = LyricLine(start, end, "")
        lines = [LyricLine(max(line.start, start) - start, min(line.end, end) - start, line.text)
                 for line in music.lyrics_in(part, parent.lyric_lines())]
        self.store_lyrics(lines, parent.lyrics_source)

    def store_lyrics(self, lines: list[LyricLine], source: str) -> bool:
        """Keep these lines; a transcription never replaces pasted lyrics. False when it did not."""
        found = AudioTrack.objects.filter(pk=self.pk)
        if source != self.LyricsSource.PASTED:
            found = found.exclude(lyrics_source=self.LyricsSource.PASTED)
        values = {"lyrics": [line.to_dict() for line in lines], "lyrics_source": source}
        if not found.update(**values):
            return False
        for name, value in values.items():
            setattr(self, name, value)
        return True

    @property
    def latest_transcription(self) -> LyricsTranscription | None:
        return self.transcriptions.order_by("-created_at").first()

    def lyrics_state(self) -> tuple[str, str]:
        """(status, a sentence for people): ready, transcribing, failed, unavailable or none."""
        lines = len(self.lyrics or [])
        if self.lyrics_source == self.LyricsSource.PASTED:
            return "ready", f"lyrics: {lines} line{'s' if lines != 1 else ''} (pasted)"
        if self.lyrics_source == self.LyricsSource.TRANSCRIBED:
            if not lines:
                return "ready", "lyrics: none heard in the song"
            return "ready", f"lyrics: {lines} line{'s' if lines != 1 else ''} (transcribed)"
        latest = self.latest_transcription
        if latest is not None and latest.is_active:
            return "transcribing", "lyrics: transcribing…"
        if latest is not None and latest.status != JobStatus.SUCCEEDED:
            return "failed", f"lyrics: the transcription failed ({(latest.error or 'no reason given').rstrip('.')})"
        if not get_provider().transcribes_lyrics:
            return "unavailable", "lyrics: not available offline"
        if self.analysis_status == self.AnalysisStatus.ANALYZING:
            return "none", "lyrics: transcribed once the song is analysed"
        return "none", "lyrics: none yet"

    def structure_state(self) -> str:
        """Who heard the song's structure, for people."""
        if self.analysis.get("source") == "model":
            return "beats and sections heard by the structure model"
        latest = self.structure_analyses.order_by("-created_at").first()
        if latest is not None and latest.is_active:
            return "local analysis; the structure model is listening…"
        if latest is not None and latest.status != JobStatus.SUCCEEDED:
            return "local analysis (the structure model failed)"
        return "local analysis"

    def analysis_to_dict(self) -> dict[str, Any]:
        """The API's view of the analysis and lyrics (times in seconds)."""
        found = self.music_analysis()
        lyrics_status, lyrics_message = self.lyrics_state()
        return {
            "status": self.analysis_status,
            "error": self.analysis_error or None,
            "note": found.note or None if found else None,
            "duration": found.duration if found else self.duration,
            "tempo": found.tempo if found else None,
            "source": found.source if found else None,
            "meter": found.meter if found else None,
            "structure_message": self.structure_state(),
            "beats": list(found.beats) if found else [],
            "downbeats": list(found.downbeats) if found else [],
            "sections": [{"start": s.start, "end": s.end, "label": s.label, "energy": s.energy}
                         for s in found.sections] if found else [],
            "lyrics": [line.to_dict() for line in self.lyric_lines()],
            "lyrics_source": self.lyrics_source or None,
            "lyrics_status": lyrics_status,
            "lyrics_message": lyrics_message,
        }

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
                "parent_audio_id": str(self.parent_id) if self.parent_id else None,
                "analysis_status": self.analysis_status,
                "analysis_url": reverse("api_audio_analysis", args=[self.pk])}


class LyricsTranscription(Prediction):
    """A transcription model (the flavor's ``lyrics_model``) listening to a track for its
    lyrics; what it hears becomes the track's timed lines unless lyrics were pasted."""

    track = models.ForeignKey(AudioTrack, on_delete=models.CASCADE, related_name="transcriptions")
    text = models.TextField(blank=True)  # the whole transcription, as the model wrote it

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Lyrics of {self.track}"

    owner_path = "track__owner"  # who pays for it

    @property
    def owner(self):
        return self.track.owner

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Whisper on Replicate is billed by the GPU time it reports (also when it failed)."""
        return "lyrics", {"gpu_seconds": float(reported.get("predict_time") or 0.0)}

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        song = stack.enter_context(files.local_path(self.track.file or self.track.original))
        return provider.start_lyrics(flavors.resolve(self.config_flavor), song, workdir=workdir)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll_lyrics(prediction_id)

    def keep_output(self, update: JobUpdate) -> None:
        output = update.output
        try:
            lines = from_transcription(output)
        except ValueError:
            if not (isinstance(output, dict) and output.get("segments") == []):
                raise ProviderError("The transcription came back in a shape we cannot read.") from None
            lines = []  # nothing sung (an instrumental)
        track = self.track
        lines = [LyricLine(line.start, min(line.end, track.duration), line.text)
                 for line in lines if line.start < track.duration]
        if not LyricsTranscription.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).exists():
            return  # cancelled meanwhile (lyrics were pasted)
        track.store_lyrics(lines, AudioTrack.LyricsSource.TRANSCRIBED)
        text = output.get("transcription", "") if isinstance(output, dict) else ""
        self.succeed(text=str(text or "")[:20000], model=update.model or self.model)

    def media_failure(self, detail: str) -> str:
        return "The transcription could not be used."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"audio_id": str(self.track_id)}


class StructureAnalysis(Prediction):
    """The flavor's structure model (``analysis_model``, e.g. All-In-One) hearing a track:
    its beats, bars and named sections replace the local analysis when it succeeds; when it
    fails the local analysis stays, and says so."""

    track = models.ForeignKey(AudioTrack, on_delete=models.CASCADE, related_name="structure_analyses")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Structure of {self.track}"

    owner_path = "track__owner"

    @property
    def owner(self):
        return self.track.owner

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Billed by the GPU time Replicate reports (also when it failed)."""
        return "analysis", {"gpu_seconds": float(reported.get("predict_time") or 0.0)}

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        song = stack.enter_context(files.local_path(self.track.file or self.track.original))
        return provider.start_structure(flavors.resolve(self.config_flavor), song, workdir=workdir)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll_structure(prediction_id, workdir=workdir)

    def keep_output(self, update: JobUpdate) -> None:
        track = self.track
        local = track.music_analysis()
        try:
            result = music.from_allinone(update.output, duration=track.duration, envelope=local.envelope if local else (),
                                         envelope_rate=local.envelope_rate if local else ENVELOPE_RATE)
        except music.StructureError as exc:
            logger.info("track %s: structure answer unreadable: %s", track.pk, exc)
            raise ProviderError("The structure model's answer could not be read; the local analysis is used.") from None
        if not StructureAnalysis.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).exists():
            return
        track.record_analysis(result)
        self.succeed(model=update.model or self.model)

    def media_failure(self, detail: str) -> str:
        return "The structure model's answer could not be used; the local analysis is used."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"audio_id": str(self.track_id)}


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
