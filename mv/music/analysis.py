"""Song analysis: tempo, beats, bars, sections and a loudness envelope, with librosa (how the
sections are found and named: mv.music.sections).

Run once per track in the background and stored as JSON (`to_dict`); `ANALYSIS_VERSION` says
when a stored result is stale. A song the analysis cannot make sense of (silence, noise, a
jingle too short for a beat) still gets a usable result: an even beat grid, one section and a
`note` saying why. Only a file that does not decode raises `AnalysisError`.
Facts and pitfalls behind the choices: shared/reference/music-analysis.md.
"""

from __future__ import annotations

import logging
import math
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mv.media import MediaError, container_format, ffmpeg_exe
from mv.music import beats, features
from mv.music.sections import Section, find_sections, label_sections

log = logging.getLogger(__name__)

# Bump when a change would give a stored analysis different beats, sections or fields.
ANALYSIS_VERSION = 3

SR = features.SR  # librosa's default; enough for beats and harmony, a quarter of CD rate's cost
HOP = features.HOP  # ~23 ms frames
ENVELOPE_RATE = 10  # envelope points per second
MIN_SECONDS = 8.0  # shorter than this there are too few beats to trust a tempo
MAX_SECONDS = 15 * 60.0  # longer is not a song (a 50 MB upload can be an hour)
DECODE_TIMEOUT = 300  # seconds for one decoding pass
SILENCE_RMS = 10 ** (-60 / 20)  # loudest 0.1 s below -60 dBFS: nothing to analyse
MIN_PERIODICITY = 0.2  # onset autocorrelation at the beat: drum loops ~0.8, white noise ~0.07
# The section search compares every unit of the song with every other (memory and time grow with
# the square of their number): a beat each up to this many beats (~5 min at 120 BPM), else two or more.
SECTION_UNITS = 600
FALLBACK_BEAT = 0.5  # the even grid's step (120 BPM)
ENVELOPE_FLOOR_DB = -60.0


class AnalysisError(Exception):
    """The file could not be read as audio."""


@dataclass(frozen=True)
class Analysis:
    duration: float
    tempo: float | None  # BPM; None when no steady beat was found (the beats are then a grid)
    beats: tuple[float, ...]
    downbeats: tuple[float, ...]
    sections: tuple[Section, ...]
    envelope: tuple[float, ...]  # loudness 0..1 at ENVELOPE_RATE per second (dB scale, 60 dB range)
    envelope_rate: int = ENVELOPE_RATE
    note: str = ""  # set when the analysis fell back to an even grid, saying why
    version: int = ANALYSIS_VERSION
    meter: int = 4  # beats to the bar (3 or 4)
    source: str = "local"  # "local" (this module) or "model" (a hosted structure model: mv.music.structure)

    @property
    def fell_back(self) -> bool:
        return bool(self.note)

    def section_at(self, t: float) -> Section | None:
        for section in self.sections:
            if section.start <= t < section.end:
                return section
        return self.sections[-1] if self.sections and t >= self.sections[-1].end else None

    def loudness(self, start: float, end: float) -> float:
        """Mean envelope over [start, end), 0..1."""
        i = int(start * self.envelope_rate)
        j = max(i + 1, int(np.ceil(end * self.envelope_rate)))
        part = self.envelope[i:j]
        return float(np.mean(part)) if part else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tempo"] = None if self.tempo is None else round(self.tempo, 3)
        data["duration"] = math.floor(self.duration * 1000) / 1000  # down: never past the file's end
        data["beats"] = [_ms(t) for t in self.beats]
        data["downbeats"] = [_ms(t) for t in self.downbeats]
        data["sections"] = [{"start": _ms(s.start), "end": _ms(s.end), "label": s.label, "energy": round(s.energy, 3)}
                            for s in self.sections]
        data["envelope"] = [round(v, 3) for v in self.envelope]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Analysis:
        """Inverse of to_dict; raises ValueError (or KeyError/TypeError) on a malformed dict."""
        return cls(
            duration=float(data["duration"]),
            tempo=None if data.get("tempo") is None else float(data["tempo"]),
            beats=tuple(float(t) for t in data["beats"]),
            downbeats=tuple(float(t) for t in data["downbeats"]),
            sections=tuple(Section(float(s["start"]), float(s["end"]), str(s["label"]), float(s["energy"]))
                           for s in data["sections"]),
            envelope=tuple(float(v) for v in data["envelope"]),
            envelope_rate=int(data.get("envelope_rate", ENVELOPE_RATE)),
            note=str(data.get("note", "")),
            version=int(data.get("version", 0)),
            meter=int(data.get("meter", 4)),
            source=str(data.get("source", "local")),
        )


def _ms(t: float) -> float:
    return round(float(t), 3)


def _decoder(path: Path, sr: int, limit: float | None, container: str | None) -> list[str]:
    """ffmpeg decoding the file to mono float32 at `sr` with the file protocol only and the
    demuxer `container` (the one found when the song arrived; else picked from the allow-list by
    the file's first bytes): never format auto-detection, which would follow a playlist posing
    as a song to other files."""
    try:
        demuxer = container or container_format(path)
    except MediaError as exc:
        log.warning("analysis: %s", exc.detail)
        raise AnalysisError("The song could not be read as audio.") from None
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file",
            "-f", demuxer, "-i", str(path), "-vn", "-ac", "1",
            "-ar", str(sr), *(["-t", f"{limit:.3f}"] if limit else []), "-f", "f32le", "pipe:1"]


def decode(path: Path, sr: int = SR, limit: float | None = None, container: str | None = None) -> np.ndarray:
    """The file's audio (its first `limit` seconds) as mono float32 at `sr` (see `_decoder`)."""
    cmd = _decoder(Path(path), sr, limit, container)
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=DECODE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AnalysisError("The song could not be decoded.") from exc
    if proc.returncode != 0:
        log.warning("analysis: ffmpeg could not decode %s: %s", path, proc.stderr.decode("utf-8", "replace")[-500:])
        raise AnalysisError("The song could not be read as audio.")
    return np.frombuffer(proc.stdout, dtype="<f4").copy()


def _file_source(path: Path, container: str | None) -> features.Source:
    """The file decoded again at each call, read in chunks as ffmpeg writes them (never the whole song at once)."""
    cmd = _decoder(path, SR, None, container)

    def chunks() -> Iterator[np.ndarray]:
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
            except OSError as exc:
                raise AnalysisError("The song could not be decoded.") from exc
            timer = threading.Timer(DECODE_TIMEOUT, proc.kill)
            timer.start()
            try:
                while data := proc.stdout.read(1 << 20):
                    yield np.frombuffer(data[:len(data) // 4 * 4], dtype="<f4")
                code = proc.wait()
            finally:
                timer.cancel()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
            if code != 0:
                errors.seek(0)
                log.warning("analysis: ffmpeg could not decode %s: %s", path,
                            errors.read()[-500:].decode("utf-8", "replace"))
                raise AnalysisError("The song could not be read as audio.")

    return chunks


def analyze(path: Path, container: str | None = None) -> Analysis:
    """Analyse the song at `path` (a container of the allow-list; `container` names its demuxer
    when it is known), decoding it as it goes: memory stays flat whatever its length."""
    return _analyze(_file_source(Path(path), container))


def analyze_samples(y: np.ndarray, sr: int = SR) -> Analysis:
    """Analyse mono float samples; the part of `analyze` that needs no file."""
    if sr != SR:
        import librosa

        y = librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=sr, target_sr=SR)
    return _analyze(features.array_source(np.asarray(y, dtype=np.float32)))


def _analyze(source: features.Source) -> Analysis:
    level = features.loudness(source, limit=int(MAX_SECONDS * SR) + 1)
    duration = level.samples / SR
    envelope, peak_rms = _envelope(level.rms)
    if duration > MAX_SECONDS:
        return _fallback(duration, envelope,
                         f"The song is too long to analyse ({duration / 60:.0f} min; the limit is {MAX_SECONDS / 60:.0f} min)")
    if duration < MIN_SECONDS:
        return _fallback(duration, envelope, f"The song is too short ({duration:.1f} s) to find a beat")
    if peak_rms < SILENCE_RMS:
        return _fallback(duration, envelope, "The song is silent")

    spectral = features.spectral(source, level.mel_top)
    onset = spectral.onset
    if beats.periodicity(onset, SR, HOP) < MIN_PERIODICITY:
        return _fallback(duration, envelope, "No steady beat was found")
    found = beats.track(onset, spectral.low_onset, SR, HOP)
    if found is None:
        return _fallback(duration, envelope, "No steady beat was found")
    n_frames = len(onset)
    inside = found.times < duration  # the last frame's centre can be up to a hop past the song's end
    frames, times = np.clip(found.frames[inside], 0, n_frames - 1), found.times[inside]
    stride = -(-len(frames) // SECTION_UNITS)  # beats per unit of the section search
    inner = np.unique(np.clip(frames[::stride], 1, n_frames - 1))
    harmony = features.harmony(source, n_frames, frames, inner)
    bars, meter = beats.bar_starts(_beat_features(frames, spectral.high_onset, spectral.low_power, harmony.chroma))
    downbeats = times[bars]
    bounds, groups = find_sections(harmony.cqt_db, inner, spectral.mfcc, n_frames, times, downbeats, duration,
                                   sr=SR, hop=HOP)
    sections = label_sections(bounds, groups, envelope, duration, envelope_rate=ENVELOPE_RATE)
    return Analysis(duration=duration, tempo=found.tempo, beats=tuple(float(t) for t in times),
                    downbeats=tuple(float(t) for t in downbeats), sections=tuple(sections),
                    envelope=tuple(envelope), meter=meter)


def warm_up() -> Analysis:
    """Analyse 12 s of generated clicks so numba compiles the beat tracker now (~1-7 s, once
    per process), not on a user's first song. Call it when a worker starts."""
    sr, beat = SR, 0.5
    y = np.zeros(12 * sr, dtype=np.float32)
    click = (np.sin(2 * np.pi * 80 * np.arange(2000) / sr) * np.exp(-np.arange(2000) / 400)).astype(np.float32)
    for k in range(int(12 / beat)):
        at = int(k * beat * sr)
        y[at:at + len(click)] += click[: len(y) - at]
    return analyze_samples(y, sr)


def _envelope(rms: np.ndarray) -> tuple[list[float], float]:
    """RMS per 1/ENVELOPE_RATE s mapped from [-60 dB below the peak, peak] to [0, 1]; and the peak RMS."""
    if len(rms) == 0:
        return [], 0.0
    peak = float(rms.max())
    if peak <= 0:
        return [0.0] * len(rms), 0.0
    db = 20 * np.log10(np.maximum(rms, 1e-12) / peak)
    return [float(v) for v in np.clip(1 - db / ENVELOPE_FLOOR_DB, 0, 1)], peak


def _fallback(duration: float, envelope: list[float], why: str) -> Analysis:
    grid = tuple(float(t) for t in np.arange(0, duration, FALLBACK_BEAT))
    sections = (Section(0.0, duration, "A", 1.0),) if duration > 0 else ()
    return Analysis(duration=duration, tempo=None, beats=grid, downbeats=grid[::4], sections=sections,
                    envelope=tuple(envelope), note=f"{why}; scenes use an even grid.")


def _beat_features(frames: np.ndarray, high_onset: np.ndarray, low_power: np.ndarray,
                   synced: np.ndarray) -> dict[str, np.ndarray]:
    """What marks a bar start, per beat: the bass in its first ~70 ms (a kick, a bass note),
    how much the harmony changes from the beat before (`synced`: column k, the chroma from beat
    k to k + 1), and no backbeat (a snare or clap: onsets from 1.5 to 6 kHz fall on 2 and 4).
    On the 31 scored pieces this beat the beat's whole onset strength on the tuned-on and the
    held-out ones alike (downbeat F 0.67 -> 0.83 and 0.47 -> 0.50)."""
    n = len(frames)
    window = np.clip(frames[:, None] + np.arange(4)[None, :], 0, len(low_power) - 1)
    bass = low_power[window].max(axis=1)
    synced = synced / (np.linalg.norm(synced, axis=0, keepdims=True) + 1e-9)
    change = np.zeros(n)
    k = max(0, min(n - 2, synced.shape[1] - 1))
    change[1:1 + k] = 1 - np.sum(synced[:, 1:1 + k] * synced[:, :k], axis=0)  # at beat k+1: columns k and k+1
    backbeat = np.maximum(high_onset[frames], high_onset[np.minimum(frames + 1, len(high_onset) - 1)])
    return {"bass": bass, "change": change, "no_backbeat": -backbeat}
