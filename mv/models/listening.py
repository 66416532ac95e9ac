"""The models that listen to a song: a ``LyricsTranscription`` (its words) and a
``StructureAnalysis`` (its beats, bars and named sections, from the flavor's structure model).

Both are paid predictions like any other (priced by ``paid_estimate``, created through
``admit``); their answers are read before the finishing transaction (``prepare_output``) and
kept on the track inside it (``keep_output``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import models

from mv import costs, files, flavors, music
from mv.models.audio import AudioTrack
from mv.models.base import JobStatus, Prediction
from mv.music import from_transcription
from mv.music.analysis import ENVELOPE_RATE
from mv.providers.base import JobUpdate, ProviderError

if TYPE_CHECKING:
    from mv.providers.base import Provider

logger = logging.getLogger("mv.models")


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

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        """The whole song at the flavor's assumed price per minute (GPU time is known after)."""
        return costs.estimate_lyrics(flavor, self.track.duration or 0.0)

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Whisper on Replicate is billed by the GPU time it reports (also when it failed)."""
        return "lyrics", {"gpu_seconds": float(reported.get("predict_time") or 0.0)}

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        """The song's vocals when it was separated already (a voice alone is heard better;
        never separated just for this), else its AAC copy."""
        vocals = self.track.stems.filter(status=JobStatus.SUCCEEDED).exclude(file="").order_by("-created_at").first()
        self.input = self.input | {"heard": "vocals" if vocals else "mix"}
        song = stack.enter_context(files.local_path(vocals.file if vocals else self.track.file or self.track.original))
        return provider.start_lyrics(flavors.resolve(self.config_flavor), song, workdir=workdir)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll_lyrics(prediction_id)

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        output = update.output
        try:
            lines = from_transcription(output)
        except ValueError:
            if not (isinstance(output, dict) and output.get("segments") == []):
                raise ProviderError("The transcription came back in a shape we cannot read.") from None
            lines = []  # nothing sung (an instrumental)
        track = self.track
        self._lines = [line.moved(0.0, track.duration, 0.0) for line in lines if line.start < track.duration]
        text = output.get("transcription", "") if isinstance(output, dict) else ""
        return {"text": str(text or "")[:20000], "model": update.model or self.model}

    def keep_output(self, update: JobUpdate, fields: dict[str, Any]) -> None:
        self.succeed(**fields)
        if self.finished_here:  # not cancelled meanwhile (lyrics were pasted)
            self.track.store_lyrics(self._lines, AudioTrack.LyricsSource.TRANSCRIBED)

    def media_failure(self, detail: str) -> str:
        return "The transcription could not be used."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"audio_id": str(self.track_id)}


class StructureAnalysis(Prediction):
    """The flavor's structure model (``analysis_model``, e.g. All-In-One) hearing a track
    after its local analysis: its beats, bars and named sections replace the local analysis
    when it succeeds; when it fails the local analysis stays, and says so. Either way its
    finish settles the song (mv.pipeline.followups): the scene plans waiting for it start."""

    track = models.ForeignKey(AudioTrack, on_delete=models.CASCADE, related_name="structure_analyses")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Structure of {self.track}"

    owner_path = "track__owner"  # who pays for it

    @property
    def owner(self):
        return self.track.owner

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        """The whole song at the flavor's assumed price per minute (GPU time is known after)."""
        return costs.estimate_structure(flavor, self.track.duration or 0.0)

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Billed by the GPU time Replicate reports (also when it failed)."""
        return "analysis", {"gpu_seconds": float(reported.get("predict_time") or 0.0)}

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        song = stack.enter_context(files.local_path(self.track.file or self.track.original))
        return provider.start_structure(flavors.resolve(self.config_flavor), song, workdir=workdir)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll_structure(prediction_id, workdir=workdir)

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        """The model's JSON (downloaded by the poll) read as an Analysis, with our loudness
        envelope, before the finish: an answer we cannot read fails it (the local one stays)."""
        track = self.track
        local = track.music_analysis()
        try:
            self._heard = music.from_allinone(update.output, duration=track.duration,
                                              envelope=local.envelope if local else (),
                                              envelope_rate=local.envelope_rate if local else ENVELOPE_RATE)
        except music.StructureError as exc:
            logger.info("track %s: structure answer unreadable: %s", track.pk, exc)
            raise ProviderError("The structure model's answer could not be read; the local analysis is used.") from None
        return {"model": update.model or self.model}

    def keep_output(self, update: JobUpdate, fields: dict[str, Any]) -> None:
        self.succeed(**fields)
        if self.finished_here:  # not cancelled meanwhile; the finish then settles the song
            self.track.record_analysis(self._heard, settle=False)

    def media_failure(self, detail: str) -> str:
        return "The structure model's answer could not be used; the local analysis is used."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"audio_id": str(self.track_id)}


__all__ = ["LyricsTranscription", "StructureAnalysis"]
