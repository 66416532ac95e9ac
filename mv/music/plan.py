"""The scene plan: a part of the song cut into scenes on the music's boundaries.

Each scene lasts at most the video model's longest clip and, except the last, at least its
shortest, so every scene is one clip trimmed to fit. Cuts prefer section starts, then bar
starts, then beats, and the lengths prefer the allowed durations exactly (the trimmed-off
seconds are paid for and thrown away). The choice is a shortest path over candidate cut
times (dynamic programming), exact for the cost below, a few ms for a whole song.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mv.music.analysis import Analysis
from mv.music.lyrics import LyricLine, lyrics_in

MIN_LAST = 1.0  # the last scene may be shorter than the shortest clip, but not shorter than this
GRID = 0.5  # cut times tried where no beat fits, from the range's start
# Costs, in "seconds of thrown-away video" units: a cut on a section start is free, on a bar
# start or a beat cheap, anywhere else dear; a scene across a section start is dear too.
PENALTY = {"section": 0.0, "downbeat": 0.3, "beat": 0.6, "grid": 2.0}
WASTE_COST = 0.25  # per second of generated clip trimmed away
CROSS_COST = 1.0  # per section start inside a scene
SCENE_COST = 1.0  # per scene, when the count is free: fewer, longer scenes cost less
SAME = 0.001  # cut times are kept to the ms


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


def count_range(length: float, durations: Sequence[int]) -> tuple[int, int]:
    """The fewest and the most scenes that can cover `length` seconds (fewest > most: none can)."""
    allowed = _allowed(durations)
    return math.ceil(length / allowed[-1] - 1e-9), int((length - MIN_LAST + 1e-9) // allowed[0]) + 1


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
                        f"{' or '.join(map(str, _allowed(durations)))} s with a last scene of at least "
                        f"{_s(MIN_LAST)} s; make it a little shorter or longer.")


def plan_scenes(analysis: Analysis | None, *, start: float, end: float, durations: Sequence[int],
                count: int | None = None, lyrics: Sequence[LyricLine] = ()) -> list[Slot]:
    """Cut [start, end] of the song into scenes; see the module docstring. Raises PlanError."""
    allowed = _allowed(durations)
    start = round(max(0.0, float(start)), 3)  # every cut time is a whole ms, so lengths add up exactly
    end = round(float(end), 3)
    if analysis is not None:
        if start >= analysis.duration:
            raise PlanError(f"The chosen part starts at {_s(start)} s, after the end of the song ({_s(analysis.duration)} s).")
        end = min(end, math.floor(analysis.duration * 1000) / 1000)
    length = end - start
    if length < MIN_LAST - 1e-6:
        raise PlanError(f"The chosen part of the song is {_s(max(length, 0))} s; a scene needs at least {_s(MIN_LAST)} s.")
    if count is not None:
        check_count(count, length, allowed)
    else:
        check_cuttable(length, allowed)
    times, penalty = _candidates(analysis, start, end)
    sections = [s.start for s in analysis.sections[1:]] if analysis else []
    cost = _scene_costs(times, penalty, allowed, sections, free_count=count is None)
    cuts = _best_path(cost, count)
    if cuts is None:
        raise PlanError(f"No plan fits the chosen part of the song ({_s(length)} s).")  # the checks above make this unreachable
    return [_slot(analysis, float(times[i]), float(times[j]), lyrics) for i, j in zip(cuts, cuts[1:], strict=False)]


def _candidates(analysis: Analysis | None, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut times in [start, end] (both ends included, first and last) with their penalties.

    A beat and a grid point a few ms apart stay two candidates: the grid point keeps lengths
    that must be exact (one allowed duration) reachable, the beat is cheaper when it fits.
    """
    grid_penalty = PENALTY["grid"] if analysis is not None else 0.0  # without an analysis the grid is the plan
    points = {round(float(t), 3): grid_penalty for t in start + GRID * np.arange(1, math.ceil((end - start) / GRID))
              if t < end - SAME}
    if analysis is not None:
        for kind, ts in (("beat", analysis.beats), ("downbeat", analysis.downbeats),
                         ("section", [s.start for s in analysis.sections])):
            for t in ts:
                if start + SAME < t < end - SAME:
                    key = round(float(t), 3)
                    points[key] = min(points.get(key, np.inf), PENALTY[kind])
    times = [start, *sorted(points), end]
    penalty = [0.0, *(points[t] for t in sorted(points)), 0.0]
    return np.asarray(times), np.asarray(penalty)


def _scene_costs(times: np.ndarray, penalty: np.ndarray, allowed: list[int], sections: list[float],
                 free_count: bool) -> np.ndarray:
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
    is_last = j == n - 1
    ok = valid & (length <= dmax + 1e-6) & ((length >= dmin - 1e-6) | (is_last & (length >= MIN_LAST - 1e-6)))
    grid = np.asarray(allowed, dtype=float)
    waste = grid[np.clip(np.searchsorted(grid, length - 1e-3), 0, len(grid) - 1)] - length
    bounds = np.asarray(sections, dtype=float)
    inside = (np.searchsorted(bounds, times[j] - 0.25) - np.searchsorted(bounds, times[i] + 0.25, side="right")
              if len(bounds) else np.zeros_like(length))
    cost = WASTE_COST * waste + penalty[j] * ~is_last + CROSS_COST * np.maximum(inside, 0)
    if free_count:
        cost = cost + SCENE_COST
    return np.where(ok, cost, np.inf)


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
    if analysis is None:
        return Slot(round(start, 3), round(end, 3), "", None, text)
    overlap = [(min(end, s.end) - max(start, s.start), s.label) for s in analysis.sections]
    section = max(overlap)[1] if overlap else ""
    top = max((analysis.loudness(s.start, s.end) for s in analysis.sections), default=0.0) or 1.0
    energy = min(1.0, analysis.loudness(start, end) / top)
    return Slot(round(start, 3), round(end, 3), section, round(energy, 3), text)


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
