"""The scene plan: a part of the song cut into scenes on the music's boundaries.

Each scene lasts at most the video model's longest clip and at least its shortest (the last
one too, unless the whole part is shorter), so every scene is one clip fitted to it. Every
section start at least a shortest clip away from the part's ends and from the next section
start is a cut; other cuts prefer bar starts, then beats, then half beats. Lengths prefer the
allowed durations exactly, or lengths a clip fills by playing a little faster ("fit to fill",
`retimed`: up to the flavor's `max_speedup`): what the stitch trims off a clip is paid for and
thrown away (`paid_seconds` says how much). The choice is a shortest path over candidate cut times
(dynamic programming), exact for the cost below, a few ms for a whole song.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mv.music.analysis import Analysis
from mv.music.lyrics import LyricLine, lyrics_in

NOMINAL_SLACK = 0.1  # seconds a clip may differ from the duration asked and still count as that long
MIN_PART = 1.0  # a part of the song shorter than this is no scene
GRID = 0.5  # cut times tried where no beat fits, from the range's start
# Costs, in "seconds of thrown-away video" units: a cut on a section start is free, on a bar
# start or a beat cheap, between beats dearer, anywhere else dear; a scene across a section
# start that could not be made a cut is dear too.
PENALTY = {"section": 0.0, "downbeat": 0.3, "beat": 0.6, "half": 1.0, "exact": 1.6, "grid": 2.0}
WASTE_COST = 1.5  # per second of generated clip trimmed away: 0.4 s of waste costs a beat's worth of musicality
# With fit to fill nearly every length between the beats fills its clip, so a trimmed second is a
# choice rather than the tempo's doing: it weighs more (bench plan: 0.96 % trimmed instead of 1.24 %,
# as many cuts on a beat or half beat as trimming only).
WASTE_COST_FILLING = 2.0
CROSS_COST = 1.0  # per section start inside a scene
SCENE_COST = 1.0  # per scene, when the count is free: fewer, longer scenes cost less
RETIME_COST = 1.0  # per unit of speed-up: a clip 10 % faster costs a sixth of a beat's worth (motion looks a little hurried)
RETIME_FROM = 0.1  # s: a clip at most this much longer than its slot is trimmed (a few frames nobody misses; a retime re-encodes it whole)
SAME = 0.001  # cut times are kept to the ms
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


class PlanError(Exception):
    """The requested plan cannot be made; the message says why, with the numbers."""


@dataclass(frozen=True)
class Slot:
    start: float
    end: float
    section: str  # "" without an analysis
    energy: float | None  # 0..1 like Section.energy; None without an analysis
    lyrics: str  # the lines sung in it, joined by " / "

    @property
    def length(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "section": self.section,
                "energy": None if self.energy is None else round(self.energy, 3), "lyrics": self.lyrics}


def _s(seconds: float) -> str:
    """36 -> "36", 35.25 -> "35.3": numbers for people."""
    return f"{seconds:.1f}".removesuffix(".0")


def _allowed(durations: Sequence[int]) -> list[int]:
    allowed = sorted({int(d) for d in durations if int(d) > 0})
    if not allowed:
        raise PlanError("The video model has no clip durations to plan with.")
    return allowed


def clip_duration_for(slot_length: float, durations: Sequence[int]) -> int:
    """The shortest allowed clip duration that covers a slot (the clip is trimmed to the slot)."""
    for d in _allowed(durations):
        if d >= slot_length - 0.001:
            return d
    raise PlanError(f"A scene of {_s(slot_length)} s is longer than the longest clip ({max(durations)} s).")


def retimed(clip_seconds, slot_seconds, max_speedup: float):
    """Whether a clip fills its slot by playing faster (at clip/slot speed, nothing cut) instead
    of being trimmed: when it is longer than the slot by more than a few frames and at most
    `max_speedup` times as long. Never slower: a shorter clip holds its last frame. The one rule
    for the planner, the paid seconds, the stitch, lipsync and the exports; numpy arrays work too."""
    return (clip_seconds > slot_seconds + RETIME_FROM) & (clip_seconds <= slot_seconds * max_speedup + SAME)


def planned_length(measured: float, asked: float | None) -> float:
    """A clip's length as the plan counted it: the duration asked of the model when the clip is
    within NOMINAL_SLACK of it (a model's "8 s" is often 193 frames at 24 fps), else as measured."""
    if asked and abs(measured - float(asked)) <= NOMINAL_SLACK:
        return float(asked)
    return measured


def trimmed_away(clip_seconds, slot_seconds, max_speedup: float):
    """The seconds of a clip the stitch throws away for its slot (none when it is retimed)."""
    return np.where(retimed(clip_seconds, slot_seconds, max_speedup), 0.0, np.maximum(clip_seconds - slot_seconds, 0.0))


def count_range(length: float, durations: Sequence[int]) -> tuple[int, int]:
    """The fewest and the most scenes that can cover `length` seconds (fewest > most: none can).
    A part shorter than the shortest clip is one scene."""
    allowed = _allowed(durations)
    if length < allowed[0] - 1e-6:
        return 1, 1
    return math.ceil(length / allowed[-1] - 1e-9), int((length + 1e-6) // allowed[0])


def check_count(count: int, length: float, durations: Sequence[int]) -> None:
    """Raise PlanError, naming the numbers, when `count` scenes cannot cover `length` seconds."""
    allowed = _allowed(durations)
    fewest, most = count_range(length, durations)
    scenes = f"{count} scene{'s' if count != 1 else ''}"
    if count < 1:
        raise PlanError("The number of scenes must be at least 1.")
    check_cuttable(length, allowed)
    if count < fewest:
        raise PlanError(f"{scenes} of at most {allowed[-1]} s cover {_s(count * allowed[-1])} s; the chosen part "
                        f"of the song is {_s(length)} s. Choose at least {fewest} scenes or a shorter part.")
    if count > most:
        raise PlanError(f"{scenes} of at least {allowed[0]} s need {_s(count * allowed[0])} s; the chosen part "
                        f"of the song is {_s(length)} s. Choose at most {most} scenes or a longer part.")


def check_cuttable(length: float, durations: Sequence[int]) -> None:
    """Raise PlanError when no number of scenes fits (8.5 s with 8 s clips only: 8 + 0.5)."""
    fewest, most = count_range(length, durations)
    if fewest > most:
        raise PlanError(f"The chosen part of the song ({_s(length)} s) cannot be cut into scenes of "
                        f"{' or '.join(map(str, _allowed(durations)))} s; make it a little shorter or longer.")


def part_end(end: float) -> float:
    """A part's end as a plan keeps it: down to the ms, so no rounding takes it past the file."""
    return min(math.floor(float(end) * 1000 + 1e-6) / 1000, float(end))


def plan_scenes(analysis: Analysis | None, *, start: float, end: float, durations: Sequence[int],
                count: int | None = None, lyrics: Sequence[LyricLine] = (), max_speedup: float = 1.0) -> list[Slot]:
    """Cut [start, end] of the song into scenes; see the module docstring (`max_speedup` 1.0:
    clips are only trimmed). Raises PlanError."""
    allowed = _allowed(durations)
    start = part_end(max(0.0, float(start)))  # every cut time is a whole ms (down, like the end)
    end = part_end(end)
    if analysis is not None:
        if start >= analysis.duration:
            raise PlanError(f"The chosen part starts at {_s(start)} s, after the end of the song ({_s(analysis.duration)} s).")
        end = min(end, part_end(analysis.duration))
    length = end - start
    if length < MIN_PART - SAME:
        raise PlanError(f"The chosen part of the song is {_s(max(length, 0))} s; a scene needs at least {_s(MIN_PART)} s.")
    if count is not None:
        check_count(count, length, allowed)
    else:
        check_cuttable(length, allowed)
    sections = [s.start for s in analysis.sections[1:]] if analysis else []
    required = required_cuts(sections, start, end, allowed[0])
    times, penalty = _candidates(analysis, start, end, [start, *required, end], allowed, max_speedup)
    cuts = None
    for hard in ([required] if required else []) + [[]]:  # every section start a cut, unless no plan fits so
        cost = _scene_costs(times, penalty, allowed, sections, hard, free_count=count is None, max_speedup=max_speedup)
        cuts = _best_path(cost, count)
        if cuts is not None:
            break
    if cuts is None:
        raise PlanError(f"No plan fits the chosen part of the song ({_s(length)} s).")  # the checks above make this unreachable
    return [_slot(analysis, float(times[i]), float(times[j]), lyrics) for i, j in zip(cuts, cuts[1:], strict=False)]


def required_cuts(section_starts: Sequence[float], start: float, end: float, shortest: float) -> list[float]:
    """The section starts that must be cuts: at least `shortest` s from the part's ends and from the next start."""
    starts = sorted(round(float(t), 3) for t in section_starts)
    out = []
    for k, t in enumerate(starts):
        following = min([u for u in starts[k + 1:] if u > t] + [end])
        if t - start >= shortest - 1e-6 and following - t >= shortest - 1e-6:
            out.append(t)
    return out


def paid_seconds(slots: Sequence[Slot], durations: Sequence[int], max_speedup: float = 1.0) -> tuple[int, float]:
    """(clip seconds asked of the model, of those the seconds the stitch trims away) for these scenes."""
    paid = _paid(slots, durations)
    trimmed = sum(float(trimmed_away(d, s.length, max_speedup)) for d, s in zip(paid, slots, strict=True))
    return sum(paid), round(trimmed, 3)


def retimed_scenes(slots: Sequence[Slot], durations: Sequence[int], max_speedup: float) -> int:
    """How many of these scenes' clips play faster to fill them (`retimed`)."""
    return sum(bool(retimed(d, s.length, max_speedup)) for d, s in zip(_paid(slots, durations), slots, strict=True))


def _paid(slots: Sequence[Slot], durations: Sequence[int]) -> list[int]:
    """Each scene's clip length asked of the model: the shortest that covers it (the longest when none does)."""
    allowed = _allowed(durations)
    return [next((d for d in allowed if d >= s.length - SAME), allowed[-1]) for s in slots]


def _candidates(analysis: Analysis | None, start: float, end: float, anchors: list[float],
                allowed: list[int], max_speedup: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Cut times in [start, end] (both ends included, first and last) with their penalties.

    A beat and a grid point a few ms apart stay two candidates: the grid point keeps lengths
    that must be exact (one allowed duration) reachable, the beat is cheaper when it fits.
    So do the points one or two exact clip lengths either side of the part's ends and of
    every section start that must be a cut: the scenes next to a fixed cut can then be
    exactly as long as a clip, whatever the tempo. With fit to fill, also the shortest scene
    each clip fills (d / max_speedup, up to the ms): the whole range between is then free of
    waste, and a stretch between fixed cuts that no beats split without waste still splits.
    """
    grid_penalty = PENALTY["grid"] if analysis is not None else 0.0  # without an analysis the grid is the plan
    points = {round(float(t), 3): grid_penalty for t in start + GRID * np.arange(1, math.ceil((end - start) / GRID))
              if t < end - SAME}
    if analysis is not None:
        filled = [math.ceil(d / max_speedup * 1000) / 1000 for d in allowed if max_speedup > 1]
        lengths = [*allowed, *(x for x in filled if x >= allowed[0])]
        steps = sorted({round(a + b, 3) for a in [0, *lengths] for b in lengths})
        for anchor in anchors:
            for step in steps:
                for t in (anchor - step, anchor + step):
                    if start + SAME < t < end - SAME:
                        key = round(float(t), 3)
                        points[key] = min(points.get(key, np.inf), PENALTY["exact"])
        beats = np.asarray(analysis.beats, dtype=float)
        halves = (beats[1:] + beats[:-1]) / 2 if len(beats) > 1 else beats[:0]
        for kind, ts in (("half", halves), ("beat", beats), ("downbeat", analysis.downbeats),
                         ("section", [s.start for s in analysis.sections])):
            for t in ts:
                if start + SAME < t < end - SAME:
                    key = round(float(t), 3)
                    points[key] = min(points.get(key, np.inf), PENALTY[kind])
    times = [start, *sorted(points), end]
    penalty = [0.0, *(points[t] for t in sorted(points)), 0.0]
    return np.asarray(times), np.asarray(penalty)


def _scene_costs(times: np.ndarray, penalty: np.ndarray, allowed: list[int], sections: list[float],
                 required: list[float], free_count: bool, max_speedup: float = 1.0) -> np.ndarray:
    """cost[j, w]: a scene from candidate j - w to candidate j (inf when not allowed)."""
    n = len(times)
    dmin, dmax = allowed[0], allowed[-1]
    width = int(np.max(np.arange(n) - np.searchsorted(times, times - dmax - 1e-6))) + 1
    j = np.arange(n)[:, None]
    w = np.arange(width)[None, :]
    i = j - w
    valid = (w > 0) & (i >= 0)
    i = np.clip(i, 0, n - 1)
    length = times[j] - times[i]
    ok = valid & (length <= dmax + 1e-6) & (length >= dmin - 1e-6)
    if times[-1] - times[0] < dmin - 1e-6:  # a part shorter than any clip is one scene
        ok[n - 1, n - 1] = True
    grid = np.asarray(allowed, dtype=float)
    clip = grid[np.clip(np.searchsorted(grid, length - SAME), 0, len(grid) - 1)]
    fast = retimed(clip, length, max_speedup)
    speedup = np.where(fast, clip / np.maximum(length, SAME) - 1, 0.0)
    waste = WASTE_COST if max_speedup <= 1 else WASTE_COST_FILLING
    cost = (waste * trimmed_away(clip, length, max_speedup) + RETIME_COST * speedup + penalty[j]
            + CROSS_COST * _inside(sections, times[i], times[j]))
    if required:
        ok = ok & (_inside(required, times[i], times[j], margin=SAME / 2) == 0)
    if free_count:
        cost = cost + SCENE_COST
    return np.where(ok, cost, np.inf)


def _inside(bounds: list[float], starts: np.ndarray, ends: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """How many of `bounds` lie inside each scene (more than `margin` s from its ends)."""
    if not bounds:
        return np.zeros(np.broadcast(starts, ends).shape)
    b = np.asarray(sorted(bounds), dtype=float)
    return np.maximum(np.searchsorted(b, ends - margin) - np.searchsorted(b, starts + margin, side="right"), 0)


def _best_path(cost: np.ndarray, count: int | None) -> list[int] | None:
    """Candidate indices from 0 to the last along the cheapest path (with exactly `count` steps if set)."""
    n, width = cost.shape
    path = [n - 1]
    if count is None:
        best = np.full(n, np.inf)
        best[0] = 0.0
        back = np.zeros(n, dtype=int)
        for j in range(1, n):
            lo = max(0, j - width + 1)
            totals = best[lo:j][::-1] + cost[j, 1:j - lo + 1]
            w = int(np.argmin(totals))
            best[j], back[j] = totals[w], w + 1
        if not np.isfinite(best[-1]):
            return None
        while path[-1] > 0:
            path.append(path[-1] - int(back[path[-1]]))
        return path[::-1]
    prev = np.full(n, np.inf)
    prev[0] = 0.0
    idx = np.arange(n)[:, None] - np.arange(width)[None, :]
    steps = []
    for _ in range(count):
        totals = np.where(idx >= 0, prev[np.clip(idx, 0, n - 1)], np.inf) + cost
        w = np.argmin(totals, axis=1)
        prev = totals[np.arange(n), w]
        steps.append(w)
    if not np.isfinite(prev[-1]):
        return None
    for w in reversed(steps):
        path.append(path[-1] - int(w[path[-1]]))
    return path[::-1]


def _slot(analysis: Analysis | None, start: float, end: float, lines: Sequence[LyricLine]) -> Slot:
    text = " / ".join(line.text for line in lyrics_in(_Span(start, end), lines))
    if analysis is None or not analysis.sections:
        return Slot(start, end, "", None, text)
    overlap = [min(end, s.end) - max(start, s.start) for s in analysis.sections]
    section = section_name(analysis.sections, int(np.argmax(overlap)))  # the first of equals: where it starts
    top = max((analysis.loudness(s.start, s.end) for s in analysis.sections), default=0.0) or 1.0
    energy = min(1.0, analysis.loudness(start, end) / top)
    return Slot(start, end, section, round(energy, 3), text)


def section_name(sections: Sequence, k: int) -> str:
    """What a musician calls section k: "chorus", or "second chorus" when choruses repeat; letters stay letters."""
    label = sections[k].label
    same = [s for s in sections if s.label == label]
    if len(same) < 2 or len(label) < 2:
        return label
    nth = sum(1 for s in sections[:k + 1] if s.label == label)
    return f"{ORDINALS[nth - 1]} {label}" if nth <= len(ORDINALS) else f"{label} {nth}"


@dataclass(frozen=True)
class _Span:
    start: float
    end: float


def scene_plan_text(slots: Sequence[Slot]) -> str:
    """One line per scene for the scene writer's `{scene_plan}` placeholder: its time, section,
    energy, and whether it is a performance shot (lyrics sung in it) or b-roll."""
    lines = []
    for n, slot in enumerate(slots, 1):
        parts = [f"Scene {n}: {slot.start:.1f}-{slot.end:.1f} s ({slot.length:.1f} s)"]
        if slot.section:
            parts.append(slot.section)
        if slot.energy is not None:
            parts.append(f"energy {slot.energy:.2f}")
        # Sung lines make a performance shot (the character sings them on camera; the clip may be
        # lip-synced); the rest is b-roll (no singing: story, place, details).
        parts.append(f'performance, lyrics: "{slot.lyrics}"' if slot.lyrics else "b-roll, no lyrics")
        lines.append(", ".join(parts))
    return "\n".join(lines)
