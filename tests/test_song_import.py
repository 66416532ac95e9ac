"""A song's import runs in the worker: an upload (or a URL) answers at once with an importing
track, the worker checks, transcodes and draws it, and what follows (its analysis, the scene
plan waiting for it) starts from its events. Here the queue only collects tasks, and each test
runs them as a worker would, so what the request did is told apart from what the worker did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.tasks import default_task_backend

from mv import audio, media, tasks
from mv.models import AudioTrack, Project, SceneWriting

Status = AudioTrack.AnalysisStatus
WORKER_TASKS = {"import_track", "analyze_track", "advance_prediction"}


@pytest.fixture
def queue(settings):
    """Tasks are collected, not run: ``work`` runs them."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    return default_task_backend.results


def work(queue, *, until=lambda: False) -> list[str]:
    """Run the collected song and scene-writing tasks as a worker would, in order, until none
    is left (or ``until()``); the names of those run."""
    ran = []
    while queue and not until():
        result = queue.pop(0)
        name = result.task.func.__name__
        if name not in WORKER_TASKS:
            continue
        result.task.call(*result.args, **result.kwargs)
        ran.append(name)
    return ran


@pytest.fixture
def transcodes(monkeypatch) -> list[Path]:
    """Every transcode of a song, as it happens."""
    calls: list[Path] = []
    real = media.transcode_song

    def counted(src, dst, **kwargs):
        calls.append(Path(src))
        return real(src, dst, **kwargs)

    monkeypatch.setattr(media, "transcode_song", counted)
    return calls


def analysis_of(client, track_id: str) -> dict:
    return client.get(f"/api/audio/{track_id}/analysis").json()


def test_an_upload_answers_importing_before_any_transcode(alice_client, song_mp3, queue, transcodes):
    response = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("My Song.mp3", song_mp3.read_bytes())})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "importing" and body["audio_id"]
    assert transcodes == []  # nothing decoded on the request
    track = AudioTrack.objects.get(pk=body["audio_id"])
    assert track.original and not track.file and not track.waveform and track.is_importing
    assert [(r.task.func.__name__, r.kwargs) for r in queue] == [("import_track", {"track_id": str(track.pk)})]
    assert analysis_of(alice_client, str(track.pk))["status"] == "importing"

    assert work(queue, until=lambda: analysis_of(alice_client, str(track.pk))["status"] != "importing") == \
        ["import_track"]
    assert len(transcodes) == 1
    assert analysis_of(alice_client, str(track.pk))["status"] == "analyzing"
    work(queue)
    body = analysis_of(alice_client, str(track.pk))
    assert body["status"] == "ready" and body["error"] is None and abs(body["duration"] - 40) < 0.1
    track.refresh_from_db()
    assert track.file and track.waveform and track.title == "My Song"
    assert alice_client.get(f"/api/audio/waveform/{track.pk}").status_code == 200


def test_a_file_that_is_not_audio_fails_with_the_plain_message_on_the_api_and_the_page(alice_client, queue, tmp_path):
    response = alice_client.post("/create/audio/upload/", {"file": SimpleUploadedFile("notes.mp3", b"not a song " * 500)},
                                 headers={"HX-Request": "true"})
    card = response.content.decode()
    assert "Importing…" in card and "?importing=1" in card
    track = AudioTrack.objects.get()
    work(queue)
    body = analysis_of(alice_client, str(track.pk))
    assert body["status"] == "failed" and body["error"] == media.NOT_AUDIO
    track.refresh_from_db()
    assert track.import_failed and not track.original  # no half row: failed, its bytes gone
    polled = alice_client.get(f"/songs/{track.pk}/status/?importing=1", headers={"HX-Request": "true"})
    assert polled["HX-Retarget"] == "#music-source"
    html = polled.content.decode()
    assert media.NOT_AUDIO.replace("'", "&#x27;") in html and 'name="audio_track_id"' not in html
    assert 'id="id_file"' in html  # the picker again, to choose another song


def test_a_song_too_long_fails_its_import_and_cannot_make_a_project(alice_client, song_mp3, queue, settings):
    settings.MV_MAX_SONG_SECONDS = 30
    response = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("song.mp3", song_mp3.read_bytes())})
    assert response.status_code == 201
    work(queue)
    body = analysis_of(alice_client, response.json()["audio_id"])
    assert body["status"] == "failed" and body["error"] == "The song is longer than 0.5 minutes, the longest accepted."
    page = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                 "audio_track_id": response.json()["audio_id"],
                                                 "video_description": "a drive at night"})
    assert page.status_code == 200 and not Project.objects.exists()
    html = page.content.decode()
    assert "That song could not be used: The song is longer than 0.5 minutes" in html
    assert 'name="audio_track_id"' not in html and 'id="id_file"' in html  # the picker, to choose another song


def _submit(alice_client, track_id: str) -> Project:
    response = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                     "audio_track_id": track_id, "audio_start": "8",
                                                     "video_description": "a drive at night"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Project.objects.get()


def test_create_right_after_the_upload_keeps_the_song_and_the_plan_lands(alice_client, song_mp3, queue):
    with open(song_mp3, "rb") as fh:
        alice_client.post("/create/audio/upload/", {"file": fh}, headers={"HX-Request": "true"})
    track = AudioTrack.objects.get()
    assert track.is_importing
    project = _submit(alice_client, str(track.pk))
    assert project.audio_track_id == track.pk and project.audio_start == 8
    writing = project.plan_writing
    assert writing.status == "queued" and writing.slots is None and writing.waits_for_event()
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "Waiting for the song: it is still importing" in page

    work(queue, until=lambda: SceneWriting.objects.get(pk=writing.pk).is_finished)
    writing.refresh_from_db()
    assert writing.status == "succeeded", writing.error
    slots = writing.slots
    assert slots and slots[0].start == pytest.approx(8.0, abs=0.05) and slots[-1].end <= 40.0 + 1e-6
    scenes = list(project.scenes.order_by("position"))
    assert [(s.start, s.end) for s in scenes] == [(s.start, s.end) for s in slots]
    assert "Waiting for the song" not in alice_client.get(f"/quick-gen/{project.pk}/").content.decode()


def test_the_create_page_prices_a_song_still_importing_on_the_scene_count(alice_client, song_mp3, queue, settings):
    upload = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("song.mp3", song_mp3.read_bytes())})
    settings.MV_PROVIDER = "replicate"
    estimate = alice_client.get("/create/estimate/", {"config_flavor": "default", "number_of_scenes": "3",
                                                      "audio_track_id": upload.json()["audio_id"]},
                                HTTP_HX_REQUEST="true")
    assert estimate.status_code == 200 and "3 clips × 8 s" in estimate.content.decode()


def test_create_scenes_on_the_api_with_a_song_still_importing_keeps_it(alice_client, song_mp3, queue):
    upload = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("song.mp3", song_mp3.read_bytes())})
    audio_id = upload.json()["audio_id"]
    response = alice_client.post("/api/mv/create_scenes", json.dumps({"idea": "a drive at night", "audio_id": audio_id}),
                                 content_type="application/json")
    assert response.status_code == 202, response.content
    project_id = response.json()["project_id"]
    assert response.json()["audio_id"] == audio_id and response.json()["status"] == "writing"
    work(queue, until=lambda: Project.objects.get(pk=project_id).scenes_status != "writing")
    body = alice_client.get(f"/api/mv/projects/{project_id}").json()
    assert body["status"] == "ready" and body["audio_id"] == audio_id and body["song_end"] == pytest.approx(40, abs=0.1)
    assert body["scenes"] and body["scenes"][-1]["end"] <= 40.0 + 1e-6


def test_a_project_whose_song_fails_to_import_says_so(alice_client, queue):
    alice_client.post("/create/audio/upload/", {"file": SimpleUploadedFile("notes.mp3", b"not a song " * 500)},
                      headers={"HX-Request": "true"})
    project = _submit(alice_client, str(AudioTrack.objects.get().pk))
    work(queue, until=lambda: project.writings.get().is_finished)
    writing = project.writings.get()
    assert writing.status == "failed"
    assert writing.error == f"That song could not be used: {media.NOT_AUDIO.rstrip('.')}. " \
                            "Upload it again or choose another song."


def test_a_url_import_answers_at_once_and_downloads_in_the_worker(alice_client, queue, http_files, song_mp3,
                                                                  monkeypatch):
    folder, base = http_files
    (folder / "song.mp3").write_bytes(song_mp3.read_bytes())
    downloads = []
    real = audio._download
    monkeypatch.setattr(audio, "_download", lambda url, workdir: downloads.append(url) or real(url, workdir))
    response = alice_client.post("/api/audio/download", json.dumps({"url": f"{base}/song.mp3"}),
                                 content_type="application/json")
    assert response.status_code == 201 and response.json()["status"] == "importing"
    assert downloads == []
    work(queue)
    assert downloads == [f"{base}/song.mp3"]
    body = analysis_of(alice_client, response.json()["audio_id"])
    assert body["status"] == "ready" and abs(body["duration"] - 40) < 0.1
    track = AudioTrack.objects.get()
    assert track.original and track.file and track.source_url == f"{base}/song.mp3"


def test_a_url_is_checked_by_the_network_guard_on_the_request(alice_client, queue, settings):
    settings.MV_ALLOW_PRIVATE_URLS = False
    response = alice_client.post("/api/audio/download", json.dumps({"url": "http://127.0.0.1:9/song.mp3"}),
                                 content_type="application/json")
    assert response.status_code == 400 and "private or local network" in response.json()["message"]
    assert not AudioTrack.objects.exists() and not queue


def test_a_url_download_over_the_size_limit_fails_in_the_worker(alice_client, queue, http_files, settings):
    folder, base = http_files
    (folder / "big.wav").write_bytes(b"RIFF" + b"\0" * (2 * 1024 * 1024))
    settings.MV_MAX_UPLOAD_MB = 1
    response = alice_client.post("/api/audio/download", json.dumps({"url": f"{base}/big.wav"}),
                                 content_type="application/json")
    assert response.status_code == 201
    work(queue)
    body = analysis_of(alice_client, response.json()["audio_id"])
    assert body["status"] == "failed" and "1 MB" in body["error"]  # the limit, named as before the move
    assert AudioTrack.objects.get().import_failed


def test_a_starting_worker_imports_the_songs_left_importing(user, song_mp3, queue):
    track = audio.receive_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))  # queued by no one
    assert not queue
    tasks.resume_interrupted()
    assert [(r.task.func.__name__, r.kwargs) for r in queue] == [("import_track", {"track_id": str(track.pk)})]
    work(queue)
    track.refresh_from_db()
    assert track.analysis_status == Status.READY


def test_a_song_still_importing_or_failed_is_refused_where_its_file_is_needed(alice_client, song_mp3, queue):
    upload = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("song.mp3", song_mp3.read_bytes())})
    audio_id = upload.json()["audio_id"]
    trim = alice_client.post("/api/audio/trim", json.dumps({"audio_id": audio_id, "start_at": 1}),
                             content_type="application/json")
    assert trim.status_code == 400 and trim.json()["error"] == "song_importing"
    assert "still importing" in trim.json()["message"]
    junk = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("notes.mp3", b"not a song " * 500)})
    work(queue)
    refused = alice_client.post("/api/mv/create_scenes", json.dumps({"idea": "x", "audio_id": junk.json()["audio_id"]}),
                                content_type="application/json")
    assert refused.status_code == 400 and refused.json()["error"] == "song_not_imported"
    assert refused.json()["message"].startswith("That song could not be used: This file isn't audio")
    assert not Project.objects.exists()
    assert alice_client.get(f"/api/audio/{junk.json()['audio_id']}").status_code == 404  # no bytes to serve


def test_the_lyrics_box_appears_once_the_song_is_in(alice_client, song_mp3, queue):
    """The import's end swaps the whole music source: a box shown meanwhile would lose what
    was typed in it."""
    html = alice_client.post("/create/audio/upload/", {"file": SimpleUploadedFile("s.mp3", song_mp3.read_bytes())},
                             HTTP_HX_REQUEST="true").content.decode()
    assert "Importing…" in html and "Paste lyrics" not in html
    work(queue)
    track = AudioTrack.objects.get()
    done = alice_client.get(f"/songs/{track.pk}/status/?importing=1", HTTP_HX_REQUEST="true").content.decode()
    assert "Paste lyrics" in done
