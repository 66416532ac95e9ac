"""A ground-truth set for the song analysis, built from freely licensed scores: the MIDI files of
Debian's `openttd-openmsx` (GPL-2; `render` installs openttd-openmsx, fluidsynth and
fluid-soundfont-gm with apt-get when they are missing), rendered here with FluidSynth and FluidR3_GM. Beats and bar starts come from the scores' tempo
maps and time signatures (mido); the analysis is scored with mir_eval, side by side with
librosa's defaults in one run. Nothing rendered is committed: the audio lives in a scratch folder.

    python -m bench.groundtruth render     # once: renders the 31 pieces (a few minutes)
    python -m bench groundtruth            # the rows (mido and mir_eval: requirements-dev.txt)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, Row

SCORES = Path("/usr/share/games/openttd/baseset/openmsx")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
FOLDER = Path(os.environ.get("MV_GROUNDTRUTH_DIR", "/tmp/mv-groundtruth"))
PIECES = 15
SR = 22050
GOALS = {"beat_f": 0.85, "tempo": 13, "downbeat_f": 0.75, "cpu_per_min": 1.0}


def truth(midi: Path) -> dict:
    """Beats and bar starts from the score (its tempo map and time signatures), from its first note to its last."""
    import mido

    song = mido.MidiFile(str(midi))
    per_beat = song.ticks_per_beat
    events = []  # (tick, kind, value)
    first_note, last_note = None, 0
    for track in song.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                events.append((tick, "tempo", msg.tempo))
            elif msg.type == "time_signature":
                events.append((tick, "meter", (msg.numerator, msg.denominator)))
            elif msg.type == "note_on" and msg.velocity > 0:
                first_note = tick if first_note is None else min(first_note, tick)
                last_note = max(last_note, tick)
    events.sort(key=lambda e: e[0])
    tempos = [(0, 500000)] + [(t, v) for t, k, v in events if k == "tempo"]
    meters = [(0, (4, 4))] + [(t, v) for t, k, v in events if k == "meter"]

    def seconds(tick: int) -> float:
        out, prev_tick, prev_tempo = 0.0, 0, 500000
        for t, tempo in tempos:
            if t > tick:
                break
            out += (t - prev_tick) * prev_tempo / per_beat / 1e6
            prev_tick, prev_tempo = t, tempo
        return out + (tick - prev_tick) * prev_tempo / per_beat / 1e6

    beats, downbeats, tick, k = [], [], 0, 0
    while tick <= last_note:
        num, den = [m for t, m in meters if t <= tick][-1]
        compound = den == 8 and num in (6, 9, 12)
        step = int(per_beat * 4 / den * (3 if compound else 1))
        per_bar = num // 3 if compound else num
        if tick >= (first_note or 0) - 1:
            beats.append(seconds(tick))
            if k % per_bar == 0:
                downbeats.append(seconds(tick))
        tick += step
        k += 1
    meter = [m for t, m in meters if t <= first_note or t == 0][-1] if first_note is not None else (4, 4)
    bpms = [60e6 / v for t, v in tempos if t <= last_note]
    return {"beats": beats, "downbeats": downbeats, "meter": list(meter), "bpm": float(np.median(60 / np.diff(beats))),
            "tempo_changes": len({round(b) for b in bpms}) > 1}


def pieces(held_out: bool = False) -> list[Path]:
    """The first PIECES scores (the set the analysis was tuned on) or, `held_out`, the others
    (never looked at while tuning: they say how well the tuning carries over)."""
    scores = sorted(SCORES.glob("*.mid")) if SCORES.is_dir() else []
    return scores[PIECES:] if held_out else scores[:PIECES]


def render() -> None:
    """Each score to WAV (22.05 kHz mono via ffmpeg) and its ground truth to JSON beside it."""
    from mv.media import ffmpeg_exe

    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-groundtruth-tools.sh")], check=True)
    FOLDER.mkdir(parents=True, exist_ok=True)
    for midi in pieces() + pieces(held_out=True):
        wav = FOLDER / f"{midi.stem}.wav"
        if not wav.exists():
            raw = FOLDER / f"{midi.stem}.raw.wav"
            subprocess.run(["fluidsynth", "-ni", "-R", "0", "-C", "0", "-g", "0.6", "-r", str(SR), "-F", str(raw), str(SOUNDFONT), str(midi)],
                           check=True, capture_output=True)
            subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-ac", "1", "-ar", str(SR),
                            str(wav)], check=True)
            raw.unlink()
        (FOLDER / f"{midi.stem}.json").write_text(json.dumps(truth(midi)))
        print(midi.stem, "rendered", flush=True)


class NotRendered(Exception):
    pass


def rendered(held_out: bool = False) -> list[tuple[str, Path, dict]]:
    out = []
    for midi in pieces(held_out):
        wav, meta = FOLDER / f"{midi.stem}.wav", FOLDER / f"{midi.stem}.json"
        if wav.exists() and meta.exists():
            out.append((midi.stem, wav, json.loads(meta.read_text())))
    return out


def analysed_pieces() -> list[tuple[str, object]]:
    """(name, mv.music analysis) of each rendered piece (empty when none is rendered)."""
    from mv.music import analyze

    return [(name, analyze(wav)) for name, wav, _ in rendered()]


def _ours(y: np.ndarray) -> tuple[list[float], list[float], float | None]:
    from mv.music import analyze_samples

    found = analyze_samples(y, SR)
    return list(found.beats), list(found.downbeats), found.tempo


def _librosa(y: np.ndarray) -> tuple[list[float], list[float], float | None]:
    import librosa

    tempo, frames = librosa.beat.beat_track(y=y, sr=SR)
    return list(librosa.frames_to_time(frames, sr=SR)), [], float(np.atleast_1d(tempo)[0])


def score(name: str, found: tuple, meta: dict) -> dict:
    import mir_eval

    beats, downbeats, tempo = found
    ref, est = mir_eval.beat.trim_beats(np.asarray(meta["beats"])), mir_eval.beat.trim_beats(np.asarray(beats))
    out = {"beat_f": mir_eval.beat.f_measure(ref, est), "cmlt": mir_eval.beat.continuity(ref, est)[1],
           "tempo_ok": bool(tempo) and abs(tempo / meta["bpm"] - 1) <= 0.04}
    if downbeats:
        out["downbeat_f"] = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(np.asarray(meta["downbeats"])),
                                                    mir_eval.beat.trim_beats(np.asarray(downbeats)))
    return out


def _scores(found: list[tuple[str, Path, dict]]) -> tuple[dict, dict, float]:
    import librosa

    results = {"mv.music": [], "librosa defaults": []}
    cpu = {"mv.music": 0.0, "librosa defaults": 0.0}
    minutes = 0.0
    for name, wav, meta in found:
        y, _ = librosa.load(wav, sr=SR, mono=True)
        minutes += len(y) / SR / 60
        for label, fn in (("mv.music", _ours), ("librosa defaults", _librosa)):
            start = time.process_time()
            answer = fn(y)
            cpu[label] += time.process_time() - start
            results[label].append(score(name, answer, meta) | {"name": name, "meter": meta["meter"]})
    return results, cpu, minutes


def _rows(results: dict, cpu: dict, minutes: float, which: str, judged: bool) -> list[Row]:
    rows = []
    for label, scores in results.items():
        beat_f = np.mean([s["beat_f"] for s in scores])
        cmlt = np.mean([s["cmlt"] for s in scores])
        tempo = sum(s["tempo_ok"] for s in scores)
        down = [s["downbeat_f"] for s in scores if "downbeat_f" in s]
        down_text = f", downbeat F {np.mean(down):.2f}" if down else ", downbeats: none"
        per_min = cpu[label] / minutes
        ok = None
        if label == "mv.music" and judged:
            ok = (beat_f >= GOALS["beat_f"] and tempo >= GOALS["tempo"] and bool(down)
                  and np.mean(down) >= GOALS["downbeat_f"] and per_min <= GOALS["cpu_per_min"])
        rows.append(Row("groundtruth", f"{label} on {len(scores)} {which} openttd-openmsx pieces ({minutes:.0f} min)",
                        f"beat F {beat_f:.2f}, CMLt {cmlt:.2f}, tempo within 4 % {tempo}/{len(scores)}{down_text}, "
                        f"{per_min:.2f} s CPU per minute", "librosa defaults" if label == "mv.music" else "-", "-",
                        "beat F >= 0.85, tempo 13/15, downbeat F >= 0.75, <= 1 s CPU/min" if ok is not None
                        else "- (not tuned on: how the tuning carries over)" if label == "mv.music" else "-", ok))
    for s, l in zip(results["mv.music"], results["librosa defaults"], strict=True):
        print(f"  {s['name']:28s} meter {s['meter']}: ours F {s['beat_f']:.2f} tempo {'ok' if s['tempo_ok'] else 'off'} "
              f"down {s.get('downbeat_f', 0):.2f} | librosa F {l['beat_f']:.2f} tempo {'ok' if l['tempo_ok'] else 'off'}")
    return rows


MEMORY_CHILD = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mvsite.settings")
import django; django.setup()
import librosa, numpy as np
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
if sys.argv[3] == "mv.music":
    from mv.music import analyze, warm_up
    warm_up(); before = hwm(); analyze(sys.argv[2])
else:
    librosa.beat.beat_track(y=np.zeros(22050 * 10, dtype=np.float32) + 1e-3, sr=22050); before = hwm()
    y, _ = librosa.load(sys.argv[2], sr=22050, mono=True); librosa.beat.beat_track(y=y, sr=22050)
print(hwm() - before)
"""


def _memory(wav: Path) -> Row:
    """Peak memory a worker adds analysing a song file of 5 and of 15 minutes (the piece looped),
    ours (`analyze`, decoding as it goes) beside librosa's defaults (load, then beat_track)."""
    import soundfile

    y, _ = soundfile.read(wav, dtype="float32")
    peaks = {}
    for minutes in (5, 15):
        song = FOLDER / f"memory-{minutes}min.wav"
        if not song.exists():
            soundfile.write(song, np.tile(y, int(np.ceil(minutes * 60 * SR / len(y))))[:minutes * 60 * SR], SR)
        for label in ("mv.music", "librosa defaults"):
            out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(ROOT), str(song), label],
                                 capture_output=True, text=True, check=True)
            peaks[label, minutes] = float(out.stdout.strip().splitlines()[-1])
    per_min = {label: (peaks[label, 15] - peaks[label, 5]) / 10 for label in ("mv.music", "librosa defaults")}
    return Row("groundtruth", "peak memory a worker adds analysing a song file, 5 min -> 15 min (the longest analysed)",
               f"{peaks['mv.music', 5]:.0f} -> {peaks['mv.music', 15]:.0f} MB ({per_min['mv.music']:.1f} MB per extra minute)",
               f"librosa defaults {peaks['librosa defaults', 5]:.0f} -> {peaks['librosa defaults', 15]:.0f} MB "
               f"({per_min['librosa defaults']:.1f} MB/min)",
               f"{per_min['mv.music'] / max(per_min['librosa defaults'], 0.1):.2f}x librosa's growth",
               "flat (<= 1 MB per extra minute)", per_min["mv.music"] <= 1.0)


def run(args) -> list[Row]:
    sys.path.insert(0, str(ROOT))
    import librosa

    from mv.music import warm_up

    found = rendered()
    if not found:
        return [Row("groundtruth", "pieces rendered", "none: run `python -m bench.groundtruth render`", "-", "-",
                    "15 pieces", False)]
    warm_up()
    _librosa(np.zeros(SR * 10, dtype=np.float32) + 1e-3)
    rows = _rows(*_scores(found), "tuned-on", judged=True)
    held = rendered(held_out=True)
    if held:
        rows += _rows(*_scores(held), "held-out", judged=False)
    return rows + [_memory(found[0][1])]


if __name__ == "__main__":
    if sys.argv[1:] == ["render"]:
        from bench.common import setup_django

        setup_django()
        render()
    else:
        print(__doc__)
