"""`manage.py make_video` on the local provider."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from mv import media
from mv.models import Clip


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
