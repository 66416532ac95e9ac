"""Every ffmpeg call MV Studio makes: probing, cutting audio, stitching, posters, waveforms.

ffmpeg is the system one when on PATH, else the binary the imageio-ffmpeg wheel ships,
so ``pip install`` alone suffices. Probing uses PyAV and mutagen, never ffprobe.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import textwrap
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import mutagen
from django.conf import settings

NOT_AUDIO = "This file isn't audio we can read — MP3, WAV, M4A, OGG or FLAC work."
NOT_VIDEO = "This file isn't a video we can read — MP4, MOV or WebM work."
NOT_IMAGE = "This file isn't an image we can read — PNG, JPEG or WebP work."
UNREADABLE = "This file can't be read: it may be damaged, or in a format we don't support."
EMPTY_AUDIO = "This song is empty (no sound to use); pick another file."
PROCESSING_FAILED = "Processing the media failed on our side; please try again."
PROCESSING_TIMEOUT = "Processing the media took too long and was stopped; please try again."
STITCH_FAILED = "The clips could not be joined into one video; stitching again usually fixes it."


class MediaError(Exception):
    """ffmpeg failed, or a file is not the media it claims to be.

    ``str(error)`` / ``message`` is a plain sentence for people (pages, the API, commands);
    ``detail`` holds what ffmpeg or PyAV said, with file names, for the log only."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message


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


# --- probing (PyAV and mutagen; never ffprobe) -------------------------------------------


@dataclass(frozen=True)
class VideoStream:
    width: int
    height: int
    fps: str  # exact rate, e.g. "24/1"
    codec: str
    profile: str
    pix_fmt: str
    time_base: str
    duration: float
    frames: int
    track_id: int

    def signature(self) -> tuple:
        """What must match for clips to be joined by stream copy."""
        return (self.codec, self.profile, self.width, self.height, self.fps, self.pix_fmt, self.time_base)


@dataclass(frozen=True)
class AudioStream:
    codec: str
    sample_rate: int
    channels: int
    duration: float
    layout: str = ""  # e.g. "stereo"


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    video: VideoStream | None
    audio: AudioStream | None

    def to_dict(self) -> dict:
        """The facts as stored on a row (Clip.media), so nothing probes the file again."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MediaInfo | None:
        """Stored facts back; None when there are none (or not in this shape)."""
        try:
            return cls(duration=float(data["duration"]), video=VideoStream(**data["video"]) if data.get("video") else None,
                       audio=AudioStream(**data["audio"]) if data.get("audio") else None)
        except (KeyError, TypeError, ValueError):
            return None


def _seconds(stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def container_format(path: Path | str) -> str:
    """The ffmpeg demuxer for a file, chosen from an allow-list by the file's first bytes.

    Media is never opened with format auto-detection: a playlist (HLS, concat, ...) uploaded
    as a "song" would make ffmpeg read other files or URLs. Only single-file audio and video
    containers are accepted, and each is opened with its own demuxer and the file protocol."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise MediaError(UNREADABLE, f"cannot read {path}: {exc}") from None
    if head[:3] == b"ID3":
        return "mp3"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # also WebM
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "mov"  # also MP4 and M4A
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mp3"
    raise MediaError(UNREADABLE, f"{path}: not a supported audio or video container (first bytes {head[:8]!r})")


# Options for every demuxer we open: only the file itself, through the file protocol.
_DEMUXER_OPTIONS = {"protocol_whitelist": "file"}


def _open(path: Path | str):
    return av.open(str(path), format=container_format(path), options=_DEMUXER_OPTIONS)


def input_args(path: Path | str) -> list[str]:
    """ffmpeg's input options for a stored or uploaded file (before its ``-i``): the demuxer
    its first bytes name and the file protocol only, never auto-detection."""
    return ["-protocol_whitelist", "file", "-f", container_format(path)]


def probe(path: Path | str, *, unreadable: str = UNREADABLE) -> MediaInfo:
    """Streams and lengths; ``unreadable`` is the message when the file cannot be opened."""
    try:
        container = _open(path)
    except MediaError as exc:
        raise MediaError(unreadable, exc.detail) from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(unreadable, f"cannot read {path}: {exc}") from None
    with container:
        video = audio = None
        if container.streams.video:
            v = container.streams.video[0]
            cc = v.codec_context
            video = VideoStream(
                width=cc.width,
                height=cc.height,
                fps=str(v.average_rate or v.guessed_rate or 0),
                codec=cc.name,
                profile=str(cc.profile or ""),
                pix_fmt=str(cc.pix_fmt or ""),
                time_base=str(v.time_base),
                duration=_seconds(v),
                frames=int(v.frames or 0),
                track_id=int(v.id),
            )
        if container.streams.audio:
            a = container.streams.audio[0]
            audio = AudioStream(
                codec=a.codec_context.name,
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
                duration=_seconds(a),
                layout=str(getattr(a.codec_context.layout, "name", "") or ""),
            )
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        if not duration:
            duration = max(video.duration if video else 0.0, audio.duration if audio else 0.0)
    return MediaInfo(duration=duration, video=video, audio=audio)


def audio_duration(path: Path | str) -> float:
    """Length in seconds: mutagen reads the header in well under a millisecond."""
    try:
        info = mutagen.File(str(path))
    except Exception:  # mutagen raises many types for foreign files
        info = None
    if info is not None and getattr(info, "info", None) is not None and info.info.length:
        return float(info.info.length)
    return probe(path).duration


def _decodes(path: Path | str, kind: str, message: str, frames: int = 8) -> None:
    try:
        with _open(path) as container:
            streams = getattr(container.streams, kind)
            if not streams:
                raise MediaError(message, f"{path} has no {kind} stream")
            streams[0].codec_context.thread_count = 1  # a few frames: decoder threads cost more than they save
            decoded = 0
            for _ in container.decode(streams[0]):
                decoded += 1
                if decoded >= frames:
                    break
            if not decoded:
                raise MediaError(message, f"{path}: no {kind} could be decoded")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(message, f"{path} is damaged or not {kind}: {exc}") from None


def require_audio(path: Path | str) -> MediaInfo:
    """The file really is audio (decoded, not judged by its name)."""
    info = probe(path, unreadable=NOT_AUDIO)
    if info.audio is None:
        raise MediaError(NOT_AUDIO, f"{path}: no audio stream found")
    _decodes(path, "audio", NOT_AUDIO)
    if info.duration <= 0.05:
        raise MediaError(EMPTY_AUDIO, f"{path}: the audio lasts {info.duration:.3f} s")
    return info


def require_video(path: Path | str) -> MediaInfo:
    info = probe(path, unreadable=NOT_VIDEO)
    if info.video is None:
        raise MediaError(NOT_VIDEO, f"{path}: no video stream found")
    _decodes(path, "video", NOT_VIDEO, frames=2)
    return info


def require_image(path: Path | str) -> str:
    """The image's format ("png", "jpg" or "webp") from its first bytes, never its name."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    raise MediaError(NOT_IMAGE, f"{path}: first bytes {head!r} are not PNG, JPEG or WebP")


# --- audio ------------------------------------------------------------------------------


def _atomic(dst: Path) -> Path:
    """A temporary name beside dst; callers os.replace it into place when complete."""
    dst = Path(dst)
    return dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:8]}.part{dst.suffix}")


@contextlib.contextmanager
def _writing(dst: Path) -> Iterator[Path]:
    """Write to a temporary name beside dst; move it into place only once complete, so
    no reader ever sees a half-written file."""
    tmp = _atomic(dst)
    try:
        yield tmp
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def transcode_song(src: Path | str, dst: Path, *, max_seconds: float | None = None) -> float:
    """AAC once, on arrival, so every later stitch can stream-copy the song. With max_seconds,
    decoding stops just past it (the caller refuses a longer song without decoding all of it)."""
    limit = ["-t", f"{max_seconds + 1:.3f}"] if max_seconds else []
    with _writing(dst) as tmp:
        run_ffmpeg([*input_args(src), "-i", src, *limit, "-vn", "-map", "0:a:0", "-c:a", "aac", "-b:a", "192k",
                    "-ar", "44100", "-ac", "2", "-movflags", "+faststart", "-f", "mp4", tmp])
    return probe(dst).duration


def cut_audio(src: Path | str, start: float, end: float, dst: Path) -> float:
    """Exactly [start, end) of the song as 16-bit WAV: decoded and cut on samples, not on
    mp3 frames (a stream copy is only accurate to ~26 ms)."""
    if not 0 <= start < end:
        raise MediaError("That part of the song is empty; pick a start before the end.", f"bad slice {start}-{end}")
    with _writing(dst) as tmp:
        run_ffmpeg([*input_args(src), "-ss", f"{start:.6f}", "-i", src, "-t", f"{end - start:.6f}", "-vn", "-map", "0:a:0",
                    "-c:a", "pcm_s16le", "-ar", "44100", "-f", "wav", tmp])
    return probe(dst).duration


def trim_audio(src: Path | str, start: float, end: float | None, dst: Path) -> float:
    """A new, re-encoded (sample-accurate) AAC track from start to end (or the end)."""
    args: list[str | Path] = [*input_args(src), "-ss", f"{start:.6f}", "-i", src]
    if end is not None:
        args += ["-t", f"{end - start:.6f}"]
    with _writing(dst) as tmp:
        run_ffmpeg([*args, "-vn", "-map", "0:a:0", "-c:a", "aac", "-b:a", "192k", "-ar", "44100", "-ac", "2",
                    "-movflags", "+faststart", "-f", "mp4", tmp])
    return probe(dst).duration


def waveform_png(src: Path | str, dst: Path, *, marks: Sequence[float] = (), duration: float | None = None,
                 width: int = 1200, height: int = 160) -> None:
    """A picture of the song with a line at each clip boundary."""
    duration = duration or audio_duration(src)
    chain = [f"showwavespic=s={width}x{height}:split_channels=0:colors=0x7c6cff"]
    for mark in marks:
        if 0 < mark < duration:
            x = int(round(mark / duration * (width - 2)))
            chain.append(f"drawbox=x={x}:y=0:w=2:h={height}:color=0xffb020@0.9:t=fill")
    with _writing(dst) as tmp:
        run_ffmpeg([*input_args(src), "-i", src, "-filter_complex", ",".join(chain), "-frames:v", "1", "-f", "image2",
                    tmp])


# --- pictures and local renders ------------------------------------------------------------


def poster(src: Path | str, dst: Path, *, at: float = 0.5) -> None:
    """A JPEG of the first frame at or after ``at`` seconds (else the last one), made in this
    process: an ffmpeg process for one frame cost 5x the CPU of decoding it here, once per clip."""
    frame = None
    try:
        with _open(src) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            container.seek(int(at * av.time_base))  # the keyframe before it
            for frame in container.decode(stream):
                if frame.time is None or frame.time >= at:
                    break
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(PROCESSING_FAILED, f"no poster frame in {src}: {exc!r}") from None
    if frame is None:
        raise MediaError(PROCESSING_FAILED, f"no poster frame in {src}: nothing decoded")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.qmin = encoder.qmax = 4  # a fixed quantiser, as ffmpeg's -q:v 4
    packets = encoder.encode(frame.reformat(format="yuvj420p")) + encoder.encode(None)
    with _writing(dst) as tmp:
        tmp.write_bytes(b"".join(bytes(p) for p in packets))


def _font() -> str:
    for candidate in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        if Path(candidate).is_file():
            return f"fontfile={candidate}:"
    return ""


def _text_file(workdir: Path, text: str, width: int) -> Path:
    """drawtext reads its text from a file (with expansion=none), so no user text is ever parsed as
    filter syntax or expanded as %{...}."""
    path = workdir / f"text-{uuid.uuid4().hex[:8]}.txt"
    path.write_text("\n".join(textwrap.wrap(" ".join(text.split()), width=width)[:4]), encoding="utf-8")
    return path


def _palette(seed: int) -> tuple[str, str, str]:
    hues = ["0x2b1055", "0x7597de", "0xff6b6b", "0x1dd1a1", "0xfeca57", "0x5f27cd", "0x00d2d3", "0xee5253"]
    return hues[seed % 8], hues[(seed // 8 + 3) % 8], hues[(seed // 64 + 5) % 8]


def render_preview_clip(dst: Path, *, label: str, text: str, duration: float = 8.0, size: str = "640x360",
                        seed: int = 0, with_audio: bool = True) -> None:
    """The offline renderer: an animated, clearly labelled H.264/AAC clip (not a model's output)."""
    dst = Path(dst)
    width, height = (int(n) for n in size.split("x"))
    # Text sized by the short side and wrapped to the width, so a portrait frame fits it too.
    title_size, caption_size = min(min(width, height) // 12, width // 14), min(width, height) // 22
    c0, c1, c2 = _palette(seed)
    caption = _text_file(dst.parent, text, width=max(20, int(width / caption_size / 0.85)))
    title = _text_file(dst.parent, f"LOCAL PREVIEW  {label}", width=200)
    labels = _title_and_caption(title, caption, sizes=(str(title_size), str(caption_size)), rows=("h/10", "h*0.62"), title_box=0.55)
    video = f"[0:v]{labels},drawbox=x='(w-60)*t/{duration:.3f}':y=h-14:w=60:h=8:color=white@0.8:t=fill[v]"
    args: list[str | Path] = [
        "-f", "lavfi", "-i", f"gradients=s={size}:r=24:d={duration:.3f}:c0={c0}:c1={c1}:c2={c2}:speed=0.03:seed={seed % 100000}",
    ]
    if with_audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency={180 + seed % 400}:duration={duration:.3f}:sample_rate=44100"]
    args += ["-filter_complex", video, "-map", "[v]"]
    if with_audio:
        args += ["-map", "1:a", "-c:a", "aac", "-b:a", "96k", "-ac", "2"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", *STITCHABLE, "-pix_fmt", "yuv420p", "-r", "24",
             "-t", f"{duration:.3f}", "-movflags", "+faststart", "-f", "mp4"]
    try:
        with _writing(dst) as tmp:
            run_ffmpeg([*args, tmp])
    finally:
        caption.unlink(missing_ok=True)
        title.unlink(missing_ok=True)


def _title_and_caption(title: Path, caption: Path, *, sizes: tuple[str, str], rows: tuple[str, str],
                       title_box: float) -> str:
    """Two centred drawtext filters, each reading its text literally from a file."""
    font = _font()
    return (
        f"drawtext={font}expansion=none:textfile='{title}':fontsize={sizes[0]}:fontcolor=white:box=1:"
        f"boxcolor=black@{title_box}:boxborderw=8:x=(w-tw)/2:y={rows[0]},"
        f"drawtext={font}expansion=none:textfile='{caption}':fontsize={sizes[1]}:line_spacing=6:fontcolor=white:box=1:"
        f"boxcolor=black@0.4:boxborderw=8:x=(w-tw)/2:y={rows[1]}"
    )


def render_preview_image(dst: Path, *, label: str, text: str, size: str = "512x512", seed: int = 0) -> None:
    dst = Path(dst)
    c0, c1, c2 = _palette(seed)
    caption = _text_file(dst.parent, text, width=30)
    title = _text_file(dst.parent, f"LOCAL PREVIEW  {label}", width=200)
    chain = _title_and_caption(title, caption, sizes=("h/16", "h/26"), rows=("h/12", "h*0.6"), title_box=0.5)
    try:
        with _writing(dst) as tmp:
            run_ffmpeg(["-f", "lavfi", "-i", f"gradients=s={size}:c0={c0}:c1={c1}:c2={c2}:seed={seed % 100000}",
                        "-vf", chain, "-frames:v", "1", "-f", "image2", "-c:v", "png", tmp])
    finally:
        caption.unlink(missing_ok=True)
        title.unlink(missing_ok=True)


def lipsync_preview(video: Path | str, audio_wav: Path | str, dst: Path) -> None:
    """The offline "lipsync": the song slice replaces the clip's sound, with a visible
    audio-reactive waveform so one can see the slice is the right one."""
    dst = Path(dst)
    info = require_video(video)
    assert info.video is not None
    w, h = info.video.width, info.video.height
    title = _text_file(dst.parent, "LOCAL LIPSYNC PREVIEW", width=200)
    graph = (
        f"[1:a]apad,asplit[a1][a2];[a2]showwaves=s={w}x{max(16, h // 4)}:mode=cline:rate=24:colors=0xffffff[wv];"
        f"[0:v][wv]overlay=0:H-h:shortest=0,drawtext={_font()}expansion=none:textfile='{title}':fontsize=h/16:fontcolor=white:"
        f"box=1:boxcolor=0xd6336c@0.8:boxborderw=8:x=w-tw-16:y=16[v]"
    )
    try:
        with _writing(dst) as tmp:
            run_ffmpeg([*input_args(video), "-i", video, *input_args(audio_wav), "-i", audio_wav,
                        "-filter_complex", graph, "-map", "[v]", "-map", "[a1]",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "24", *STITCHABLE, "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-b:a", "128k", "-t", f"{info.video.duration or info.duration:.3f}",
                        "-movflags", "+faststart", "-f", "mp4", tmp])
    finally:
        title.unlink(missing_ok=True)


# --- stitching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StitchResult:
    duration: float
    reencoded: int
    frames: int


# x264 headers that do not depend on the content or the quality (its `stitchable` option):
# clips we encode share one SPS/PPS, so a trimmed clip can be joined to untouched ones by copy.
STITCHABLE = ["-x264-params", "stitchable=1"]
X264_PROFILES = {"constrained baseline": "baseline", "baseline": "baseline", "main": "main", "high": "high"}


def normalise_clip(src: Path, dst: Path, like: VideoStream, *, frames: int | None = None) -> None:
    """Re-encode one clip to the common format, so the rest can be stream-copied; with
    `frames`, to exactly that many frames (cut, or its last frame held when it is shorter)."""
    num, _, den = like.fps.partition("/")
    timescale = like.time_base.partition("/")[2] or "12288"
    vf = (f"scale={like.width}:{like.height}:force_original_aspect_ratio=decrease,"
          f"pad={like.width}:{like.height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={num}/{den or 1},format={like.pix_fmt}")
    cut: list[str] = []
    if frames is not None:
        vf += f",tpad=stop_mode=clone:stop={frames}"  # never short of frames; -frames:v cuts the rest
        cut = ["-frames:v", str(frames), "-t", f"{frames / Fraction(like.fps):.6f}"]
    args: list[str | Path] = [*input_args(src), "-i", src, "-map", "0:v:0", "-map", "0:a:0?", "-vf", vf, "-c:v", "libx264",
                              "-preset", "veryfast", "-crf", "20", *STITCHABLE]
    profile = X264_PROFILES.get(like.profile.lower())
    if profile:
        args += ["-profile:v", profile]
    args += [*cut, "-video_track_timescale", timescale, "-c:a", "aac", "-b:a", "128k", "-ar", "44100", "-ac", "2",
             "-movflags", "+faststart", "-f", "mp4", dst]
    run_ffmpeg(args)


def _remux_video_first(src: Path, dst: Path) -> None:
    run_ffmpeg([*input_args(src), "-i", src, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", dst])


def frame_counts(lengths: Sequence[float], fps: str) -> list[int]:
    """Each clip's frames for planned lengths in seconds, cut on the running total so the
    rounding never adds up: the whole is within half a frame of the sum of the lengths."""
    rate = Fraction(fps)
    ends, total = [], 0.0
    for length in lengths:
        total += length
        ends.append(round(Fraction(total).limit_denominator(1_000_000) * rate))
    return [end - start for start, end in zip([0, *ends], ends, strict=False)]


def stitch(clips: Sequence[Path], dst: Path, *, audio: Path | None = None, audio_start: float = 0.0,
           suppress_video_audio: bool = True, workdir: Path, lengths: Sequence[float] | None = None,
           known: Sequence[MediaInfo | None] = (), song: MediaInfo | None = None) -> StitchResult:
    """Join clips by stream copy (the concat demuxer with per-file video durations, so
    seams never drift) and lay the song under them, cut to the video's length. Only clips
    whose format differs from the majority are re-encoded, and with `lengths` (each clip's
    planned length, in seconds) the clips whose frame count differs from it, trimmed to the
    frame. The result is verified. ``known``/``song``: facts already stored for the clips
    and the song; only what is not known is probed."""
    if not clips:
        raise MediaError("There are no clips to stitch.", "stitch called with no clips")
    known = list(known) + [None] * (len(clips) - len(known))
    infos = [k or probe(c) for c, k in zip(clips, known, strict=True)]  # decoded and checked when they arrived
    missing = [Path(c).name for c, i in zip(clips, infos, strict=True) if i.video is None]
    if missing:
        raise MediaError("A clip isn't a playable video; regenerate it, then stitch again.",
                         f"not a video: {', '.join(missing)}")
    signatures = Counter(i.video.signature() for i in infos)  # type: ignore[union-attr]
    common = signatures.most_common(1)[0][0]
    like = next(i.video for i in infos if i.video.signature() == common)  # type: ignore[union-attr]
    if lengths is not None and len(lengths) != len(clips):
        raise ValueError(f"{len(lengths)} lengths for {len(clips)} clips")
    targets: list[int | None] = list(frame_counts(lengths, like.fps)) if lengths is not None else [None] * len(clips)
    fitted = [_fit(index, Path(clip), info.video, frames, like, workdir, force=False)  # type: ignore[arg-type]
              for index, (clip, info, frames) in enumerate(zip(clips, infos, targets, strict=True))]
    if any(again for _, again in fitted) and len({_parameter_sets(p) for p, _ in fitted}) > 1:
        # A copy joins every clip under the first one's SPS/PPS: clips from another encoder
        # would decode with the wrong ones, silently. Then every clip is re-encoded alike.
        fitted = [(p, True) if again else _fit(i, Path(clips[i]), infos[i].video, targets[i], like, workdir, force=True)  # type: ignore[arg-type]
                  for i, (p, again) in enumerate(fitted)]
    parts = [p for p, _ in fitted]
    reencoded = sum(again for _, again in fitted)
    part_infos = [probe(p) if p not in clips else i for p, i in zip(parts, infos, strict=True)]
    durations = [i.video.duration for i in part_infos]  # type: ignore[union-attr]
    frames = sum(i.video.frames for i in part_infos)  # type: ignore[union-attr]
    total = sum(durations)
    use_song = audio is not None
    keep_clip_audio = not use_song and not suppress_video_audio and all(i.audio for i in part_infos)

    listing = workdir / f"concat-{uuid.uuid4().hex[:8]}.ffconcat"
    lines = ["ffconcat version 1.0"]
    if not keep_clip_audio:
        lines += ["stream", "exact_stream_id 1"]  # expose only the video track: no priming offset
    for part, seconds in zip(parts, durations, strict=True):
        escaped = str(Path(part).resolve()).replace("'", "'\\''")
        lines += [f"file '{escaped}'", f"duration {seconds:.6f}"]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")

    args: list[str | Path] = ["-f", "concat", "-safe", "0", "-i", listing]
    maps: list[str] = ["-map", "0:v:0"]
    codecs: list[str] = ["-c:v", "copy"]
    song = (song or probe(audio)) if use_song else None
    if song is not None:
        args += [*input_args(audio), "-ss", f"{audio_start:.6f}", "-i", audio]
        maps += ["-map", "1:a:0"]
        codecs += ["-c:a", "copy"] if song.audio and song.audio.codec == "aac" else ["-c:a", "aac", "-b:a", "192k"]
    elif keep_clip_audio:
        maps += ["-map", "0:a:0"]
        codecs += ["-c:a", "copy"]
    try:
        with _writing(dst) as tmp:
            run_ffmpeg([*args, *maps, *codecs, "-t", f"{total:.6f}", "-movflags", "+faststart", "-f", "mp4", tmp])
            result = _verify_stitch(tmp, expected_frames=frames, expected_duration=total, with_audio=use_song or keep_clip_audio,
                                    audio_available=(song.duration - audio_start) if song else total)
    finally:
        listing.unlink(missing_ok=True)
    return StitchResult(duration=result.duration, reencoded=reencoded, frames=result.frames)


def _fit(index: int, clip: Path, video: VideoStream, frames: int | None, like: VideoStream, workdir: Path, *,
         force: bool) -> tuple[Path, bool]:
    """The clip as the copy concat needs it, and whether it was re-encoded: a misfit, a clip
    to trim (`frames`) or, with `force`, any clip is re-encoded; one whose video is not its
    first track is remuxed; the rest are used as they are."""
    if force or video.signature() != like.signature() or (frames is not None and _frames_of(video) != frames):
        fixed = workdir / f"norm-{index}.mp4"
        normalise_clip(clip, fixed, like, frames=frames)
        return fixed, True
    if video.track_id != 1:
        fixed = workdir / f"remux-{index}.mp4"
        _remux_video_first(clip, fixed)
        return fixed, False
    return clip, False


def _parameter_sets(path: Path) -> bytes:
    """The H.264 SPS/PPS (avcC) a file's video is decoded with."""
    with _open(path) as container:
        return bytes(container.streams.video[0].codec_context.extradata or b"")


def _frames_of(video: VideoStream) -> int:
    """A clip's frame count (from its duration where the container does not say)."""
    return video.frames or round(Fraction(video.duration).limit_denominator(1_000_000) * Fraction(video.fps))


def _verify_stitch(path: Path, *, expected_frames: int, expected_duration: float, with_audio: bool,
                   audio_available: float) -> StitchResult:
    """Never hand out a silently corrupt stitch (a copy over mismatched clips drops data)."""
    info = probe(path)
    if info.video is None:
        raise MediaError(STITCH_FAILED, "stitch check failed: the output has no video")
    if expected_frames and info.video.frames and abs(info.video.frames - expected_frames) > 1:
        raise MediaError(STITCH_FAILED, f"stitch check failed: {info.video.frames} frames, expected {expected_frames}")
    if abs(info.video.duration - expected_duration) > 0.05:
        raise MediaError(STITCH_FAILED, f"stitch check failed: video lasts {info.video.duration:.3f} s, "
                                        f"expected {expected_duration:.3f} s")
    if with_audio:
        if info.audio is None:
            raise MediaError(STITCH_FAILED, "stitch check failed: the output has no audio")
        wanted = min(expected_duration, audio_available)
        if info.audio.duration < wanted - 0.1:
            raise MediaError(STITCH_FAILED,
                             f"stitch check failed: audio stops at {info.audio.duration:.2f} s of {wanted:.2f} s")
    return StitchResult(duration=info.video.duration, reencoded=0, frames=info.video.frames)
