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
                 song_to=24, out=str(out))
    info = media.probe(out)
    assert abs(info.video.duration - 24) < 0.05 and info.audio is not None
    assert Clip.objects.filter(kind="lipsync", status="succeeded").count() == 1
    assert "wrote" in capsys.readouterr().out


def test_make_video_fails_clearly_on_a_missing_song(transactional_db, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("make_video", audio=str(tmp_path / "nope.mp3"), idea="x", out=str(tmp_path / "o.mp4"))


def test_make_video_rejects_a_bad_lipsync_choice(transactional_db, song_mp3, tmp_path):
    with pytest.raises(CommandError, match="no scene 9"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=2, lipsync="9", song_to=16,
                     out=str(tmp_path / "o.mp4"))


def _nothing_started() -> bool:
    from mv.models import AudioTrack, Project

    return not (AudioTrack.objects.exists() or Project.objects.exists() or Clip.objects.exists())


def test_a_bad_lipsync_choice_is_refused_before_any_work_starts(transactional_db, song_mp3, tmp_path):
    with pytest.raises(CommandError, match=r"no scene 9 \(the video has 4 scenes\)"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=4, lipsync="1,9", song_to=32,
                     out=str(tmp_path / "o.mp4"))
    with pytest.raises(CommandError, match="all, none, or scene numbers"):
        call_command("make_video", audio=str(song_mp3), idea="x", lipsync="first", out=str(tmp_path / "o.mp4"))
    assert _nothing_started()


def test_a_plan_that_does_not_fit_the_song_is_refused_with_the_numbers_before_any_work_starts(transactional_db,
                                                                                               tmp_path):
    song = tmp_path / "short.mp3"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=300:duration=10", "-c:a", "libmp3lame", song])
    with pytest.raises(CommandError, match=r"^5 scenes of at least 4 s need 20 s; the chosen part of the song is 10 s"):
        call_command("make_video", audio=str(song), idea="x", scenes=5, lipsync="3", out=str(tmp_path / "o.mp4"))
    with pytest.raises(CommandError, match=r"^song_end must not be past the end of the track"):
        call_command("make_video", audio=str(song), idea="x", song_to=30, out=str(tmp_path / "o.mp4"))
    assert _nothing_started()


def test_a_pipeline_refusal_is_a_clear_command_error(transactional_db, song_mp3, tmp_path, monkeypatch):
    from mv.errors import Refused
    from mv.pipeline import rendering, stitching

    def refuse(**kwargs):
        raise Refused("invalid_times", "end_time must not be past the end of the track")

    monkeypatch.setattr(rendering, "request_lipsync", refuse)
    with pytest.raises(CommandError, match=r"lipsync of scene 2: end_time must not be past the end of the track"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=2, lipsync="2", song_to=16,
                     out=str(tmp_path / "o.mp4"))

    def no_stitch(*args, **kwargs):
        raise Refused("scenes_not_ready", "Every scene needs a finished clip before the video can be stitched.")

    monkeypatch.setattr(stitching, "restitch_project", no_stitch)
    with pytest.raises(CommandError, match="^Every scene needs a finished clip"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=1, song_to=8, out=str(tmp_path / "o.mp4"))


def test_make_video_through_the_replicate_client(fake_replicate, transactional_db, song_mp3, tmp_path, capsys):
    out = tmp_path / "final.mp4"
    call_command("make_video", audio=str(song_mp3), idea="a night market", flavor="mv1", scenes=2, lipsync="2",
                 song_to=16, out=str(out))
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


def test_dry_run_prints_the_plan_and_the_estimate_and_creates_nothing(transactional_db, song_mp3, settings, capsys):
    from mv import costs, flavors

    settings.MV_PROVIDER = "replicate"
    call_command("make_video", audio=str(song_mp3), idea="a street parade", flavor="mv1", scenes=3, lipsync="2",
                 song_to=24, dry_run=True)
    out = capsys.readouterr().out
    expected = costs.estimate_project(flavors.resolve("mv1"), clip_seconds=[8, 8, 8], generate_audio=True,
                                      lipsync_seconds=[8], scene_writing=True, images=0)
    assert "plan: flavor mv1, 3 scenes from 0.00 to 24.00 s of the song, lipsync: 2" in out
    assert "scene 2:   8.00- 16.00 s (8.00 s, clip 8 s)" in out
    assert f"estimate: {expected.summary}" in out
    assert "estimate: ≈ $10.27 — 3 clips × 8 s with audio at veo-3.1 ($0.40/s); 1 lipsync × 8 s at lipsync-2-pro" in out
    assert "dry run: nothing was created or paid for" in out
    assert _nothing_started()


def test_dry_run_on_the_local_renderer_says_it_is_free(transactional_db, song_mp3, capsys):
    call_command("make_video", audio=str(song_mp3), idea="x", scenes=5, dry_run=True)
    assert "estimate: $0.00 — local preview: free" in capsys.readouterr().out
    assert _nothing_started()


def test_max_cost_refuses_a_dearer_plan_before_any_work_starts(transactional_db, song_mp3, settings, tmp_path):
    settings.MV_PROVIDER = "replicate"
    with pytest.raises(CommandError, match=r"^--max-cost: This would cost about \$10\.27, more than the \$5\.00 allowed\. "
                                           r"Plan: ≈ \$10\.27 — 3 clips"):
        call_command("make_video", audio=str(song_mp3), idea="x", scenes=3, lipsync="2", max_cost=5, song_to=24,
                     out=str(tmp_path / "o.mp4"))
    assert _nothing_started()


def test_max_cost_lets_the_free_local_renderer_run(transactional_db, song_mp3, tmp_path, capsys):
    out = tmp_path / "final.mp4"
    call_command("make_video", audio=str(song_mp3), idea="x", scenes=1, max_cost=0, song_to=8, out=str(out))
    assert out.is_file()
    assert "estimate: $0.00 — local preview: free" in capsys.readouterr().err


def test_out_is_required_without_dry_run_and_max_cost_must_be_a_sum_of_money(transactional_db, song_mp3, tmp_path):
    with pytest.raises(CommandError, match="--out is required"):
        call_command("make_video", audio=str(song_mp3), idea="x")
    with pytest.raises(CommandError, match="--max-cost must be a number of US dollars"):
        call_command("make_video", audio=str(song_mp3), idea="x", max_cost=-1, out=str(tmp_path / "o.mp4"))
    assert _nothing_started()
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
                            env={"PATH": "/usr/bin:/bin", "MV_SQLITE_PATH": str(tmp_path / "db.sqlite3"),
                                 "MV_SECRET_KEY_FILE": str(tmp_path / "secret_key")})  # as on a fresh clone
    assert result.returncode == 1
    assert "there is no config flavor 'nosuch'; choose one of: default" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_video_aspect_9_16_writes_a_portrait_video(transactional_db, song_mp3, tmp_path):
    out = tmp_path / "portrait.mp4"
    call_command("make_video", audio=str(song_mp3), idea="a street parade", scenes=2, song_to=16.0, aspect="9:16",
                 out=str(out))
    video = media.probe(out).video
    assert video.height > video.width and abs(video.duration - 16) < 0.05


def test_make_video_refuses_a_format_the_flavors_video_model_cannot_make(transactional_db, song_mp3, tmp_path):
    with pytest.raises(CommandError, match="makes 16:9, 9:16 videos"):
        call_command("make_video", audio=str(song_mp3), idea="x", aspect="4:3", out=str(tmp_path / "o.mp4"))
    assert _nothing_started()
