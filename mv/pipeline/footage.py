"""Your own clip into a scene: the bytes are stored at once and the clip is queued; the worker
checks it is a real video, fits it to the project's format and the scene's slot
(mv.providers.footage), and it becomes the scene's current clip like a rendered one. Free."""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from mv import flavors, media, tasks
from mv.errors import Refused
from mv.media.containers import sniff
from mv.models import Clip, Scene
from mv.pipeline.projects import check_aspect_ratio

logger = logging.getLogger("mv.pipeline.footage")

NOT_VIDEO = "This file isn't a video we can read — MP4, MOV, WebM or MKV work."
VIDEO_CONTAINERS = frozenset({"mov", "matroska"})  # MP4/MOV and WebM/MKV, by their first bytes


def _check_container(uploaded: UploadedFile) -> None:
    """Refuse at once what cannot be a video file (an image, a song, a playlist): its first bytes."""
    uploaded.seek(0)
    head = uploaded.read(16)
    uploaded.seek(0)
    try:
        found = sniff(head)
    except media.MediaError:
        raise Refused("not_video", NOT_VIDEO) from None
    if found not in VIDEO_CONTAINERS:
        raise Refused("not_video", NOT_VIDEO)


def upload_scene_clip(scene: Scene, *, owner, uploaded: UploadedFile) -> Clip:
    """A queued clip of your own video for the scene; the clip it had stays in its history
    (and stays current if the video turns out unusable)."""
    _check_container(uploaded)
    project = scene.project
    aspect = check_aspect_ratio(flavors.resolve(project.config_flavor), project.aspect_ratio)
    slot = scene.slot
    with transaction.atomic():
        clip = Clip.objects.create(
            owner=owner, scene=scene, kind=Clip.Kind.UPLOADED, provider="upload", model="upload/fit",
            prompt=scene.description, config_flavor=project.config_flavor, parent=scene.current_clip,
            estimated_cost_usd=0,
            input={"aspect_ratio": aspect, "duration": slot.length if slot else 0.0, "fit": slot is not None,
                   "label": f"Scene {scene.number}", "filename": "your clip"},
        )
        clip.footage.save(f"{clip.pk}{Path(uploaded.name or '').suffix.lower()[:8] or '.mp4'}", uploaded, save=False)
        clip.save(update_fields=["footage"])
        tasks.follow(clip)
    return clip


__all__ = ["NOT_VIDEO", "upload_scene_clip"]
