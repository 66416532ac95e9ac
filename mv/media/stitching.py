"""Joining clips into one video under the song: by stream copy where the clips allow it,
re-encoding only the misfits and the clips to trim, and verifying every result."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from mv.media import remux
from mv.media.containers import container_format, input_args, open_container
from mv.media.errors import STITCH_FAILED, MediaError
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import MediaInfo, VideoStream, probe


@dataclass(frozen=True)
class StitchResult:
    duration: float
    reencoded: int
    frames: int
    in_process: bool = False  # joined by mv.media.remux, without an ffmpeg process


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
           known: Sequence[MediaInfo | None] = (), song: MediaInfo | None = None, in_process: bool = True) -> StitchResult:
    """Join clips by stream copy (the concat demuxer with per-file video durations, so
    seams never drift) and lay the song under them, cut to the video's length. Only clips
    whose format differs from the majority are re-encoded, and with `lengths` (each clip's
    planned length, in seconds) the clips whose frame count differs from it, trimmed to the
    frame (cut by copy where the frames before the cut decode on their own). The result is
    verified. ``known``/``song``: facts already stored for the clips and the song; only
    what is not known is probed. The copy runs in this process (mv.media.remux) where the parts
    and the song allow it, else (or with ``in_process=False``) in ffmpeg."""
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
    fitted = [_fit(index, Path(clip), info.video, frames, like, workdir, force=False, cut=in_process)  # type: ignore[arg-type]
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
        with atomic_output(dst) as tmp:
            copied = (in_process and not keep_clip_audio and (song is None or (song.audio and song.audio.codec == "aac"))
                      and remux.join(parts, tmp, demuxer=container_format, song=audio if song else None,
                                     song_start=audio_start, frames=frames, seconds=total))
            if not copied:
                run_ffmpeg([*args, *maps, *codecs, "-t", f"{total:.6f}", "-movflags", "+faststart", "-f", "mp4", tmp])
            result = _verify_stitch(tmp, expected_frames=frames, expected_duration=total, with_audio=use_song or keep_clip_audio,
                                    audio_available=(song.duration - audio_start) if song else total)
    finally:
        listing.unlink(missing_ok=True)
    return StitchResult(duration=result.duration, reencoded=reencoded, frames=result.frames, in_process=bool(copied))


def _fit(index: int, clip: Path, video: VideoStream, frames: int | None, like: VideoStream, workdir: Path, *,
         force: bool, cut: bool = False) -> tuple[Path, bool]:
    """The clip as the copy concat needs it, and whether it was re-encoded: a misfit, a clip
    to trim (`frames`) or, with `force`, any clip is re-encoded (with `cut`, a clip to
    shorten is first cut by copy where it can be); one whose video is not its first track
    is remuxed; the rest are used as they are."""
    fits = not force and video.signature() == like.signature()
    if cut and fits and frames is not None and _frames_of(video) > frames:
        copy = workdir / f"cut-{index}.mp4"
        if remux.cut(clip, copy, frames, demuxer=container_format):
            return copy, False
    if not fits or (frames is not None and _frames_of(video) != frames):
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
    with open_container(path) as container:
        return bytes(container.streams.video[0].codec_context.extradata or b"")


def _frames_of(video: VideoStream) -> int:
    """A clip's frame count (from its duration where the container does not say)."""
    return video.frames or round(Fraction(video.duration).limit_denominator(1_000_000) * Fraction(video.fps))


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
