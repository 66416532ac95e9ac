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
def test_upload_refuses_playlist_that_reads_other_files(alice_client, user, bobs_song, name, playlist):
    response = upload(alice_client, name, playlist.format(path=bobs_song).encode())
    assert response.status_code == 400
    assert response.json()["message"] == audio.NOT_AUDIO
    assert not AudioTrack.objects.filter(owner=user).exists()


@pytest.mark.parametrize("ext,codec", [("wav", ["-c:a", "pcm_s16le"]), ("flac", ["-c:a", "flac"]),
                                       ("ogg", ["-c:a", "libvorbis"]), ("m4a", ["-c:a", "aac"]),
                                       ("opus", ["-c:a", "libopus", "-f", "ogg"]), ("webm", ["-c:a", "libopus"]),
                                       ("aiff", ["-c:a", "pcm_s16be"]), ("aac", ["-c:a", "aac", "-f", "adts"])])
def test_common_audio_formats_are_accepted(alice_client, user, song_mp3, tmp_path, ext, codec):
    path = tmp_path / f"song.{ext}"
    media.run_ffmpeg(["-i", song_mp3, "-t", "2", "-vn", *codec, path])
    response = upload(alice_client, path.name, path.read_bytes())
    assert response.status_code == 201, response.content
    assert abs(response.json()["duration"] - 2) < 0.2


def test_a_song_longer_than_the_limit_is_refused(alice_client, user, song_mp3, settings):
    settings.MV_MAX_SONG_SECONDS = 10
    response = upload(alice_client, "song.mp3", song_mp3.read_bytes())
    assert response.status_code == 413 and "longer than" in response.json()["message"]
    assert not AudioTrack.objects.exists()


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
