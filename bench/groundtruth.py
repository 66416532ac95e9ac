"""A ground-truth set for the song analysis, built from freely licensed scores: the MIDI files of
Debian's `openttd-openmsx` (GPL-2; `apt-get install openttd-openmsx fluidsynth fluid-soundfont-gm`),
rendered here with FluidSynth and FluidR3_GM. Beats and bar starts come from the scores' tempo
maps and time signatures (mido); the analysis is scored with mir_eval, side by side with
librosa's defaults in one run. Nothing rendered is committed: the audio lives in a scratch folder.

    python -m bench.groundtruth render     # once: renders the pieces (a few minutes)
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


def pieces() -> list[Path]:
    return sorted(SCORES.glob("*.mid"))[:PIECES] if SCORES.is_dir() else []


def render() -> None:
    """Each score to WAV (22.05 kHz mono via ffmpeg) and its ground truth to JSON beside it."""
    from mv.media import ffmpeg_exe

    FOLDER.mkdir(parents=True, exist_ok=True)
    for midi in pieces():
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


def rendered() -> list[tuple[str, Path, dict]]:
    out = []
    for midi in pieces():
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
    rows = []
    for label, scores in results.items():
        beat_f = np.mean([s["beat_f"] for s in scores])
        cmlt = np.mean([s["cmlt"] for s in scores])
        tempo = sum(s["tempo_ok"] for s in scores)
        down = [s["downbeat_f"] for s in scores if "downbeat_f" in s]
        down_text = f", downbeat F {np.mean(down):.2f}" if down else ", downbeats: none"
        per_min = cpu[label] / minutes
        ok = None
        if label == "mv.music":
            ok = (beat_f >= GOALS["beat_f"] and tempo >= GOALS["tempo"] and bool(down)
                  and np.mean(down) >= GOALS["downbeat_f"] and per_min <= GOALS["cpu_per_min"])
        rows.append(Row("groundtruth", f"{label} on {len(scores)} openttd-openmsx pieces ({minutes:.0f} min)",
                        f"beat F {beat_f:.2f}, CMLt {cmlt:.2f}, tempo within 4 % {tempo}/{len(scores)}{down_text}, "
                        f"{per_min:.2f} s CPU per minute", "librosa defaults" if label == "mv.music" else "-", "-",
                        "beat F >= 0.85, tempo 13/15, downbeat F >= 0.75, <= 1 s CPU/min" if ok is not None else "-", ok))
    for s, l in zip(results["mv.music"], results["librosa defaults"], strict=True):
        print(f"  {s['name']:28s} meter {s['meter']}: ours F {s['beat_f']:.2f} tempo {'ok' if s['tempo_ok'] else 'off'} "
              f"down {s.get('downbeat_f', 0):.2f} | librosa F {l['beat_f']:.2f} tempo {'ok' if l['tempo_ok'] else 'off'}")
    return rows


if __name__ == "__main__":
    if sys.argv[1:] == ["render"]:
        from bench.common import setup_django

        setup_django()
        render()
    else:
        print(__doc__)
