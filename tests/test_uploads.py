"""Song uploads: only single-file audio containers are read, limits hold after decoding, and a
too-large upload is stopped while it arrives."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, media
from mv.models import AudioTrack


def upload(client, name: str, content: bytes):
    return client.post("/api/audio/upload", {"file": SimpleUploadedFile(name, content)})


def analysis_of(client, track_id: str) -> dict:
    """What the analysis URL says (the tests' queue runs the import as the upload commits)."""
    return client.get(f"/api/audio/{track_id}/analysis").json()


def stored(media_root: Path) -> set[Path]:
    return {p for p in media_root.rglob("*") if p.is_file()}


def assert_failed_without_bytes(track: AudioTrack, media_root: Path, before: set[Path]) -> None:
    """A failed import: the row says so, and no stored byte of it is left."""
    assert track.analysis_status == AudioTrack.AnalysisStatus.FAILED and track.import_failed
    assert not track.original and not track.file and not track.waveform
    assert stored(media_root) == before


@pytest.fixture
def bobs_song(other_user, song_mp3) -> Path:
    """Another user's stored song: the file a playlist upload would try to read."""
    track = audio.import_upload(other_user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    return Path(track.original.path)


@pytest.mark.parametrize("name,playlist", [
    ("steal.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:40\n#EXTINF:40,\n{path}\n#EXT-X-ENDLIST\n"),
    ("steal.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:40\n" + "#EXTINF:40,\n{path}\n" * 200 + "#EXT-X-ENDLIST\n"),
    ("steal.ffconcat", "ffconcat version 1.0\nfile '{path}'\nfile '{path}'\n"),
    ("steal.mp3", "#EXTM3U\n#EXTINF:40,\nfile://{path}\n#EXT-X-ENDLIST\n"),
])
def test_upload_refuses_playlist_that_reads_other_files(alice_client, user, bobs_song, name, playlist, _media_root):
    before = stored(_media_root)
    response = upload(alice_client, name, playlist.format(path=bobs_song).encode())
    assert response.status_code == 201 and response.json()["status"] == "importing"
    body = analysis_of(alice_client, response.json()["audio_id"])
    assert body["status"] == "failed" and body["error"] == media.NOT_AUDIO
    assert_failed_without_bytes(AudioTrack.objects.get(owner=user), _media_root, before)


@pytest.mark.parametrize("ext,codec", [("wav", ["-c:a", "pcm_s16le"]), ("flac", ["-c:a", "flac"]),
                                       ("ogg", ["-c:a", "libvorbis"]), ("m4a", ["-c:a", "aac"]),
                                       ("opus", ["-c:a", "libopus", "-f", "ogg"]), ("webm", ["-c:a", "libopus"]),
                                       ("aiff", ["-c:a", "pcm_s16be"]), ("aac", ["-c:a", "aac", "-f", "adts"])])
def test_common_audio_formats_are_accepted(alice_client, user, song_mp3, tmp_path, ext, codec):
    path = tmp_path / f"song.{ext}"
    media.run_ffmpeg(["-i", song_mp3, "-t", "2", "-vn", *codec, path])
    response = upload(alice_client, path.name, path.read_bytes())
    assert response.status_code == 201, response.content
    body = analysis_of(alice_client, response.json()["audio_id"])
    assert body["status"] == "ready" and abs(body["duration"] - 2) < 0.2


def test_a_song_longer_than_the_limit_fails_its_import_with_a_plain_message(alice_client, user, song_mp3, settings,
                                                                             _media_root):
    settings.MV_MAX_SONG_SECONDS = 10
    response = upload(alice_client, "song.mp3", song_mp3.read_bytes())
    assert response.status_code == 201
    body = analysis_of(alice_client, response.json()["audio_id"])
    assert body["status"] == "failed" and body["error"] == "The song is longer than 0.166667 minutes, the longest accepted."
    assert_failed_without_bytes(AudioTrack.objects.get(), _media_root, set())


def test_the_decoded_length_counts_not_the_header(user, song_mp3, settings, tmp_path):
    """An MP3 whose Info header claims about a second while 40 s of frames follow: the length
    that counts is the decoded one (and decoding stops just past the limit)."""
    import struct

    settings.MV_MAX_SONG_SECONDS = 10
    data = bytearray(song_mp3.read_bytes())
    at = data.index(b"Info")
    assert struct.unpack_from(">I", data, at + 4)[0] & 1  # the frame count is present
    struct.pack_into(">I", data, at + 8, 40)  # 40 frames: about a second
    (tmp_path / "short.mp3").write_bytes(data)
    assert media.probe(tmp_path / "short.mp3").duration < 2  # what the header says
    with pytest.raises(audio.AudioTooLarge, match="longer than"):
        audio.import_upload(user, SimpleUploadedFile("short.mp3", bytes(data)))
    assert not AudioTrack.objects.exists()


class CountingPayload:
    """A request body that counts how much of it the server read."""

    def __init__(self, body: bytes) -> None:
        from django.test.client import FakePayload

        self.inner, self.read_bytes = FakePayload(body), 0

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.read_bytes += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.inner.readline(size)
        self.read_bytes += len(data)
        return data


def multipart(content: bytes, fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    boundary = "mvboundary1234"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (fields or {}).items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp3"\r\n'
                 f"Content-Type: audio/mpeg\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def send(client, url: str, body: bytes, content_type: str, **extra):
    payload = CountingPayload(body)
    response = client.post(url, data=body, content_type=content_type, **{"wsgi.input": payload}, **extra)
    return response, payload.read_bytes


def test_an_upload_over_the_limit_is_not_read(client, user, settings):
    """Content-Length already says too much: a 413 without reading the body."""
    settings.MV_MAX_UPLOAD_MB = 1
    body, kind = multipart(b"\xff\xfb" * (3 * 1024 * 1024))
    response, read = send(client, "/api/audio/upload", body, kind, HTTP_X_API_KEY="test-api-key")
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert read == 0 and not AudioTrack.objects.exists()


def test_a_file_past_the_limit_within_the_multipart_slack_is_stopped(client, user, settings, tmp_path):
    """Content-Length allows for multipart overhead; the file itself is counted as it arrives
    and stopped at the first chunk past the limit, its temporary file removed."""
    settings.MV_MAX_UPLOAD_MB = 1
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    spool = tmp_path / "spool"
    spool.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    body, kind = multipart(b"\xff\xfb" * (512 * 1024 + 16 * 1024))
    response, _ = send(client, "/api/audio/upload", body, kind, HTTP_X_API_KEY="test-api-key")
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert not AudioTrack.objects.exists() and not list(spool.iterdir())


def test_the_upload_page_says_the_file_is_too_large(alice_client, settings):
    settings.MV_MAX_UPLOAD_MB = 1
    body, kind = multipart(b"\xff\xfb" * (3 * 1024 * 1024))
    token = alice_client.get("/create/").cookies["csrftoken"].value
    response, read = send(alice_client, "/create/audio/upload/", body, kind, HTTP_HX_REQUEST="true",
                          HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and read == 0
    assert "larger than 1 MB" in response.content.decode()


def test_anonymous_posts_get_the_small_body_limit(client, transactional_db):
    """The login page does not spool a big anonymous upload: refused unread."""
    body, kind = multipart(b"\0" * (20 * 1024 * 1024), {"username": "x", "password": "y"})
    response, read = send(client, "/accounts/login/", body, kind)
    assert response.status_code == 400 and read == 0
