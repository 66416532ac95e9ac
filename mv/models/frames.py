"""A scene's start frame: the character's picture turned into the scene's first frame, in the
project's format, by the flavor's image-editing model (``start_frame_model``), for clips whose
video model cannot take the picture as reference images. A prediction like any other (priced,
budgeted, resumed); reused by the scene's clips until its prompt or character changes."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.urls import reverse

from mv import costs, files, flavors, media
from mv.models.base import ACTIVE_STATUSES, GeneratedName, JobStatus, OwnedQuerySet, Prediction
from mv.providers.base import JobUpdate, ProviderError, StartFrameRequest

if TYPE_CHECKING:
    from mv.providers.base import Provider

# The frame a clip of each format is made from (Veo asks for 1280x720 or 720x1280).
FRAME_SIZES = {"16:9": "1280x720", "9:16": "720x1280", "1:1": "1024x1024"}


class StartFrame(Prediction):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="start_frames")
    scene = models.ForeignKey("Scene", on_delete=models.CASCADE, related_name="start_frames")
    character_image = models.ForeignKey("CharacterImage", null=True, on_delete=models.SET_NULL, related_name="+")
    prompt = models.TextField()  # the scene's prompt it was made for
    aspect_ratio = models.CharField(max_length=8)
    file = models.FileField(upload_to=GeneratedName("frames"), max_length=300, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return "Start frame"

    def fits(self, prompt: str, character_image_id: Any, aspect_ratio: str) -> bool:
        """Whether a clip of this scene may start from it: made (or being made) for the same
        prompt, picture and format, and not failed."""
        return (self.prompt == prompt and self.character_image_id == character_image_id
                and self.aspect_ratio == aspect_ratio
                and (self.status in ACTIVE_STATUSES or (self.status == JobStatus.SUCCEEDED and bool(self.file))))

    def get_absolute_url(self) -> str:
        return reverse("api_start_frame", args=[self.pk])

    def project_key(self) -> Any:
        """Its finish locks the project first: the clips waiting for it are started in it."""
        return self.scene.project_id

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        return "start_frame", {"images": 1 if self.status == JobStatus.SUCCEEDED else 0}

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        """One image from the flavor's image-editing model."""
        return costs.estimate_start_frames(flavor, 1)

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        image = self.character_image
        if image is None or not image.file:
            raise ProviderError("The character's picture is gone; pick a character again, then regenerate.")
        reference = stack.enter_context(files.local_path(image.file))
        return provider.start_start_frame(flavors.resolve(self.config_flavor),
                                          StartFrameRequest(reference, self.prompt, self.aspect_ratio), workdir=workdir)

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        """Stored as a PNG of exactly the project's format, whatever shape the model returned
        (before the finishing transaction: file work holds no lock)."""
        if update.output_path is None:
            raise ProviderError("the model finished but returned no image")
        media.require_image(update.output_path)
        fitted = update.output_path.with_name("start-frame-fitted.png")
        media.fit_picture(update.output_path, fitted, FRAME_SIZES.get(self.aspect_ratio, "1280x720"))
        files.store(self.file, fitted, f"{self.pk}.png")
        return {"file": self.file}

    def media_failure(self, detail: str) -> str:
        return "The model's start frame is not a usable image."

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"scene_id": str(self.scene_id), "aspect_ratio": self.aspect_ratio,
                                    "image_url": self.get_absolute_url() if self.file else None}


__all__ = ["FRAME_SIZES", "StartFrame"]
