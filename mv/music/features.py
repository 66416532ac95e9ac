"""A song's per-frame features, made block by block from a stream of samples, so the analysis
holds about the same memory whatever the song's length: a block of ~51 s of audio (with the
margins its transforms need), per-frame numbers (onsets, bass power, 13 MFCCs) and per-beat
summaries of the CQT, never a whole spectrogram or the whole decoded song.

Three passes over the samples (a file is decoded again for each; decoding is cheap next to the
transforms): loudness and the spectrum's top level, then the mel-band features the beats are
found from, then, once the beats are known, the harmony summarised beat by beat. The values
are librosa's (log-mel with top_db, onset strength, MFCC, CQT, chroma, beat-synchronous
medians), made in pieces: the same numbers as on the whole song, to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

SR = 22050
HOP = 512  # ~23 ms frames
N_FFT = 2048
ENVELOPE_STEP = SR // 10  # samples per loudness point (0.1 s)
BLOCK = 2048 * HOP  # samples a block (47.6 s): whole frames
MEL_MARGIN = N_FFT // 2  # a centred frame reaches half an FFT either side
CQT_MARGIN = 128 * HOP  # ~3 s: twice the longest CQT filter's half-length (C1 at 36 bins an octave)
TOP_DB = 80.0  # librosa's floor below the loudest value, for log-mel and the CQT

Source = Callable[[], Iterator[np.ndarray]]  # each call: the song's mono float32 samples again, in chunks


def array_source(y: np.ndarray) -> Source:
    return lambda: (y[i:i + BLOCK] for i in range(0, len(y), BLOCK))


@dataclass(frozen=True)
class _Window:
    first: int  # the block's first sample in the song
    size: int  # its samples (BLOCK, less for the last)
    seg: np.ndarray  # the block with up to `margin` samples of the song either side
    lead: int  # samples of seg before `first`
    last: bool  # no samples follow the block


def _windows(source: Source, margin: int, limit: int | None = None) -> Iterator[_Window]:
    """Blocks of BLOCK samples with `margin` samples of context either side (less at the song's
    ends); stops after `limit` samples when given."""
    chunks = source()
    buf, start, done, first = np.zeros(0, dtype=np.float32), 0, False, 0
    while True:
        want = first + BLOCK + margin
        while not done and start + len(buf) < want:
            chunk = next(chunks, None)
            if chunk is None:
                done = True
            else:
                buf = np.concatenate([buf, np.asarray(chunk, dtype=np.float32)])
        end = start + len(buf)
        if first >= end or (limit is not None and first >= limit):
            return
        lo = max(0, first - margin)
        size = min(BLOCK, end - first)
        yield _Window(first, size, buf[lo - start:min(want, end) - start], first - lo,
                      done and first + size >= end)
        first += BLOCK
        keep = max(0, first - margin)
        if keep > start:
            buf, start = buf[keep - start:], keep


def _frame_range(w: _Window) -> tuple[int, int]:
    """The centred frames whose centres fall in the block (the last block: up to the song's last frame)."""
    a = w.first // HOP
    b = (w.first + w.size) // HOP + 1 if w.last else -(-(w.first + w.size) // HOP)
    return a, b


def _mel_power(w: _Window, a: int, b: int) -> np.ndarray:
    """Mel power (128 bands) of frames [a, b): the STFT of their samples, zeros past the song's ends."""
    import librosa

    part = np.zeros(N_FFT + (b - a - 1) * HOP, dtype=np.float32)
    lo = a * HOP - MEL_MARGIN  # song sample at part[0]
    seg_lo = w.first - w.lead
    src_a, src_b = max(lo, seg_lo), min(lo + len(part), seg_lo + len(w.seg))
    if src_b > src_a:
        part[src_a - lo:src_b - lo] = w.seg[src_a - seg_lo:src_b - seg_lo]
    power = np.abs(librosa.stft(part, n_fft=N_FFT, hop_length=HOP, center=False)) ** 2
    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=128) @ power


@dataclass(frozen=True)
class Loudness:
    samples: int
    rms: np.ndarray  # per 0.1 s
    mel_top: float  # the loudest mel value in dB (log-mel's top_db is below it)


def loudness(source: Source, limit: int | None = None) -> Loudness:
    """Pass 1: RMS per 0.1 s of the whole song (its last step padded with silence), and the
    loudest mel value of its first `limit` samples."""
    squares, samples, top = np.zeros(0), 0, 1e-10
    for w in _windows(source, MEL_MARGIN):
        core = w.seg[w.lead:w.lead + w.size].astype(np.float64)
        step = (w.first + np.arange(len(core))) // ENVELOPE_STEP
        if len(core):
            if step[-1] >= len(squares):
                squares = np.concatenate([squares, np.zeros(step[-1] + 1 - len(squares))])
            squares[step[0]:step[-1] + 1] += np.bincount(step - step[0], weights=core ** 2)
        samples = w.first + w.size
        if limit is None or w.first < limit:
            top = max(top, float(_mel_power(w, *_frame_range(w)).max()))
    return Loudness(samples, np.sqrt(squares / ENVELOPE_STEP), 10 * np.log10(top))


@dataclass(frozen=True)
class Spectral:
    onset: np.ndarray  # librosa's onset strength of the log-mel bands
    low_onset: np.ndarray  # the same of the bands under 200 Hz
    high_onset: np.ndarray  # the same of the bands from 1.5 to 6 kHz (snares, claps: the backbeat)
    low_power: np.ndarray  # power under 150 Hz
    mfcc: np.ndarray  # 13 x frames


def spectral(source: Source, mel_top: float) -> Spectral:
    """Pass 2: what the beats are found from, frame by frame."""
    import librosa

    mel_freqs = librosa.mel_frequencies(n_mels=128, fmax=SR / 2)
    low, bass, high = mel_freqs < 200, mel_freqs < 150, (mel_freqs > 1500) & (mel_freqs < 6000)
    flux, low_flux, high_flux, low_power, mfcc, previous = [], [], [], [], [], None
    for w in _windows(source, MEL_MARGIN):
        a, b = _frame_range(w)
        logmel = np.maximum(10 * np.log10(np.maximum(1e-10, _mel_power(w, a, b))), mel_top - TOP_DB)
        joined = logmel if previous is None else np.concatenate([previous, logmel], axis=1)
        rise = np.maximum(0.0, np.diff(joined, axis=1))
        flux.append(rise.mean(axis=0))
        low_flux.append(rise[low].mean(axis=0))
        high_flux.append(rise[high].mean(axis=0))
        low_power.append(librosa.db_to_power(logmel[bass]).sum(axis=0))
        mfcc.append(librosa.feature.mfcc(S=logmel, n_mfcc=13).astype(np.float32))  # a copy: librosa's is a view of all 128
        previous = logmel[:, -1:].copy()
    frames = sum(len(p) for p in low_power)

    def onset(parts: list[np.ndarray]) -> np.ndarray:  # librosa pads lag + n_fft // (2 * hop) frames in front
        return np.concatenate([np.zeros(3, dtype=np.float32), *parts])[:frames].astype(np.float32)

    return Spectral(onset(flux), onset(low_flux), onset(high_flux), np.concatenate(low_power),
                    np.concatenate(mfcc, axis=1))


class _Synced:
    """librosa.util.sync of a feature made block by block: its aggregate over each interval
    between `bounds` (frame indices, as librosa.util.fix_frames gives them)."""

    def __init__(self, bounds: np.ndarray, rows: int, aggregate=np.median) -> None:
        self.bounds, self.aggregate = bounds, aggregate
        self.out = np.zeros((rows, max(len(bounds) - 1, 0)), dtype=np.float32)
        self.k, self.pending = 0, None

    def add(self, start: int, columns: np.ndarray) -> None:
        stop = start + columns.shape[1]
        while self.k < len(self.bounds) - 1:
            a, b = self.bounds[self.k], self.bounds[self.k + 1]
            if a >= stop:
                return
            part = columns[:, max(a, start) - start:min(b, stop) - start]
            self.pending = part if self.pending is None else np.concatenate([self.pending, part], axis=1)
            if b > stop:
                return
            self.out[:, self.k] = self.aggregate(self.pending, axis=1) if self.pending.shape[1] else 0.0
            self.k, self.pending = self.k + 1, None


@dataclass(frozen=True)
class Harmony:
    chroma: np.ndarray  # 12 x (beats - 1): the median chroma between consecutive beats
    cqt_db: np.ndarray  # 252 x (len(inner) + 1): the median CQT in dB (top 0, floor -80) per stretch


def harmony(source: Source, frames: int, beats: np.ndarray, inner: np.ndarray) -> Harmony:
    """Pass 3: the CQT (7 octaves from C1, 36 bins an octave; tuning=0 skips a pitch-tracking pass
    that only shifts the bins by a fraction of a semitone), summarised between the beats (chroma)
    and between `inner` frames padded with the song's ends (the sections' recurrence)."""
    import librosa

    chroma = _Synced(librosa.util.fix_frames(beats, x_min=0, x_max=frames, pad=False), 12)
    cqt = _Synced(librosa.util.fix_frames(inner, x_min=0, x_max=frames, pad=True), 7 * 36)
    top = -np.inf
    for w in _windows(source, CQT_MARGIN):
        a, b = _frame_range(w)
        b = min(b, frames)
        skip = w.lead // HOP
        block = np.abs(librosa.cqt(y=w.seg, sr=SR, hop_length=HOP, bins_per_octave=36, n_bins=7 * 36,
                                   tuning=0.0))[:, skip:skip + b - a]
        chroma.add(a, librosa.feature.chroma_cqt(C=block, sr=SR, hop_length=HOP, bins_per_octave=36))
        db = 20 * np.log10(np.maximum(1e-5, block))
        top = max(top, float(db.max()) if db.size else top)
        cqt.add(a, db)
    return Harmony(chroma.out, np.maximum(cqt.out - top, -TOP_DB))
