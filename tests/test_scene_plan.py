"""The song range and the scene plan: scenes cut on the music, never past the end, clips trimmed
to the plan at the stitch, API projects stitched to the plan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.tasks import default_task_backend

from mv import audio, flavors, jobs, media, music, planning
from mv.models import AudioTrack, Project, Stitch
from mv.pipeline import projects
from mv.providers.base import SceneRequest
from tests import factories
from tests.fakes import songs

from .conftest import dominant_hz, make_clip


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def _upload(owner, path: Path) -> AudioTrack:
    return audio.import_upload(owner, SimpleUploadedFile(path.name, path.read_bytes()))


def _analysed(track: AudioTrack, path: Path) -> AudioTrack:
    """The track with its analysis stored, as the background analysis leaves it."""
    track.analysis, track.analysis_status = music.analyze(path).to_dict(), AudioTrack.AnalysisStatus.READY
    track.save(update_fields=["analysis", "analysis_status"])
    return track


@pytest.fixture(scope="module")
def song_wav(tmp_path_factory) -> tuple[songs.Song, Path]:
    song = songs.verse_chorus()
    return song, song.write(tmp_path_factory.mktemp("plan") / "verse_chorus.wav")


@pytest.fixture
def tone_36s(tmp_path) -> Path:
    path = tmp_path / "36s.mp3"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=330:duration=36", "-c:a", "libmp3lame", path])
    return path


def test_a_project_is_planned_on_the_beats_and_never_past_the_end_of_the_song(user, song_wav):
    song, path = song_wav
    track = _analysed(_upload(user, path), path)
    flavor = flavors.resolve("default")
    project = projects.create_project(owner=user, video_description="a night drive", audio_track=track,
                                      audio_start=0.0, flavor=flavor)
    writing = projects.request_scenes(project, flavor)
    writing.refresh_from_db()
    assert writing.status == "succeeded"
    scenes = list(project.scenes.order_by("position"))
    analysis = music.Analysis.from_dict(track.analysis)
    assert len(scenes) == writing.number_of_scenes == len(writing.slots) >= 6
    assert scenes[0].start == 0.0 and scenes[-1].end <= track.duration
    on_beat = 0
    for before, after in zip(scenes, scenes[1:], strict=False):
        assert before.end == after.start
        if min(abs(b - after.start) for b in analysis.beats) < 0.002:  # a cut sits on a beat found...
            assert min(abs(b - after.start) for b in song.beats) < 0.07  # ...which is a real beat of the song
            on_beat += 1
        else:  # or makes a scene exactly as long as a clip, so nothing paid for is thrown away
            assert any(abs(s.end - s.start - d) < 0.002 for s in (before, after) for d in (4, 6, 8))
    assert on_beat >= 0.75 * (len(scenes) - 1)
    assert all(s.end - s.start <= 8 + 1e-6 for s in scenes)
    assert all(s.end - s.start >= 4 - 1e-6 for s in scenes[:-1])
    assert all(s.section and s.energy is not None for s in scenes)
    assert "Music: " in scenes[0].description and scenes[0].section in scenes[0].description  # local writer
    api = project.to_dict()
    assert api["song_start"] == 0.0 and api["song_end"] == track.duration
    assert {"start", "end", "section", "lyrics"} <= set(api["scenes"][0])


def test_a_count_that_cannot_fit_the_song_is_refused_on_the_page_with_the_numbers(alice_client, user, tone_36s):
    track = _upload(user, tone_36s)
    response = alice_client.post("/create/submit/", {
        "mode": "music_video", "config_flavor": "default", "audio_track_id": str(track.pk), "audio_start": "0",
        "video_description": "a lighthouse", "number_of_scenes": "20"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "20 scenes of at least 4 s need 80 s; the chosen part of the song is 36 s. Choose at most 9 scenes" in text
    assert not Project.objects.exists()


def test_a_count_that_cannot_fit_the_song_is_a_400_on_the_api_with_the_numbers(alice_client, user, tone_36s):
    track = _upload(user, tone_36s)
    response = post(alice_client, "/api/mv/create_scenes",
                    {"idea": "a lighthouse", "audio_id": str(track.pk), "number_of_scenes": 20, "wait": 30})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "plan_does_not_fit"
    assert "20 scenes of at least 4 s need 80 s; the chosen part of the song is 36 s" in body["message"]
    assert body["details"]["number_of_scenes"] == 20 and body["details"]["most_scenes"] == 9
    assert not Project.objects.exists()
    past_end = post(alice_client, "/api/mv/create_scenes",
                    {"idea": "a lighthouse", "audio_id": str(track.pk), "song_end": 50})
    assert past_end.status_code == 400 and "song_end must not be past the end of the track" in past_end.json()["message"]


def _audio_of(path: Path, tmp_path: Path) -> bytes:
    wav = tmp_path / "stitched.wav"
    media.run_ffmpeg(["-i", path, "-vn", "-c:a", "pcm_s16le", "-ar", "44100", "-f", "wav", wav])
    return wav.read_bytes()


def test_an_api_project_with_a_song_is_stitched_to_the_plan_exactly_as_long_as_the_range(
        alice_client, user, song_mp3, tmp_path):
    track = _upload(user, song_mp3)
    created = post(alice_client, "/api/mv/create_scenes", {"idea": "a parade", "audio_id": str(track.pk),
                                                          "song_start": 9, "song_end": 26.5, "wait": 30})
    assert created.status_code == 200, created.content
    body = created.json()
    assert body["song_start"] == 9 and body["song_end"] == 26.5
    scenes = body["scenes"]
    assert scenes[0]["start"] == 9 and scenes[-1]["end"] == 26.5
    for scene in scenes:
        clip = post(alice_client, "/api/mv/generate_video", {"prompt": "a parade", "scene_id": scene["id"], "wait": 60})
        assert clip.status_code == 200
        length = scene["end"] - scene["start"]
        assert clip.json()["metadata"]["duration_seconds"] == music.clip_duration_for(length, [4, 6, 8])
    detail = alice_client.get(f"/api/mv/projects/{body['project_id']}").json()
    stitch = detail["latest_stitch"]
    assert stitch is not None and stitch["status"] == "succeeded"  # stitched without being asked
    out = Stitch.objects.get(pk=stitch["video_id"])
    with out.file.open("rb") as fh:
        path = tmp_path / "full.mp4"
        path.write_bytes(fh.read())
    info = media.probe(path)
    assert abs(info.video.duration - 17.5) <= 1 / 48  # the range, to half a frame
    assert info.audio is not None and abs(info.audio.duration - info.video.duration) < 0.05
    wav = _audio_of(path, tmp_path)
    assert abs(dominant_hz(wav, 0.1, 0.9) - 440) < 5  # the song from 9 s (its 8-16 s tone)...
    assert abs(dominant_hz(wav, 16.6, 17.4) - 880) < 5  # ...to 26.5 s (its 24-32 s tone)


def test_api_restitch_stitches_the_current_clips_again(alice_client, client, other_user, user, song_mp3):
    track = _upload(user, song_mp3)
    project = factories.written_project(user, scenes=2, audio_track=track, audio_start=4.0, seconds=6.0)
    url = f"/api/mv/projects/{project.pk}/restitch"
    early = post(alice_client, url, {})
    assert early.status_code == 400 and early.json()["error"] == "scenes_not_ready"
    for scene in project.scenes.all():
        assert post(alice_client, "/api/mv/generate_video",
                    {"prompt": "x", "scene_id": str(scene.pk), "wait": 60}).status_code == 200
    response = post(alice_client, url, {"wait": 60})
    assert response.status_code == 200
    stitch = response.json()
    assert stitch["kind"] == "stitch" and stitch["status"] == "succeeded"
    assert abs(stitch["metadata"]["video_duration_seconds"] - 12.0) < 0.05
    assert alice_client.get(f"/api/mv/projects/{project.pk}").json()["latest_stitch"]["video_id"] == stitch["video_id"]
    assert alice_client.get(url).status_code == 405
    client.force_login(other_user)
    assert post(client, url, {}).status_code == 404


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def test_stitch_trims_clips_to_the_frame_and_re_encodes_only_those(tmp_path):
    clips = []
    for n, seconds in enumerate((2.0, 3.0, 2.0)):
        clips.append(tmp_path / f"c{n}.mp4")
        media.render_preview_clip(clips[-1], label=str(n), text="x", duration=seconds, size="160x90", seed=n)
    out = tmp_path / "out.mp4"
    result = media.stitch(clips, out, workdir=tmp_path, lengths=[2.0, 2.5, 2.5])  # the last is held 0.5 s longer
    assert result.reencoded == 2 and result.frames == 168  # 48 + 60 + 60
    info = media.probe(out)
    assert abs(info.video.duration - 7.0) < 1e-6
    errors = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    assert errors == ""
    stitched, first = _frames(out), _frames(clips[0])
    assert all(np.array_equal(a, b) for a, b in zip(stitched[:48], first, strict=True))  # copied, bit for bit


def test_stitch_re_encodes_every_clip_when_their_parameter_sets_differ(tmp_path):
    clips = [make_clip(tmp_path / f"c{n}.mp4", seconds=2.0, size="160x90") for n in range(3)]
    out = tmp_path / "out.mp4"
    # The middle clip is held 0.5 s past its end (a re-encode; a clip without B-frames cut
    # shorter would be cut by copy instead): its new SPS/PPS cannot share the others'.
    result = media.stitch(clips, out, workdir=tmp_path, lengths=[2.0, 2.5, 2.0])
    assert result.reencoded == 3 and result.frames == 156
    errors = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "null", "-"],
                            capture_output=True, text=True).stderr
    assert errors == ""


def test_frame_counts_never_add_up_rounding():
    counts = media.frame_counts([2.01] * 30, "24/1")
    assert sum(counts) == round(60.3 * 24) and set(counts) <= {48, 49}


def test_suggested_lipsync_is_ticked_for_scenes_with_lyrics_when_the_flavor_says_so(alice_client, user, song_mp3):
    track = _upload(user, song_mp3)
    project = factories.written_project(user, scenes=2, audio_track=track, flavor="mv1")
    sung, quiet = project.scenes.order_by("position")
    sung.lyrics = "hold on to the night"
    sung.save(update_fields=["lyrics"])
    for scene in (sung, quiet):
        factories.finished_clip(scene)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f'id="lipsync-{sung.pk}" class="lipsync-toggle" checked' in page
    assert f'id="lipsync-{quiet.pk}" class="lipsync-toggle">' in page
    Project.objects.filter(pk=project.pk).update(config_flavor="default")
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f'id="lipsync-{sung.pk}" class="lipsync-toggle">' in page


def test_every_scene_placeholder_is_filled_and_the_default_and_mv1_use_the_plan():
    fields = set(SceneRequest.__dataclass_fields__) - {"mode"}
    assert flavors.SCENE_PLACEHOLDERS == fields
    for name in ("default", "mv1"):
        template = flavors.resolve(name).values["scene_prompts"]["scene_generation_prompt"]
        assert "scene_plan" in flavors.placeholders(template)
    slots = [music.Slot(0.0, 7.5, "chorus", 0.9, "la la"), music.Slot(7.5, 12.0, "verse", 0.4, "")]
    text = planning.plan_text(slots, 2, 8)
    assert text.splitlines()[0].startswith("Scene 1: 0.0-7.5 s (7.5 s), chorus, energy 0.90")


def test_make_video_prints_the_plan_of_the_chosen_part(transactional_db, song_mp3, capsys):
    call_command("make_video", audio=str(song_mp3), idea="x", scenes=2, song_from=8, song_to=24, dry_run=True)
    out = capsys.readouterr().out
    assert "plan: flavor default, 2 scenes from 8.00 to 24.00 s of the song" in out
    assert "scene 1:   8.00- 16.00 s" in out and "scene 2:  16.00- 24.00 s" in out


def test_the_create_page_shows_the_song_to_pick_the_range_on(alice_client, song_mp3):
    with open(song_mp3, "rb") as fh:
        html = alice_client.post("/create/audio/upload/", {"file": fh}, headers={"HX-Request": "true"}).content.decode()
    assert 'class="waveform-pick"' in html and 'data-duration="40.0' in html
    page = alice_client.get("/create/").content.decode()
    assert 'name="audio_start"' in page and 'name="song_end"' in page


def test_the_scene_writer_starts_from_the_song_analysed_event_and_plans_on_it(user, song_wav, settings):
    """No clock: the writing waits (its poll chain ends) until the analysis is stored, and the
    event that stores it cuts the plan on the beats and starts the writing on commit."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    song, path = song_wav
    track = _upload(user, path)
    AudioTrack.objects.filter(pk=track.pk).update(analysis_status=AudioTrack.AnalysisStatus.ANALYZING, analysis={})
    track.refresh_from_db()
    flavor = flavors.resolve("default")
    project = projects.create_project(owner=user, video_description="x", audio_track=track, flavor=flavor)
    writing = projects.request_scenes(project, flavor)
    assert writing.slots is None  # not cut on a grid the analysis would replace
    chain = str(writing.poll_token)
    assert jobs.advance("scenewriting", str(writing.pk), chain) is None  # its chain ends: nothing polls it
    writing.refresh_from_db()
    assert writing.status == "queued" and writing.started_at is None and writing.waits_for_event()
    queue = default_task_backend.results
    queue.clear()
    track.record_analysis(music.analyze(path))
    writing.refresh_from_db()
    beats = music.Analysis.from_dict(track.analysis).beats
    assert writing.slots and writing.number_of_scenes == len(writing.slots)  # cut by the event, on the beats
    assert sum(min(abs(b - s.start) for b in beats) < 0.002 for s in writing.slots[1:]) >= 0.75 * (len(writing.slots) - 1)
    assert [r.kwargs for r in queue] == [{"kind": "scenewriting", "pk": str(writing.pk),
                                          "token": str(writing.poll_token)}]
    assert str(writing.poll_token) != chain
    assert factories.advance(writing) and writing.status == "succeeded"
    assert project.scenes.count() == writing.number_of_scenes


def test_a_song_whose_analysis_fails_starts_its_waiting_writing_on_an_even_grid(user, song_wav, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    _, path = song_wav
    track = _upload(user, path)
    AudioTrack.objects.filter(pk=track.pk).update(analysis_status=AudioTrack.AnalysisStatus.ANALYZING, analysis={})
    track.refresh_from_db()
    flavor = flavors.resolve("default")
    project = projects.create_project(owner=user, video_description="x", audio_track=track, flavor=flavor)
    writing = projects.request_scenes(project, flavor)
    track.analysis_failed("The song could not be analysed; scenes use an even grid.")
    writing.refresh_from_db()
    assert writing.slots and not writing.waits_for_event()
    assert factories.advance(writing) and writing.status == "succeeded"


def test_32_scenes_over_a_200_s_part_are_accepted_and_too_many_get_the_plain_message(user):
    from mv.forms.api import CreateScenesForm
    from mv.forms.pages import ProjectCreateForm

    track = AudioTrack.objects.create(owner=user, title="long", original="audio/original/x.mp3", duration=240.0)
    page = {"mode": "music_video", "config_flavor": "default", "audio_track_id": str(track.pk), "audio_start": "0",
            "song_end": "200", "video_description": "a long drive", "number_of_scenes": "32"}
    form = ProjectCreateForm(page, owner=user)
    assert form.is_valid(), form.errors
    assert len(planning.plan(track, start=0, end=200, count=32, flavor=flavors.resolve("default"))) == 32
    api = CreateScenesForm({"idea": "a long drive", "audio_id": str(track.pk), "song_end": 200, "number_of_scenes": 32})
    assert api.is_valid(), api.errors_as_details()
    too_many = ProjectCreateForm(page | {"number_of_scenes": "51"}, owner=user)
    assert not too_many.is_valid()
    assert ("51 scenes of at least 4 s need 204 s; the chosen part of the song is 200 s. Choose at most 50 scenes"
            in " ".join(too_many.errors["number_of_scenes"]))


def test_the_api_says_how_many_clip_seconds_the_plan_pays_for_and_trims(alice_client, user, song_mp3):
    track = _upload(user, song_mp3)
    created = post(alice_client, "/api/mv/create_scenes", {"idea": "a parade", "audio_id": str(track.pk),
                                                          "song_start": 0, "song_end": 9, "wait": 30})
    assert created.status_code == 200, created.content
    body = created.json()
    lengths = [s["end"] - s["start"] for s in body["plan"]]
    assert sorted(round(x, 3) for x in lengths) == [4.0, 5.0] or sorted(round(x, 3) for x in lengths) == [4.5, 4.5]
    paid = sum(music.clip_duration_for(x, [4, 6, 8]) for x in lengths)
    assert body["paid_seconds"] == paid and body["trimmed_seconds"] == pytest.approx(paid - 9, abs=0.001)
    detail = alice_client.get(f"/api/mv/projects/{body['project_id']}").json()
    assert detail["paid_seconds"] == paid and detail["trimmed_seconds"] == pytest.approx(paid - 9, abs=0.001)
