"""A clip made ready for its place in a stitch (a "part"): exactly the frames its slot shows,
in the stitch's format, so the stitch itself is a stream copy. Parts are kept (mv.parts), so
this work is done once per clip and slot.

A clip that fills its slot by playing faster ("retimed", mv.music.retimed) is re-encoded whole
with its timestamps scaled, so all of it, its last frame included, shows in the slot's frames.

A part is cut by copy wherever the stream allows it: every packet up to the last cut at
which the frames decoded first are exactly the frames shown first (a key frame, or the end
of a group of B-frames) is copied, and only the frames from there to the slot's end are
re-encoded ("smart cut": with B-frames, at most a group of a few frames), with the same
encoder settings and headers as the clip's, so both halves decode under one SPS/PPS. No
frame is hidden by an edit list (browsers do not honour edit lists past the first entry).
A clip in another format, or whose headers are not ours, is re-encoded whole.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av

from mv.media import remux
from mv.media.containers import container_format
from mv.media.encoding import normalise_clip
from mv.media.probing import MediaInfo, VideoStream, probe

logger = logging.getLogger("mv.media")


@dataclass(frozen=True)
class Made:
    """How a part was made: the frames re-encoded (0: all copied) and which way."""

    reencoded: int
    how: str  # "copy", "smart" (copy, then the last frames re-encoded), "normalised" (all re-encoded) or "retimed"


def format_key(like: VideoStream) -> str:
    """The stitch's format as a part's key says it (what every part is made to match)."""
    return ".".join(str(x) for x in like.signature())


def frames_of(video: VideoStream) -> int:
    """A clip's frame count (from its duration where the container does not say)."""
    return video.frames or round(Fraction(video.duration).limit_denominator(1_000_000) * Fraction(video.fps))


def needs_part(video: VideoStream, frames: int, like: VideoStream) -> bool:
    """Whether a clip can go into the copy stitch as it is: in the format, its video first,
    and exactly the frames its slot shows."""
    return video.signature() != like.signature() or video.track_id != 1 or frames_of(video) != frames


def make_part(src: Path, dst: Path, video: VideoStream, frames: int, like: VideoStream, workdir: Path, *,
              force: bool = False, retime: bool = False) -> Made:
    """Write the part showing the clip's first ``frames`` frames (its last frame held when
    it is shorter) in the format of ``like``: by copy as far as the stream allows, else
    (or with ``force``, to join clips from other encoders) re-encoded whole. With ``retime``,
    the whole clip played faster to last exactly ``frames`` frames (always re-encoded)."""
    if retime:
        speed = frames_of(video) / Fraction(video.fps) / (frames / Fraction(like.fps))
        normalise_clip(src, dst, like, frames=frames, speed=float(speed))
        return Made(frames, "retimed")
    if not force and video.signature() == like.signature():
        try:
            reencoded = _smart_cut(src, dst, frames, like, workdir)
            return Made(reencoded, "smart" if reencoded else "copy")
        except remux.NotCopyable as exc:
            logger.info("part re-encoded whole: %s", exc)
        except (av.FFmpegError, OSError, ValueError) as exc:
            logger.warning("part re-encoded whole, the copy failed: %s", exc)
    normalise_clip(src, dst, like, frames=frames)
    return Made(frames, "normalised")


def copyable_prefix(pts_in_decode_order: list[int], limit: int) -> int:
    """The most packets (at most ``limit``) whose frames are exactly the first ones shown:
    such a prefix decodes on its own, as in the whole clip (0 when none does)."""
    rank = {pts: i for i, pts in enumerate(sorted(pts_in_decode_order))}
    best = top = -1
    for n, pts in enumerate(pts_in_decode_order[:limit], 1):
        top = max(top, rank[pts])
        if top == n - 1:
            best = n
    return max(best, 0)


def _smart_cut(src: Path, dst: Path, frames: int, like: VideoStream, workdir: Path) -> int:
    """The part by copy up to the last copyable cut, and the frames after it re-encoded;
    returns the frames re-encoded. NotCopyable when no copy fits (then all is re-encoded)."""
    with remux._input(src, container_format) as container:
        video, _ = remux._video(container)
        sound = container.streams.audio[0] if container.streams.audio else None
        packets = [p for p in container.demux(video) if p.dts is not None]
        if not packets or any(p.pts is None for p in packets):
            raise remux.NotCopyable("a clip's video packets have no presentation times")
        shown = sorted(p.pts for p in packets)
        step = Fraction(1) / (Fraction(like.fps) * Fraction(video.time_base))
        if step.denominator != 1:
            raise remux.NotCopyable("the frame rate is not a whole number of time-base ticks")
        whole = len(packets)
        kept = copyable_prefix([p.pts for p in packets], frames if frames <= whole else whole - 1)
        if kept == 0:
            raise remux.NotCopyable("no frame before the cut decodes on its own")
        tail = _tail(src, video, shown, kept, frames, like, workdir, after_dts=packets[kept - 1].dts) if kept < frames else []
        end = shown[0] + frames * int(step)  # where the part ends, in the video's time base
        audio = []
        if sound is not None:
            container.seek(0, stream=sound)
            limit = (end - shown[0]) * video.time_base
            audio = [p for p in container.demux(sound) if p.pts is not None and p.dts is not None
                     and p.pts * sound.time_base < limit]
        with av.open(str(dst), "w", format="mp4") as out:
            video_out = out.add_stream_from_template(video)
            sound_out = out.add_stream_from_template(sound) if sound is not None else None
            for packet in [*packets[:kept], *tail]:
                packet.stream = video_out
                out.mux_one(packet)
            for packet in audio:
                packet.stream = sound_out
                out.mux_one(packet)
    return frames - kept


def _tail(src: Path, video, shown: list[int], kept: int, frames: int, like: VideoStream, workdir: Path, *,
          after_dts: int) -> list:
    """Frames ``kept`` to ``frames`` (the last one held past the clip's end) re-encoded, as
    packets timed to follow the copied ones; NotCopyable when their headers or times do not fit."""
    step = int(Fraction(1) / (Fraction(like.fps) * Fraction(video.time_base)))
    path = workdir / f"tail-{uuid.uuid4().hex[:8]}.mp4"
    start = float((shown[kept] - shown[0] - Fraction(step, 4)) * video.time_base)  # a quarter frame early: never the one before
    try:
        normalise_clip(src, path, like, frames=frames - kept, start=start, audio=False)
        with remux._input(path, container_format) as container:
            stream = container.streams.video[0]
            if bytes(stream.codec_context.extradata or b"") != bytes(video.codec_context.extradata or b""):
                raise remux.NotCopyable("the re-encoded frames' headers differ from the clip's")
            if stream.time_base != video.time_base:
                raise remux.NotCopyable("the re-encoded frames' time base differs from the clip's")
            packets = [p for p in container.demux(stream) if p.dts is not None]
    finally:
        path.unlink(missing_ok=True)
    if len(packets) != frames - kept:
        raise remux.NotCopyable(f"{len(packets)} frames re-encoded, {frames - kept} wanted")
    shift = shown[kept] - min(p.pts for p in packets)
    for n, packet in enumerate(packets, 1):
        # Decoded one frame after another from the copied ones, as in the clip: the part ends
        # with the clip's own decode delay, so the next clip's first frames never overlap it.
        packet.pts += shift
        packet.dts = after_dts + n * step
        if packet.dts > packet.pts:
            raise remux.NotCopyable("the re-encoded frames need more decode delay than the clip has")
    return packets


@dataclass(frozen=True)
class Stored:
    """A part ready to join: its local path, its media facts, and the frames re-encoded to make it."""

    path: Path
    info: MediaInfo
    reencoded: int


class Store(Protocol):
    """Where parts are kept between stitches (mv.parts keeps them beside the clips)."""

    def find(self, index: int, frames: int, forced: bool, retimed: bool = False) -> Stored | None: ...

    def keep(self, index: int, frames: int, forced: bool, path: Path, made: Made, retimed: bool = False) -> Stored: ...


class Scratch:
    """Parts kept for one stitch only (its work folder)."""

    def find(self, index: int, frames: int, forced: bool, retimed: bool = False) -> Stored | None:
        return None

    def keep(self, index: int, frames: int, forced: bool, path: Path, made: Made, retimed: bool = False) -> Stored:
        return Stored(path, probe(path), made.reencoded)


@dataclass
class Fitted:
    """What the copy stitch joins, and what fitting it cost now."""

    stored: list[Stored]
    reencoded: int = 0  # clips re-encoded (whole or their last frames) by this stitch
    reencoded_frames: int = 0
    made: int = 0  # parts made by this stitch (the rest were kept from before)


def fit(infos: Sequence[MediaInfo], targets: Sequence[int], like: VideoStream, *, source: Callable[[int], Path],
        store: Store, workdir: Path, retimed: Sequence[bool] = ()) -> Fitted:
    """Each clip as the copy stitch joins it: as it is where it fits, else its part, taken
    from ``store`` or made (from ``source(index)``, the clip's local path) and kept there;
    ``retimed[index]``: the clip fills its frames by playing faster (its part is retimed).
    Parts we re-encoded carry our encoder's headers; should the rest carry others (another
    encoder's clips, or cuts of them), those are re-encoded too (``forced`` parts), since a
    copy decodes every clip with one set of headers."""
    fitted = Fitted([])
    fast = [bool(r) for r in retimed] + [False] * (len(infos) - len(retimed))

    def part(index: int, forced: bool) -> Stored:
        found = store.find(index, targets[index], forced, fast[index])
        if found is not None:
            return found
        dst = workdir / f"part-{index}-{uuid.uuid4().hex[:8]}.mp4"
        made = make_part(source(index), dst, infos[index].video, targets[index], like, workdir,  # type: ignore[arg-type]
                         force=forced, retime=fast[index])
        fitted.made += 1
        fitted.reencoded += made.reencoded > 0
        fitted.reencoded_frames += made.reencoded
        return store.keep(index, targets[index], forced, dst, made, fast[index])

    for index, info in enumerate(infos):
        video = info.video
        assert video is not None
        if fast[index] or needs_part(video, targets[index], like):
            fitted.stored.append(part(index, False))
        else:
            if not video.headers:  # facts stored before headers were: read them from the file
                info = probe(source(index))
            fitted.stored.append(Stored(source(index), info, 0))
    ours = Counter(s.info.video.headers for s in fitted.stored if s.reencoded)  # type: ignore[union-attr]
    if ours and len({s.info.video.headers for s in fitted.stored}) > 1:  # type: ignore[union-attr]
        house = ours.most_common(1)[0][0]
        fitted.stored = [s if s.info.video.headers == house else part(i, True)  # type: ignore[union-attr]
                         for i, s in enumerate(fitted.stored)]
    return fitted
