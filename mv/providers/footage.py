"""Your own footage: a video the user uploaded into a scene, fitted to the project on this
machine. Not a model: it makes nothing up and costs nothing, but it runs through the same
prediction life as a rendered clip (queued, started in the worker, resumed after a crash,
finished with its follow-ups), so an uploaded clip is history, revert, lipsync and stitch
like any other.

Fitting: scaled and padded to the project's format (16:9 or 9:16) at the frame size and rate
of the project's other clips where known, re-encoded to H.264 + AAC, and cut to the scene's
slot to the frame, or its last frame held when it is shorter.
"""

from __future__ import annotations

import uuid
from fractions import Fraction
from pathlib import Path
from typing import Any

from mv import media
from mv.flavors import Flavor
from mv.providers.base import ClipRequest, JobUpdate, LipsyncRequest, Provider, ProviderError, SceneRequest

NOT_A_MODEL = "Your own footage is only ever a clip: it writes no scenes and makes no images or lipsync."
DEFAULT_FPS = "24/1"


def target_format(aspect_ratio: str, like: dict[str, Any] | None) -> media.VideoStream:
    """The frame the fitted clip gets: the project's other clips' (``like``, their stored
    video facts) when they have this format, else 720p at 24 fps, as the video models make."""
    if like:
        return media.VideoStream(**like)
    width, height = (720, 1280) if aspect_ratio == "9:16" else (1280, 720)
    return media.VideoStream(width=width, height=height, fps=DEFAULT_FPS, codec="h264", profile="High",
                             pix_fmt="yuv420p", time_base="1/12288", duration=0.0, frames=0, track_id=1)


class FootageProvider(Provider):
    name = "upload"
    label = "Your own footage"
    renders_locally = True  # work on this machine, started again after a crash
    paid = False

    def start_clip(self, flavor: Flavor, request: ClipRequest, *, workdir: Path) -> JobUpdate:
        if request.footage is None:
            raise ProviderError("The uploaded video is missing; upload it again.")
        try:
            info = media.require_video(request.footage)
        except media.MediaError:
            raise ProviderError("This file isn't a video we can read — MP4, MOV, WebM or MKV work.") from None
        like = target_format(request.aspect_ratio, request.footage_format)
        frames = round(Fraction(request.duration).limit_denominator(1_000_000) * Fraction(like.fps)) if request.fit else None
        out = workdir / "footage.mp4"
        media.normalise_clip(request.footage, out, like, frames=frames)
        source = info.video.duration if info.video else info.duration
        fitted = "whole" if frames is None else ("held" if source + 1 / Fraction(like.fps) < request.duration
                                                 else "trimmed" if source > request.duration + 1e-3 else "exact")
        sent = {"renderer": "your footage, fitted here", "size": f"{like.width}x{like.height}", "fps": like.fps,
                "source_seconds": round(source, 3), "slot_seconds": round(request.duration, 3), "fitted": fitted}
        return JobUpdate(state="succeeded", prediction_id=f"upload-{uuid.uuid4().hex[:12]}", model="upload/fit",
                         input=sent, output_path=out, progress=100)

    def poll(self, prediction_id: str, *, workdir: Path) -> JobUpdate:
        # Fitting finishes inside start_clip; a poll means the worker died before storing it.
        return JobUpdate(state="failed", prediction_id=prediction_id,
                         error="fitting your clip was interrupted; retry it")

    def cancel(self, prediction_id: str) -> dict[str, Any]:
        return {}

    def start_scenes(self, flavor: Flavor, request: SceneRequest) -> JobUpdate:
        raise ProviderError(NOT_A_MODEL)

    def poll_text(self, prediction_id: str) -> JobUpdate:
        raise ProviderError(NOT_A_MODEL)

    def start_image(self, flavor: Flavor, prompt: str, *, seed: int | None, workdir: Path,
                    aspect_ratio: str | None = None) -> JobUpdate:
        raise ProviderError(NOT_A_MODEL)

    def start_lipsync(self, flavor: Flavor, request: LipsyncRequest, *, workdir: Path) -> JobUpdate:
        raise ProviderError(NOT_A_MODEL)

    def model_for(self, flavor: Flavor, job: str) -> str:
        return "upload/fit"
