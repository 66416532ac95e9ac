"""Scenes with sung lines are performance shots and the others b-roll: the scene writer is
told which, the cards say it, and on mv1 the lipsync box starts ticked on performance shots."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors, music
from mv.models import AudioTrack
from mv.pipeline import projects
from tests import factories

LRC = "[00:02.00] hold on to the night\n[00:06.00]\n"


def _song(user, song_mp3) -> AudioTrack:
    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))
    track.store_lyrics(music.parse_lyrics(LRC, duration=track.duration), AudioTrack.LyricsSource.PASTED)
    return track


def test_the_scene_writer_is_told_which_scenes_are_performance_and_which_b_roll(fake_replicate, user, song_mp3):
    track = _song(user, song_mp3)
    explained = {"default": "A performance scene has lyrics sung in it", "mv1": "performance lines (lyrics sung)"}
    for name in ("default", "mv1"):
        fake_replicate.reset()
        project = projects.create_project(owner=user, video_description="a night drive", flavor=flavors.resolve(name),
                                          audio_track=track, song_end=16.0, number_of_scenes=2)
        projects.request_scenes(project, flavors.resolve(name))
        prompt = fake_replicate.llm_inputs()[0]["prompt"]
        assert 'performance, lyrics: "hold on to the night"' in prompt
        assert "b-roll, no lyrics" in prompt
        assert explained[name] in prompt  # and what the words mean


def test_mv1_ticks_lipsync_on_performance_shots_and_badges_both(alice_client, user, song_mp3):
    track = _song(user, song_mp3)
    project = factories.written_project(user, scenes=2, audio_track=track, flavor="mv1")
    sung, quiet = project.scenes.order_by("position")
    sung.lyrics = "hold on to the night"
    sung.save(update_fields=["lyrics"])
    for scene in (sung, quiet):
        factories.finished_clip(scene)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert page.count('class="badge shot-kind">Performance<') == 1 and page.count('class="badge shot-kind">B-roll<') == 1
    assert f'id="lipsync-{sung.pk}" class="lipsync-toggle" checked' in page
    assert f'id="lipsync-{quiet.pk}" class="lipsync-toggle">' in page
    assert sung.is_performance and not quiet.is_performance
