"""Take the cut to an editor: the project's plan as an OpenTimelineIO timeline (and, through
OTIO's adapters, FCPXML and a CMX 3600 EDL), and a zip with the timelines, the clips and the
song's part.

The timeline is computed from the same slots and frame counts as the stitch
(``media.stitching.frame_counts``), so an editor sees exactly the cut the app renders: one clip
per scene, in order, each with its source range (the first frames of the clip, as the stitch
trims it), and the song's part on an audio track.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from mv import files, media
from mv.errors import Refused
from mv.models import Clip, Project

DEFAULT_RATE = Fraction(24)
# format name -> (OTIO adapter, file extension, content type)
FORMATS: dict[str, tuple[str, str, str]] = {
    "otio": ("otio_json", "otio", "application/json"),
    "fcpxml": ("fcpx_xml", "fcpxml", "application/xml"),
    "edl": ("cmx_3600", "edl", "text/plain"),
}


@dataclass(frozen=True)
class Cut:
    """One scene of the export: its clip and how many of the clip's first frames it shows."""

    number: int
    clip: Clip
    frames: int


def _rate(clips: list[Clip]) -> Fraction:
    for clip in clips:
        info = media.MediaInfo.from_dict(clip.media or {})
        if info is not None and info.video is not None:
            return Fraction(info.video.fps)
    return DEFAULT_RATE


def plan(project: Project) -> tuple[list[Cut], Fraction]:
    """The scenes' current clips with the frames each shows, or Refused when a scene has no
    finished clip yet (there is no cut to export)."""
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    clips = [s.current_clip for s in scenes]
    if not scenes or any(c is None or not c.file for c in clips):
        raise Refused("scenes_not_ready", "Every scene needs a finished clip before the video can be exported.")
    rate = _rate(clips)  # type: ignore[arg-type]
    slots = [s.slot for s in scenes]
    if project.audio_track is not None and all(slots):
        counts = media.frame_counts([slot.length for slot in slots], f"{rate.numerator}/{rate.denominator}")
    else:  # no song: every clip whole, as the stitch does
        counts = [max(1, _frames(c.duration or 0, rate)) for c in clips]  # type: ignore[union-attr]
    return [Cut(i + 1, c, n) for i, (c, n) in enumerate(zip(clips, counts, strict=True))], rate  # type: ignore[arg-type]


def _time(frames: int | float, rate: Fraction) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(float(frames), float(rate))


def song_part(project: Project, cuts: list[Cut], rate: Fraction) -> tuple[float, float] | None:
    """[start, end) in the song that the cut covers: from the first scene's start, as long as
    the video (None without a song)."""
    if project.song_range is None:
        return None
    first = project.scenes.order_by("position").first()
    begin = first.slot.start if first is not None and first.slot else project.song_range[0]
    return begin, begin + float(sum(cut.frames for cut in cuts) / rate)


def timeline(project: Project, url_for_clip: Callable[[Cut], str], song_url: str | None, *,
             song_is_part: bool = False) -> otio.schema.Timeline:
    """The project's cut as an OTIO timeline; media references point at ``url_for_clip`` (the
    app's stable media URLs, or file names inside the editing zip) and at the whole song, or at
    a file holding just its part (``song_is_part``)."""
    cuts, rate = plan(project)
    result = otio.schema.Timeline(name=project.title or "MV Studio project", global_start_time=_time(0, rate))
    video = otio.schema.Track(name="Scenes", kind=otio.schema.TrackKind.Video)
    for cut in cuts:
        clip_frames = max(cut.frames, _frames(cut.clip.duration or 0, rate))
        reference = otio.schema.ExternalReference(
            target_url=url_for_clip(cut),
            available_range=otio.opentime.TimeRange(_time(0, rate), _time(clip_frames, rate)))
        video.append(otio.schema.Clip(name=f"Scene {cut.number}", media_reference=reference,
                                      source_range=otio.opentime.TimeRange(_time(0, rate), _time(cut.frames, rate))))
    result.tracks.append(video)
    part = song_part(project, cuts, rate)
    if song_url and part is not None:
        begin, end = part
        offset = 0 if song_is_part else _frames(begin, rate)
        available = _frames(end - begin if song_is_part else project.audio_track.duration, rate)
        audio = otio.schema.Track(name="Song", kind=otio.schema.TrackKind.Audio)
        audio.append(otio.schema.Clip(
            name=project.audio_track.title or "Song",
            media_reference=otio.schema.ExternalReference(
                target_url=song_url, available_range=otio.opentime.TimeRange(_time(0, rate), _time(available, rate))),
            source_range=otio.opentime.TimeRange(_time(offset, rate), _time(sum(c.frames for c in cuts), rate))))
        result.tracks.append(audio)
    return result


def _frames(seconds: float, rate: Fraction) -> int:
    return round(Fraction(seconds).limit_denominator(1_000_000) * rate)


def render(tl: otio.schema.Timeline, fmt: str) -> str:
    """The timeline in one of FORMATS (the EDL carries the video track: CMX 3600 has one)."""
    adapter = FORMATS[fmt][0]
    if fmt == "edl":
        only_video = otio.schema.Timeline(name=tl.name, global_start_time=tl.global_start_time)
        only_video.tracks.append(tl.tracks[0].deepcopy())
        tl = only_video
    return otio.adapters.write_to_string(tl, adapter)


def editing_zip(project: Project, dst: Path, workdir: Path) -> None:
    """The timelines (pointing at the files beside them), every clip and the song's part, for an
    editor on another machine."""
    cuts, rate = plan(project)

    def name(cut: Cut) -> str:
        return f"clips/scene-{cut.number:02d}.mp4"

    part = song_part(project, cuts, rate)
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as archive:
        for cut in cuts:
            with files.local_path(cut.clip.file) as path:
                archive.write(path, name(cut))
        if part is not None:
            with files.local_path(project.audio_track.file) as song:
                media.cut_audio(song, part[0], min(part[1], project.audio_track.duration), workdir / "song.wav")
            archive.write(workdir / "song.wav", "song.wav")
        tl = timeline(project, name, "song.wav" if part else None, song_is_part=True)
        for fmt, (_, extension, _) in FORMATS.items():
            archive.writestr(f"timeline.{extension}", render(tl, fmt))
