"""Every ffmpeg call MV Studio makes: probing, cutting audio, stitching, posters, waveforms.

ffmpeg is the system one when on PATH, else the binary the imageio-ffmpeg wheel ships,
so ``pip install`` alone suffices. Probing uses PyAV and mutagen, never ffprobe.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings


class MediaError(Exception):
    """ffmpeg failed, or a file is not the media it claims to be."""


@functools.cache
def _ffmpeg_for(explicit: str) -> str:
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_exe() -> str:
    return _ffmpeg_for(settings.MV_FFMPEG)


def run_ffmpeg(args: Sequence[str | Path], *, timeout: float = 600) -> None:
    """Run ffmpeg quietly; raise MediaError with the tail of its log on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffmpeg timed out after {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise MediaError("ffmpeg failed: " + (" | ".join(tail) or f"exit code {proc.returncode}"))
