"""Which demuxer opens a file: chosen from an allow-list by its first bytes, never guessed.

Media is never opened with format auto-detection: a playlist (HLS, concat, ...) uploaded
as a "song" would make ffmpeg read other files or URLs. Only single-file audio and video
containers are accepted, and each is opened with its own demuxer and the file protocol.
"""

from __future__ import annotations

from pathlib import Path

import av

from mv.media.errors import UNREADABLE, MediaError


def container_format(path: Path | str) -> str:
    """The ffmpeg demuxer for a file, chosen from an allow-list by the file's first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise MediaError(UNREADABLE, f"cannot read {path}: {exc}") from None
    return sniff(head, name=str(path))


def sniff(head: bytes, *, name: str = "the file") -> str:
    """The demuxer for a file that starts with ``head`` (its first 16 bytes), from the allow-list."""
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
    raise MediaError(UNREADABLE, f"{name}: not a supported audio or video container (first bytes {head[:8]!r})")


# Options for every demuxer we open: only the file itself, through the file protocol.
_DEMUXER_OPTIONS = {"protocol_whitelist": "file"}


def open_container(path: Path | str, index_only: bool = False):
    """The file opened with PyAV through its own demuxer and the file protocol only.
    ``index_only``: the facts an MP4's index holds, reading and decoding no packets (no pix_fmt)."""
    options = {**_DEMUXER_OPTIONS, "skip_frame": "all", "probesize": "32"} if index_only else _DEMUXER_OPTIONS
    return av.open(str(path), format=container_format(path), options=options)


def input_args(path: Path | str) -> list[str]:
    """ffmpeg's input options for a stored or uploaded file (before its ``-i``): the demuxer
    its first bytes name and the file protocol only, never auto-detection."""
    return ["-protocol_whitelist", "file", "-f", container_format(path)]

