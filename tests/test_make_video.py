"""`manage.py make_video` on the local provider."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from mv import media
from mv.models import Clip

from .conftest import dominant_hz


def test_make_video_writes_a_stitched_video_with_lipsync(transactional_db, song_mp3, tmp_path, capsys):
    out = tmp_path / "final.mp4"
    call_command("make_video", audio=str(song_mp3), idea="a street parade", flavor="mv1", scenes=3, lipsync="2",
                 out=str(out))
    info = media.probe(out)
    assert abs(info.video.duration - 24) < 0.05 and info.audio is not None
    assert Clip.objects.filter(kind="lipsync", status="succeeded").count() == 1
    assert "wrote" in capsys.readouterr().out


def test_make_video_fails_clearly_on_a_missing_song(transactional_db, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("make_video", audio=str(tmp_path / "nope.mp3"), idea="x", out=str(tmp_path / "o.mp4"))


def test_make_video_rejects_a_bad_lipsync_choice(transactional_db, song_mp3, tmp_path):
    with pytest.raises(CommandError, match="no scene 9"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=2, lipsync="9", out=str(tmp_path / "o.mp4"))


def _nothing_started() -> bool:
    from mv.models import AudioTrack, Project

    return not (AudioTrack.objects.exists() or Project.objects.exists() or Clip.objects.exists())


def test_a_bad_lipsync_choice_is_refused_before_any_work_starts(transactional_db, song_mp3, tmp_path):
    with pytest.raises(CommandError, match=r"no scene 9 \(the video has 4 scenes\)"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=4, lipsync="1,9", out=str(tmp_path / "o.mp4"))
    with pytest.raises(CommandError, match="all, none, or scene numbers"):
        call_command("make_video", audio=str(song_mp3), idea="x", lipsync="first", out=str(tmp_path / "o.mp4"))
    assert _nothing_started()


def test_a_song_too_short_for_a_lipsync_scene_is_refused_before_any_work_starts(transactional_db, tmp_path):
    song = tmp_path / "short.mp3"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=300:duration=10", "-c:a", "libmp3lame", song])
    with pytest.raises(CommandError, match=r"scene 3 would start 16.00 s into the song, but the song is only 10.0\d s"):
        call_command("make_video", audio=str(song), idea="x", scenes=3, lipsync="3", out=str(tmp_path / "o.mp4"))
    assert _nothing_started()


def test_a_pipeline_refusal_is_a_clear_command_error(transactional_db, song_mp3, tmp_path, monkeypatch):
    from mv import pipeline

    def refuse(**kwargs):
        raise ValueError("start_time and end_time must satisfy 0 <= start < end <= 40.000 (the track length)")

    monkeypatch.setattr(pipeline, "request_lipsync", refuse)
    with pytest.raises(CommandError, match=r"lipsync of scene 2 \(8.00-16.00 s\): start_time and end_time must"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=2, lipsync="2", out=str(tmp_path / "o.mp4"))

    def no_stitch(*args, **kwargs):
        raise ValueError("no clips")

    monkeypatch.setattr(pipeline, "restitch_project", no_stitch)
    with pytest.raises(CommandError, match="^no clips$"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=1, out=str(tmp_path / "o.mp4"))


def test_make_video_through_the_replicate_client(fake_replicate, transactional_db, song_mp3, tmp_path, capsys):
    out = tmp_path / "final.mp4"
    call_command("make_video", audio=str(song_mp3), idea="a night market", flavor="mv1", scenes=2, lipsync="2",
                 out=str(out))
    info = media.probe(out)
    assert abs(info.video.duration - 16) < 0.1 and info.audio is not None
    assert "a night market" in fake_replicate.llm_inputs()[0]["prompt"]
    assert fake_replicate.creates("google/veo-3.1") == 2 and fake_replicate.creates("sync/lipsync-2-pro") == 1
    sent = fake_replicate.requests_to("POST", r"/v1/models/sync/lipsync-2-pro/predictions")[0]["json"]["input"]
    wav = fake_replicate.uploaded(sent["audio"])
    assert abs((len(wav) - 44) / (44100 * 2 * 2) - 8.0) < 0.01  # scene 2's slice: 8 s of the song
    assert abs(dominant_hz(wav) - 440) < 3  # 8-16 s of the song, not its start
    clips = Clip.objects.filter(provider="replicate")
    assert clips.count() == 3 and all(c.status == "succeeded" and c.prediction_id for c in clips)
    assert "wrote" in capsys.readouterr().out


def test_an_unknown_flavor_exits_non_zero_and_lists_the_flavors(transactional_db, song_mp3, tmp_path):
    from mv import flavors

    with pytest.raises(CommandError) as caught:
        call_command("make_video", audio=str(song_mp3), idea="x", flavor="nosuch", out=str(tmp_path / "o.mp4"))
    assert "'nosuch'" in str(caught.value)
    assert all(name in str(caught.value) for name in flavors.names())
    assert _nothing_started()


def test_an_unknown_flavor_from_the_command_line_exits_with_status_1(tmp_path, song_mp3):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "manage.py", "make_video", "--audio", str(song_mp3), "--idea", "x",
                             "--flavor", "nosuch", "--out", str(tmp_path / "o.mp4")],
                            cwd=root, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "mvsite.settings",
                                 "MV_SQLITE_PATH": str(tmp_path / "db.sqlite3")})
    assert result.returncode == 1
    assert "there is no config flavor 'nosuch'; choose one of: default" in result.stderr
    assert "Traceback" not in result.stderr
