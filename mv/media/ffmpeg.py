"""Running ffmpeg, and writing its output so no reader ever sees a half-written file.

ffmpeg is the system one when on PATH, else the binary the imageio-ffmpeg wheel ships,
so ``pip install`` alone suffices.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from django.conf import settings

from mv.media.errors import PROCESSING_FAILED, PROCESSING_TIMEOUT, MediaError


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
    """Run ffmpeg quietly; on failure raise MediaError with the tail of its log as the detail."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(PROCESSING_TIMEOUT, f"ffmpeg timed out after {timeout:.0f} s: {cmd}") from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise MediaError(PROCESSING_FAILED, "ffmpeg failed: " + (" | ".join(tail) or f"exit code {proc.returncode}"))


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[Path]:
    """Write to a temporary name beside dst; move it into place only once complete, so
    no reader ever sees a half-written file."""
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:8]}.part{dst.suffix}")
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
