"""Every ffmpeg path on tiny real media: probing, slices, stitching traps, local renders."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mv import media

from .conftest import make_clip


def test_probe_reads_streams_without_ffprobe(clip_mp4):
    info = media.probe(clip_mp4)
    assert info.video.codec == "h264" and info.video.fps == "24/1" and info.audio.codec == "aac"
    assert abs(info.duration - 2) < 0.05


def test_cut_audio_is_sample_accurate_and_takes_the_right_part(song_mp3, tmp_path):
    out = tmp_path / "slice.wav"
    length = media.cut_audio(song_mp3, 8.0, 16.0, out)
    assert abs(length - 8.0) < 0.001
    import av
    import numpy as np

    with av.open(str(out)) as container:
        channels = container.streams.audio[0].codec_context.channels
        interleaved = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    samples = interleaved[::channels]  # the left channel of packed 16-bit PCM
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * 44100 / len(samples)
    assert abs(peak_hz - 440) < 2  # the song's second 8 s are a 440 Hz tone


def test_require_audio_rejects_text_and_truncated_files(tmp_path, song_mp3, clip_mp4):
    text = tmp_path / "fake.mp3"
    text.write_text("hello " * 500)
    with pytest.raises(media.MediaError):
        media.require_audio(text)
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(clip_mp4.read_bytes()[:3000])
    with pytest.raises(media.MediaError):
        media.require_audio(cut)
    assert media.require_audio(song_mp3).audio is not None


def test_stitch_copies_uniform_clips_and_lays_the_song_under_them(tmp_path, song_mp3):
    clips = [make_clip(tmp_path / f"c{i}.mp4", tone=300 + i * 100) for i in range(3)]
    song = tmp_path / "song.m4a"
    media.transcode_song(song_mp3, song)
    result = media.stitch(clips, tmp_path / "out.mp4", audio=song, audio_start=4.0, workdir=tmp_path)
    info = media.probe(tmp_path / "out.mp4")
    assert result.reencoded == 0 and info.video.frames == 3 * 48
    assert abs(info.video.duration - 6.0) < 0.05 and abs(info.audio.duration - 6.0) < 0.1


def test_stitch_does_not_drift_when_clip_audio_outlasts_its_video(tmp_path, song_mp3):
    clips = []
    for i in range(4):
        path = tmp_path / f"long-audio-{i}.mp4"
        media.run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24:duration=2", "-f", "lavfi",
                          "-i", "sine=frequency=500:duration=2.05", "-c:v", "libx264", "-preset", "ultrafast",
                          "-pix_fmt", "yuv420p", "-c:a", "aac", path])
        clips.append(path)
    song = tmp_path / "song.m4a"
    media.transcode_song(song_mp3, song)
    media.stitch(clips, tmp_path / "out.mp4", audio=song, workdir=tmp_path)
    info = media.probe(tmp_path / "out.mp4")
    assert abs(info.video.duration - 8.0) < 0.05 and info.video.frames == 4 * 48


def test_stitch_reencodes_only_the_odd_clip(tmp_path, song_mp3):
    clips = []
    for i in range(3):  # clips our encoder made share its SPS/PPS, so they can be copied next to a re-encoded one
        clips.append(tmp_path / f"c{i}.mp4")
        media.render_preview_clip(clips[-1], label=str(i), text="x", duration=2, size="320x180", seed=i)
    clips.insert(1, make_clip(tmp_path / "odd.mp4", size="256x256", rate=30))
    song = tmp_path / "song.m4a"
    media.transcode_song(song_mp3, song)
    result = media.stitch(clips, tmp_path / "out.mp4", audio=song, workdir=tmp_path)
    info = media.probe(tmp_path / "out.mp4")
    assert result.reencoded == 1 and (info.video.width, info.video.height) == (320, 180)
    assert abs(info.video.duration - 8.0) < 0.06


def test_stitch_reencodes_every_clip_when_the_odd_one_cannot_share_their_parameter_sets(tmp_path):
    """Another encoder's SPS/PPS (here x264 ultrafast: no CABAC) would decode our re-encoded
    clip wrongly after a copy, without an error: every clip is re-encoded alike instead."""
    clips = [make_clip(tmp_path / f"c{i}.mp4") for i in range(2)]
    clips.insert(1, make_clip(tmp_path / "odd.mp4", size="256x256", rate=30))
    result = media.stitch(clips, tmp_path / "out.mp4", workdir=tmp_path)
    assert result.reencoded == 3 and result.frames == 3 * 48


def test_stitch_keeps_clip_sound_when_asked_and_no_song(tmp_path):
    clips = [make_clip(tmp_path / f"c{i}.mp4") for i in range(2)]
    media.stitch(clips, tmp_path / "out.mp4", suppress_video_audio=False, workdir=tmp_path)
    assert media.probe(tmp_path / "out.mp4").audio is not None


def test_local_preview_clip_is_real_labelled_video(tmp_path):
    out = tmp_path / "preview.mp4"
    media.render_preview_clip(out, label="Scene 2", text="a kite over the sea", duration=4, size="320x180", seed=7)
    info = media.require_video(out)
    assert info.video.codec == "h264" and info.audio.codec == "aac" and abs(info.video.duration - 4) < 0.05
    assert not list(Path(tmp_path).glob("*.part*")) and not list(Path(tmp_path).glob("text-*"))


def test_waveform_and_poster_are_pictures(tmp_path, song_mp3, clip_mp4):
    media.waveform_png(song_mp3, tmp_path / "w.png", marks=[8, 16])
    media.poster(clip_mp4, tmp_path / "p.jpg")
    assert (tmp_path / "w.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "p.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_poster_is_the_frame_at_the_asked_time(tmp_path):
    """Red for the first second, blue after: the poster at 0.2 s is red, at 1.5 s blue."""
    import av

    clip = tmp_path / "two-colours.mp4"
    media.run_ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=96x64:r=24:d=1", "-f", "lavfi", "-i",
                      "color=c=blue:s=96x64:r=24:d=1", "-filter_complex", "[0][1]concat=n=2", "-c:v", "libx264",
                      "-pix_fmt", "yuv420p", str(clip)])

    def colour(at: float) -> tuple[float, float, float]:
        media.poster(clip, tmp_path / "p.jpg", at=at)
        assert (tmp_path / "p.jpg").read_bytes()[:2] == b"\xff\xd8"
        with av.open(str(tmp_path / "p.jpg")) as image:
            frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == (96, 64)
        pixels = frame.to_ndarray(format="rgb24").reshape(-1, 3)
        return tuple(pixels.mean(axis=0))

    red, _, blue = colour(0.2)
    assert red > 200 and blue < 60
    red, _, blue = colour(1.5)
    assert blue > 200 and red < 60


def test_poster_of_a_file_without_video_is_a_media_error(tmp_path, song_mp3):
    with pytest.raises(media.MediaError):
        media.poster(song_mp3, tmp_path / "p.jpg")
    assert not (tmp_path / "p.jpg").exists()


def test_prune_media_removes_only_old_unreferenced_files(user, song_mp3, settings):
    import os
    import time

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    root = Path(settings.MEDIA_ROOT)
    left = root / "songs" / ".incoming-abc-half.m4a"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_bytes(b"half")
    orphan = root / "clips" / "orphan.mp4"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"no row")
    young = root / "clips" / "young.mp4"
    young.write_bytes(b"work in progress")
    old = time.time() - 7200
    for path in [left, orphan, *[root / f.name for f in (track.file, track.original, track.waveform)]]:
        os.utime(path, (old, old))
    call_command("prune_media", stdout=io.StringIO())
    assert not left.exists() and not orphan.exists() and young.exists()
    for field in (track.file, track.original, track.waveform):
        assert (root / field.name).exists()


def test_stored_files_are_complete_under_their_names(user, song_mp3, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    names = [p.name for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert not [n for n in names if n.startswith(".incoming-")]
    assert (Path(settings.MEDIA_ROOT) / track.original.name).read_bytes() == song_mp3.read_bytes()


def test_user_text_is_drawn_literally_never_expanded(tmp_path):
    """drawtext's %{...} expansion is off: "100%{ now" renders, and %{e:1+1} is not evaluated
    (its picture differs from one showing the expression's value)."""
    media.render_preview_clip(tmp_path / "c.mp4", label="1", text="save 100%{ now", duration=1, size="160x90")
    assert media.require_video(tmp_path / "c.mp4").video is not None
    pictures = {}
    for name, text in (("expr", "%{e:1+1}"), ("value", "2.000000"), ("again", "%{e:1+1}")):
        media.render_preview_image(tmp_path / f"{name}.png", label="x", text=text, size="256x256", seed=1)
        pictures[name] = (tmp_path / f"{name}.png").read_bytes()
    assert pictures["expr"] == pictures["again"] and pictures["expr"] != pictures["value"]
