"""Stream copy in this process (PyAV): joining clips under the song (and opening a clip's video
for mv.media.parts to cut it), without starting an ffmpeg process (its start-up and a second
pass over the bytes for ``+faststart`` cost more than moving the packets).

Only what is safe to copy is copied here; anything else returns False and the caller takes
the ffmpeg path. Files are opened with the demuxer the caller names (never auto-detection).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av

logger = logging.getLogger("mv.media")

# The file protocol only; the stream facts come from the MP4's index, so opening reads and
# decodes no packets (``probesize``, ``skip_frame``: else it reads seconds of them).
_READ = {"protocol_whitelist": "file", "skip_frame": "all", "probesize": "32"}
# Room kept at the start for the index: a base, and each packet's entries (size, times, offset, sync mark).
_MOOV_ROOM, _MOOV_BYTES_PER_PACKET = 16384, 32


class NotCopyable(Exception):
    """These files cannot be joined or cut by stream copy here."""


def _or_false(fallback: str) -> Callable[[Callable[..., None]], Callable[..., bool]]:
    """True when the copy was made; False, with why in the log, when ``fallback`` must do it."""
    def decorate(copy: Callable[..., None]) -> Callable[..., bool]:
        @functools.wraps(copy)
        def attempt(*args, **kwargs) -> bool:
            try:
                copy(*args, **kwargs)
            except NotCopyable as exc:
                logger.debug("%s: %s", fallback, exc)  # routine (a trimmed clip is re-encoded), not news
                return False
            except (av.FFmpegError, OSError, ValueError) as exc:
                logger.warning("%s, the copy failed: %s", fallback, exc)
                return False
            return True
        return attempt
    return decorate


@contextlib.contextmanager
def _input(path: Path, demuxer: Callable[[Path], str]) -> Iterator[av.container.InputContainer]:
    if demuxer(path) != "mov":
        raise NotCopyable(f"{path.name} is not MP4")
    with av.open(str(path), format="mov", options=_READ) as container:
        yield container


@_or_false("stitched by ffmpeg")
def join(parts: Sequence[Path], dst: Path, *, demuxer: Callable[[Path], str], song: Path | None = None,
         song_start: float = 0.0, frames: int = 0, seconds: float = 0.0) -> None:
    """The parts' video one after another (each moved by the video length of those before
    it, so seams never drift) under the song's AAC from ``song_start`` to the video's end,
    as an MP4 whose index comes first (``frames`` and ``seconds``, the expected whole, size
    the room kept for it). The song is cut sample-exactly: its packets are copied from one
    before the start (so the first kept one decodes right) and an edit list skips to the
    start. Parts are opened one at a time, so memory does not grow with their number.
    False, with a reason in the log, when the parts cannot be copied together (different
    streams or parameter sets, overlapping times, not MP4, a song that is not AAC in MP4,
    an index larger than its room); the caller then uses ffmpeg, overwriting what was written."""
    with contextlib.ExitStack() as stack:
        audio = stack.enter_context(_input(song, demuxer)) if song is not None else None
        sound = _aac(audio) if audio is not None else None
        packets = max(frames, math.ceil(seconds * 120))  # 120 fps at most when the frames are not known
        if sound is not None:
            packets += math.ceil(seconds * sound.codec_context.sample_rate / 1024) + 2
        # The index is written into room kept at the start: no second pass to move it there.
        out = stack.enter_context(av.open(str(dst), "w", format="mp4",
                                          options={"moov_size": str(_MOOV_ROOM + _MOOV_BYTES_PER_PACKET * packets)}))
        _join(out, parts, demuxer, sound, song_start)


def _aac(container):
    if not container.streams.audio or container.streams.audio[0].codec_context.name != "aac":
        raise NotCopyable("the song is not AAC")
    return container.streams.audio[0]


def _video(container, like: tuple | None = None):
    """The container's video stream, and what another part's must match to follow it by
    copy (raises NotCopyable when it does not match ``like``)."""
    if not container.streams.video:
        raise NotCopyable("a part has no video")
    stream = container.streams.video[0]
    if stream.duration is None or stream.time_base is None:
        raise NotCopyable("a part's video has no length")
    cc = stream.codec_context
    mine = (cc.name, cc.width, cc.height, stream.time_base, bytes(cc.extradata or b""))
    if like is not None and mine != like:
        raise NotCopyable("the parts' video or H.264 parameter sets differ")
    return stream, mine


def _join(out, parts: Sequence[Path], demuxer: Callable[[Path], str], sound, song_start: float) -> None:
    like = video_out = None
    song_packets: Iterator = iter(())
    to_song = Fraction(0)
    offset, last_dts = 0, None
    for part in parts:
        with _input(part, demuxer) as container:
            stream, mine = _video(container, like)
            if like is None:  # the first part: every stream is added before anything is written
                like, video_out = mine, out.add_stream_from_template(stream)
                if sound is not None:
                    song_packets = _song_packets(sound, out.add_stream_from_template(sound), song_start)
                    to_song = Fraction(stream.time_base) / Fraction(sound.time_base)
            shift = offset - (stream.start_time or 0)
            for packet in container.demux(stream):
                if packet.dts is None:  # the demuxer's end-of-file marker
                    continue
                if packet.pts is None:
                    raise NotCopyable("a part's video packet has no presentation time")
                packet.dts += shift
                packet.pts += shift
                if last_dts is not None and packet.dts <= last_dts:
                    raise NotCopyable("decode times overlap at a seam")
                last_dts = packet.dts
                packet.stream = video_out
                out.mux_one(packet)
            offset += stream.duration
        _mux_until(out, song_packets, math.ceil(offset * to_song))


def _mux_until(out, packets: Iterator, end: int) -> None:
    """Mux the song's packets up to the one that reaches ``end`` (its time base), so the
    song lies under the video muxed so far."""
    for packet in packets:
        out.mux_one(packet)
        if packet.pts + (packet.duration or 0) >= end:
            return


def _song_packets(stream, out_stream, start: float) -> Iterator:
    """The song's packets from ``start``, re-timed to begin at 0 (from one packet before)."""
    begin = round(start / Fraction(stream.time_base)) + (stream.start_time or 0)
    if begin > 0:
        stream.container.seek(max(0, begin - 4096), stream=stream, backward=True)
    for packet in stream.container.demux(stream):
        if packet.dts is None or packet.pts is None:
            continue
        if packet.pts + 2 * (packet.duration or 0) <= begin:  # before the one packet kept ahead of the start
            continue
        packet.pts -= begin
        packet.dts = packet.pts
        packet.stream = out_stream
        yield packet
