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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mv.media import MediaError, container_format, ffmpeg_exe
from mv.music.sections import Section, find_sections, label_sections

log = logging.getLogger(__name__)

# Bump when a change would give a stored analysis different beats, sections or fields.
ANALYSIS_VERSION = 2

SR = 22050  # librosa's default; enough for beats and harmony, a quarter of CD rate's cost
HOP = 512  # ~23 ms frames
ENVELOPE_RATE = 10  # envelope points per second
MIN_SECONDS = 8.0  # shorter than this there are too few beats to trust a tempo
MAX_SECONDS = 15 * 60.0  # longer is not a song (a 50 MB upload can be an hour): memory grows ~2 MB/s
SILENCE_RMS = 10 ** (-60 / 20)  # loudest 0.1 s below -60 dBFS: nothing to analyse
MIN_PERIODICITY = 0.2  # onset autocorrelation at the beat: drum loops ~0.8, white noise ~0.07
FALLBACK_BEAT = 0.5  # the even grid's step (120 BPM)
# Two tempo priors (log-normal, librosa's): one centred on 140 BPM, 0.8 octaves wide, and its
# default (120 BPM, one octave); the tempo whose beat the onsets repeat at more strongly wins (the
# faster prior's on a tie). On the 15 scored pieces of bench/groundtruth.py: the score's tempo within
# 4 % on 13 (the default prior alone: 10, the 140 one alone: 12). Chosen on that set: expect less elsewhere.
PRIORS = ((140.0, 0.8), (120.0, 1.0))
WALTZ_MARGIN = 1.3  # 3/4 only when its bars stand out this much more than 4/4's
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


def decode(path: Path, sr: int = SR, limit: float | None = None, container: str | None = None) -> np.ndarray:
    """The file's audio (its first `limit` seconds) as mono float32 at `sr`, decoded by ffmpeg
    with the file protocol only and the demuxer `container` (the one found when the song
    arrived; else picked from the allow-list by the file's first bytes): never format
    auto-detection, which would follow a playlist posing as a song to other files."""
    try:
        demuxer = container or container_format(path)
    except MediaError as exc:
        log.warning("analysis: %s", exc.detail)
        raise AnalysisError("The song could not be read as audio.") from None
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "file",
           "-f", demuxer, "-i", str(path), "-vn", "-ac", "1",
           "-ar", str(sr), *(["-t", f"{limit:.3f}"] if limit else []), "-f", "f32le", "pipe:1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AnalysisError("The song could not be decoded.") from exc
    if proc.returncode != 0:
        log.warning("analysis: ffmpeg could not decode %s: %s", path, proc.stderr.decode("utf-8", "replace")[-500:])
        raise AnalysisError("The song could not be read as audio.")
    return np.frombuffer(proc.stdout, dtype="<f4").copy()


def analyze(path: Path, container: str | None = None) -> Analysis:
    """Analyse the song at `path` (a container of the allow-list; `container` names its demuxer
    when it is known)."""
    y = decode(Path(path), SR, limit=MAX_SECONDS + 1, container=container)
    if len(y) > MAX_SECONDS * SR:
        del y
        rate = 1000  # enough for a 0.1 s loudness envelope of the whole file, 4 kB a second
        whole = decode(Path(path), rate, container=container)
        duration = len(whole) / rate
        return _fallback(duration, _envelope(whole, rate)[0],
                         f"The song is too long to analyse ({duration / 60:.0f} min; the limit is {MAX_SECONDS / 60:.0f} min)")
    return analyze_samples(y, SR)


def analyze_samples(y: np.ndarray, sr: int = SR) -> Analysis:
    """Analyse mono float samples; the part of `analyze` that needs no file."""
    duration = len(y) / sr
    envelope, peak_rms = _envelope(y, sr)
    if duration < MIN_SECONDS:
        return _fallback(duration, envelope, f"The song is too short ({duration:.1f} s) to find a beat")
    if peak_rms < SILENCE_RMS:
        return _fallback(duration, envelope, "The song is silent")

    import librosa

    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP)) ** 2
    logmel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=128))
    del power  # the largest array; everything below works from the mel bands or the CQT
    onset = librosa.onset.onset_strength(S=logmel, sr=sr, hop_length=HOP)
    if _periodicity(onset, sr) < MIN_PERIODICITY:
        return _fallback(duration, envelope, "No steady beat was found")

    bpm = _tempo(onset, sr)
    _, frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=HOP, bpm=bpm, trim=False)
    frames = np.asarray(frames, dtype=int)
    if len(frames) < 8:
        return _fallback(duration, envelope, "No steady beat was found")
    times = librosa.frames_to_time(frames, sr=sr, hop_length=HOP)
    tempo = _fit_tempo(times)
    frames, times = _fill_gaps(frames, times, 60.0 / tempo, sr)

    mel_freqs = librosa.mel_frequencies(n_mels=128, fmax=sr / 2)
    low_power = librosa.db_to_power(logmel[mel_freqs < 150]).sum(axis=0)
    # 7 octaves from C1 at 36 bins an octave; tuning=0 skips a pitch-tracking pass (~1 s) that
    # only shifts the bins by a fraction of a semitone
    cqt = np.abs(librosa.cqt(y=y, sr=sr, hop_length=HOP, bins_per_octave=36, n_bins=7 * 36, tuning=0.0))
    chroma = librosa.feature.chroma_cqt(C=cqt, sr=sr, hop_length=HOP, bins_per_octave=36)
    bars, meter = _downbeat_indices(frames, low_power, chroma)
    downbeats = times[bars]

    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=13)
    del logmel
    cqt_db = librosa.amplitude_to_db(cqt, ref=np.max)
    del cqt
    bounds, groups = find_sections(cqt_db, frames, mfcc, times, downbeats, duration, sr=SR, hop=HOP)
    sections = label_sections(bounds, groups, envelope, duration, envelope_rate=ENVELOPE_RATE)
    return Analysis(duration=duration, tempo=tempo, beats=tuple(float(t) for t in times),
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


def _envelope(y: np.ndarray, sr: int) -> tuple[list[float], float]:
    """RMS per 1/ENVELOPE_RATE s mapped from [-60 dB below the peak, peak] to [0, 1]; and the peak RMS."""
    step = sr // ENVELOPE_RATE
    n = int(np.ceil(len(y) / step)) if len(y) else 0
    if n == 0:
        return [], 0.0
    padded = np.zeros(n * step, dtype=np.float32)
    padded[:len(y)] = y
    rms = np.sqrt(np.mean(padded.reshape(n, step).astype(np.float64) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0:
        return [0.0] * n, 0.0
    db = 20 * np.log10(np.maximum(rms, 1e-12) / peak)
    return [float(v) for v in np.clip(1 - db / ENVELOPE_FLOOR_DB, 0, 1)], peak


def _fallback(duration: float, envelope: list[float], why: str) -> Analysis:
    grid = tuple(float(t) for t in np.arange(0, duration, FALLBACK_BEAT))
    sections = (Section(0.0, duration, "A", 1.0),) if duration > 0 else ()
    return Analysis(duration=duration, tempo=None, beats=grid, downbeats=grid[::4], sections=sections,
                    envelope=tuple(envelope), note=f"{why}; scenes use an even grid.")


def _periodicity(onset: np.ndarray, sr: int) -> float:
    """Peak autocorrelation of the onset strength at lags of 40-240 BPM, 1 at lag 0."""
    import librosa

    centred = onset - onset.mean()
    ac = librosa.autocorrelate(centred)
    if ac[0] <= 0:
        return 0.0
    ac = ac / ac[0]
    frame_rate = sr / HOP
    lags = np.arange(int(frame_rate * 60 / 240), min(len(ac), int(frame_rate * 60 / 40) + 1))
    return float(ac[lags].max()) if len(lags) else 0.0


def _tempo(onset: np.ndarray, sr: int) -> float:
    """The tempo a listener would tap: of the two priors' answers, the one with the stronger pulse."""
    import librosa

    centred = onset - onset.mean()
    ac = librosa.autocorrelate(centred)
    ac = ac / (ac[0] or 1.0)
    frame_rate = sr / HOP

    def pulse(bpm: float) -> float:
        lag = int(round(frame_rate * 60 / bpm))
        return float(ac[max(lag - 1, 1):lag + 2].max()) if lag + 1 < len(ac) else 0.0

    first, second = (float(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=HOP, start_bpm=centre,
                                                 std_bpm=width)[0]) for centre, width in PRIORS)
    return first if pulse(first) >= pulse(second) else second


def _fit_tempo(times: np.ndarray) -> float:
    """BPM from a straight line through the beats (the tracker's tempo is quantised to frame lags).

    Each beat's index counts whole periods from the previous one, so a skipped beat does not
    shift the rest; beats more than 50 ms off the first line are left out of the second fit.
    """
    period = float(np.median(np.diff(times)))
    index = np.concatenate([[0], np.cumsum(np.maximum(1, np.round(np.diff(times) / period)))])
    slope, icept = np.polyfit(index, times, 1)
    good = np.abs(times - (slope * index + icept)) < 0.05
    if good.sum() >= 8:
        slope = np.polyfit(index[good], times[good], 1)[0]
    return float(60.0 / slope) if slope > 0 else 60.0 / period


def _fill_gaps(frames: np.ndarray, times: np.ndarray, period: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Put beats back into gaps of two periods or more (a break the tracker skipped), on the tempo's grid."""
    out = [times[0]]
    for t in times[1:]:
        gap = t - out[-1]
        missing = int(round(gap / period)) - 1
        if missing >= 1:
            out.extend(out[-1] + gap * k / (missing + 1) for k in range(1, missing + 1))
        out.append(t)
    new_times = np.asarray(out)
    new_frames = np.round(new_times * sr / HOP).astype(int)
    return new_frames, new_times


def _downbeat_indices(frames: np.ndarray, low_power: np.ndarray, chroma: np.ndarray) -> tuple[np.ndarray, int]:
    """Indices of bar starts and the beats to a bar (3 or 4): for each meter, the phase whose
    beats carry most bass plus harmony change; the meter whose best phase stands out most from
    its other phases (4 unless 3 stands out clearly more: every third beat of a 4/4 song cycles
    through all four bar positions, so its phases look alike, and the other way round)."""
    import librosa

    n = len(frames)
    # bass: the loudest low-band frame in the first ~70 ms of each beat (a kick, a bass note)
    window = np.clip(frames[:, None] + np.arange(4)[None, :], 0, len(low_power) - 1)
    bass = low_power[window].max(axis=1)
    bass = bass / (bass.max() or 1.0)
    synced = librosa.util.sync(chroma, frames, aggregate=np.median, pad=False)  # column k: beats k..k+1
    synced = synced / (np.linalg.norm(synced, axis=0, keepdims=True) + 1e-9)
    change = np.zeros(n)
    change[1:n - 1] = 1 - np.sum(synced[:, 1:] * synced[:, :-1], axis=0)  # at beat k+1: columns k and k+1
    change = change / (change.max() or 1.0)
    score = bass + change
    best: dict[int, tuple[float, int]] = {}
    for meter in (3, 4):
        means = np.asarray([score[p::meter].mean() if len(score[p::meter]) else 0.0 for p in range(meter)])
        others = np.delete(means, int(np.argmax(means)))
        best[meter] = (float(means.max() - others.mean()) / (float(score.mean()) or 1.0), int(np.argmax(means)))
    meter = 3 if best[3][0] > WALTZ_MARGIN * best[4][0] else 4
    return np.arange(best[meter][1], n, meter), meter

