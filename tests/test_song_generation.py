"""Make a song when you have none: one music prediction, then an ordinary track (imported,
analysed, its lyrics the words given), priced and budgeted like every paid prediction."""

from __future__ import annotations

import json

import pytest

from mv import media
from mv.models import AudioTrack, JobStatus, SongGeneration


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_a_generated_30_s_song_is_made_once_imported_and_analysed_offline(alice_client):
    response = post(alice_client, "/api/audio/generate",
                    {"prompt": "bright synth-pop with a steady kick", "duration": 30,
                     "lyrics": "city lights are calling\nwe run until the morning", "wait": 30})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "generated" and body["song"]["status"] == "succeeded"
    track = AudioTrack.objects.get(pk=body["audio_id"])
    assert SongGeneration.objects.filter(track=track).count() == 1
    analysis = alice_client.get(f"/api/audio/{track.pk}/analysis").json()
    assert analysis["status"] == "ready", analysis
    assert analysis["duration"] == pytest.approx(30.0, abs=0.05)
    assert analysis["tempo"] and 90 <= analysis["tempo"] <= 140  # the local song has a real beat
    assert [line["text"] for line in analysis["lyrics"]] == ["city lights are calling", "we run until the morning"]
    assert analysis["lyrics_source"] == "pasted"
    with track.file.open("rb") as fh:
        assert fh.read(16)  # the AAC copy every stitch uses, as for an upload


def test_the_song_is_made_by_one_music_prediction_at_the_fake_with_the_asked_length(alice_client, fake_replicate,
                                                                                   settings):
    settings.MV_USER_DAILY_BUDGET_USD = 5
    response = post(alice_client, "/api/audio/generate", {"prompt": "lo-fi piano", "duration": 30, "wait": 60})
    assert response.status_code == 200, response.content
    assert fake_replicate.creates("meta/musicgen") == 1
    [sent] = [p.input for p in fake_replicate.predictions.values() if p.model == "meta/musicgen"]
    assert sent["prompt"] == "lo-fi piano" and sent["duration"] == 30 and sent["output_format"] == "wav"
    track = AudioTrack.objects.get(pk=response.json()["audio_id"])
    assert track.analysis_status == AudioTrack.AnalysisStatus.READY, track.analysis_error
    assert media.audio_duration(track.file.path) == pytest.approx(30.0, abs=0.05)
    generation = SongGeneration.objects.get(track=track)
    assert generation.estimated_cost_usd > 0 and generation.cost_usd is not None  # priced before, billed after
    assert not track.transcriptions.exists()  # an instrumental the user gave no words for: nothing to hear


def test_over_todays_budget_no_song_is_made_and_nothing_is_kept(alice_client, fake_replicate, settings):
    settings.MV_USER_DAILY_BUDGET_USD = 0.01
    response = post(alice_client, "/api/audio/generate", {"prompt": "epic orchestra", "duration": 30})
    assert response.status_code == 402, response.content
    assert response.json()["error"] == "budget_exceeded"
    assert fake_replicate.creates("meta/musicgen") == 0
    assert not AudioTrack.objects.exists() and not SongGeneration.objects.exists()


@pytest.mark.parametrize(("data", "field"), [({"prompt": "x", "duration": 2}, "bad_duration"),
                                              ({"prompt": "x", "duration": 31}, "bad_duration"),
                                              ({"prompt": "   ", "duration": 10}, "validation_error"),
                                              ({"duration": 10}, "validation_error")])
def test_bad_requests_are_refused_plainly(alice_client, data, field):
    response = post(alice_client, "/api/audio/generate", data)
    assert response.status_code == 400
    assert response.json()["error"] == field
    assert not AudioTrack.objects.exists()


def test_a_failed_generation_fails_its_song_with_a_plain_message(alice_client, fake_replicate):
    fake_replicate.fail_next("meta/musicgen", "E9000: CUDA out of memory")
    body = post(alice_client, "/api/audio/generate", {"prompt": "jazz trio", "duration": 10, "wait": 60}).json()
    assert body["song"]["status"] == JobStatus.FAILED
    analysis = alice_client.get(f"/api/audio/{body['audio_id']}/analysis").json()
    assert analysis["status"] == "failed"
    assert analysis["error"] == body["song"]["error"] and analysis["error"].startswith("The model failed")


def test_a_project_made_while_the_song_is_composed_waits_for_it(alice_client, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    body = post(alice_client, "/api/audio/generate", {"prompt": "surf rock", "duration": 20}).json()
    track = AudioTrack.objects.get(pk=body["audio_id"])
    assert track.being_made and body["status"] == "importing"
    project = post(alice_client, "/api/mv/create_scenes", {"idea": "a beach race", "audio_id": str(track.pk)})
    assert project.status_code in (200, 202), project.content
    assert project.json()["audio_id"] == str(track.pk)  # kept: its scenes are planned once the song is in


def test_the_create_page_generates_a_song_into_the_picker(alice_client):
    page = alice_client.get("/create/").content.decode()
    assert "…or generate a song" in page
    card = alice_client.post("/create/audio/generate/", {"prompt": "warm folk guitar", "duration": "12"},
                             HTTP_HX_REQUEST="true").content.decode()
    track = AudioTrack.objects.get()
    assert f'value="{track.pk}"' in card and "warm folk guitar" in card
    refused = alice_client.post("/create/audio/generate/", {"prompt": "", "duration": "12"},
                                HTTP_HX_REQUEST="true").content.decode()
    assert "Describe the song to make" in refused
