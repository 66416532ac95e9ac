"""Lyrics: transcribed by the flavor's model on Replicate after the analysis (a prediction like
any other: started, polled, under a deadline, resumed after a restart), or pasted (plain or
LRC) — pasted lyrics win. Offline there is no transcription, and the pages say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mv import audio, flavors, music, tasks
from mv.models import AudioTrack, JobStatus, LyricsTranscription
from mv.pipeline import songs
from tests.factories import advance
from tests.fakes import songs as generated
from tests.fakes.model_schemas import schemas

WHISPER = "openai/whisper"
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
IMMEDIATE_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
LRC = "[ar:The Band]\n[00:01.50] Lights come up\n[00:04.00][00:09.00] Hold on\n[00:06.25]\n[00:07.00] to the sound\n"


@pytest.fixture(scope="module")
def groove(tmp_path_factory) -> Path:
    return generated.drum_pattern(120, seconds=12).write(tmp_path_factory.mktemp("songs") / "groove.wav")


def uploaded(user, path: Path) -> AudioTrack:
    track = audio.import_upload(user, SimpleUploadedFile(path.name, path.read_bytes()))
    track.refresh_from_db()
    return track


def analysed_without_lyrics(user, path: Path, settings) -> AudioTrack:
    """A stored song whose analysis is done but whose lyrics were never asked for."""
    settings.TASKS = DUMMY_TASKS
    track = uploaded(user, path)
    track.record_analysis(music.Analysis(duration=track.duration, tempo=None, beats=(0.0,), downbeats=(0.0,),
                                         sections=(music.Section(0.0, track.duration, "A", 1.0),), envelope=(0.5,)))
    return track


def analysis_of(client, track: AudioTrack) -> dict:
    response = client.get(f"/api/audio/{track.pk}/analysis")
    assert response.status_code == 200
    return response.json()


def paste(client, track: AudioTrack, body) -> object:
    return client.post(f"/api/audio/{track.pk}/lyrics", json.dumps(body), content_type="application/json")


def test_after_the_analysis_the_lyrics_are_transcribed_on_replicate(fake_replicate, alice_client, user, groove):
    track = uploaded(user, groove)  # analysed, then transcribed, here at once (ImmediateBackend)
    assert track.analysis_status == AudioTrack.AnalysisStatus.READY
    (row,) = track.transcriptions.all()
    assert row.status == JobStatus.SUCCEEDED, row.error
    version = schemas()[WHISPER].version
    assert row.model == f"{WHISPER}:{version}" and fake_replicate.creates(WHISPER) == 1
    (create,) = [r for r in fake_replicate.requests_to("POST", r"^/v1/predictions$")  # a community model: by its version
                 if r["json"]["version"] == version]
    sent = create["json"]
    params = flavors.resolve("default").values["image_params"]["lyrics_params"]
    assert {k: sent["input"][k] for k in params} == dict(params) and "/v1/files/" in sent["input"]["audio"]
    assert row.input["sent"]["audio"].endswith(".m4a")  # the stored AAC copy went up
    body = analysis_of(alice_client, track)
    assert body["lyrics_status"] == "ready" and body["lyrics_source"] == "transcribed"
    lines = body["lyrics"]
    assert [line["text"] for line in lines] == ["Lights come up on the empty stage",
                                                "We sing it loud until the morning comes",
                                                "Hold on, hold on to the sound"]
    assert all(0 <= line["start"] < line["end"] <= track.duration for line in lines)
    assert row.text.startswith(" Lights come up")


def test_a_restarted_worker_resumes_a_transcription_from_its_prediction_id(fake_replicate, user, groove, settings):
    track = analysed_without_lyrics(user, groove, settings)
    fake_replicate.hold(WHISPER)
    row = songs.request_transcription(track)
    old_token = str(row.poll_token)
    assert advance(row) is False  # started; then the worker died
    row.refresh_from_db()
    assert row.status == JobStatus.RUNNING and row.prediction_id in fake_replicate.predictions
    fake_replicate.release(WHISPER)
    settings.TASKS = IMMEDIATE_TASKS
    assert tasks.resume_interrupted() == 1  # the new worker resumes it in a new poll chain
    row.refresh_from_db()
    assert row.status == JobStatus.SUCCEEDED, row.error
    assert fake_replicate.creates(WHISPER) == 1  # resumed, not paid twice
    track.refresh_from_db()
    assert track.lyrics_source == "transcribed" and len(track.lyrics) == 3
    polls = len(fake_replicate.requests_to("GET", r"/v1/predictions/"))
    tasks.advance_prediction.call(kind="lyricstranscription", pk=str(row.pk), token=old_token)  # the old chain ends
    assert len(fake_replicate.requests_to("GET", r"/v1/predictions/")) == polls


def test_a_transcription_past_its_deadline_is_cancelled_and_failed(fake_replicate, alice_client, user, groove, settings):
    track = analysed_without_lyrics(user, groove, settings)
    settings.TASKS = IMMEDIATE_TASKS
    settings.MV_PREDICTION_TIMEOUT = 0.3
    fake_replicate.never_finish_models.add(WHISPER)
    row = songs.request_transcription(track)  # the chain runs here, polling until the deadline
    row.refresh_from_db()
    assert row.status == JobStatus.FAILED and "timed out" in row.error.lower()
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{row.prediction_id}/cancel")
    body = analysis_of(alice_client, track)
    assert body["lyrics_status"] == "failed" and body["lyrics"] == [] and "Timed out" in body["lyrics_message"]


def test_an_instrumental_has_no_lyrics_and_an_unreadable_answer_fails_plainly(fake_replicate, user, groove, settings):
    track = analysed_without_lyrics(user, groove, settings)
    settings.TASKS = IMMEDIATE_TASKS
    fake_replicate.transcriptions.extend([{"detected_language": "english", "transcription": "", "segments": []},
                                          {"detected_language": "english", "transcription": "la la"}])
    heard_nothing = songs.request_transcription(track)
    heard_nothing.refresh_from_db()
    track.refresh_from_db()
    assert heard_nothing.status == JobStatus.SUCCEEDED and track.lyrics == []
    assert track.lyrics_state() == ("ready", "lyrics: none heard in the song")
    AudioTrack.objects.filter(pk=track.pk).update(lyrics_source="")
    junk = songs.request_transcription(track)
    junk.refresh_from_db()
    assert junk.status == JobStatus.FAILED and junk.error == "The transcription came back in a shape we cannot read."


def test_pasted_lrc_lyrics_win_over_a_running_transcription(fake_replicate, alice_client, user, groove, settings):
    track = analysed_without_lyrics(user, groove, settings)
    fake_replicate.hold(WHISPER)
    row = songs.request_transcription(track)
    advance(row)
    response = paste(alice_client, track, {"lyrics": LRC})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lyrics_source"] == "pasted" and body["lyrics_status"] == "ready"
    assert body["lyrics"] == [{"start": 1.5, "end": 4.0, "text": "Lights come up"},
                              {"start": 4.0, "end": 6.25, "text": "Hold on"},  # the empty stamp ends it
                              {"start": 7.0, "end": 9.0, "text": "to the sound"},
                              {"start": 9.0, "end": round(min(14.0, track.duration), 3), "text": "Hold on"}]
    row.refresh_from_db()
    assert row.status == JobStatus.CANCELED  # stopped paying for it
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{row.prediction_id}/cancel")
    track.refresh_from_db()
    assert track.store_lyrics([music.LyricLine(0.0, 1.0, "misheard")], AudioTrack.LyricsSource.TRANSCRIBED) is False
    track.refresh_from_db()
    assert track.lyrics_source == "pasted" and track.lyrics[0]["text"] == "Lights come up"
    assert songs.request_transcription(track) is None  # never transcribed over pasted lyrics


def test_plain_pasted_lyrics_are_spread_over_the_song(alice_client, user):
    track = AudioTrack.objects.create(owner=user, title="row only", duration=30.0)
    body = paste(alice_client, track, {"lyrics": "first line\n\nsecond line here\n"}).json()
    assert [line["text"] for line in body["lyrics"]] == ["first line", "second line here"]
    assert body["lyrics"][0]["start"] == 0 and body["lyrics"][-1]["end"] == 30.0


@pytest.mark.parametrize("sent, code", [({"lyrics": ""}, "validation_error"), ({"lyrics": ["a"]}, "validation_error"),
                                        ({}, "validation_error"), ({"lyrics": "x" * 20001}, "validation_error"),
                                        ({"lyrics": "[05:00.00] far past the end"}, "no_lyrics")])
def test_bad_pasted_lyrics_get_a_clear_400(alice_client, user, sent, code):
    track = AudioTrack.objects.create(owner=user, title="row only", duration=30.0)
    response = paste(alice_client, track, sent)
    assert response.status_code == 400 and response.json()["error"] == code and response.json()["message"]
    track.refresh_from_db()
    assert track.lyrics == [] and track.lyrics_source == ""


def test_only_the_owner_pastes_lyrics(alice_client, user, other_user):
    track = AudioTrack.objects.create(owner=user, title="row only", duration=30.0)
    bob = Client()
    bob.force_login(other_user)
    assert paste(bob, track, {"lyrics": "mine now"}).status_code == 404
    assert alice_client.get(f"/api/audio/{track.pk}/lyrics").status_code == 405


def test_offline_there_is_no_transcription_and_the_pages_say_so(alice_client, user, groove):
    with open(groove, "rb") as fh:
        page = alice_client.post("/create/audio/upload/", {"file": fh}, headers={"HX-Request": "true"})
    assert "lyrics: not available offline" in page.content.decode()
    track = AudioTrack.objects.get(owner=user)
    assert track.analysis_status == AudioTrack.AnalysisStatus.READY
    assert not LyricsTranscription.objects.exists() and songs.request_transcription(track) is None
    body = analysis_of(alice_client, track)
    assert body["lyrics_status"] == "unavailable" and body["lyrics_message"] == "lyrics: not available offline"
    assert body["lyrics"] == []
    card = alice_client.post(f"/songs/{track.pk}/lyrics/", {"lyrics": LRC}, headers={"HX-Request": "true"})
    assert card.status_code == 200 and "lyrics: 4 lines (pasted)" in card.content.decode()  # pasting works offline
    assert "<html" not in card.content.decode()


def test_the_song_card_shows_a_refused_paste_next_to_the_box(alice_client, user, other_user):
    track = AudioTrack.objects.create(owner=user, title="row only", duration=30.0)
    url = f"/songs/{track.pk}/lyrics/"
    refused = alice_client.post(url, {"lyrics": "[09:00.00] too late"}, headers={"HX-Request": "true"})
    html = refused.content.decode()
    assert refused.status_code == 200 and 'class="field-error"' in html and "check the LRC times" in html
    assert "[09:00.00] too late" in html  # what was typed stays in the box
    empty = alice_client.post(url, {"lyrics": " "}, headers={"HX-Request": "true"}).content.decode()
    assert "Paste the song&#x27;s lyrics (at most 20000 characters)." in empty
    assert alice_client.get(url).status_code == 405
    without_htmx = alice_client.post(url, {"lyrics": "one line"})
    assert without_htmx.status_code == 302
    bob = Client()
    bob.force_login(other_user)
    assert bob.post(url, {"lyrics": "x"}, headers={"HX-Request": "true"}).status_code == 404


def test_a_trim_keeps_its_part_of_the_lyrics_instead_of_transcribing_again(fake_replicate, user, groove):
    track = uploaded(user, groove)
    first, second, third = track.lyrics  # about 1.3-4.1, 4.5-7.3 and 7.7-10.5 s
    assert fake_replicate.creates(WHISPER) == 1 and first["end"] - 4.0 < 1.0 < 9.0 - third["start"]
    part = audio.trim(track, 4.0, 9.0)
    part.refresh_from_db()
    assert part.analysis_status == AudioTrack.AnalysisStatus.READY and part.lyrics_source == "transcribed"
    assert part.lyrics == [  # the first line is barely in the part (under a second): left out; the last is cut
        {"start": round(second["start"] - 4.0, 3), "end": round(second["end"] - 4.0, 3), "text": second["text"]},
        {"start": round(third["start"] - 4.0, 3), "end": round(part.duration, 3), "text": third["text"]}]
    assert fake_replicate.creates(WHISPER) == 1 and not part.transcriptions.exists()  # not paid again
