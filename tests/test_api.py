"""The JSON API end to end on the local provider (real ffmpeg, real files)."""

from __future__ import annotations

import json
import uuid

import pytest

from mv import media
from mv.models import AudioTrack, Clip, Project, Stitch

from .conftest import dominant_hz, make_clip


def post(client, url, data, **extra):
    return client.post(url, json.dumps(data), content_type="application/json", **extra)


@pytest.fixture
def track(alice_client, song_mp3) -> AudioTrack:
    with open(song_mp3, "rb") as fh:
        response = alice_client.post("/api/audio/upload", {"file": fh})
    assert response.status_code == 201, response.content
    return AudioTrack.objects.get(pk=response.json()["audio_id"])


def test_create_scenes_writes_the_requested_number_with_the_flavor(alice_client):
    response = post(alice_client, "/api/mv/create_scenes",
                    {"idea": "a lighthouse keeper sings", "number_of_scenes": 3, "config_flavor": "mv1", "wait": 30})
    assert response.status_code == 200
    body = response.json()
    assert body["config_flavor"] == "mv1"
    assert [s["position"] for s in body["scenes"]] == [0, 1, 2]
    assert body["metadata"]["parameters_used"]["video_type"] == "music video"
    assert Project.objects.get(pk=body["project_id"]).config_flavor == "mv1"


def test_create_scenes_with_unknown_flavor_says_default_was_used(alice_client):
    response = post(alice_client, "/api/mv/create_scenes", {"idea": "x", "config_flavor": "nope", "wait": 30})
    assert response.status_code == 200
    assert response.json()["config_flavor"] == "default"


@pytest.mark.parametrize("flavor", ["../etc", "a b", "x" * 65, 5])
def test_create_scenes_rejects_malformed_flavor_names(alice_client, flavor):
    response = post(alice_client, "/api/mv/create_scenes", {"idea": "x", "config_flavor": flavor})
    assert response.status_code == 400
    assert "config_flavor" in response.json()["details"]
    assert Project.objects.count() == 0


def test_generate_video_wait_zero_answers_202_with_a_status_url(alice_client, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    response = post(alice_client, "/api/mv/generate_video", {"prompt": "a red car", "wait": 0})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["status_url"] == f"/api/mv/get_video/{body['video_id']}/info"


def test_generate_video_waits_for_a_real_clip(alice_client):
    response = post(alice_client, "/api/mv/generate_video", {"prompt": "a red car", "duration": 4, "wait": 60})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded"
    video = alice_client.get(body["video_url"])
    assert video["Content-Type"] == "video/mp4"
    clip = Clip.objects.get(pk=body["video_id"])
    info = media.probe(clip.file.path)
    assert abs(info.video.duration - 4) < 0.05 and info.audio is not None
    poster = alice_client.get(f"/api/mv/get_video/{clip.pk}/poster")
    assert poster["Content-Type"] == "image/jpeg" and b"".join(poster.streaming_content)[:2] == b"\xff\xd8"


def test_get_video_supports_range_requests(alice_client):
    body = post(alice_client, "/api/mv/generate_video", {"prompt": "range", "duration": 4, "wait": 60}).json()
    clip = Clip.objects.get(pk=body["video_id"])
    data = clip.file.read()
    response = alice_client.get(body["video_url"], HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(response.streaming_content) == data[100:200]


def test_lipsync_of_a_scene_clip_replaces_it_and_restitches(alice_client, track):
    scenes = post(alice_client, "/api/mv/create_scenes", {"idea": "dance", "number_of_scenes": 2, "wait": 30}).json()
    project = Project.objects.get(pk=scenes["project_id"])
    project.audio_track = track
    project.save()
    scene = project.scenes.get(position=1)
    first = post(alice_client, "/api/mv/generate_video",
                 {"prompt": scene.description, "scene_id": str(scene.pk), "wait": 60}).json()
    other = project.scenes.get(position=0)
    post(alice_client, "/api/mv/generate_video", {"prompt": "x", "scene_id": str(other.pk), "wait": 60})
    response = post(alice_client, "/api/mv/lipsync", {"video_id": first["video_id"], "audio_id": str(track.pk),
                                                      "start_time": 8.0, "end_time": 16.0, "wait": 60})
    assert response.status_code == 200, response.content
    body = response.json()
    new = Clip.objects.get(pk=body["video_id"])
    assert new.kind == "lipsync" and str(new.parent_id) == first["video_id"]
    scene.refresh_from_db()
    assert scene.current_clip_id == new.pk
    slice_info = media.probe(new.audio_slice.path)
    assert abs(slice_info.duration - 8.0) < 0.001
    stitch = Stitch.objects.get(pk=body["stitch_id"])
    assert [c.pk for c in stitch.ordered_clips()][1] == new.pk


def test_lipsync_rejects_times_past_the_track(alice_client, track):
    clip = post(alice_client, "/api/mv/generate_video", {"prompt": "x", "duration": 4, "wait": 60}).json()
    response = post(alice_client, "/api/mv/lipsync",
                    {"video_id": clip["video_id"], "audio_id": str(track.pk), "start_time": 30, "end_time": 99})
    assert response.status_code == 400
    assert "40.0" in response.json()["message"]


def test_lipsync_refuses_occlusion_detection_the_models_do_not_have(alice_client):
    response = post(alice_client, "/api/mv/lipsync", {"video_id": str(uuid.uuid4()), "audio_id": str(uuid.uuid4()),
                                                      "occlusion_detection_enabled": True})
    body = response.json()
    assert response.status_code == 400 and body["error"] == "validation_error"
    assert body["details"]["occlusion_detection_enabled"] == [
        "The lipsync model has no occlusion detection; leave this out or send false."]


def test_lipsync_rejects_both_id_and_url(alice_client, track):
    response = post(alice_client, "/api/mv/lipsync", {"video_id": str(uuid.uuid4()), "video_url": "https://x.test/a.mp4",
                                                      "audio_id": str(track.pk)})
    assert response.status_code == 400


def test_stitch_videos_lays_the_song_under_the_clips(alice_client, track):
    ids = [post(alice_client, "/api/mv/generate_video", {"prompt": f"p{i}", "duration": 4, "wait": 60}).json()["video_id"]
           for i in range(2)]
    response = post(alice_client, "/api/mv/stitch-videos",
                    {"video_ids": ids, "audio_overlay_id": str(track.pk), "audio_start": 5, "wait": 60})
    assert response.status_code == 200
    body = response.json()
    assert body["metadata"]["num_videos_stitched"] == 2
    assert abs(body["metadata"]["video_duration_seconds"] - 8) < 0.05
    info = media.probe(Stitch.objects.get(pk=body["video_id"]).file.path)
    assert info.audio is not None and info.audio.duration > 7.9


def test_another_users_video_is_a_404(client, other_user, alice_client):
    body = post(alice_client, "/api/mv/generate_video", {"prompt": "mine", "duration": 4, "wait": 60}).json()
    client.force_login(other_user)
    assert client.get(f"/api/mv/get_video/{body['video_id']}").status_code == 404
    assert client.get(f"/api/mv/get_video/{body['video_id']}/info").status_code == 404


def test_api_without_auth_is_401_json(client, transactional_db):
    response = client.get("/api/mv/get_config_flavors")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_api_key_header_authenticates(client, transactional_db):
    response = client.get("/api/mv/get_config_flavors", HTTP_X_API_KEY="test-api-key")
    assert response.status_code == 200
    assert response.json() == {"flavors": ["default", "mv1"], "default": "default"}


def test_wrong_method_is_405(alice_client):
    assert alice_client.get("/api/mv/create_scenes").status_code == 405


def test_upload_rejects_text_renamed_mp3(alice_client, tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("not audio at all " * 100)
    with open(fake, "rb") as fh:
        response = alice_client.post("/api/audio/upload", {"file": fh})
    assert response.status_code == 201 and response.json()["status"] == "importing"
    body = alice_client.get(response.json()["analysis_url"]).json()
    assert body["status"] == "failed" and body["error"] == media.NOT_AUDIO
    assert AudioTrack.objects.get().import_failed


def test_upload_over_the_limit_is_413(alice_client, settings, song_mp3):
    settings.MV_MAX_UPLOAD_MB = 0
    with open(song_mp3, "rb") as fh:
        response = alice_client.post("/api/audio/upload", {"file": fh})
    assert response.status_code == 413


def test_trim_makes_a_new_track_and_keeps_the_original(alice_client, track):
    response = post(alice_client, "/api/audio/trim", {"audio_id": str(track.pk), "start_at": 10, "end_at": 20})
    assert response.status_code == 201
    body = response.json()
    assert abs(body["duration"] - 10) < 0.05
    assert AudioTrack.objects.filter(pk=track.pk).exists()


def test_character_reference_images_are_rendered(alice_client):
    response = post(alice_client, "/api/mv/generate_character_reference",
                    {"character_description": "a drummer", "num_images": 2, "wait": 60})
    assert response.status_code == 200
    images = response.json()["images"]
    assert len(images) == 2
    picture = alice_client.get(images[0]["image_url"])
    assert picture["Content-Type"] == "image/png"


def test_session_posts_need_csrf(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = post(client, "/api/mv/generate_video", {"prompt": "x"})
    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"


def test_make_clip_fixture_is_video(tmp_path):
    assert media.probe(make_clip(tmp_path / "c.mp4", seconds=1)).video is not None


def test_audio_download_fetches_a_direct_link(alice_client, song_mp3, http_files):
    folder, base = http_files
    (folder / "song.mp3").write_bytes(song_mp3.read_bytes())
    response = post(alice_client, "/api/audio/download", {"url": f"{base}/song.mp3"})
    missing = post(alice_client, "/api/audio/download", {"url": f"{base}/nope.mp3"})
    assert response.status_code == 201, response.content
    assert abs(alice_client.get(response.json()["analysis_url"]).json()["duration"] - 40) < 0.2
    assert missing.status_code == 201  # found missing by the worker's download
    failed = alice_client.get(missing.json()["analysis_url"]).json()
    assert failed["status"] == "failed" and failed["error"].startswith("Could not download audio from that URL")


def test_lipsync_by_urls_keeps_the_fetched_video_as_the_parent(alice_client, song_mp3, clip_mp4, http_files):
    folder, base = http_files
    (folder / "clip.mp4").write_bytes(clip_mp4.read_bytes())
    (folder / "song.mp3").write_bytes(song_mp3.read_bytes())
    response = post(alice_client, "/api/mv/lipsync", {"video_url": f"{base}/clip.mp4", "audio_url": f"{base}/song.mp3",
                                                      "start_time": 0, "end_time": 2, "wait": 60})
    assert response.status_code == 200, response.content
    clip = Clip.objects.get(pk=response.json()["video_id"])
    assert clip.parent.kind == "uploaded" and clip.parent.input["source_url"].endswith("/clip.mp4")
    bad = post(alice_client, "/api/mv/lipsync", {"video_url": f"{base}/song.mp3", "audio_id": str(clip.audio_track_id)})
    assert bad.status_code == 400 and "not a video we can use" in bad.json()["message"]


def test_api_flow_through_the_real_replicate_client(alice_client, fake_replicate, track):
    scenes = post(alice_client, "/api/mv/create_scenes", {"idea": "fake llm", "number_of_scenes": 2, "wait": 30}).json()
    assert scenes["status"] == "ready" and len(scenes["scenes"]) == 2
    assert "fake llm" in fake_replicate.llm_inputs()[0]["prompt"]
    clips = [post(alice_client, "/api/mv/generate_video", {"prompt": "veo", "scene_id": s["id"], "wait": 30}).json()
             for s in scenes["scenes"]]
    clip = clips[0]
    assert clip["status"] == "succeeded" and clip["metadata"]["model_used"] == "google/veo-3.1"
    synced = post(alice_client, "/api/mv/lipsync", {"video_id": clip["video_id"], "audio_id": str(track.pk),
                                                    "start_time": 1.5, "end_time": 9.5, "temperature": 0.8,
                                                    "occlusion_detection_enabled": False, "wait": 30}).json()
    assert synced["status"] == "succeeded" and synced["stitch_id"]
    sent = fake_replicate.requests_to("POST", r"/v1/models/sync/lipsync-2-pro/predictions")[0]["json"]["input"]
    assert "occlusion_detection" not in sent and sent["temperature"] == 0.8  # false: what the model does anyway
    wav = fake_replicate.uploaded(sent["audio"])
    assert wav[:4] == b"RIFF" and abs((len(wav) - 44) / (44100 * 2 * 2) - 8.0) < 0.001  # 16-bit stereo, 8 s
    # 1.5-9.5 s of the song: its 220 Hz part until 8 s (6.5 s of the slice), then 440 Hz.
    assert abs(dominant_hz(wav, 0.1, 6.4) - 220) < 3
    assert abs(dominant_hz(wav, 6.6, 8.0) - 440) < 3


def test_create_scenes_reports_a_scene_writer_failure_readably(alice_client, fake_replicate):
    fake_replicate.script_llm("I cannot help with that.")
    response = post(alice_client, "/api/mv/create_scenes", {"idea": "x", "number_of_scenes": 2, "wait": 30})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "failed" and body["scenes"] == []
    assert "not JSON" in body["error"]
    assert Project.objects.get(pk=body["project_id"]).scenes_status == "failed"


def test_create_scenes_for_an_existing_project_keeps_its_flavor_when_none_is_sent(alice_client):
    first = post(alice_client, "/api/mv/create_scenes",
                 {"idea": "a choir", "number_of_scenes": 2, "config_flavor": "mv1", "wait": 30}).json()
    again = post(alice_client, "/api/mv/create_scenes",
                 {"idea": "a choir, again", "project_id": first["project_id"], "wait": 30})
    assert again.status_code == 200, again.content
    assert again.json()["config_flavor"] == "mv1"
    assert Project.objects.get(pk=first["project_id"]).config_flavor == "mv1"


def test_generate_video_for_a_scene_uses_the_projects_flavor_when_none_is_sent(alice_client):
    scenes = post(alice_client, "/api/mv/create_scenes",
                  {"idea": "a choir", "number_of_scenes": 1, "config_flavor": "mv1", "wait": 30}).json()
    response = post(alice_client, "/api/mv/generate_video",
                    {"prompt": "x", "scene_id": scenes["scenes"][0]["id"], "duration": 4, "wait": 60})
    assert response.status_code == 200, response.content
    assert response.json()["config_flavor"] == "mv1"
    assert Clip.objects.get(pk=response.json()["video_id"]).config_flavor == "mv1"


def test_a_flavor_sent_for_an_existing_project_still_wins(alice_client):
    first = post(alice_client, "/api/mv/create_scenes",
                 {"idea": "a choir", "number_of_scenes": 1, "config_flavor": "mv1", "wait": 30}).json()
    scene_id = first["scenes"][0]["id"]
    clip = post(alice_client, "/api/mv/generate_video",
                {"prompt": "x", "scene_id": scene_id, "duration": 4, "config_flavor": "default", "wait": 0}).json()
    assert clip["config_flavor"] == "default"
    again = post(alice_client, "/api/mv/create_scenes",
                 {"idea": "y", "project_id": first["project_id"], "config_flavor": "default", "wait": 30}).json()
    assert again["config_flavor"] == "default"


def test_new_work_without_a_flavor_uses_default(alice_client):
    assert post(alice_client, "/api/mv/create_scenes", {"idea": "x", "wait": 30}).json()["config_flavor"] == "default"
    clip = post(alice_client, "/api/mv/generate_video", {"prompt": "x", "duration": 4, "wait": 0}).json()
    assert clip["config_flavor"] == "default"


def test_lipsync_rejects_both_audio_id_and_audio_url(alice_client, track):
    clip = post(alice_client, "/api/mv/generate_video", {"prompt": "x", "duration": 4, "wait": 60}).json()
    response = post(alice_client, "/api/mv/lipsync", {"video_id": clip["video_id"], "audio_id": str(track.pk),
                                                      "audio_url": "https://x.test/song.mp3"})
    assert response.status_code == 400
    assert "audio_id or audio_url, not both" in str(response.json()["details"])


@pytest.mark.parametrize("times, reason", [({"start_time": 12, "end_time": 8}, "end_time must be greater"),
                                           ({"start_time": -1, "end_time": 8}, "must not be negative"),
                                           ({"start_time": 41}, "before the end of the track")])
def test_lipsync_time_errors_say_the_track_length(alice_client, track, times, reason):
    clip = post(alice_client, "/api/mv/generate_video", {"prompt": "x", "duration": 4, "wait": 60}).json()
    response = post(alice_client, "/api/mv/lipsync", {"video_id": clip["video_id"], "audio_id": str(track.pk)} | times)
    assert response.status_code == 400
    body = response.json()
    assert reason in body["message"] and f"the track is {track.duration:.3f} s long" in body["message"]
    assert body["details"]["track_duration"] == track.duration


def test_trim_time_errors_say_the_track_length(alice_client, track):
    for times in ({"start_at": -1, "end_at": 5}, {"start_at": 9, "end_at": 3}):
        response = post(alice_client, "/api/audio/trim", {"audio_id": str(track.pk)} | times)
        assert response.status_code == 400
        assert f"the track is {track.duration:.3f} s long" in response.json()["message"]


@pytest.mark.parametrize("times", [{"start_time": 30, "end_time": 99}, {"start_time": 50}, {"start_time": 5, "end_time": 2}])
def test_a_rejected_lipsync_by_urls_keeps_no_video_song_or_file(alice_client, song_mp3, clip_mp4, http_files, settings,
                                                               times):
    folder, base = http_files
    (folder / "clip.mp4").write_bytes(clip_mp4.read_bytes())
    (folder / "song.mp3").write_bytes(song_mp3.read_bytes())
    response = post(alice_client, "/api/mv/lipsync",
                    {"video_url": f"{base}/clip.mp4", "audio_url": f"{base}/song.mp3", "wait": 0} | times)
    assert response.status_code == 400 and response.json()["error"] == "invalid_times"
    assert Clip.objects.count() == 0 and AudioTrack.objects.count() == 0
    assert [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()] == []


def test_head_on_a_video_answers_its_headers_without_a_body(alice_client, monkeypatch):
    from django.db.models.fields.files import FieldFile

    body = post(alice_client, "/api/mv/generate_video", {"prompt": "head", "duration": 4, "wait": 60}).json()
    size = Clip.objects.get(pk=body["video_id"]).file.size

    def no_open(self, mode="rb"):
        raise AssertionError("HEAD must not read the file")

    monkeypatch.setattr(FieldFile, "open", no_open)
    response = alice_client.head(body["video_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4" and response["Content-Length"] == str(size)
    assert response["Accept-Ranges"] == "bytes" and response.content == b""
    ranged = alice_client.head(body["video_url"], HTTP_RANGE="bytes=0-99")
    assert ranged.status_code == 206 and ranged["Content-Length"] == "100"
    assert ranged["Content-Range"] == f"bytes 0-99/{size}"
    assert alice_client.head(f"/api/mv/get_video/{uuid.uuid4()}").status_code == 404
