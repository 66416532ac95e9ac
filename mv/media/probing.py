"""What a media file holds (streams, lengths, codecs) and whether it really is audio, video
or an image: PyAV and mutagen, never ffprobe, never judged by a file's name."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import mutagen

from mv.media.containers import open_container
from mv.media.errors import EMPTY_AUDIO, NOT_AUDIO, NOT_IMAGE, NOT_VIDEO, UNREADABLE, MediaError


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
    headers: str = ""  # a fingerprint of the H.264 SPS/PPS it decodes with ("" when not known)

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


def probe(path: Path | str, *, unreadable: str = UNREADABLE, index_only: bool = False) -> MediaInfo:
    """Streams and lengths; ``unreadable`` is the message when the file cannot be opened."""
    try:
        container = open_container(path, index_only)
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
                headers=headers_fingerprint(cc.extradata),
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


def headers_fingerprint(extradata: bytes | None) -> str:
    """A short fingerprint of a stream's parameter sets: clips joined by copy must share them."""
    return hashlib.sha1(bytes(extradata or b"")).hexdigest()[:16]


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
        with open_container(path) as container:
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

