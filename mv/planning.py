"""A project's scene plan: the chosen part of its song cut into scenes (mv.music.plan_scenes).

The one place that turns a track, a range, a count and a flavor into slots, and a plan that
cannot be made into a `Refused` naming the numbers. The pages, the API, the scene writer and
make_video all plan through here, so what is checked is what is made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from mv import music
from mv.errors import Refused
from mv.flavors import Flavor
from mv.models.audio import check_range

if TYPE_CHECKING:
    from mv.models.audio import AudioTrack

logger = logging.getLogger("mv.planning")

RANGE_NAMES = ("song_start", "song_end")


def durations(flavor: Flavor) -> list[int]:
    """The clip lengths the flavor's video model can make, in seconds."""
    return list(flavor.video.durations)


def max_speedup(flavor: Flavor) -> float:
    """How much faster a clip may play to fill its scene ("fit to fill", mv.music.retimed); 1.0: trimmed only."""
    return flavor.video.max_speedup


def max_scenes() -> int:
    """The most scenes a project may ask for: as many as the longest song accepted
    (MV_MAX_SONG_SECONDS) holds at the shortest clip any flavor makes. Whether a count fits the
    chosen part is the plan's own check (`plan_does_not_fit`, naming the numbers)."""
    from mv import flavors

    shortest = min(min(durations(flavors.resolve(name))) for name in flavors.names())
    return music.count_range(settings.MV_MAX_SONG_SECONDS, [shortest])[1]


def analysis_of(track: AudioTrack) -> music.Analysis | None:
    """The track's stored analysis when it is ready, else None (the plan is then an even grid)."""
    reader = getattr(track, "music_analysis", None)  # the track's own reader, where it has one
    if callable(reader):
        return reader()
    if track.analysis_status != track.AnalysisStatus.READY or not track.analysis:
        return None
    try:
        return music.Analysis.from_dict(track.analysis)
    except (KeyError, TypeError, ValueError):
        logger.warning("track %s: stored analysis unreadable; planning on an even grid", track.pk)
        return None


def lyric_lines(track: AudioTrack) -> list[music.LyricLine]:
    lines = []
    for item in track.lyrics or []:
        try:
            lines.append(music.LyricLine.from_dict(item))
        except (KeyError, TypeError, ValueError):
            continue
    return lines


def plan(track: AudioTrack, *, start: float | None, end: float | None, count: int | None,
         flavor: Flavor) -> list[music.Slot] | None:
    """The scenes for [start, end] of the track (count None: as many as the music asks for).
    Raises Refused with the numbers when the range or the count does not fit, or with the
    import's message for a song that could not be imported. None while the song is still
    importing (its length is not known yet): only the range is checked, as far as it can be."""
    track.refuse_if_unusable()
    if track.is_importing:
        check_range(start, end, None, names=RANGE_NAMES)
        return None
    return plan_for(track.duration, analysis_of(track), lyric_lines(track), start=start, end=end, count=count,
                    flavor=flavor)


def plan_for(duration: float, analysis: music.Analysis | None, lyrics: Sequence[music.LyricLine], *,
             start: float | None, end: float | None, count: int | None, flavor: Flavor) -> list[music.Slot]:
    """`plan` for a song that is not stored yet (make_video plans before it creates anything)."""
    first, last = check_range(start, end, duration, names=RANGE_NAMES)
    last = float(last if last is not None else duration)
    allowed = durations(flavor)
    try:
        return music.plan_scenes(analysis, start=first, end=last, durations=allowed, count=count, lyrics=lyrics,
                                 max_speedup=max_speedup(flavor))
    except music.PlanError as exc:
        fewest, most = music.count_range(last - first, allowed)
        details: dict[str, Any] = {"song_start": first, "song_end": last, "seconds": round(last - first, 3),
                                   "clip_durations": allowed, "fewest_scenes": fewest, "most_scenes": max(most, 0)}
        if count is not None:
            details["number_of_scenes"] = count
        raise Refused("plan_does_not_fit", str(exc), details) from None


def range_message(track: AudioTrack, start: float | None) -> str:
    """What the create page says of a part of the song the track cannot give (the API's
    `invalid_times` names its fields instead)."""
    if start is not None and (start < 0 or start >= track.duration):
        return f"The start must be between 0 and the song's length ({track.duration:.2f} s)."
    return f"The end must be after the start and at most the song's length ({track.duration:.2f} s)."


def slots_from(stored: Sequence[dict[str, Any]]) -> list[music.Slot]:
    """Slots as stored on a scene writing (Slot.to_dict)."""
    return [music.Slot(float(s["start"]), float(s["end"]), str(s.get("section") or ""),
                       None if s.get("energy") is None else float(s["energy"]), str(s.get("lyrics") or ""))
            for s in stored]


def plan_text(slots: Sequence[music.Slot] | None, count: int, clip_seconds: int) -> str:
    """What the scene writer's {scene_plan} placeholder says."""
    if slots:
        return music.scene_plan_text(slots)
    return f"No song: {count} scenes of about {clip_seconds} s each, in story order."


TRIMMED_SHARE_SHOWN = 0.02  # a plan that throws away more of what it pays for says so on the estimate


def clip_seconds(slots: Sequence[music.Slot] | None, flavor: Flavor, *, scenes: int = 0) -> dict[str, float]:
    """What a plan pays for: `paid_seconds` (clip seconds asked of the model, each scene the
    shortest clip that covers it), `trimmed_seconds` (of those, what the stitch cuts away) and
    `retimed_scenes` (clips that play a little faster to fill their scene, losing nothing).
    Without a song each of `scenes` clips is the flavor's length, kept whole."""
    if not slots:
        where = "mv.planning.clip_seconds: a clip's length without a song"
        return {"paid_seconds": scenes * int(flavor.get("image_params", "video_duration", used_in=where)),
                "trimmed_seconds": 0.0, "retimed_scenes": 0}
    paid, trimmed = music.paid_seconds(slots, durations(flavor), max_speedup(flavor))
    return {"paid_seconds": paid, "trimmed_seconds": trimmed,
            "retimed_scenes": music.retimed_scenes(slots, durations(flavor), max_speedup(flavor))}


def trimmed_note(paid: dict[str, float]) -> str:
    """The estimate's word on waste, when more than 2 % of the paid clip seconds are cut away."""
    if not paid["paid_seconds"]:
        return ""
    share = paid["trimmed_seconds"] / paid["paid_seconds"]
    if share <= TRIMMED_SHARE_SHOWN:
        return ""
    return (f"{share * 100:.1f} % of the clip seconds ({paid['trimmed_seconds']:.1f} of "
            f"{paid['paid_seconds']:.0f} s) are cut away at the stitch")


def clip_seconds_for(length: float, flavor: Flavor) -> int:
    """The allowed clip duration that covers a scene of `length` seconds (the longest when
    none does: a scene planned under another flavor; the stitch holds its last frame)."""
    allowed = durations(flavor)
    try:
        return music.clip_duration_for(length, allowed)
    except music.PlanError:
        return max(allowed)
