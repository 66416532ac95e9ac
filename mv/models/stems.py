"""A song's vocal stem: the song separated once by the flavor's ``stems_model`` (a source-
separation model) the first time a lipsync needs it, kept with the song, so every lipsync
is sent its slice of the voice alone (the stitched video keeps the full mix). A prediction
like any other: priced on the GPU time it reports, budgeted, resumed."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import models

from mv import costs, files, flavors, media
from mv.models.base import GeneratedName, Prediction
from mv.providers.base import JobUpdate, ProviderError

if TYPE_CHECKING:
    from mv.providers.base import Provider


class VocalStem(Prediction):
    track = models.ForeignKey("AudioTrack", on_delete=models.CASCADE, related_name="stems")
    file = models.FileField(upload_to=GeneratedName("audio/vocals"), max_length=300, blank=True)

    owner_path = "track__owner"  # who pays for it

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Vocals of {self.track}"

    @property
    def owner(self):
        return self.track.owner

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """Billed by the GPU time the model reports (also when it failed)."""
        return "stems", {"gpu_seconds": float(reported.get("predict_time") or 0.0)}

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        """The whole song separated (priced per minute of it, assumed: the model bills GPU time)."""
        return costs.estimate_stems(flavor, self.track.duration or 0.0)

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        song = stack.enter_context(files.local_path(self.track.original or self.track.file))
        return provider.start_stems(flavors.resolve(self.config_flavor), song, workdir=workdir)

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        stem = flavors.resolve(self.config_flavor).get("image_params", "stems_output", default="vocals",
                                                       used_in="mv.models.VocalStem: the vocal stem's output key")
        return provider.poll_stems(prediction_id, workdir=workdir, stem=stem)

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        if update.output_path is None:
            raise ProviderError("the separation model finished but returned no vocals")
        media.require_audio(update.output_path)
        files.store(self.file, update.output_path, f"{self.pk}{update.output_path.suffix or '.wav'}")
        return {"file": self.file}

    def media_failure(self, detail: str) -> str:
        return "The separated vocals are not usable audio."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"audio_id": str(self.track_id)}


__all__ = ["VocalStem"]
