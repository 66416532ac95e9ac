"""Song analysis: tempo, beats, bars, sections and a loudness envelope, with librosa.

Run once per track in the background and stored as JSON (`to_dict`); `ANALYSIS_VERSION` says
when a stored result is stale. A song the analysis cannot make sense of (silence, noise, a
jingle too short for a beat) still gets a usable result: an even beat grid, one section and a
`note` saying why. Only a file that does not decode raises `AnalysisError`.
Facts and pitfalls behind the choices: shared/reference/music-analysis.md.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mv.media import ffmpeg_exe

log = logging.getLogger(__name__)

# Bump when a change would give a stored analysis different beats, sections or fields.
ANALYSIS_VERSION = 1

SR = 22050  # librosa's default; enough for beats and harmony, a quarter of CD rate's cost
HOP = 512  # ~23 ms frames
ENVELOPE_RATE = 10  # envelope points per second
MIN_SECONDS = 8.0  # shorter than this there are too few beats to trust a tempo
MAX_SECONDS = 15 * 60.0  # longer is not a song (a 50 MB upload can be an hour): memory grows ~2 MB/s
SILENCE_RMS = 10 ** (-60 / 20)  # loudest 0.1 s below -60 dBFS: nothing to analyse
MIN_PERIODICITY = 0.2  # onset autocorrelation at the beat: drum loops ~0.8, white noise ~0.07
FALLBACK_BEAT = 0.5  # the even grid's step (120 BPM)
MIN_SECTION_BARS = 4
# A graph has as many zero Laplacian eigenvalues as it has disconnected parts; the beat graph's
# near-zero ones count the kinds of section (k for k-means). On the synthetic songs they are
# below 0.01 and the next is above 0.05; one groove looped gives ~0.08 (one section).
NEAR_ZERO = 0.04
MAX_SECTION_KINDS = 6
ENVELOPE_FLOOR_DB = -60.0


class AnalysisError(Exception):
    """The file could not be read as audio."""


@dataclass(frozen=True)
class Section:
    start: float
    end: float
    label: str
    energy: float  # 0..1, the loudest section is 1


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
        data["duration"] = _ms(self.duration)
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
        )


def _ms(t: float) -> float:
    return round(float(t), 3)


def decode(path: Path, sr: int = SR, limit: float | None = None) -> np.ndarray:
    """The file's audio (its first `limit` seconds) as mono float32 at `sr`, decoded by ffmpeg."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-vn", "-ac", "1",
           "-ar", str(sr), *(["-t", f"{limit:.3f}"] if limit else []), "-f", "f32le", "pipe:1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AnalysisError("The song could not be decoded.") from exc
    if proc.returncode != 0:
        log.warning("analysis: ffmpeg could not decode %s: %s", path, proc.stderr.decode("utf-8", "replace")[-500:])
        raise AnalysisError("The song could not be read as audio.")
    return np.frombuffer(proc.stdout, dtype="<f4").copy()


def analyze(path: Path) -> Analysis:
    """Analyse the song at `path` (any format ffmpeg decodes)."""
    y = decode(Path(path), SR, limit=MAX_SECONDS + 1)
    if len(y) > MAX_SECONDS * SR:
        del y
        rate = 1000  # enough for a 0.1 s loudness envelope of the whole file, 4 kB a second
        whole = decode(Path(path), rate)
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

    bpm = float(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=HOP)[0])
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
    downbeats = times[_downbeat_indices(frames, low_power, chroma)]

    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=13)
    del logmel
    cqt_db = librosa.amplitude_to_db(cqt, ref=np.max)
    del cqt
    bounds, groups = _segments(cqt_db, frames, mfcc, times, downbeats, duration)
    sections = _label(bounds, groups, envelope, duration)
    return Analysis(duration=duration, tempo=tempo, beats=tuple(float(t) for t in times),
                    downbeats=tuple(float(t) for t in downbeats), sections=tuple(sections),
                    envelope=tuple(envelope))


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


def _downbeat_indices(frames: np.ndarray, low_power: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """Indices of bar starts, assuming 4/4: the phase whose beats carry most bass plus harmony change."""
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
    phase = int(np.argmax([score[p::4].mean() if len(score[p::4]) else 0 for p in range(4)]))
    return np.arange(phase, n, 4)


def _segments(cqt: np.ndarray, frames: np.ndarray, mfcc: np.ndarray, times: np.ndarray,
              downbeats: np.ndarray, duration: float, sr: int = SR) -> tuple[list[float], list[int]]:
    """Section start times and a repetition group per section (Laplacian segmentation, McFee & Ellis 2014).

    Beat-synchronous CQT recurrence plus an MFCC path graph, the normalised Laplacian's
    eigenvectors and k-means with k the number of near-zero eigenvalues; boundaries are the padded beat times
    (the gallery recipe maps them one beat late), then snapped to bar starts.
    """
    import librosa
    import scipy.linalg
    import scipy.ndimage
    import scipy.sparse.csgraph
    from scipy.cluster.vq import kmeans2

    n_frames = cqt.shape[1]
    inner = np.unique(np.clip(frames, 1, n_frames - 1))
    edges = librosa.util.fix_frames(inner, x_min=0, x_max=n_frames)
    edge_times = librosa.frames_to_time(edges, sr=sr, hop_length=HOP)
    csync = librosa.util.sync(cqt, inner, aggregate=np.median)
    msync = librosa.util.sync(mfcc[:, :n_frames], inner)
    n = csync.shape[1]
    if n < 16:
        return [0.0], [0]
    rec = librosa.segment.recurrence_matrix(csync, width=3, mode="affinity", sym=True)
    rec = librosa.segment.timelag_filter(scipy.ndimage.median_filter)(rec, size=(1, 7))
    path_distance = np.sum(np.diff(msync, axis=1) ** 2, axis=0)
    sigma = np.median(path_distance) or 1.0
    path_sim = np.exp(-path_distance / sigma)
    path = np.diag(path_sim, k=1) + np.diag(path_sim, k=-1)
    deg_path, deg_rec = path.sum(axis=1), rec.sum(axis=1)
    mu = deg_path.dot(deg_path + deg_rec) / (np.sum((deg_path + deg_rec) ** 2) or 1.0)
    graph = mu * rec + (1 - mu) * path
    lap = scipy.sparse.csgraph.laplacian(graph, normed=True)
    evals, evecs = scipy.linalg.eigh(lap, subset_by_index=[0, min(8, n - 1)])
    k = min(MAX_SECTION_KINDS, int(np.sum(evals < NEAR_ZERO)))
    if k < 2:
        return [0.0], [0]  # no part of the song stands apart: one section
    evecs = scipy.ndimage.median_filter(evecs, size=(9, 1))
    norm = np.cumsum(evecs ** 2, axis=1) ** 0.5
    x = evecs[:, :k] / (norm[:, k - 1:k] + 1e-9)
    _, ids = kmeans2(x, k, minit="++", seed=0)

    starts = [0] + [i for i in range(1, n) if ids[i] != ids[i - 1]]
    bounds = [float(edge_times[i]) for i in starts]
    groups = [int(ids[i]) for i in starts]
    return _tidy(bounds, groups, downbeats, 60.0 * 4 * MIN_SECTION_BARS / max(_bpm(times), 1.0), duration)


def _bpm(times: np.ndarray) -> float:
    return 60.0 / float(np.median(np.diff(times)))


def _tidy(bounds: list[float], groups: list[int], downbeats: np.ndarray, min_len: float,
          duration: float) -> tuple[list[float], list[int]]:
    """Snap section starts to the nearest bar start, merge sections shorter than `min_len` into the previous one."""
    snapped = [0.0]
    kept = [groups[0]]
    for b, g in zip(bounds[1:], groups[1:], strict=True):
        if len(downbeats):
            near = downbeats[np.argmin(np.abs(downbeats - b))]
            if abs(near - b) <= min_len / MIN_SECTION_BARS / 2:
                b = float(near)
        if b - snapped[-1] < min_len or duration - b < min_len / 2:
            continue  # too short: the previous section carries on
        if g == kept[-1]:
            continue
        snapped.append(b)
        kept.append(g)
    return snapped, kept


def _label(bounds: list[float], groups: list[int], envelope: list[float], duration: float) -> list[Section]:
    """Name sections from repetition and loudness; letters (A, B, C by first appearance) when names can't be told."""
    ends = bounds[1:] + [duration]
    env = np.asarray(envelope) if envelope else np.zeros(1)

    def loud(s: float, e: float) -> float:
        part = env[int(s * ENVELOPE_RATE):max(int(s * ENVELOPE_RATE) + 1, int(e * ENVELOPE_RATE))]
        return float(part.mean()) if len(part) else 0.0

    raw = [loud(s, e) for s, e in zip(bounds, ends, strict=True)]
    top = max(raw) or 1.0
    energy = [r / top for r in raw]
    letters: dict[int, str] = {}
    for g in groups:
        letters.setdefault(g, chr(ord("A") + len(letters)))
    names = _names(groups, energy)
    labels = names if names else [letters[g] for g in groups]
    return [Section(s, e, label, round(en, 3)) for s, e, label, en in zip(bounds, ends, labels, energy, strict=True)]


def _names(groups: list[int], energy: list[float]) -> list[str] | None:
    """intro/verse/chorus/bridge/outro when a repeated group is clearly the loudest, else None.

    The chorus is the repeated group with the highest mean energy; it must beat every other
    repeated group by 0.1. The first (last) section is the intro (outro) when it is a one-off
    or 0.1 quieter than its neighbour, and quieter than the chorus; other repeated groups are
    verses, other one-offs bridges.
    """
    count: dict[int, int] = {}
    for g in groups:
        count[g] = count.get(g, 0) + 1
    repeated = [g for g, c in count.items() if c > 1]
    if len(groups) < 3 or not repeated:
        return None
    mean = {g: float(np.mean([e for gg, e in zip(groups, energy, strict=True) if gg == g])) for g in count}
    chorus = max(repeated, key=lambda g: mean[g])
    if any(mean[g] > mean[chorus] - 0.1 for g in repeated if g != chorus):
        return None
    labels = []
    for i, g in enumerate(groups):
        quieter = energy[i] < mean[chorus] - 0.1
        if g == chorus:
            labels.append("chorus")
        elif i == 0 and quieter and (count[g] == 1 or energy[0] < energy[1] - 0.1):
            labels.append("intro")
        elif i == len(groups) - 1 and quieter and (count[g] == 1 or energy[i] < energy[i - 1] - 0.1):
            labels.append("outro")
        elif count[g] > 1:
            labels.append("verse")
        else:
            labels.append("bridge")
    return labels
