"""Real, tiny media for the fake Replicate server (no Django needed: it may run alone)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import uuid
from pathlib import Path


@functools.cache
def ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str]) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True, capture_output=True)


@functools.cache
def _video_bytes(workdir: Path, seconds: int, aspect: str) -> bytes:
    size = "320x180" if aspect == "16:9" else "180x320"
    out = workdir / f"video-{seconds}-{size}-{uuid.uuid4().hex[:8]}.mp4"  # concurrent first creates: own files
    _run(["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24:duration={seconds}", "-f", "lavfi",
          "-i", f"sine=frequency=330:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
          "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(out)])
    return out.read_bytes()


def fake_video(workdir: Path, seconds: int, aspect: str) -> bytes:
    return _video_bytes(workdir, seconds, aspect)


@functools.cache
def fake_image(workdir: Path, fmt: str = "png") -> bytes:
    out = workdir / f"image.{fmt}"
    _run(["-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", str(out)])
    return out.read_bytes()


def mux(workdir: Path, video: bytes, audio: bytes) -> bytes:
    """What a lipsync model returns here: the uploaded video with the uploaded audio."""
    tag = uuid.uuid4().hex[:8]
    v, a, out = workdir / f"in-{tag}.mp4", workdir / f"in-{tag}.wav", workdir / f"out-{tag}.mp4"
    v.write_bytes(video)
    a.write_bytes(audio)
    _run(["-i", str(v), "-i", str(a), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac",
          "-shortest", "-movflags", "+faststart", str(out)])
    data = out.read_bytes()
    for path in (v, a, out):
        path.unlink(missing_ok=True)
    return data


def tone(workdir: Path, hz: int, seconds: float, fmt: str = "wav") -> bytes:
    """A stereo sine of ``hz`` lasting ``seconds``, as the separation model's stems here."""
    out = workdir / f"tone-{hz}-{uuid.uuid4().hex[:8]}.{fmt}"
    codec = {"wav": ["-c:a", "pcm_s16le"], "mp3": ["-c:a", "libmp3lame"], "flac": ["-c:a", "flac"]}[fmt]
    _run(["-f", "lavfi", "-i", f"sine=frequency={hz}:duration={seconds:.3f}:sample_rate=44100", "-ac", "2", *codec,
          str(out)])
    data = out.read_bytes()
    out.unlink(missing_ok=True)
    return data


def inverted(workdir: Path, song: bytes, fmt: str = "wav") -> bytes:
    """The song with its waveform inverted, as the fake separation model's vocal stem."""
    tag = uuid.uuid4().hex[:8]
    src, out = workdir / f"song-{tag}", workdir / f"vocals-{tag}.{fmt}"
    src.write_bytes(song)
    codec = {"wav": ["-c:a", "pcm_s16le"], "mp3": ["-c:a", "libmp3lame"], "flac": ["-c:a", "flac"]}[fmt]
    _run(["-i", str(src), "-af", "aformat=channel_layouts=stereo,aeval=-val(0)|-val(1):c=same", "-ar", "44100", *codec, str(out)])
    data = out.read_bytes()
    for path in (src, out):
        path.unlink(missing_ok=True)
    return data
