"""Songs as files: the AAC copy made on arrival, and sample-accurate slices and trims."""

from __future__ import annotations

from pathlib import Path

from mv.media.containers import input_args
from mv.media.errors import MediaError
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import probe

# Songs are AAC without perceptual noise substitution: PNS fills noise-like bands from the
# decoder's random generator, whose state depends on where decoding began, so a stitch that
# copies the song from a later packet would not play the song's own samples.
SONG_AAC = ["-c:a", "aac", "-aac_pns", "0", "-b:a", "192k", "-ar", "44100", "-ac", "2"]


def transcode_song(src: Path | str, dst: Path, *, max_seconds: float | None = None) -> float:
    """AAC once, on arrival, so every later stitch can stream-copy the song. With max_seconds,
    decoding stops just past it (the caller refuses a longer song without decoding all of it)."""
    limit = ["-t", f"{max_seconds + 1:.3f}"] if max_seconds else []
    with atomic_output(dst) as tmp:
        run_ffmpeg([*input_args(src), "-i", src, *limit, "-vn", "-map", "0:a:0", *SONG_AAC, "-movflags", "+faststart", "-f", "mp4", tmp])
    return probe(dst).duration


def cut_audio(src: Path | str, start: float, end: float, dst: Path) -> float:
    """Exactly [start, end) of the song as 16-bit WAV: decoded and cut on samples, not on
    mp3 frames (a stream copy is only accurate to ~26 ms)."""
    if not 0 <= start < end:
        raise MediaError("That part of the song is empty; pick a start before the end.", f"bad slice {start}-{end}")
    with atomic_output(dst) as tmp:
        run_ffmpeg([*input_args(src), "-ss", f"{start:.6f}", "-i", src, "-t", f"{end - start:.6f}", "-vn", "-map", "0:a:0",
                    "-c:a", "pcm_s16le", "-ar", "44100", "-f", "wav", tmp])
    return probe(dst).duration


def trim_audio(src: Path | str, start: float, end: float | None, dst: Path) -> float:
    """A new, re-encoded (sample-accurate) AAC track from start to end (or the end)."""
    args: list[str | Path] = [*input_args(src), "-ss", f"{start:.6f}", "-i", src]
    if end is not None:
        args += ["-t", f"{end - start:.6f}"]
    with atomic_output(dst) as tmp:
        run_ffmpeg([*args, "-vn", "-map", "0:a:0", *SONG_AAC, "-movflags", "+faststart", "-f", "mp4", tmp])
    return probe(dst).duration

