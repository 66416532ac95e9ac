"""A song made by a music model when the user has none (the flavor's ``music_model``).

The song is an ordinary ``AudioTrack`` from the start: created ``importing`` with the request,
so the create page's song card, a project made right away and the analysis API all wait on it
as on an upload. When the model's song arrives it is stored as the track's original and the
track is imported like an upload (checked, transcoded, drawn, analysed: mv.pipeline.followups);
a failed generation fails the track with its message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import models

from mv import costs, files, flavors, media, music
from mv.models.audio import AudioTrack
from mv.models.base import OwnedQuerySet, Prediction
from mv.providers.base import JobUpdate, MusicRequest

if TYPE_CHECKING:
    from mv.providers.base import Provider

EXTENSIONS = {"wav": "wav", "mp3": "mp3", "flac": "flac", "ogg": "ogg", "mov": "m4a", "aac": "aac", "aiff": "aiff"}


class SongGenerationQuerySet(OwnedQuerySet):
    owner_path = "track__owner"


class SongGeneration(Prediction):
    track = models.ForeignKey(AudioTrack, on_delete=models.CASCADE, related_name="generations")
    prompt = models.TextField()
    lyrics = models.TextField(blank=True)  # the words given with the request, kept as the song's lyrics
    duration = models.FloatField()  # seconds asked of the model

    class Meta:
        ordering = ["-created_at"]

    owner_path = "track__owner"  # who pays for it

    objects = SongGenerationQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Song for {self.track}"

    @property
    def owner(self):
        return self.track.owner

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        return costs.estimate_music(flavor, self.duration)

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """MusicGen on Replicate is billed by the GPU time it reports (also when it failed)."""
        return "music", {"gpu_seconds": float(reported.get("predict_time") or 0.0)}

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        request = MusicRequest(prompt=self.prompt, duration=self.duration, lyrics=self.lyrics)
        return provider.start_music(flavors.resolve(self.config_flavor), request, workdir=workdir)

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        """The song is stored as the track's original (MediaError when it is no audio file we
        know: the generation fails); the import checks the rest, as for an upload."""
        if update.output_path is None:
            raise media.MediaError("The music model finished but returned no song.", "no output")
        kind = media.container_format(update.output_path)
        files.store(self.track.original, update.output_path, f"{self.track_id}.{EXTENSIONS.get(kind, 'bin')}")
        return {"model": update.model or self.model}

    def keep_output(self, update: JobUpdate, fields: dict[str, Any]) -> None:
        self.succeed(**fields)
        if not self.finished_here:
            return
        AudioTrack.objects.filter(pk=self.track_id).update(original=self.track.original.name)
        if self.lyrics.strip():  # the words asked for are the song's (timed over its length)
            lines = music.parse_lyrics(self.lyrics, duration=self.duration)
            if lines:
                self.track.store_lyrics(lines, AudioTrack.LyricsSource.PASTED)

    def media_failure(self, detail: str) -> str:
        return "The music model's answer is not a song we can read; try again."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"audio_id": str(self.track_id), "prompt": self.prompt, "duration": self.duration}


__all__ = ["SongGeneration"]
