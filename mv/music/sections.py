"""A song's sections: where they start (repetition found in the harmony and timbre of its
beats) and what they are called (intro, verse, chorus, bridge, outro when repetition and
loudness tell them apart, else A, B, C). Part of mv.music.analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SECTION_BARS = 4
# A graph has as many zero Laplacian eigenvalues as it has disconnected parts; the beat graph's
# near-zero ones count the kinds of section (k for k-means). On the synthetic songs they are
# below 0.01 and the next is above 0.05; one groove looped gives ~0.08 (one section).
NEAR_ZERO = 0.04
MAX_SECTION_KINDS = 6


@dataclass(frozen=True)
class Section:
    start: float
    end: float
    label: str
    energy: float  # 0..1, the loudest section is 1


def find_sections(csync: np.ndarray, inner: np.ndarray, mfcc: np.ndarray, n_frames: int, times: np.ndarray,
                  downbeats: np.ndarray, duration: float, *, sr: int, hop: int) -> tuple[list[float], list[int]]:
    """Section start times and a repetition group per section (Laplacian segmentation, McFee & Ellis 2014).

    `csync`: the CQT in dB, its median between the song's ends and the beat frames `inner`
    (mv.music.features.harmony). Beat-synchronous CQT recurrence plus an MFCC path graph, the normalised Laplacian's
    eigenvectors and k-means with k the number of near-zero eigenvalues; boundaries are the padded beat times
    (the gallery recipe maps them one beat late), then snapped to bar starts.
    """
    import librosa
    import scipy.linalg
    import scipy.ndimage
    import scipy.sparse.csgraph
    from scipy.cluster.vq import kmeans2

    edges = librosa.util.fix_frames(inner, x_min=0, x_max=n_frames)
    edge_times = librosa.frames_to_time(edges, sr=sr, hop_length=hop)
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


def label_sections(bounds: list[float], groups: list[int], envelope: list[float], duration: float, *,
                   envelope_rate: int) -> list[Section]:
    """Name sections from repetition and loudness; letters (A, B, C by first appearance) when names can't be told."""
    ends = bounds[1:] + [duration]
    env = np.asarray(envelope) if envelope else np.zeros(1)

    def loud(s: float, e: float) -> float:
        part = env[int(s * envelope_rate):max(int(s * envelope_rate) + 1, int(e * envelope_rate))]
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
