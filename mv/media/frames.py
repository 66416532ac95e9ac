"""Single frames for clips to start from: a picture fitted to a clip's format and a clip's
last frame (to continue the previous shot). The local renderer's start frame is in previews."""

from __future__ import annotations

from pathlib import Path

from mv.media.containers import input_args
from mv.media.errors import NOT_IMAGE, MediaError
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.pictures import check_picture


def picture_input(path: Path | str) -> list[str | Path]:
    """ffmpeg's input for a still picture: its own demuxer (by its first bytes), the file
    protocol only, never a pattern or auto-detection."""
    kind, _, _ = check_picture(path)
    return ["-protocol_whitelist", "file", "-f", {"png": "png_pipe", "jpg": "jpeg_pipe", "webp": "webp_pipe"}[kind],
            "-i", path]


def cover(size: str) -> str:
    width, height = size.split("x")
    return f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},setsar=1"


def fit_picture(src: Path | str, dst: Path, size: str) -> None:
    """The picture filling exactly ``size`` (WxH), centre-cropped: a model's frame in the
    project's format whatever shape it came back in. PNG."""
    with atomic_output(dst) as tmp:
        run_ffmpeg([*picture_input(src), "-vf", cover(size), "-frames:v", "1", "-f", "image2", "-c:v", "png", tmp])


def last_frame(video: Path | str, dst: Path) -> None:
    """A clip's last frame as a PNG (the start of a shot that continues it)."""
    with atomic_output(dst) as tmp:
        run_ffmpeg(["-sseof", "-0.5", *input_args(video), "-i", video, "-map", "0:v:0", "-update", "1",
                    "-f", "image2", "-c:v", "png", tmp])
    if not Path(dst).is_file() or Path(dst).stat().st_size == 0:
        raise MediaError(NOT_IMAGE, f"no last frame from {video}")
