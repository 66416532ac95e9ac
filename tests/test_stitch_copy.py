"""The stitch's stream copy in this process (mv.media.remux) on tiny real media: a valid video, the
song laid sample-exactly from its start, the same result as the ffmpeg path, ffmpeg where a
copy here would be wrong, and clips cut short by copy only where their frames allow it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from mv import media
from mv.media import remux

from .conftest import make_clip

RATE = 44100


def bframe_clip(path: Path, *, seconds: float = 2.0, tone: int = 440, extra: tuple[str, ...] = ()) -> Path:
    """An H.264 clip with B-frames (decode times before presentation times, as a model's
    clips have) and our encoders' headers; ``extra`` adds x264 options."""
    media.run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=24:duration={seconds}", "-f", "lavfi",
                      "-i", f"sine=frequency={tone}:duration={seconds}", "-c:v", "libx264", "-preset", "veryfast",
                      *(extra or media.STITCHABLE), "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path])
    return path


@pytest.fixture(scope="module")
def noise_song(tmp_path_factory) -> Path:
    """40 s of noise, transcoded as songs are on arrival: any misplacement shows in the samples.
    Loud white noise (seeded, so every run hears the same) is what an AAC encoder codes with
    perceptual noise substitution when allowed to, which a copy from mid-song would decode
    differently."""
    folder = tmp_path_factory.mktemp("noise")
    mp3 = folder / "noise.mp3"
    media.run_ffmpeg(["-f", "lavfi", "-i", "anoisesrc=d=40:c=white:a=0.5:seed=3", "-ac", "2", "-c:a", "libmp3lame", mp3])
    media.transcode_song(mp3, folder / "noise.m4a")
    return folder / "noise.m4a"


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("bclips")
    return [bframe_clip(folder / f"c{i}.mp4", tone=300 + 100 * i) for i in range(3)]


def samples(path: Path) -> np.ndarray:
    """The left channel of a file's first audio stream, decoded as a player would."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
    return np.concatenate([f[0] for f in frames]).astype(np.float64)


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def stream_counts(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        return len(container.streams.video), len(container.streams.audio)


def top_boxes(path: Path) -> list[str]:
    """The MP4's top-level boxes in file order (a browser can start playing when moov comes first)."""
    boxes, data = [], path.read_bytes()
    at = 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        boxes.append(data[at + 4:at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8:at + 16], "big")
        at += size or len(data)
    return boxes


def lag(out: np.ndarray, song: np.ndarray, begin: int, window: int = RATE // 2, reach: int = 2048) -> int:
    """Samples by which ``out`` lies late against the song from ``begin`` (cross-correlation
    over half a second taken one second in)."""
    ref = song[begin + RATE: begin + RATE + window]
    scores = [np.dot(out[RATE + shift: RATE + shift + window], ref) for shift in range(-reach, reach + 1)]
    return int(np.argmax(scores)) - reach


@pytest.mark.parametrize("start", [0.0, 4.3, 13.7777])
def test_a_copy_stitch_in_process_is_valid_and_lays_the_song_sample_exactly(tmp_path, clips, noise_song, start):
    out = tmp_path / "out.mp4"
    result = media.stitch(clips, out, audio=noise_song, audio_start=start, workdir=tmp_path)
    assert result.in_process and result.reencoded == 0
    info = media.probe(out)
    assert stream_counts(out) == (1, 1) and info.video.frames == 3 * 48 and len(decoded_frames(out)) == 3 * 48
    assert info.video.duration == pytest.approx(6.0, abs=1e-6)
    assert 6.0 <= info.audio.duration < 6.0 + 1024 / RATE  # to the video's end, at most one AAC frame past it
    boxes = top_boxes(out)
    assert boxes.index("moov") < boxes.index("mdat")
    heard, song = samples(out), samples(noise_song)
    begin = round(start * RATE)
    assert np.abs(heard[: 6 * RATE] - song[begin: begin + 6 * RATE]).max() < 1e-6  # the song's own samples, from its start


def test_the_in_process_and_ffmpeg_stitches_agree(tmp_path, clips, noise_song):
    here = media.stitch(clips, tmp_path / "here.mp4", audio=noise_song, audio_start=7.5, workdir=tmp_path)
    there = media.stitch(clips, tmp_path / "there.mp4", audio=noise_song, audio_start=7.5, workdir=tmp_path,
                         in_process=False)
    assert here.in_process and not there.in_process
    a, b = media.probe(tmp_path / "here.mp4"), media.probe(tmp_path / "there.mp4")
    assert (a.video.frames, a.video.duration) == (b.video.frames, b.video.duration)
    assert a.audio.duration == pytest.approx(b.audio.duration, abs=1024 / RATE)
    song, begin = samples(noise_song), round(7.5 * RATE)
    assert lag(samples(tmp_path / "here.mp4"), song, begin) == 0
    assert abs(lag(samples(tmp_path / "there.mp4"), song, begin)) <= 2
    assert all(np.array_equal(x, y) for x, y in zip(decoded_frames(tmp_path / "here.mp4"),
                                                    decoded_frames(tmp_path / "there.mp4"), strict=True))


def test_a_song_that_is_not_aac_is_stitched_by_ffmpeg(tmp_path, clips, song_mp3):
    result = media.stitch(clips, tmp_path / "out.mp4", audio=song_mp3, workdir=tmp_path)
    info = media.probe(tmp_path / "out.mp4")
    assert not result.in_process and info.audio.codec == "aac" and info.video.frames == 3 * 48


def test_clips_with_other_parameter_sets_are_joined_by_ffmpeg_and_decode_exactly(tmp_path, noise_song):
    """Same size, rate and profile, but another encoder's SPS/PPS: one copied under the
    other's would decode wrongly. The copy here refuses; ffmpeg's join decodes exactly."""
    ours = bframe_clip(tmp_path / "ours.mp4")
    theirs = bframe_clip(tmp_path / "theirs.mp4", extra=("-x264-params", "weightp=0:cabac=0"))
    assert media.probe(ours).video.signature() == media.probe(theirs).video.signature()
    result = media.stitch([ours, theirs], tmp_path / "out.mp4", audio=noise_song, workdir=tmp_path)
    assert not result.in_process and result.reencoded == 0
    expected = decoded_frames(ours) + decoded_frames(theirs)
    assert all(np.array_equal(x, y) for x, y in zip(decoded_frames(tmp_path / "out.mp4"), expected, strict=True))


def test_an_index_outgrowing_its_room_is_stitched_by_ffmpeg(tmp_path, clips, noise_song, monkeypatch):
    monkeypatch.setattr(remux, "_MOOV_ROOM", 512)
    monkeypatch.setattr(remux, "_MOOV_BYTES_PER_PACKET", 0)
    result = media.stitch(clips, tmp_path / "out.mp4", audio=noise_song, workdir=tmp_path)
    assert not result.in_process and result.frames == 3 * 48
    assert len(decoded_frames(tmp_path / "out.mp4")) == 3 * 48


def copyable_cuts(path: Path) -> list[int]:
    """Frame counts at which the frames decoded first are exactly the frames shown first."""
    with av.open(str(path)) as container:
        shown = [p.pts for p in container.demux(video=0) if p.dts is not None]
    ranked = sorted(shown)
    return [n for n in range(1, len(shown)) if set(shown[:n]) == set(ranked[:n])]


def test_a_clip_is_cut_by_copy_exactly_where_its_first_frames_decode_on_their_own(tmp_path):
    clip = bframe_clip(tmp_path / "clip.mp4", extra=(*media.STITCHABLE, "-g", "12"))
    allowed = copyable_cuts(clip)
    assert 12 in allowed and 0 < len(allowed) < 47  # a keyframe every 12; B-frames rule out some cuts
    whole, video = decoded_frames(clip), media.probe(clip).video
    for frames in range(1, 48):
        cut = tmp_path / f"cut-{frames}.mp4"
        made = media.make_part(clip, cut, video, frames, video, tmp_path)
        assert (made.how == "copy") == (frames in allowed) and made.how in ("copy", "smart")
        if frames in allowed:
            assert all(np.array_equal(x, y) for x, y in zip(decoded_frames(cut), whole[:frames], strict=True))


def test_a_stitch_to_slots_reencodes_only_the_clips_no_copy_can_cut(tmp_path, clips, noise_song):
    cut = max(n for n in copyable_cuts(clips[0]) if n < 47)
    denied = next(n for n in range(30, 47) if n not in copyable_cuts(clips[2]))
    lengths = [cut / 24, 2.0, denied / 24]
    result = media.stitch(clips, tmp_path / "out.mp4", audio=noise_song, workdir=tmp_path, lengths=lengths)
    frames = sum(media.frame_counts(lengths, "24/1"))
    assert result.in_process and result.reencoded == 1 and result.frames == frames
    assert len(decoded_frames(tmp_path / "out.mp4")) == frames
