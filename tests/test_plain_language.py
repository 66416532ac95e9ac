"""Messages are for people: no errno, temp paths, exception classes or ffmpeg text in what
a page, the API or a command says; the technical detail goes to the log."""

from __future__ import annotations

import logging
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from mv import audio, media
from mv.models import AudioTrack

NOT_AUDIO = "This file isn't audio we can read — MP3, WAV, M4A, OGG or FLAC work."
GARBAGE = b"this is not audio at all, just some text\n" * 200
# What must never reach a person: errno, PyAV/ffmpeg wording, temp folders, Python class names.
TECHNICAL = re.compile(r"Errno|Invalid data|/tmp/|mv-[a-z0-9_]{6,}|upload\.\w+|Error\b|Exception|Traceback|ffmpeg|"
                       r"\bav\.|<[A-Za-z]+Error|\[generic\]", re.IGNORECASE)


def assert_plain(text: str) -> None:
    found = TECHNICAL.search(text)
    assert found is None, f"technical text {found.group(0)!r} in {text!r}"


def test_a_non_audio_upload_through_the_api_gets_the_plain_message(alice_client, caplog):
    caplog.set_level(logging.INFO, logger="mv.audio")
    response = alice_client.post("/api/audio/upload", {"file": SimpleUploadedFile("upload.mp3", GARBAGE)})
    assert response.status_code == 201  # stored at once; the worker's checks refuse it
    body = alice_client.get(response.json()["analysis_url"]).json()
    assert body["status"] == "failed" and body["error"] == NOT_AUDIO
    assert_plain(body["error"])
    assert AudioTrack.objects.get().import_failed
    assert any("not a supported audio or video container" in r.getMessage() for r in caplog.records)


def test_a_non_audio_upload_on_the_create_page_shows_the_plain_message(alice_client):
    response = alice_client.post("/create/audio/upload/", {"file": SimpleUploadedFile("upload.mp3", GARBAGE)},
                                 HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    message = re.search(r'<p class="field-error" role="alert">(.*?)</p>', html, re.S).group(1)
    assert message == "This file isn&#x27;t audio we can read — MP3, WAV, M4A, OGG or FLAC work."
    assert_plain(message)


def test_a_video_with_no_sound_is_refused_as_not_audio(user, tmp_path):
    silent = tmp_path / "silent.mp4"
    media.run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=1", "-c:v", "libx264",
                      "-pix_fmt", "yuv420p", silent])
    with pytest.raises(audio.AudioImportError) as caught:
        audio.import_upload(user, SimpleUploadedFile("clip.mp4", silent.read_bytes()))
    assert str(caught.value) == NOT_AUDIO


def test_media_errors_keep_the_technical_detail_apart_from_the_message(tmp_path):
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(GARBAGE)
    with pytest.raises(media.MediaError) as caught:
        media.require_audio(junk)
    assert str(caught.value) == caught.value.message == NOT_AUDIO
    assert str(junk) in caught.value.detail
    with pytest.raises(media.MediaError) as failed:
        media.run_ffmpeg(["-i", junk, tmp_path / "out.wav"])
    assert_plain(str(failed.value))
    assert "ffmpeg failed" in failed.value.detail


def test_a_stitch_of_something_that_is_not_a_video_says_so_plainly(tmp_path):
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(GARBAGE)
    with pytest.raises(media.MediaError) as caught:
        media.stitch([junk], tmp_path / "out.mp4", workdir=tmp_path)
    assert_plain(str(caught.value))


def test_a_video_url_that_is_not_a_video_gets_a_plain_api_message(alice_client, http_files):
    folder, base = http_files
    (folder / "clip.mp4").write_bytes(GARBAGE)
    response = alice_client.post("/api/mv/lipsync", {"video_url": f"{base}/clip.mp4", "audio_url": f"{base}/song.mp3"},
                                 content_type="application/json")
    assert response.status_code == 400 and "not a video we can use" in response.json()["message"]
    assert_plain(response.json()["message"])


def test_a_missing_song_url_gets_a_plain_download_message(alice_client, http_files):
    _, base = http_files
    response = alice_client.post("/api/audio/download", {"url": f"{base}/gone.mp3"}, content_type="application/json")
    assert response.status_code == 201  # the download runs in the worker
    message = alice_client.get(response.json()["analysis_url"]).json()["error"]
    assert message.startswith("Could not download audio from that URL")
    assert_plain(message)
    assert base not in message


def test_make_video_with_a_file_that_is_not_audio_fails_with_the_plain_message(transactional_db, tmp_path):
    junk = tmp_path / "song.mp3"
    junk.write_bytes(GARBAGE)
    with pytest.raises(CommandError) as caught:
        call_command("make_video", audio=str(junk), idea="x", out=str(tmp_path / "o.mp4"))
    assert str(caught.value) == NOT_AUDIO


def test_an_unexpected_replicate_failure_is_told_without_its_exception_class(caplog):
    from mv.providers.replicate import describe

    message, permanent = describe(KeyError("output"))
    assert_plain(message)
    assert "KeyError" in caplog.text  # the class and text go to the log
