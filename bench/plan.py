"""The scene plan: what share of the clip seconds a plan pays for is trimmed away at the stitch,
the planner as it is beside the planner before issue 21 (read from git, commit BEFORE), in one
run, on the same analyses.

Songs: the generated 4-minute song (analysed by `mv.music.analyze`), steady songs at seven tempi
from 70 to 174 BPM with a pop form (synthetic analyses), and, when `bench/groundtruth.py render`
has been run, the real pieces of the ground-truth set analysed by mv.music. Each row also says
how many true section starts are cuts, the shortest scene and whether a plan passes the end.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np

from bench.common import ROOT, SCRATCH, Row

BEFORE = "b0ac3da"  # main before the planner of issue 21
GOAL = 0.03  # share of paid clip seconds trimmed away
VEO = [4, 6, 8]
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


def _least_trimmed(analysis) -> float:
    """The fewest seconds any plan with a cut at every section start that must be one can trim:
    per stretch between fixed cuts, the smallest sum of clip lengths that covers it, less its length."""
    from mv.music.plan import part_end, required_cuts

    end = part_end(analysis.duration)
    fixed = [0.0, *required_cuts([s.start for s in analysis.sections[1:]], 0.0, end, VEO[0]), end]
    total = 0.0
    for a, b in zip(fixed, fixed[1:], strict=False):
        length = b - a
        sums = {0}
        while max(sums) < length:
            sums |= {t + d for t in sums for d in VEO}
        total += min(t for t in sums if t >= length - 0.001) - length
    return total


def _measure(plan, analysis) -> dict:
    from mv.music import paid_seconds

    slots = plan(analysis, start=0.0, end=analysis.duration, durations=VEO)
    paid, trimmed = paid_seconds(slots, VEO)
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
    rows, totals = [], {"before": [0.0, 0.0], "after": [0.0, 0.0], "floor": [0.0, 0.0]}
    for name, analysis in _songs():
        before, after = _measure(old.plan_scenes, analysis), _measure(plan_scenes, analysis)
        floor = _least_trimmed(analysis)
        totals["floor"][0] += floor
        totals["floor"][1] += after["paid"]
        for key, m in (("before", before), ("after", after)):
            totals[key][0] += m["trimmed"]
            totals[key][1] += m["paid"]
        share = after["trimmed"] / after["paid"]
        ok = share < max(GOAL, 1.2 * floor / after["paid"]) and after["hit"] == after["starts"] and after["shortest"] >= 4 - 1e-6 and not after["past"]
        rows.append(Row("plan", name, _cell(after) + f"; least possible {floor:.1f} s", f"before: {_cell(before)}",
                        f"{before['trimmed'] / before['paid'] / max(share, 1e-9):.1f}x less waste" if share else "no waste",
                        "< 3 % trimmed (or within 20 % of the least possible), every start cut, no scene < 4 s, none past the end",
                        ok))
    b, a, f = (totals[k][0] / totals[k][1] for k in ("before", "after", "floor"))
    rows.append(Row("plan", "all songs together", f"{a * 100:.2f} % of paid clip seconds trimmed "
                    f"(least possible with every section start cut: {f * 100:.2f} %)",
                    f"before {b * 100:.2f} %", f"{b / max(a, 1e-9):.1f}x less", "< 3 %", a < GOAL))
    return rows
