"""A hosted structure model's answer (All-In-One, Kim & Nam 2023: `bpm`, `beats`, `downbeats`,
`beat_positions`, `segments[{start, end, label}]`) as an Analysis (source "model").

The model hears beats, bars and functional sections (intro, verse, chorus, bridge, outro...)
far better than the local analysis; the loudness envelope is still ours (the model has none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mv.music.analysis import Analysis
from mv.music.sections import Section

# All-In-One's labels (Harmonix set) as people say them; "start"/"end" are the silence around the song.
MIN_SECTION = 1.0  # seconds; shorter segments (the silence before the first note) join their neighbour
LABELS = {"inst": "instrumental", "solo": "solo", "break": "break", "start": "intro", "end": "outro"}


class StructureError(ValueError):
    """The model's answer is not the shape we read."""


def _times(value: Any, name: str) -> list[float]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise StructureError(f"{name} is not a list of times")
    try:
        return sorted(float(t) for t in value)
    except (TypeError, ValueError):
        raise StructureError(f"{name} holds something that is not a time") from None


def from_allinone(data: Mapping[str, Any], *, duration: float, envelope: Sequence[float], envelope_rate: int) -> Analysis:
    """The model's JSON as an Analysis of a song `duration` s long (times past the end dropped)."""
    if not isinstance(data, Mapping):
        raise StructureError("the answer is not a JSON object")
    beats = [t for t in _times(data.get("beats"), "beats") if 0 <= t < duration]
    downbeats = [t for t in _times(data.get("downbeats", []), "downbeats") if 0 <= t < duration]
    positions = data.get("beat_positions") or []
    try:
        meter = max(int(p) for p in positions) if positions else 4
    except (TypeError, ValueError):
        raise StructureError("beat_positions holds something that is not a number") from None
    segments = data.get("segments")
    if not isinstance(segments, Sequence) or not segments or len(beats) < 2:
        raise StructureError("no beats or no segments")
    sections = _sections(segments, duration, envelope, envelope_rate)
    try:
        bpm = float(data.get("bpm") or 0) or 60.0 / float(sorted(b - a for a, b in zip(beats, beats[1:], strict=False))[len(beats) // 2 - 1])
    except (TypeError, ValueError, ZeroDivisionError):
        raise StructureError("bpm is not a number") from None
    return Analysis(duration=duration, tempo=bpm, beats=tuple(beats), downbeats=tuple(downbeats or beats[::meter]),
                    sections=tuple(sections), envelope=tuple(envelope), envelope_rate=envelope_rate,
                    meter=meter if meter in (2, 3, 4, 5, 6, 7) else 4, source="model")


def _sections(segments: Sequence[Any], duration: float, envelope: Sequence[float], rate: int) -> list[Section]:
    """Consecutive segments of one label merged; silence at the ends folded into its neighbour; energies 0..1."""
    merged: list[list[Any]] = []
    for segment in segments:
        try:
            start, end, label = float(segment["start"]), float(segment["end"]), str(segment["label"]).strip().lower()
        except (KeyError, TypeError, ValueError):
            raise StructureError("a segment has no start, end or label") from None
        label = LABELS.get(label, label) or "section"
        start, end = max(0.0, start), min(duration, end)
        if end - start <= 0:
            continue
        if merged and merged[-1][2] == label:
            merged[-1][1] = end
        elif merged and merged[-1][1] - merged[-1][0] < MIN_SECTION:  # a moment of silence: part of what follows
            merged[-1][1], merged[-1][2] = end, label
        else:
            merged.append([start, end, label])
    if not merged:
        raise StructureError("no segment inside the song")
    if len(merged) > 1 and merged[-1][1] - merged[-1][0] < MIN_SECTION:
        merged[-2][1] = merged.pop()[1]
    merged[0][0] = 0.0
    merged[-1][1] = duration
    for before, after in zip(merged, merged[1:], strict=False):
        before[1] = after[0]  # no gaps
    loud = [_mean(envelope, rate, s, e) for s, e, _ in merged]
    top = max(loud) or 1.0
    return [Section(round(s, 3), round(e, 3), label, round(v / top, 3)) for (s, e, label), v in zip(merged, loud, strict=True)]


def _mean(envelope: Sequence[float], rate: int, start: float, end: float) -> float:
    part = envelope[int(start * rate):max(int(start * rate) + 1, int(end * rate))]
    return sum(part) / len(part) if part else 0.0
