"""Captions: the lyric lines sung in a project's video, timed to the video, as SRT/VTT files
and burned into the full video with libass."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, files, music
from mv.models import AudioTrack, JobStatus
from mv.music import LyricLine, captions
from mv.pipeline import stitching
from tests import factories

LRC = "[00:10.00] first line\n[00:14.00] second line\n[00:20.00]\n[00:22.00] across the end\n[00:26.00]\n" \
      "[00:30.00] after the video\n"


def _track(owner, song: Path, lrc: str = LRC) -> AudioTrack:
    track = audio.import_upload(owner, SimpleUploadedFile(song.name, song.read_bytes(), "audio/mpeg"))
    track.store_lyrics(music.parse_lyrics(lrc, duration=track.duration), AudioTrack.LyricsSource.PASTED)
    return track


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_srt_has_the_lines_of_the_projects_part_of_the_song_on_the_videos_clock(alice_client, user, song_mp3):
    project = factories.written_project(user, scenes=2, audio_track=_track(user, song_mp3), audio_start=8.0,
                                        seconds=8.0)  # covers 8-24 s of the song
    response = alice_client.get(f"/api/mv/projects/{project.pk}/captions.srt")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/x-subrip")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.decode() == (
        "1\n00:00:02,000 --> 00:00:06,000\nfirst line\n\n"
        "2\n00:00:06,000 --> 00:00:12,000\nsecond line\n\n"
        "3\n00:00:14,000 --> 00:00:16,000\nacross the end\n")  # clipped to the 16 s video; later lines left out


def test_vtt_carries_the_same_cues(alice_client, user, song_mp3):
    project = factories.written_project(user, scenes=2, audio_track=_track(user, song_mp3), audio_start=8.0, seconds=8.0)
    body = alice_client.get(f"/api/mv/projects/{project.pk}/captions.vtt").content.decode()
    assert body.startswith("WEBVTT\n\n")
    assert "00:00:02.000 --> 00:00:06.000\nfirst line" in body and "after the video" not in body


def test_captions_of_a_song_without_lyrics_or_of_someone_elses_project_are_refused(alice_client, client, user,
                                                                                   other_user, song_mp3):
    bare = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))
    project = factories.written_project(user, scenes=1, audio_track=bare)
    response = alice_client.get(f"/api/mv/projects/{project.pk}/captions.srt")
    assert response.status_code == 404 and response.json()["error"] == "no_lyrics"
    assert "paste" in response.json()["message"]
    lyrical = factories.written_project(user, scenes=1, audio_track=_track(user, song_mp3))
    client.force_login(other_user)
    assert client.get(f"/api/mv/projects/{lyrical.pk}/captions.srt").status_code == 404


def test_enhanced_lrc_word_stamps_become_word_times_and_fill_word_by_word():
    [line] = music.parse_lyrics("[00:10.00] <00:10.00> hold <00:10.50> on <00:11.20> tight\n[00:12.00]\n",
                                duration=30)
    assert line.text == "hold on tight"
    assert line.words == ((10.0, 10.5, "hold"), (10.5, 11.2, "on"), (11.2, 12.0, "tight"))
    [cue] = captions.video_cues([line], 8.0, 24.0)
    assert cue.words[0] == (2.0, 2.5, "hold")
    script = captions.to_ass([cue], 1280, 720)
    assert "Dialogue: 0,0:00:02.00,0:00:04.00,Sung,,0,0,0,,{\\kf50}hold {\\kf70}on {\\kf80}tight" in script


def test_captions_are_styled_larger_and_higher_on_a_portrait_video():
    def style(script: str) -> list[str]:
        return next(row for row in script.splitlines() if row.startswith("Style: Line")).split(",")

    wide = style(captions.to_ass([LyricLine(0, 1, "x")], 1280, 720))
    tall = style(captions.to_ass([LyricLine(0, 1, "x")], 720, 1280))
    assert int(tall[2]) / 720 > int(wide[2]) / 1280  # font size against the width
    assert int(tall[21]) / 1280 > int(wide[21]) / 720  # bottom margin against the height


def test_text_cannot_open_ass_override_tags():
    script = captions.to_ass([LyricLine(0, 1, "{\\pos(0,0)}hi")], 320, 180)
    assert "{\\pos" not in script and "hi" in script


def _gray_frames(stitch) -> list[np.ndarray]:
    with files.local_path(stitch.file) as path, av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray").astype(np.int16) for frame in container.decode(video=0)]


def test_burned_in_captions_change_the_picture_only_while_a_line_is_sung(alice_client, user, song_mp3, clip_mp4):
    track = _track(user, song_mp3, "[00:08.50] LA LA LA LA\n[00:09.50]\n")  # sung 0.5-1.5 s into the video
    project = factories.written_project(user, scenes=2, audio_track=track, audio_start=8.0, seconds=2.0)
    for scene in project.scenes.all():
        factories.finished_clip(scene, clip_mp4, duration=2.0)
    plain = stitching.restitch_project(project)
    response = post(alice_client, f"/api/mv/projects/{project.pk}/restitch", {"captions": True, "wait": 120})
    assert response.status_code == 200, response.content
    assert response.json()["metadata"]["captions_burned_in"] is True
    plain.refresh_from_db()
    burned = project.stitches.order_by("-created_at").first()
    assert plain.status == burned.status == JobStatus.SUCCEEDED
    assert abs(burned.duration - plain.duration) < 0.05
    without, with_text = _gray_frames(plain), _gray_frames(burned)
    assert len(without) == len(with_text) == 96  # 4 s at 24 fps

    def changed(index: int) -> int:
        """Pixels far apart (the re-encode alone moves none this far)."""
        return int(np.count_nonzero(np.abs(without[index] - with_text[index]) > 64))

    assert changed(24) > 200 and changed(72) < 20  # at 1.0 s the line is drawn; at 3.0 s nothing is


def test_burning_in_without_lines_in_the_part_is_refused_plainly(alice_client, user, song_mp3, clip_mp4):
    track = _track(user, song_mp3, "[00:30.00] later\n")
    project = factories.written_project(user, scenes=1, audio_track=track, audio_start=8.0, seconds=2.0)
    factories.finished_clip(project.scenes.get(), clip_mp4, duration=2.0)
    response = post(alice_client, f"/api/mv/projects/{project.pk}/restitch", {"captions": True})
    assert response.status_code == 400 and response.json()["error"] == "no_captions"
    assert project.stitches.count() == 0


@pytest.mark.parametrize("burn", [True, False])
def test_the_full_video_section_offers_caption_files_and_the_burn_in_toggle(alice_client, user, song_mp3, clip_mp4,
                                                                            burn):
    project = factories.written_project(user, scenes=1, audio_track=_track(user, song_mp3, "[00:00.50] hey\n[00:01.50]\n"),
                                        seconds=2.0)
    factories.finished_clip(project.scenes.get(), clip_mp4, duration=2.0)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f"/api/mv/projects/{project.pk}/captions.srt" in page and 'name="captions"' in page
    alice_client.post(f"/quick-gen/{project.pk}/restitch/", {"captions": "1"} if burn else {})
    stitch = project.stitches.get()
    assert bool(stitch.captions) is burn
    if burn:
        assert stitch.captions == [{"start": 0.5, "end": 1.5, "text": "hey"}]


def test_a_burn_in_that_fails_says_so_and_keeps_the_previous_video(alice_client, user, song_mp3, clip_mp4, monkeypatch):
    from mv import media as media_module

    track = _track(user, song_mp3, "[00:00.50] hey\n[00:01.50]\n")
    project = factories.written_project(user, scenes=1, audio_track=track, seconds=2.0)
    factories.finished_clip(project.scenes.get(), clip_mp4, duration=2.0)
    plain = stitching.restitch_project(project)

    def no_libass(*args, **kwargs):
        raise media_module.MediaError(media_module.PROCESSING_FAILED, "No such filter: 'ass'")

    monkeypatch.setattr(media_module, "burn_captions", no_libass)
    burned = stitching.restitch_project(project, captions=True)
    burned.refresh_from_db()
    plain.refresh_from_db()
    assert burned.status == JobStatus.FAILED and "captions could not be burned in" in burned.error
    assert "filter" not in burned.error and plain.status == JobStatus.SUCCEEDED and plain.file
