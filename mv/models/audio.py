"""A song as it arrived (upload, URL or trim), with the one check of a time range in it, its
music analysis (``AudioTrack.analyze``, run by a task once per track, then perhaps heard again
by a ``StructureAnalysis``) and its lyrics (pasted, or transcribed by a ``LyricsTranscription``;
both in mv.models.listening)."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from mv import files, media, music
from mv.errors import Refused
from mv.models.base import (
    GeneratedName,
    JobStatus,
    OwnedQuerySet,
)
from mv.music import ANALYSIS_VERSION, Analysis, LyricLine
from mv.providers import get_provider

if TYPE_CHECKING:
    from mv.models.listening import LyricsTranscription

logger = logging.getLogger("mv.models")

TIME_SLACK = 1e-6  # a range may end exactly at the track's end, rounding included
ANALYSIS_FAILED = "The song could not be analysed; scenes use an even grid."

# Sent once a track's files are stored and checked, in the transaction that stores them
# (mv.audio); mv.pipeline.followups then queues its analysis.
arrived = Signal()
# Sent once a track's analysis is stored (with the Analysis); mv.pipeline.followups then starts
# transcribing its lyrics.
analysed = Signal()
# Sent once a track's analysis is in, or will never come (it failed, or the song could not be
# imported), inside the transaction that stores it: the scene plans waiting for the song start.
# Where the flavor's structure model hears the song, "in" means its answer (or its failure, or
# its refusal over budget) after the local analysis: the plans are cut on the better analysis.
settled = Signal()


class AudioTrackQuerySet(OwnedQuerySet):
    def needing_analysis(self) -> AudioTrackQuerySet:
        """What a starting worker analyses: tracks still analysing (cut off, or never queued)
        or analysed by an older ANALYSIS_VERSION."""
        stale = (Q(analysis_status=AudioTrack.AnalysisStatus.READY) & ~Q(analysis__version=ANALYSIS_VERSION)
                 & ~Q(analysis__source="model"))
        return self.filter(Q(analysis_status=AudioTrack.AnalysisStatus.ANALYZING) | stale)

    def needing_import(self) -> AudioTrackQuerySet:
        """What a starting worker imports: songs stored (or asked for by URL) and not checked yet
        (a song a music model is still making has nothing stored yet: its generation imports it)."""
        return self.filter(analysis_status=AudioTrack.AnalysisStatus.IMPORTING).exclude(
            source=AudioTrack.Source.GENERATED, original="")


class AudioTrack(models.Model):
    class AnalysisStatus(models.TextChoices):
        """importing (bytes stored or a URL asked for; checks, transcode and waveform run in the
        worker) -> analyzing -> ready, or failed (a failed import has no ``file``)."""

        IMPORTING = "importing", "Importing"
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
        GENERATED = "generated", "Made by a music model"

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
    # The original's demuxer, found from its first bytes when it arrived (mv.media.container_format):
    # the analysis decodes it as that, never by format auto-detection ("" for rows made before).
    container = models.CharField(max_length=16, blank=True)
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
    # Why the lyrics were not transcribed when that was refused (today's budget), for the song card.
    lyrics_refusal = models.CharField(max_length=500, blank=True)
    # Why the structure model did not hear the song when that was refused (today's budget).
    structure_refusal = models.CharField(max_length=500, blank=True)
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
        the track's end). The error names the fields and the track's length (not known yet
        while the song is importing: then only what can be checked without it)."""
        return check_range(start, end, None if self.is_importing else self.duration, names=names)

    # --- import ----------------------------------------------------------------------------

    @property
    def is_importing(self) -> bool:
        return self.analysis_status == self.AnalysisStatus.IMPORTING

    @property
    def being_made(self) -> bool:
        """A music model is still making this song (nothing is stored yet)."""
        return self.is_importing and self.source == self.Source.GENERATED and not self.original

    @property
    def import_failed(self) -> bool:
        """The song never became usable (not audio, too long, too big, the download failed):
        the row keeps the message, its stored bytes are gone."""
        return self.analysis_status == self.AnalysisStatus.FAILED and not self.file

    @property
    def is_settled(self) -> bool:
        """Its analysis is in or will never come: a scene plan waiting for the song may go ahead
        (not while the structure model still listens: its answer replaces the local analysis)."""
        if self.analysis_status == self.AnalysisStatus.FAILED:
            return True
        return self.analysis_status == self.AnalysisStatus.READY and not self.structure_analyses.filter(
            status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists()

    def settle(self) -> None:
        """Send ``settled`` if the analysis is now final, under a lock on the track row (a scene
        plan asked for meanwhile, which reads ``is_settled`` under that lock, is either seen by
        its handler or sees the analysis)."""
        with transaction.atomic():
            status = AudioTrack.objects.select_for_update().filter(pk=self.pk).values_list(
                "analysis_status", flat=True).first()
            if status is None:
                return  # deleted meanwhile
            self.analysis_status = status
            if self.is_settled:
                settled.send(sender=AudioTrack, track=self)

    def require_imported(self) -> None:
        """Refused while the song is importing or when its import failed (what needs its
        length or its file: a lipsync, a stitch, a trim)."""
        self.refuse_if_unusable()
        if self.is_importing:
            raise Refused("song_importing", "That song is still importing; use it once its status is "
                                            "analyzing or ready.")

    def refuse_if_unusable(self) -> None:
        """Refused, with the import's own message, for a song that could not be imported."""
        if self.import_failed:
            raise Refused("song_not_imported", f"That song could not be used: {self.analysis_error.rstrip('.')}. "
                                               "Upload it again or choose another song.")

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
        message. True when an analysis was stored (``analysed`` is then sent). A song not
        imported (yet, or ever) has nothing to analyse."""
        if self.analysis_is_current or self.is_importing or self.import_failed:
            return False
        self.inherit_lyrics()
        try:
            with files.local_path(self.original or self.file) as path:
                result = music.analyze(path, container=(self.container or None) if self.original else None)
        except music.AnalysisError as exc:
            logger.info("track %s: analysis failed: %s", self.pk, exc)
            self.analysis_failed(f"{exc} Scenes use an even grid.")
            return False
        except Exception:
            logger.exception("track %s: analysis failed unexpectedly", self.pk)
            self.analysis_failed(ANALYSIS_FAILED)
            return False
        with transaction.atomic():  # the analysis and what it causes commit together
            self.record_analysis(result, settle=False)
            analysed.send(sender=AudioTrack, track=self, analysis=result)  # may ask the structure model
            self.settle()  # ...and then the song settles once it answers
        return True

    def record_analysis(self, result: Analysis, *, settle: bool = True) -> None:
        """Keep ``result`` (and send ``settled`` unless the caller settles the song itself)."""
        self._set_analysis(result.to_dict(), self.AnalysisStatus.READY, "", settle=settle)

    def analysis_failed(self, message: str) -> None:
        self._set_analysis({}, self.AnalysisStatus.FAILED, message[:2000])

    def _set_analysis(self, analysis: dict, status: str, error: str, *, settle: bool = True) -> None:
        """Only these fields (lyrics pasted meanwhile stay); a track deleted meanwhile is no
        error. Under a lock on the track row, with ``settled`` sent in the same transaction, so
        a scene plan asked for meanwhile is either seen by its handler or sees the analysis."""
        self.analysis, self.analysis_status, self.analysis_error = analysis, status, error
        with transaction.atomic():
            list(AudioTrack.objects.select_for_update().filter(pk=self.pk).values_list("pk", flat=True))
            AudioTrack.objects.filter(pk=self.pk).update(analysis=analysis, analysis_status=status, analysis_error=error)
            if settle:
                self.settle()

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
        lines = [line.moved(start, end, -start) for line in music.lyrics_in(part, parent.lyric_lines())]
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

    def lyrics_refused(self, reason: str) -> None:
        """Transcribing was refused (today's budget): the song card and the API say why."""
        self.lyrics_refusal = reason[:500]
        type(self).objects.filter(pk=self.pk).update(lyrics_refusal=self.lyrics_refusal)

    def lyrics_state(self) -> tuple[str, str]:
        """(status, a sentence for people): ready, transcribing, refused, failed, unavailable or none."""
        lines = len(self.lyrics or [])
        if self.lyrics_source == self.LyricsSource.PASTED:
            return "ready", f"lyrics: {lines} line{'s' if lines != 1 else ''} (pasted)"
        if self.lyrics_source == self.LyricsSource.TRANSCRIBED:
            if not lines:
                return "ready", "lyrics: none heard in the song"
            return "ready", f"lyrics: {lines} line{'s' if lines != 1 else ''} (transcribed)"
        latest = self.latest_transcription
        if latest is None and self.lyrics_refusal:
            return "refused", f"lyrics were not transcribed: {self.lyrics_refusal} You can paste them instead."
        if latest is not None and latest.is_active:
            return "transcribing", "lyrics: transcribing…"
        if latest is not None and latest.status != JobStatus.SUCCEEDED:
            return "failed", f"lyrics: the transcription failed ({(latest.error or 'no reason given').rstrip('.')})"
        if not get_provider().transcribes_lyrics:
            return "unavailable", "lyrics: not available offline"
        if self.analysis_status in (self.AnalysisStatus.ANALYZING, self.AnalysisStatus.IMPORTING):
            return "none", "lyrics: transcribed once the song is analysed"
        return "none", "lyrics: none yet"

    def structure_refused(self, reason: str) -> None:
        """The structure model was refused (today's budget): the local analysis stays, and says why."""
        self.structure_refusal = reason[:500]
        type(self).objects.filter(pk=self.pk).update(structure_refusal=self.structure_refusal)

    def structure_state(self) -> str:
        """Who heard the song's structure, for people."""
        if self.analysis.get("source") == "model":
            return "beats and sections heard by the structure model"
        latest = self.structure_analyses.order_by("-created_at").first()
        if latest is not None and latest.is_active:
            return "local analysis; the structure model is listening…"
        if latest is not None and latest.status != JobStatus.SUCCEEDED:
            return "local analysis (the structure model failed)"
        if latest is None and self.structure_refusal:
            return f"local analysis (the structure model was not run: {self.structure_refusal.rstrip('.')})"
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
                "status": self.analysis_status, "error": self.analysis_error or None,
                "analysis_status": self.analysis_status,
                "analysis_url": reverse("api_audio_analysis", args=[self.pk])}


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
