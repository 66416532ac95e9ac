"""Take the cut to an editor: the project's plan as an OpenTimelineIO timeline (and, through
OTIO's adapters, FCPXML and a CMX 3600 EDL), and a zip with the timelines, the clips and the
song's part.

The timeline is computed from the same slots and frame counts as the stitch
(``media.stitching.frame_counts``), so an editor sees exactly the cut the app renders: one clip
per scene, in order, each with its source range (the first frames of the clip, as the stitch
trims it), and the song's part on an audio track.

A clip the stitch plays faster to fill its slot (``Clip.fills_by_retime``) carries its speed:
in OTIO a ``LinearTimeWarp`` (time_scalar = the clip's frames / the slot's; by OTIO's rule the
source range keeps the slot's length on the track and the warp makes it play the whole clip),
in the EDL an M2 line with the source in/out spanning the whole clip, in FCPXML a ``timeMap``
from the slot's length to the whole clip. The two adapters are corrected here: the EDL writer
divides the source out by the speed instead of multiplying, the FCPXML writer drops the warp.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
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
    """One scene of the export: its clip and how many frames it shows: the clip's first ones,
    or (``source_frames``) all of the clip's, played faster to fill them."""

    number: int
    clip: Clip
    frames: int
    source_frames: int = 0  # the clip's frames when it is retimed to fill the slot; 0: trimmed

    @property
    def speed(self) -> Fraction | None:
        """How much faster than made the clip plays (None: at its own speed)."""
        return Fraction(self.source_frames, self.frames) if self.source_frames else None


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
        whole = [_frames(c.duration or 0, rate) if c.fills_by_retime(slot.length, project.max_speedup) else 0  # type: ignore[union-attr]
                 for c, slot in zip(clips, slots, strict=True)]
    else:  # no song: every clip whole, as the stitch does
        counts = [max(1, _frames(c.duration or 0, rate)) for c in clips]  # type: ignore[union-attr]
        whole = [0] * len(clips)
    return [Cut(i + 1, c, n, w) for i, (c, n, w) in enumerate(zip(clips, counts, whole, strict=True))], rate  # type: ignore[arg-type]


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
        clip = otio.schema.Clip(name=f"Scene {cut.number}", media_reference=reference,
                                source_range=otio.opentime.TimeRange(_time(0, rate), _time(cut.frames, rate)))
        if cut.speed is not None:
            clip.effects.append(otio.schema.LinearTimeWarp(name="Fit to fill", time_scalar=float(cut.speed)))
        video.append(clip)
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
        return _edl_with_speeds(otio.adapters.write_to_string(only_video, adapter), only_video)
    if fmt == "fcpxml":
        return _fcpxml_with_speeds(otio.adapters.write_to_string(tl, adapter), tl)
    return otio.adapters.write_to_string(tl, adapter)


def _played(clip: otio.schema.Clip) -> otio.opentime.RationalTime | None:
    """How much of its media a retimed scene plays (the whole clip); None for one at its own speed."""
    warps = [e for e in clip.effects if isinstance(e, otio.schema.LinearTimeWarp)]
    if not warps:
        return None
    duration = clip.source_range.duration
    return otio.opentime.RationalTime(round(duration.value * warps[0].time_scalar), duration.rate)


EVENT = re.compile(r"^\d{3}\s+\S+\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s")


def _edl_with_speeds(text: str, tl: otio.schema.Timeline) -> str:
    """The EDL with each retimed event's source out at the end of the media it plays (OTIO's
    writer divides by the speed; its reader and every editor expect source = record x speed)."""
    clips = list(tl.tracks[0].find_clips())
    lines, n = text.split("\n"), 0
    for k, line in enumerate(lines):
        event = EVENT.match(line)
        if event is None:
            continue
        clip, n = clips[n], n + 1
        played = _played(clip)
        if played is not None:
            out = otio.opentime.to_timecode(clip.source_range.start_time + played, played.rate)
            lines[k] = line[:event.start(2)] + out + line[event.end(2):]
    return "\n".join(lines)


def _fcpxml_time(t: otio.opentime.RationalTime) -> str:
    seconds = Fraction(round(t.value)) / Fraction(t.rate).limit_denominator(1001)
    return "0s" if seconds == 0 else f"{seconds.numerator}/{seconds.denominator}s"


def _fcpxml_with_speeds(text: str, tl: otio.schema.Timeline) -> str:
    """The FCPXML with a timeMap on each retimed clip: its slot's length maps onto the whole
    clip (the adapter writes no speed at all)."""
    clips = list(tl.tracks[0].find_clips())
    played = [_played(c) for c in clips]
    if not any(played):
        return text
    root = ET.fromstring(text)
    spine = root.find("./project/sequence/spine")
    assert spine is not None
    for element, clip, media_played in zip(list(spine), clips, played, strict=True):
        if media_played is None:
            continue
        start = clip.source_range.start_time
        warp = ET.Element("timeMap")
        ET.SubElement(warp, "timept", time="0s", value=_fcpxml_time(start), interp="linear")
        ET.SubElement(warp, "timept", time=_fcpxml_time(clip.source_range.duration),
                      value=_fcpxml_time(start + media_played), interp="linear")
        element.insert(0, warp)  # before its media: FCPXML's order (note, conform-rate, timeMap, ...)
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n\n' + ET.tostring(root, encoding="unicode") + "\n"


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
