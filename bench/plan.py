"""The scene plan: what share of the clip seconds a plan pays for is trimmed away at the stitch,
the planner as it is with the flavors' fit to fill (clips play up to FAST times faster to fill
their scene) beside the same planner trimming only (max_speedup 1.0) and the planner before
issue 21 (read from git, commit BEFORE), in one run, on the same analyses; for both settings,
the least any plan could trim.

Songs: the generated 4-minute song (analysed by `mv.music.analyze`), steady songs at seven tempi
from 70 to 174 BPM with a pop form (synthetic analyses), and, when `bench/groundtruth.py render`
has been run, the real pieces of the ground-truth set analysed by mv.music. Each row also says
how many true section starts are cuts, the shortest scene and whether a plan passes the end.
"""

from __future__ import annotations

import math
import subprocess
import sys
import types

import numpy as np

from bench.common import ROOT, SCRATCH, Row

BEFORE = "b0ac3da"  # main before the planner of issue 21
GOAL = 0.03  # share of paid clip seconds trimmed away
VEO = [4, 6, 8]
FAST = 1.1  # configs/default max_speedup
STEP = 0.01  # s: the grid the least possible is found on
FORM = [8, 8, 8, 4, 8, 8, 8, 8, 2]  # bars: intro, verse, chorus, break, verse, chorus, bridge, chorus, outro


def _old_planner() -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{BEFORE}:mv/music/plan.py"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    module = types.ModuleType("plan_before")
    sys.modules["plan_before"] = module  # dataclasses look their module up
    exec(compile(source, "plan_before.py", "exec"), module.__dict__)  # noqa: S102 - our own file, at a commit
    return module


def _steady(bpm: float):
    from mv.music import Analysis, Section

    period = 60 / bpm
    duration = 0.3 + sum(FORM) * 4 * period + 1.234
    beats = tuple(float(t) for t in np.arange(0.3, duration, period))
    bars = beats[::4]
    starts = [0.0] + [bars[b] for b in np.cumsum(FORM)[:-1]]
    ends = starts[1:] + [duration]
    return Analysis(duration=duration, tempo=bpm, beats=beats, downbeats=bars,
                    sections=tuple(Section(s, e, "A", 1.0) for s, e in zip(starts, ends, strict=True)),
                    envelope=(0.5,) * int(duration * 10))


def _least_trimmed(analysis, max_speedup: float) -> float:
    """The fewest seconds any plan with a cut at every section start that must be one can trim:
    per stretch between fixed cuts, the cheapest split into scenes of 4 to 8 s, each wasting
    what the rule (mv.music.plan.trimmed_away) says, found on a 10 ms grid."""
    from mv.music.plan import clip_duration_for, part_end, required_cuts, trimmed_away

    end = part_end(analysis.duration)
    fixed = [0.0, *required_cuts([s.start for s in analysis.sections[1:]], 0.0, end, VEO[0]), end]
    lo, hi = round(VEO[0] / STEP), round(VEO[-1] / STEP)
    pieces = np.arange(lo, hi + 1)
    waste = np.array([float(trimmed_away(clip_duration_for(k * STEP, VEO), k * STEP, max_speedup)) for k in pieces])
    total = 0.0
    for a, b in zip(fixed, fixed[1:], strict=False):
        n = math.ceil((b - a - 0.001) / STEP - 1e-9)  # up, less the ms a scene may be over its clip (plan.SAME)
        if n < lo:  # a part shorter than any clip is one scene
            total += float(trimmed_away(clip_duration_for(b - a, VEO), b - a, max_speedup))
            continue
        best = np.full(n + 1, np.inf)
        best[0] = 0.0
        for m in range(lo, n + 1):
            k = pieces[pieces <= m]
            best[m] = np.min(best[m - k] + waste[:len(k)])
        total += float(best[n])
    return total


def _measure(plan, analysis, max_speedup: float | None = None) -> dict:
    from mv.music import paid_seconds

    fast = {} if max_speedup is None else {"max_speedup": max_speedup}  # the planner before has no such argument
    slots = plan(analysis, start=0.0, end=analysis.duration, durations=VEO, **fast)
    paid, trimmed = paid_seconds(slots, VEO, max_speedup or 1.0)
    cuts = np.asarray([s.start for s in slots[1:]])
    starts = [s.start for s in analysis.sections[1:] if 4 <= s.start <= analysis.duration - 4]
    hit = sum(1 for t in starts if len(cuts) and np.min(np.abs(cuts - t)) < 0.002)
    beats = np.asarray(analysis.beats)
    on_beat = sum(1 for t in cuts if np.min(np.abs(beats - t)) < 0.002)
    return {"paid": paid, "trimmed": trimmed, "hit": hit, "starts": len(starts),
            "shortest": min(s.length for s in slots), "past": slots[-1].end - analysis.duration > 1e-9,
            "exact": sum(1 for s in slots if abs(s.length - round(s.length)) < 0.002 and round(s.length) in VEO),
            "scenes": len(slots), "on_beat": on_beat, "cuts": len(cuts)}


def _cell(m: dict) -> str:
    return (f"{m['trimmed'] / m['paid'] * 100:.1f} % trimmed ({m['trimmed']:.1f}/{m['paid']} s), "
            f"{m['exact']}/{m['scenes']} scenes exactly 4/6/8 s, cuts on a beat {m['on_beat']}/{m['cuts']}, section starts cut {m['hit']}/{m['starts']}, "
            f"shortest {m['shortest']:.2f} s{', PAST THE END' if m['past'] > 0 else ''}")


def _songs() -> list[tuple[str, object]]:
    sys.path.insert(0, str(ROOT))
    from mv.music import analyze
    from tests.fakes import songs

    folder = SCRATCH / "plan"
    folder.mkdir(exist_ok=True)
    found = [("generated 4-min song (analysed)", analyze(songs.four_minute_song().write(folder / "song.wav")))]
    found += [(f"steady {bpm} BPM, pop form", _steady(bpm)) for bpm in (70, 84, 97, 110, 128, 150, 174)]
    from bench import groundtruth

    found += [(f"{name} (real, analysed)", analysis) for name, analysis in groundtruth.analysed_pieces()]
    return found


def run(args) -> list[Row]:
    from mv.music import plan_scenes

    old = _old_planner()
    keys = ("before", "trim", "fast", "floor_trim", "floor_fast")
    rows, totals = [], {k: [0.0, 0.0] for k in keys}
    for name, analysis in _songs():
        before, trim = _measure(old.plan_scenes, analysis), _measure(plan_scenes, analysis, 1.0)
        fast = _measure(plan_scenes, analysis, FAST)
        floor_trim, floor_fast = _least_trimmed(analysis, 1.0), _least_trimmed(analysis, FAST)
        for key, trimmed, paid in (("before", before["trimmed"], before["paid"]), ("trim", trim["trimmed"], trim["paid"]),
                                   ("fast", fast["trimmed"], fast["paid"]), ("floor_trim", floor_trim, trim["paid"]),
                                   ("floor_fast", floor_fast, fast["paid"])):
            totals[key][0] += trimmed
            totals[key][1] += paid
        share = fast["trimmed"] / fast["paid"]
        ok = (share < max(GOAL, 1.2 * floor_fast / fast["paid"]) and fast["hit"] == fast["starts"]
              and fast["shortest"] >= 4 - 1e-6 and not fast["past"])
        rows.append(Row("plan", name, f"fit to fill {FAST}: {_cell(fast)}; least possible {floor_fast:.1f} s",
                        f"trim only: {_cell(trim)}; least possible {floor_trim:.1f} s | before: {_cell(before)}",
                        f"{trim['trimmed'] / trim['paid'] / max(share, 1e-9):.1f}x less waste than trim only"
                        if share else "no waste",
                        "< 3 % trimmed (or within 20 % of the least possible), every start cut, no scene < 4 s, none past the end",
                        ok))
    b, t, a, ft, ff = (totals[k][0] / totals[k][1] for k in keys)
    rows.append(Row("plan", "all songs together",
                    f"fit to fill {FAST}: {a * 100:.2f} % of paid clip seconds trimmed (least possible with every "
                    f"section start cut: {ff * 100:.2f} %)",
                    f"trim only {t * 100:.2f} % (least possible {ft * 100:.2f} %); before {b * 100:.2f} %",
                    f"{t / max(a, 1e-9):.1f}x less than trim only", "< 3 %", a < GOAL))
    return rows
