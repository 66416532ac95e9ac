"""Beats and bars from onset envelopes: the tempo a listener would tap, a tempo that may change
over the song, the beat's phase in swung and off-beat-heavy music, and the bar starts.

The beat tracker is librosa's dynamic programming one (Ellis 2007); what is ours is around it,
each step measured against scores in bench/groundtruth.py (15 pieces tuned on, 16 held out):
- the tempo: two priors, the stronger pulse wins; a beat grid whose onsets fall on its thirds
  is 3 sub-pulses to the beat, not 2 (a tracker at 2/3 or 4/3 of the tempo);
- a tempo that changes: a tempo path through the song's tempogram (Viterbi, ~0.5 s steps);
  a stretch of 16 s or more off the song's tempo by over 6 % is followed;
- the phase: in swing (notes at 0 and 2/3 of the beat) the beat is the onset after the short
  gap, not the louder one; in straight time with louder off-beats, the bass says which is the beat.
Pitfalls behind the choices: shared/reference/music-analysis.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Two tempo priors (log-normal, librosa's): one centred on 140 BPM, 0.8 octaves wide, and its
# default (120 BPM, one octave); the tempo whose beat the onsets repeat at more strongly wins.
PRIORS = ((140.0, 0.8), (120.0, 1.0))
BINS = 24  # positions per beat in the rhythm profile (thirds and halves fall on bins)
STRONG, WEAK = 0.4, 0.3  # a profile position against the beat's own: a note is there / none is
BASS_OFFBEAT = 1.3  # the half beat carries this much more bass than the beat: the beat is there
TEMPO_WINDOW = 384  # tempogram frames (~9 s)
TEMPO_STEP = 22  # frames per step of the tempo path (~0.5 s)
TEMPO_CHANGE = 0.06  # a stretch this far off the song's tempo is a tempo change...
TEMPO_STRETCH = 16.0  # ...when it lasts this many seconds
WALTZ_MARGIN = 1.3  # 3/4 only when its bars stand out this much more than 4/4's


@dataclass(frozen=True)
class Beats:
    frames: np.ndarray  # onset-envelope frames of the beats
    times: np.ndarray  # seconds
    tempo: float  # BPM (the median one when it changes)


def track(onset: np.ndarray, low: np.ndarray, sr: int, hop: int) -> Beats | None:
    """The beats of an onset envelope (`low`: the bass band's). None when fewer than 8 are found."""
    rate = sr / hop
    bpm = tempo(onset, sr, hop)
    times = _track(onset, bpm, sr, hop)
    if len(times) < 8:
        return None
    bpm = _ternary(onset, times, bpm, rate) or bpm
    curve = _tempo_path(onset, bpm, sr, hop)
    times = _track(onset, bpm if curve is None else curve, sr, hop)
    if len(times) < 8:
        return None
    shape = _profile(onset, times, rate)
    swung = max(shape[BINS // 3], shape[2 * BINS // 3]) > STRONG and shape[BINS // 2] < WEAK
    if swung:  # a beat is the onset a third of a beat after another: the one after the short gap
        lag = int(round(60 / bpm / 3 * rate))
        times = _track(onset * (0.2 + _delayed(onset, lag) / (onset.max() or 1.0)), bpm if curve is None else curve, sr, hop)
    if curve is None:
        bpm = fit_tempo(times)
        times = fill_gaps(times, 60.0 / bpm)
    else:
        bpm = float(np.median(60.0 / np.diff(times)))
    if not swung:
        times = _bass_phase(onset, low, times, rate)
    times = times[(times >= 0) & (times < len(onset) / rate)]
    frames = np.round(times * rate).astype(int)
    return Beats(frames=frames, times=times, tempo=bpm)


def tempo(onset: np.ndarray, sr: int, hop: int) -> float:
    """The tempo a listener would tap: of the two priors' answers, the one with the stronger pulse."""
    import librosa

    ac = _autocorrelation(onset)

    def pulse(bpm: float) -> float:
        return _autocorrelation_at(ac, 60.0 / bpm, sr / hop)

    gram = _tempogram(onset, librosa.time_to_frames(8.0, sr=sr, hop_length=hop).item())  # librosa's 8 s window
    first, second = (float(librosa.feature.tempo(tg=gram, sr=sr, hop_length=hop, start_bpm=centre,
                                                 std_bpm=width)[0]) for centre, width in PRIORS)
    return first if pulse(first) >= pulse(second) else second


def periodicity(onset: np.ndarray, sr: int, hop: int) -> float:
    """Peak autocorrelation of the onset strength at lags of 40-240 BPM, 1 at lag 0."""
    ac = _autocorrelation(onset)
    rate = sr / hop
    lags = np.arange(int(rate * 60 / 240), min(len(ac), int(rate * 60 / 40) + 1))
    return float(ac[lags].max()) if len(lags) else 0.0


def fit_tempo(times: np.ndarray) -> float:
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


def fill_gaps(times: np.ndarray, period: float) -> np.ndarray:
    """Put beats back into gaps of two periods or more (a break the tracker skipped), on the tempo's grid."""
    out = [float(times[0])]
    for t in times[1:]:
        gap = t - out[-1]
        missing = int(round(gap / period)) - 1
        if missing >= 1:
            out.extend(out[-1] + gap * k / (missing + 1) for k in range(1, missing + 1))
        out.append(float(t))
    return np.asarray(out)


def bar_starts(features: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """Indices of bar starts among the beats and the beats to a bar (3 or 4), from per-beat
    features (each standardised and summed; mv.music.analysis says which): for each meter, the phase whose beats score highest; the meter whose best phase
    stands out most from its other phases (4 unless 3 stands out clearly more: every third beat
    of a 4/4 song cycles through all four bar positions, so its phases look alike)."""
    score = sum((v - v.mean()) / (v.std() or 1.0) for v in features.values())
    n = len(score)
    best: dict[int, tuple[float, int]] = {}
    for meter in (3, 4):
        means = np.asarray([score[p::meter].mean() if len(score[p::meter]) else 0.0 for p in range(meter)])
        others = np.delete(means, int(np.argmax(means)))
        best[meter] = (float(means.max() - others.mean()), int(np.argmax(means)))
    meter = 3 if best[3][0] > WALTZ_MARGIN * best[4][0] else 4
    return np.arange(best[meter][1], n, meter), meter


def _track(onset: np.ndarray, bpm, sr: int, hop: int) -> np.ndarray:
    import librosa

    _, frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=hop, bpm=bpm, trim=False)
    return librosa.frames_to_time(np.asarray(frames, dtype=int), sr=sr, hop_length=hop)


def _autocorrelation(onset: np.ndarray) -> np.ndarray:
    import librosa

    ac = librosa.autocorrelate(onset.astype(np.float64) - onset.mean())  # float64: librosa's float32 path warns
    return ac / ac[0] if ac[0] > 0 else np.zeros_like(ac)


def _autocorrelation_at(ac: np.ndarray, seconds: float, rate: float) -> float:
    """The onsets' autocorrelation (`_autocorrelation`) at a lag of `seconds`, best of ±1 frame."""
    lag = int(round(seconds * rate))
    return float(ac[max(lag - 1, 1):lag + 2].max()) if lag + 1 < len(ac) else 0.0


def _profile(env: np.ndarray, times: np.ndarray, rate: float, relative: bool = True) -> np.ndarray:
    """Mean envelope at BINS positions through each beat, relative to the beat's own (or as it is)."""
    ibi = np.diff(times)
    out = np.empty(BINS)
    for k in range(BINS):
        at = np.clip(np.round((times[:-1] + k / BINS * ibi) * rate).astype(int), 1, len(env) - 2)
        out[k] = np.mean(np.maximum(np.maximum(env[at - 1], env[at]), env[at + 1]))
    return out / (out[0] or 1.0) if relative else out


def _ternary(onset: np.ndarray, times: np.ndarray, bpm: float, rate: float) -> float | None:
    """The tempo when the tracked beat holds three sub-pulses (notes on its thirds, none on its
    half): 3/2 of it when the onsets repeat at two sub-pulses about as strongly as at four, else 3/4."""
    shape = _profile(onset, times, rate)
    if min(shape[BINS // 3], shape[2 * BINS // 3]) <= STRONG or shape[BINS // 2] >= WEAK:
        return None
    period = 60.0 / bpm
    ac = _autocorrelation(onset)
    two, four = _autocorrelation_at(ac, 2 * period / 3, rate), _autocorrelation_at(ac, 4 * period / 3, rate)
    return bpm * 1.5 if two >= 0.8 * four else bpm * 0.75


def _tempo_path(onset: np.ndarray, bpm: float, sr: int, hop: int) -> np.ndarray | None:
    """A tempo per onset frame when the song's tempo changes (a Viterbi path through its
    tempogram, within ±45 % of `bpm`, favouring small steps); None when it holds."""
    import librosa

    rate = sr / hop
    gram = _tempogram(onset, TEMPO_WINDOW)
    lags = np.arange(1, TEMPO_WINDOW)
    bpms = 60 * rate / lags
    near = (bpms > bpm / 1.45) & (bpms < bpm * 1.45)
    if near.sum() < 2:
        return None
    tempi = bpms[near]
    seen = np.maximum(gram[1:][near], 0)
    seen = np.log(seen / (seen.max(axis=0, keepdims=True) + 1e-9) + 1e-3) * 4
    octave = np.log2(tempi)
    prior = -0.5 * ((octave - np.log2(bpm)) / 0.15) ** 2
    step = -((octave[:, None] - octave[None, :]) / 0.02) ** 2
    score = seen[:, 0] + prior
    back = np.zeros(seen.shape[::-1], dtype=int)
    for t in range(1, seen.shape[1]):
        total = score[:, None] + step
        back[t] = np.argmax(total, axis=0)
        score = total[back[t], np.arange(len(tempi))] + seen[:, t] + prior
    path = [int(np.argmax(score))]
    for t in range(seen.shape[1] - 1, 0, -1):
        path.append(int(back[t][path[-1]]))
    curve = np.interp(np.arange(len(onset)), np.arange(seen.shape[1]) * TEMPO_STEP, tempi[path[::-1]])
    off = np.abs(curve / bpm - 1) > TEMPO_CHANGE
    out, changed, i = np.full_like(curve, bpm), False, 0
    while i < len(off):  # keep only long stretches off the song's tempo
        j = i
        while j < len(off) and off[j] == off[i]:
            j += 1
        if off[i] and j - i >= TEMPO_STRETCH * rate:
            out[i:j], changed = curve[i:j], True
        i = j
    return out if changed else None


def _tempogram(onset: np.ndarray, window: int) -> np.ndarray:
    """librosa's autocorrelation tempogram (Hann windows centred on the frames, columns
    normalised), but only every TEMPO_STEP-th column: the whole one holds `window` values per
    frame (~400 MB for 8 minutes) where the tempo needs a column every half second."""
    import librosa
    import scipy.signal

    padded = np.pad(onset, window // 2, mode="linear_ramp", end_values=(0, 0))
    columns = librosa.util.frame(padded, frame_length=window, hop_length=TEMPO_STEP)
    columns = columns[:, :int(np.ceil(len(onset) / TEMPO_STEP))]
    hann = scipy.signal.get_window("hann", window, fftbins=True)[:, None]
    out = np.empty(columns.shape)
    for i in range(0, columns.shape[1], 256):  # a few hundred columns at a time: flat memory
        out[:, i:i + 256] = librosa.autocorrelate(columns[:, i:i + 256] * hann, axis=0)
    return librosa.util.normalize(out, norm=np.inf, axis=0)


def _delayed(env: np.ndarray, lag: int) -> np.ndarray:
    """The envelope `lag` frames later (its value at t - lag), widened by a frame each side."""
    wide = np.maximum(np.maximum(env, np.roll(env, 1)), np.roll(env, -1))
    out = np.zeros_like(env)
    if 0 < lag < len(env):
        out[lag:] = wide[:-lag]
    return out


def _bass_phase(onset: np.ndarray, low: np.ndarray, times: np.ndarray, rate: float) -> np.ndarray:
    """Half a beat later when the half beats carry clearly more bass than the beats (the tracker
    took a loud off-beat)."""
    bass = _profile(low, times, rate, relative=False)
    if _profile(onset, times, rate)[BINS // 2] > 0.5 and bass[BINS // 2] > BASS_OFFBEAT * bass[0]:
        ibi = np.diff(times)
        return times + np.append(ibi, ibi[-1]) / 2
    return times
