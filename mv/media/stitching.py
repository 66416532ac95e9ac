"""Joining clips into one video under the song: by stream copy, each clip that does not fit as
it is (another format, or trimmed or retimed to its slot) joined as its part (mv.media.parts), and
verifying every result."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from mv.media import parts, remux
from mv.media.containers import container_format, input_args
from mv.media.encoding import STITCHABLE, X264_PROFILES, normalise_clip  # noqa: F401  (used as media.<name>)
from mv.media.errors import STITCH_FAILED, MediaError
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import MediaInfo, VideoStream, probe


@dataclass(frozen=True)
class StitchResult:
    duration: float
    reencoded: int
    frames: int
    in_process: bool = False  # joined by mv.media.remux, without an ffmpeg process
    reencoded_frames: int = 0  # of the clips re-encoded: the frames (a part cut by copy re-encodes only its last few)
    parts_made: int = 0  # parts made by this stitch (the rest were kept from an earlier one)


def frame_counts(lengths: Sequence[float], fps: str) -> list[int]:
    """Each clip's frames for planned lengths in seconds, cut on the running total so the
    rounding never adds up: the whole is within half a frame of the sum of the lengths."""
    rate = Fraction(fps)
    ends, total = [], 0.0
    for length in lengths:
        total += length
        ends.append(round(Fraction(total).limit_denominator(1_000_000) * rate))
    return [end - start for start, end in zip([0, *ends], ends, strict=False)]


def plan(infos: Sequence[MediaInfo], lengths: Sequence[float] | None) -> tuple[VideoStream, list[int]]:
    """The stitch's format (that of most clips) and the frames each clip shows: its planned
    length's, or all of its own."""
    missing = [str(i + 1) for i, info in enumerate(infos) if info.video is None]
    if missing:
        raise MediaError("A clip isn't a playable video; regenerate it, then stitch again.",
                         f"not a video: clip {', '.join(missing)}")
    signatures = Counter(i.video.signature() for i in infos)  # type: ignore[union-attr]
    common = signatures.most_common(1)[0][0]
    like = next(i.video for i in infos if i.video.signature() == common)  # type: ignore[union-attr]
    if lengths is not None and len(lengths) != len(infos):
        raise ValueError(f"{len(lengths)} lengths for {len(infos)} clips")
    if lengths is None:  # all of each clip, at the stitch's frame rate
        lengths = [i.video.duration if i.video.fps != like.fps else parts.frames_of(i.video) / Fraction(like.fps)  # type: ignore[union-attr]
                   for i in infos]
    return like, frame_counts(lengths, like.fps)


def stitch(clips: Sequence[Path | Callable[[], Path]], dst: Path, *, audio: Path | None = None, audio_start: float = 0.0,
           suppress_video_audio: bool = True, workdir: Path, lengths: Sequence[float] | None = None,
           known: Sequence[MediaInfo | None] = (), song: MediaInfo | None = None, in_process: bool = True,
           store: parts.Store | None = None, retimed: Sequence[bool] = ()) -> StitchResult:
    """Join clips by stream copy (each moved by the video length of those before it, so
    seams never drift) and lay the song under them, cut to the video's length. A clip whose
    format differs from the majority's, or (with `lengths`, each clip's planned length in
    seconds) whose frame count differs from its slot's, is joined as its part (mv.media.parts:
    cut by copy as far as its stream allows, the rest re-encoded), taken from ``store`` when
    kept from an earlier stitch; ``retimed[i]``: clip i fills its planned length by playing
    faster (all of it shown) instead of being trimmed. The result is verified. ``known``/``song``: facts already
    stored for the clips and the song; only what is not known is probed. A clip may be given
    as a callable that fetches it, called only when the clip itself is needed. The copy runs
    in this process (mv.media.remux) where the parts and the song allow it, else (or with
    ``in_process=False``) in ffmpeg."""
    if not clips:
        raise MediaError("There are no clips to stitch.", "stitch called with no clips")
    fetched: dict[int, Path] = {}

    def source(index: int) -> Path:
        if index not in fetched:
            clip = clips[index]
            fetched[index] = Path(clip() if callable(clip) else clip)
        return fetched[index]

    known = list(known) + [None] * (len(clips) - len(known))
    infos = [k or probe(source(i)) for i, k in enumerate(known)]  # decoded and checked when they arrived
    like, targets = plan(infos, lengths)
    fitted = parts.fit(infos, targets, like, source=source, store=store or parts.Scratch(), workdir=workdir,
                       retimed=retimed if lengths is not None else ())
    result = join([s.path for s in fitted.stored], [s.info for s in fitted.stored], dst, audio=audio,
                  audio_start=audio_start, suppress_video_audio=suppress_video_audio, workdir=workdir, song=song,
                  in_process=in_process)
    return dataclasses.replace(result, reencoded=fitted.reencoded, reencoded_frames=fitted.reencoded_frames,
                               parts_made=fitted.made)


def join(paths: Sequence[Path], infos: Sequence[MediaInfo], dst: Path, *, audio: Path | None, audio_start: float,
         suppress_video_audio: bool, workdir: Path, song: MediaInfo | None, in_process: bool) -> StitchResult:
    """The copy stitch of clips and parts that fit together, verified."""
    durations = [i.video.duration for i in infos]  # type: ignore[union-attr]
    frames = sum(i.video.frames for i in infos)  # type: ignore[union-attr]
    total = sum(durations)
    use_song = audio is not None
    keep_clip_audio = not use_song and not suppress_video_audio and all(i.audio for i in infos)

    listing = workdir / f"concat-{uuid.uuid4().hex[:8]}.ffconcat"
    lines = ["ffconcat version 1.0"]
    if not keep_clip_audio:
        lines += ["stream", "exact_stream_id 1"]  # expose only the video track: no priming offset
    for part, seconds in zip(paths, durations, strict=True):
        escaped = str(Path(part).resolve()).replace("'", "'\\''")
        lines += [f"file '{escaped}'", f"duration {seconds:.6f}"]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")

    args: list[str | Path] = ["-f", "concat", "-safe", "0", "-i", listing]
    maps: list[str] = ["-map", "0:v:0"]
    codecs: list[str] = ["-c:v", "copy"]
    song = (song or probe(audio)) if audio is not None else None
    if song is not None:
        args += [*input_args(audio), "-ss", f"{audio_start:.6f}", "-i", audio]  # type: ignore[arg-type]
        maps += ["-map", "1:a:0"]
        codecs += ["-c:a", "copy"] if song.audio and song.audio.codec == "aac" else ["-c:a", "aac", "-b:a", "192k"]
    elif keep_clip_audio:
        maps += ["-map", "0:a:0"]
        codecs += ["-c:a", "copy"]
    try:
        with atomic_output(dst) as tmp:
            copied = (in_process and not keep_clip_audio and (song is None or (song.audio and song.audio.codec == "aac"))
                      and remux.join(paths, tmp, demuxer=container_format, song=audio if song else None,
                                     song_start=audio_start, frames=frames, seconds=total))
            if not copied:
                run_ffmpeg([*args, *maps, *codecs, "-t", f"{total:.6f}", "-movflags", "+faststart", "-f", "mp4", tmp])
            result = _verify_stitch(tmp, expected_frames=frames, expected_duration=total, with_audio=use_song or keep_clip_audio,
                                    audio_available=(song.duration - audio_start) if song else total)
    finally:
        listing.unlink(missing_ok=True)
    return StitchResult(duration=result.duration, reencoded=0, frames=result.frames, in_process=bool(copied))


def _verify_stitch(path: Path, *, expected_frames: int, expected_duration: float, with_audio: bool,
                   audio_available: float) -> StitchResult:
    """Never hand out a silently corrupt stitch (a copy over mismatched clips drops data)."""
    info = probe(path, index_only=True)
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
