"""Synthetic songs with known beats, bars and sections, for the music-analysis tests and bench.

Pure numpy plus the standard library's `wave` (no Django, no extra packages), so the benchmark
can use it too. Songs are 4/4 unless made with ``meter=3``; bar 1 of a part starts on its first beat.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SR = 22050

# Bass roots (Hz) per bar for each part's harmony; a part repeats its own 4-bar progression.
_PROGRESSIONS = {
    "A": (55.0, 65.41, 49.0, 61.74),
    "B": (73.42, 82.41, 58.27, 87.31),
    "C": (46.25, 51.91, 69.3, 77.78),
}


@dataclass(frozen=True)
class Part:
    """`bars` bars of harmony `harmony` at linear gain `gain`; `drums=False` leaves only the pad."""

    bars: int
    harmony: str = "A"
    gain: float = 1.0
    drums: bool = True


@dataclass(frozen=True)
class Song:
    samples: np.ndarray
    sr: int
    bpm: float
    beats: list[float]
    downbeats: list[float]
    boundaries: list[float]  # where each part starts, after the first

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr

    def write(self, path: Path) -> Path:
        pcm = (np.clip(self.samples, -1, 1) * 32767).astype("<i2")
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.sr)
            out.writeframes(pcm.tobytes())
        return path


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    freq = 50 + 90 * np.exp(-t * 30)
    return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * 14)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.18 * sr)) / sr
    noise = rng.standard_normal(len(t)) * np.exp(-t * 25) * 0.5
    return noise + np.sin(2 * np.pi * 185 * t) * np.exp(-t * 30) * 0.6


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.04 * sr)) / sr
    noise = np.diff(rng.standard_normal(len(t) + 1))  # a first difference tilts it to the highs
    return noise * np.exp(-t * 120) * 0.12


def _add(out: np.ndarray, sound: np.ndarray, at: float, sr: int, gain: float) -> None:
    i = int(round(at * sr))
    if i >= len(out):
        return
    n = min(len(sound), len(out) - i)
    out[i:i + n] += sound[:n] * gain


def song(parts: Sequence[Part], *, bpm: float, sr: int = SR, lead_in: float = 0.0, tail: float = 1.0,
         seed: int = 0, meter: int = 4, offbeat: float = 0.5, offbeat_gain: float = 0.7) -> Song:
    """Kick on 1 and 3, snare on 2 and 4, hats on eighths, a bass note and a pad chord per bar
    (``meter=3``: a waltz, kick on 1, snare on 2 and 3). The second hat of each beat falls
    `offbeat` of a beat after it (2/3: swung eighths) at `offbeat_gain` of the first's level."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    total_bars = sum(p.bars for p in parts)
    duration = lead_in + total_bars * meter * beat + tail
    out = np.zeros(int(duration * sr), dtype=np.float64)
    kick, snare, hat = _kick(sr), _snare(sr, rng), _hat(sr, rng)
    beats: list[float] = []
    downbeats: list[float] = []
    boundaries: list[float] = []
    bar_index = 0
    for n, part in enumerate(parts):
        if n:
            boundaries.append(lead_in + bar_index * meter * beat)
        roots = _PROGRESSIONS[part.harmony]
        for bar in range(part.bars):
            bar_start = lead_in + bar_index * meter * beat
            downbeats.append(bar_start)
            root = roots[bar % len(roots)]
            t = np.arange(int(meter * beat * sr)) / sr
            bass = np.sin(2 * np.pi * root * t) * np.exp(-t * 1.5) * 0.35
            pad = sum(np.sin(2 * np.pi * root * 4 * r * t) for r in (1.0, 1.26, 1.5)) * 0.05
            _add(out, bass + pad, bar_start, sr, part.gain)
            for b in range(meter):
                at = bar_start + b * beat
                beats.append(at)
                if part.drums:
                    on_kick = b == 0 or (meter == 4 and b == 2)
                    _add(out, kick if on_kick else snare, at, sr, part.gain * (1.0 if b else 1.15))
                    _add(out, hat, at, sr, part.gain)
                    _add(out, hat, at + beat * offbeat, sr, part.gain * offbeat_gain)
            bar_index += 1
    peak = np.max(np.abs(out)) or 1.0
    return Song((out / peak * 0.8).astype(np.float32), sr, bpm, beats, downbeats, boundaries)


def drum_pattern(bpm: float, seconds: float = 20.0, sr: int = SR) -> Song:
    """The plain groove for beat and tempo tests: the same bar over and over."""
    bars = max(1, int(seconds / (4 * 60.0 / bpm)))
    return song([Part(bars)], bpm=bpm, sr=sr, lead_in=0.3)


def waltz(bpm: float = 132, seconds: float = 24.0, sr: int = SR) -> Song:
    """Three beats to the bar: two progressions, so bars are heard in the bass and the harmony."""
    bars = max(2, int(seconds / (3 * 60.0 / bpm)) // 2)
    return song([Part(bars, "A"), Part(bars, "B")], bpm=bpm, sr=sr, lead_in=0.3, meter=3)


def shuffle(bpm: float = 120, seconds: float = 24.0, sr: int = SR) -> Song:
    """Swung eighths whose off-beat (2/3 of the way through the beat) is louder than the beat."""
    bars = max(2, int(seconds / (4 * 60.0 / bpm)) // 2)
    return song([Part(bars, "A"), Part(bars, "B")], bpm=bpm, sr=sr, lead_in=0.3, offbeat=2 / 3, offbeat_gain=6.0)


def tempo_change(first: float = 100, then: float = 130, seconds: float = 30.0, sr: int = SR) -> Song:
    """`seconds` at one tempo, then as long at another (the beats and bars of both)."""
    a = song([Part(max(2, int(seconds / (4 * 60.0 / first))), "A")], bpm=first, sr=sr, lead_in=0.3, tail=0.0)
    b = song([Part(max(2, int(seconds / (4 * 60.0 / then))), "B")], bpm=then, sr=sr, tail=1.0, seed=1)
    shift = a.duration
    return Song(np.concatenate([a.samples, b.samples]), sr, first, a.beats + [t + shift for t in b.beats],
                a.downbeats + [t + shift for t in b.downbeats], [shift])


def quiet_then_loud(bpm: float = 110, sr: int = SR) -> Song:
    """Eight bars at -24 dB, then eight bars at full level with a new progression."""
    return song([Part(8, "A", gain=0.063), Part(8, "B", gain=1.0)], bpm=bpm, sr=sr, lead_in=0.2)


def four_minute_song(sr: int = SR) -> Song:
    """About 4 minutes at 100 BPM: intro, verse, chorus, verse, chorus, bridge, chorus, outro."""
    parts = [Part(8, "A", 0.25, drums=False), Part(16, "A", 0.5), Part(16, "B", 1.0), Part(16, "A", 0.5),
             Part(16, "B", 1.0), Part(8, "C", 0.6), Part(16, "B", 1.0), Part(4, "A", 0.3, drums=False)]
    return song(parts, bpm=100, sr=sr, lead_in=0.5, tail=1.5)


def white_noise(seconds: float = 20.0, sr: int = SR) -> np.ndarray:
    return (np.random.default_rng(1).standard_normal(int(seconds * sr)) * 0.2).astype(np.float32)


def write_samples(samples: np.ndarray, path: Path, sr: int = SR) -> Path:
    return Song(samples, sr, 0.0, [], [], []).write(path)


def verse_chorus(sr: int = SR) -> Song:
    """About a minute at 128 BPM: quiet intro, verse, chorus, verse, chorus."""
    parts = [Part(4, "A", 0.2, drums=False), Part(8, "A", 0.45), Part(8, "B", 1.0), Part(8, "A", 0.45), Part(8, "B", 1.0)]
    return song(parts, bpm=128, sr=sr, lead_in=0.4)
