"""Burning captions into a video with libass (the ``ass`` filter of the ffmpeg we ship:
imageio-ffmpeg's static build has libass, freetype, fribidi and fontconfig)."""

from __future__ import annotations

from pathlib import Path

from mv.media.containers import input_args
from mv.media.errors import STITCH_FAILED, MediaError
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import probe


def _filter_path(path: Path) -> str:
    """A file name inside a filtergraph: its own quoting rules (':' separates options)."""
    text = str(Path(path).resolve())
    for char in ("\\", ":", "'", ",", "[", "]", ";"):
        text = text.replace(char, "\\" + char)
    return text


def burn_captions(src: Path, dst: Path, script: str, *, workdir: Path) -> float:
    """Re-encode ``src``'s video with the ASS ``script`` drawn on it; the audio is copied
    untouched. Returns the result's length (checked against the source's)."""
    ass = workdir / "captions.ass"
    ass.write_text(script, encoding="utf-8")
    before = probe(src, index_only=True)
    with atomic_output(dst) as tmp:
        run_ffmpeg([*input_args(src), "-i", src, "-map", "0:v:0", "-map", "0:a:0?", "-vf", f"ass={_filter_path(ass)}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "copy",
                    "-movflags", "+faststart", "-f", "mp4", tmp])
        after = probe(tmp, index_only=True)
        if after.video is None or before.video is None or abs(after.video.duration - before.video.duration) > 0.05:
            raise MediaError(STITCH_FAILED, "caption burn-in changed the video's length")
    return after.video.duration
