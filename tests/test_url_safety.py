"""URLs users give us (songs, videos) never reach this machine or its private network."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from mv import files
from mv.models import AudioTrack, Clip


def post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def private_urls_refused(settings):
    settings.MV_ALLOW_PRIVATE_URLS = False


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/song.mp3", "http://localhost/song.mp3", "http://10.1.2.3/a.mp3",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/a.mp3"])
def test_song_urls_on_private_hosts_are_refused(alice_client, private_urls_refused, url):
    response = post(alice_client, "/api/audio/download", {"url": url})
    assert response.status_code == 400
    assert "private or local network" in response.json()["message"]
    assert AudioTrack.objects.count() == 0


def test_video_urls_on_private_hosts_are_refused(alice_client, private_urls_refused, user):
    response = post(alice_client, "/api/mv/lipsync", {"video_url": "http://127.0.0.1:9/clip.mp4",
                                                      "audio_url": "http://127.0.0.1:9/song.mp3"})
    assert response.status_code == 400 and "private or local network" in response.json()["message"]
    assert Clip.objects.count() == 0 and AudioTrack.objects.count() == 0


def test_a_redirect_to_a_private_host_is_refused_before_it_is_followed(private_urls_refused, tmp_path, monkeypatch):
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    real_check = files.check_public_url
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setattr(files, "check_public_url", lambda url: None if url == start else real_check(url))
    try:
        with pytest.raises(files.FetchError, match="private or local network"):
            files.fetch_url(start, tmp_path / "out.mp4", limit_bytes=1024)
    finally:
        server.shutdown()
