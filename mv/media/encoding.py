"""Re-encoding a clip to the stitch's format with our encoder's settings, whose headers do not
depend on the content or the quality, so clips we encode can be joined by copy."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from mv.media.containers import input_args
from mv.media.ffmpeg import run_ffmpeg
from mv.media.probing import VideoStream

# x264 headers that do not depend on the content or the quality (its `stitchable` option):
# clips we encode share one SPS/PPS, so a trimmed clip can be joined to untouched ones by copy.
STITCHABLE = ["-x264-params", "stitchable=1"]
X264_PROFILES = {"constrained baseline": "baseline", "baseline": "baseline", "main": "main", "high": "high"}


def normalise_clip(src: Path, dst: Path, like: VideoStream, *, frames: int | None = None, start: float = 0.0,
                   audio: bool = True, speed: float = 1.0) -> None:
    """Re-encode one clip to the common format, so the rest can be stream-copied; with
    `frames`, to exactly that many frames (cut, or its last frame held when it is shorter);
    with `start`, from the first frame at or after that many seconds (a part's tail); with
    `speed`, played that many times faster (its timestamps scaled, its sound by atempo)."""
    num, _, den = like.fps.partition("/")
    timescale = like.time_base.partition("/")[2] or "12288"
    retime = f"setpts=(PTS-STARTPTS)/{speed:.9f}," if speed != 1.0 else ""
    vf = retime + ("setpts=PTS-STARTPTS," if start else "") + (f"scale={like.width}:{like.height}:force_original_aspect_ratio=decrease,"
          f"pad={like.width}:{like.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={num}/{den or 1},format={like.pix_fmt}")
    cut: list[str] = []
    if frames is not None:
        vf += f",tpad=stop_mode=clone:stop={frames}"  # never short of frames; -frames:v cuts the rest
        cut = ["-frames:v", str(frames), "-t", f"{frames / Fraction(like.fps):.6f}"]
    seek: list[str] = ["-ss", f"{start:.6f}"] if start else []  # decoded from the key frame before, exact to the frame
    args: list[str | Path] = [*input_args(src), *seek, "-i", src, "-map", "0:v:0", *(["-map", "0:a:0?"] if audio else []),
                              "-vf", vf, *(["-af", f"atempo={speed:.9f}"] if audio and speed != 1.0 else []), "-c:v", "libx264",
                              "-preset", "veryfast", "-crf", "20", *STITCHABLE]
    profile = X264_PROFILES.get(like.profile.lower())
    if profile:
        args += ["-profile:v", profile]
    args += [*cut, "-video_track_timescale", timescale, *(["-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2"]
                                                          if audio else ["-an"]),
             "-movflags", "+faststart", "-f", "mp4", dst]
    run_ffmpeg(args)
