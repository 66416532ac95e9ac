"""Still pictures made from media: a clip's poster frame and a song's waveform."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mv.media.containers import input_args
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import audio_duration


def poster(src: Path | str, dst: Path, *, at: float = 0.5) -> None:
    """One frame of a video (at `at` seconds) as a JPEG, for its card and thumbnail."""
    with atomic_output(dst) as tmp:
        run_ffmpeg([*input_args(src), "-ss", f"{at:.3f}", "-i", src, "-frames:v", "1", "-q:v", "4", "-f", "image2", tmp])


def waveform_png(src: Path | str, dst: Path, *, marks: Sequence[float] = (), duration: float | None = None,
                 width: int = 1200, height: int = 160) -> None:
    """A picture of the song with a line at each clip boundary."""
    duration = duration or audio_duration(src)
    chain = [f"showwavespic=s={width}x{height}:split_channels=0:colors=0x7c6cff"]
    for mark in marks:
        if 0 < mark < duration:
            x = int(round(mark / duration * (width - 2)))
            chain.append(f"drawbox=x={x}:y=0:w=2:h={height}:color=0xffb020@0.9:t=fill")
    with atomic_output(dst) as tmp:
        run_ffmpeg([*input_args(src), "-i", src, "-filter_complex", ",".join(chain), "-frames:v", "1", "-f", "image2",
                    tmp])
