"""Song analysis in the background: once per track when it arrives (upload, URL, trim), read
back by the API and the create page, never stuck and never run on a request."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from mv import audio, music, tasks
from mv.models import AudioTrack
from mv.models.audio import ANALYSIS_FAILED
from tests.fakes import songs as generated

Status = AudioTrack.AnalysisStatus


@pytest.fixture(scope="module")
def groove(tmp_path_factory) -> tuple[Path, generated.Song]:
    """12 s of drums at 128 BPM: enough for a tempo, short enough to analyse in a blink."""
    made = generated.drum_pattern(128, seconds=12)
    return made.write(tmp_path_factory.mktemp("songs") / "groove.wav"), made


def upload(client, path: Path, **extra):
    return client.post("/api/audio/upload", {"file": SimpleUploadedFile(path.name, path.read_bytes())}, **extra)


def analysis_of(client, track_id: str, **extra):
    return client.get(f"/api/audio/{track_id}/analysis", **extra)


def bare_track(owner, **fields) -> AudioTrack:
    """A row with no files (for what only reads the row)."""
    return AudioTrack.objects.create(owner=owner, title="row only", duration=fields.pop("duration", 30.0), **fields)


def test_an_uploaded_song_is_analysed_in_the_background_and_read_back_by_the_api(alice_client, groove):
    path, made = groove
    response = upload(alice_client, path)
    assert response.status_code == 201
    track_id = response.json()["audio_id"]
    assert response.json()["analysis_url"] == f"/api/audio/{track_id}/analysis"
    body = analysis_of(alice_client, track_id).json()
    assert set(body) >= {"status", "error", "duration", "tempo", "beats", "downbeats", "sections", "lyrics"}
    assert body["status"] == "ready" and body["error"] is None and body["note"] is None
    assert body["tempo"] == pytest.approx(made.bpm, rel=0.02)
    assert abs(body["duration"] - made.duration) < 0.1
    found = np.array(body["beats"])
    hits = sum(np.min(np.abs(found - t)) <= 0.07 for t in made.beats)
    assert hits >= 0.9 * len(made.beats)
    assert set(body["downbeats"]) <= set(body["beats"]) and body["downbeats"]
    assert body["sections"] and all(set(s) == {"start", "end", "label", "energy"} for s in body["sections"])
    assert body["sections"][0]["start"] == 0 and body["sections"][-1]["end"] == pytest.approx(body["duration"], abs=0.01)
    assert all(isinstance(t, float) for t in body["beats"]) and 0 <= body["sections"][0]["energy"] <= 1
    track = AudioTrack.objects.get(pk=track_id)
    assert track.analysis["version"] == music.ANALYSIS_VERSION
    assert track.music_analysis().beats == tuple(body["beats"])


def test_a_track_is_analysed_once_and_never_on_a_request(alice_client, user, groove, monkeypatch):
    path, _ = groove
    track = audio.import_upload(user, SimpleUploadedFile(path.name, path.read_bytes()))
    track.refresh_from_db()
    assert track.analysis_status == Status.READY

    def must_not_run(path, container=None):
        raise AssertionError("analysed again")

    monkeypatch.setattr(music, "analyze", must_not_run)
    track.analyze()  # already analysed by this version: left alone
    tasks.analyze_track.call(track_id=str(track.pk))
    waiting = bare_track(user)
    assert analysis_of(alice_client, str(waiting.pk)).json()["status"] == "analyzing"
    assert alice_client.get(f"/songs/{waiting.pk}/status/", headers={"HX-Request": "true"}).status_code == 200
    assert alice_client.get("/create/").status_code == 200
    waiting.refresh_from_db()
    assert waiting.analysis_status == Status.ANALYZING  # reading it never runs it


def test_a_trimmed_track_is_analysed_too(user, groove):
    path, _ = groove
    track = audio.import_upload(user, SimpleUploadedFile(path.name, path.read_bytes()))
    part = audio.trim(track, 2.0, 11.0)
    part.refresh_from_db()
    assert part.analysis_status == Status.READY and part.music_analysis().duration == pytest.approx(9.0, abs=0.1)


def test_a_downloaded_song_is_analysed_too(alice_client, http_files, groove):
    folder, base = http_files
    shutil.copyfile(groove[0], folder / "groove.wav")
    response = alice_client.post("/api/audio/download", json.dumps({"url": f"{base}/groove.wav"}),
                                 content_type="application/json")
    assert response.status_code == 201, response.content
    body = analysis_of(alice_client, response.json()["audio_id"]).json()
    assert body["status"] == "ready" and body["tempo"] == pytest.approx(128, rel=0.02)


def _wav(tmp_path: Path, samples: np.ndarray, name: str) -> Path:
    return generated.write_samples(samples.astype(np.float32), tmp_path / name)


@pytest.mark.parametrize("kind, note", [("silence", "silent"), ("noise", "No steady beat"),
                                        ("jingle", "too short")])
def test_an_odd_song_is_ready_on_an_even_grid_with_a_note(alice_client, tmp_path, kind, note):
    sr = generated.SR
    samples = {"silence": np.zeros(10 * sr), "noise": generated.white_noise(10.0),
               "jingle": generated.drum_pattern(120, seconds=3).samples}[kind]
    response = upload(alice_client, _wav(tmp_path, samples, f"{kind}.wav"))
    assert response.status_code == 201
    body = analysis_of(alice_client, response.json()["audio_id"]).json()
    assert body["status"] == "ready" and body["error"] is None
    assert note in body["note"] and "even grid" in body["note"]
    assert body["tempo"] is None and body["beats"] and len(body["sections"]) == 1
    steps = np.diff(body["beats"])
    assert np.allclose(steps, steps[0], atol=0.002)  # an even grid


def test_an_analysis_that_breaks_fails_with_a_plain_message_and_the_track_stays_usable(alice_client, groove, monkeypatch):
    def broken(path, container=None):
        raise MemoryError("numba exploded at 0x7f")

    monkeypatch.setattr(music, "analyze", broken)
    path, _ = groove
    response = upload(alice_client, path)
    assert response.status_code == 201  # the upload itself is fine
    body = analysis_of(alice_client, response.json()["audio_id"]).json()
    assert body["status"] == "failed" and body["error"] == ANALYSIS_FAILED
    assert body["duration"] > 0 and body["beats"] == [] and body["sections"] == []
    assert "0x7f" not in body["error"] and "numba" not in body["error"]
    assert AudioTrack.objects.get(pk=response.json()["audio_id"]).music_analysis() is None


def test_a_file_that_does_not_decode_fails_with_the_analysis_reason(user, tmp_path):
    track = bare_track(user)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"not a song at all" * 50)
    from mv import files

    files.store(track.original, junk, f"{track.pk}.mp3")
    track.save(update_fields=["original"])
    track.analyze()
    track.refresh_from_db()
    assert track.analysis_status == Status.FAILED
    assert track.analysis_error == "The song could not be read as audio. Scenes use an even grid."


def test_a_starting_worker_analyses_tracks_cut_off_or_of_an_older_version(user, monkeypatch):
    current = music.Analysis(duration=30.0, tempo=None, beats=(0.0, 0.5), downbeats=(0.0,),
                             sections=(music.Section(0.0, 30.0, "A", 1.0),), envelope=(0.0,))
    old = current.to_dict() | {"version": music.ANALYSIS_VERSION - 1}
    cut_off = bare_track(user)
    stale = bare_track(user, analysis=old, analysis_status=Status.READY)
    fresh = bare_track(user, analysis=current.to_dict(), analysis_status=Status.READY)
    failed = bare_track(user, analysis_status=Status.FAILED, analysis_error="The song could not be read as audio.")
    assert set(AudioTrack.objects.needing_analysis()) == {cut_off, stale}
    seen = []

    def analyse(path, container=None):
        seen.append(path)
        return current

    monkeypatch.setattr(music, "analyze", analyse)
    monkeypatch.setattr("mv.files.local_path", lambda field: _Nothing())
    assert tasks.resume_interrupted() == 2  # the two songs, analysed in the background (here: at once)
    assert len(seen) == 2
    for track in (cut_off, stale, fresh):
        track.refresh_from_db()
        assert track.analysis_status == Status.READY and track.analysis["version"] == music.ANALYSIS_VERSION
    failed.refresh_from_db()
    assert failed.analysis_status == Status.FAILED
    assert not AudioTrack.objects.needing_analysis().exists()


class _Nothing:
    """files.local_path for a row with no file (the analysis is faked)."""

    def __enter__(self) -> Path:
        return Path("song.wav")

    def __exit__(self, *exc) -> None:
        return None


def test_the_analysis_is_only_for_its_owner(alice_client, user, other_user):
    track = bare_track(user)
    url = f"/api/audio/{track.pk}/analysis"
    assert alice_client.get(url).status_code == 200
    assert alice_client.post(url).status_code == 405
    client = Client()
    assert client.get(url).status_code == 401
    assert client.get(url, HTTP_X_API_KEY="test-api-key").status_code == 404  # the key's user is someone else
    client.force_login(other_user)
    response = client.get(url)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_song_card_shows_the_analysis_and_polls_only_while_analysing(alice_client, user, other_user, groove):
    path, _ = groove
    with open(path, "rb") as fh:
        page = alice_client.post("/create/audio/upload/", {"file": fh}, headers={"HX-Request": "true"})
    html = page.content.decode()
    assert 'id="song-card-' in html and "128 BPM" in html  # the tests' queue imports and analyses as it commits
    track_id = page.content.decode().split('name="audio_track_id" value="')[1].split('"')[0]
    settled = alice_client.get(f"/songs/{track_id}/status/", headers={"HX-Request": "true"})
    assert "128 BPM · 1 section" in settled.content.decode() and settled.status_code == 286
    track = bare_track(user, analysis_status=Status.ANALYZING)
    status_url = f"/songs/{track.pk}/status/"
    busy = alice_client.get(status_url, headers={"HX-Request": "true"})
    assert busy.status_code == 200 and "analyzing…" in busy.content.decode() and 'hx-trigger="every 2000ms"' in busy.content.decode()
    assert "<html" not in busy.content.decode()
    track.record_analysis(music.Analysis(duration=30.0, tempo=None, beats=(0.0,), downbeats=(0.0,),
                                         sections=(music.Section(0.0, 30.0, "A", 1.0),), envelope=(0.0,),
                                         note="The song is silent; scenes use an even grid."))
    settled = alice_client.get(status_url, headers={"HX-Request": "true"})
    assert settled.status_code == 286  # htmx stops polling
    assert "The song is silent; scenes use an even grid." in settled.content.decode()
    assert alice_client.post(status_url).status_code == 405
    alice_client.force_login(other_user)
    assert alice_client.get(status_url).status_code == 404


def test_the_worker_warms_the_analysis_up_and_queues_songs_left_analysing(user, settings, monkeypatch):
    from django.core.management import call_command

    settings.MV_TASKS_BACKEND = "db"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    warmed, analysed = [], []
    monkeypatch.setattr(music, "warm_up", lambda: warmed.append(True))
    monkeypatch.setattr(AudioTrack, "analyze", lambda track: analysed.append(str(track.pk)))
    left = bare_track(user)
    out = io.StringIO()
    call_command("mv_worker", batch=True, processes=1, stdout=out)
    assert warmed == [True] and analysed == [str(left.pk)]  # queued at start, run by the worker
    assert "resumed 1 interrupted job(s)" in out.getvalue()


def test_the_analysis_decodes_the_original_as_the_container_found_at_upload_never_auto_detected(
        user, groove, tmp_path):
    """A stored original that is a playlist (an ffconcat script naming another file) must not
    make the analysis read that file: it decodes with the demuxer found when the song arrived
    and the file protocol only."""
    from mv import files, media

    path, _ = groove
    track = audio.import_upload(user, SimpleUploadedFile("groove.wav", path.read_bytes()))
    assert track.container == "wav" == media.container_format(path)
    secret = tmp_path / "secret.wav"
    shutil.copyfile(path, secret)  # a real song another file could point at
    with files.local_path(track.original) as stored:
        Path(stored).write_bytes(f"ffconcat version 1.0\nfile {secret}\n".encode())
    AudioTrack.objects.filter(pk=track.pk).update(analysis={}, analysis_status=Status.ANALYZING)
    track.refresh_from_db()
    track.analyze()
    track.refresh_from_db()
    assert track.analysis_status == Status.FAILED and track.music_analysis() is None
    # the same playlist given to decode directly: no demuxer on the allow-list names it
    playlist = tmp_path / "list.mp3"
    playlist.write_bytes(f"ffconcat version 1.0\nfile {secret}\n".encode())
    with pytest.raises(music.AnalysisError):
        music.analysis.decode(playlist, 8000)
    assert len(music.analysis.decode(secret, 8000)) > 8000  # while the real song decodes
