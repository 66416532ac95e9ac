"""URLs users give us (songs, videos) never reach this machine or its private network.

The guard is on in every test here (``MV_ALLOW_PRIVATE_URLS`` off). Where a test needs a host
the guard lets through, it declares 127.0.0.1 "public" (``public_loopback``) and puts the
"private" target on 127.0.0.2: both are loopback servers, and only the guard tells them apart.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from mv import audio, netguard
from mv.models import AudioTrack, Clip


def post(client, url: str, body: dict):
    return client.post(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def private_urls_refused(settings):
    settings.MV_ALLOW_PRIVATE_URLS = False


@pytest.fixture
def public_loopback(private_urls_refused, monkeypatch):
    """127.0.0.1 counts as a public host; every other private address is still refused."""
    real = netguard.is_public
    monkeypatch.setattr(netguard, "is_public", lambda address: address == "127.0.0.1" or real(address))


class Server:
    """A loopback HTTP server answering from a dict of path -> (status, headers, body), and
    recording every path asked for."""

    def __init__(self, host: str, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.routes, self.seen = routes, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append(self.path)
                status, headers, body = outer.routes.get(self.path.split("?")[0], (404, {}, b"no"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers and not headers.get("X-No-Length"):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if callable(body):
                    body(self.wfile)
                else:
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(routes: dict, host: str = "127.0.0.1") -> Server:
        servers.append(Server(host, routes))
        return servers[-1]

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


# --- refused before anything is fetched -------------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/song.mp3", "http://localhost/song.mp3", "http://10.1.2.3/a.mp3",
                                 "http://169.254.169.254/latest/meta-data", "http://[::1]/a.mp3",
                                 "http://[::127.0.0.1]/a.mp3", "http://[::ffff:127.0.0.1]/a.mp3",
                                 "http://[64:ff9b::7f00:1]/a.mp3", "http://[2002:7f00:1::]/a.mp3",
                                 "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
                                 "http://0.0.0.0/a.mp3"])
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


@pytest.mark.parametrize("address,public", [
    ("8.8.8.8", True), ("2606:4700::1111", True), ("64:ff9b::808:808", True), ("2002:808:808::", True),
    ("::ffff:8.8.8.8", True), ("127.0.0.1", False), ("::127.0.0.1", False), ("::1", False), ("::", False),
    ("64:ff9b::7f00:1", False), ("64:ff9b::a00:1", False), ("64:ff9b:1::808:808", False),
    ("2002:7f00:1::", False), ("2002:a9fe:a9fe::", False), ("::ffff:0:7f00:1", False),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo with a documentation-range client
    ("2001:0:808:808:0:f227:80ff:fffe", False),  # Teredo whose client is 127.0.0.1 (obfuscated)
    ("fe80::1%eth0", False), ("fc00::1", False), ("ff0e::1", False), ("169.254.169.254", False),
])
def test_ipv6_addresses_are_judged_by_the_ipv4_address_they_embed(address, public):
    assert netguard.is_public(address) is public


def test_a_url_whose_parsers_disagree_on_the_host_is_refused_and_never_fetched(alice_client, user,
                                                                              private_urls_refused, serve, clip_mp4):
    """The outside review's `127.0.0.1:PORT\\@8.8.8.8`: urlsplit saw 8.8.8.8, the HTTP client
    connected to 127.0.0.1."""
    server = serve({"/x.mp4": (200, {"Content-Type": "video/mp4"}, clip_mp4.read_bytes())})
    port = server.url.rsplit(":", 1)[1]
    for url in (f"http://127.0.0.1:{port}\\@8.8.8.8/x.mp4", f"http://8.8.8.8@127.0.0.1:{port}/x.mp4",
                f"http://127.0.0.1:{port}#@8.8.8.8/x.mp4"):
        response = post(alice_client, "/api/mv/lipsync", {"video_url": url, "audio_url": "http://8.8.8.8/a.mp3"})
        assert response.status_code == 400, url
    assert server.seen == [] and Clip.objects.count() == 0


# --- every connection is checked: redirects, DNS answers, yt-dlp's own requests ------------------


def test_a_redirect_to_a_private_host_is_refused_before_it_is_followed(public_loopback, serve, tmp_path):
    private = serve({"/meta": (200, {}, b"secret")}, host="127.0.0.2")
    start = serve({"/clip.mp4": (302, {"Location": f"{private.url}/meta"}, b"")})
    with pytest.raises(netguard.BlockedAddress):
        netguard.fetch_url(f"{start.url}/clip.mp4", tmp_path / "out.mp4", limit_bytes=1024)
    assert start.seen == ["/clip.mp4"] and private.seen == []


def test_the_address_checked_is_the_address_connected_to(public_loopback, serve, tmp_path, monkeypatch):
    """DNS rebinding: the name answers a public address to the first lookup and a private one
    after. The connection resolves once, checks that answer and connects to it."""
    private = serve({"/x.mp4": (200, {}, b"secret")}, host="127.0.0.2")
    port = int(private.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def rebinding(host, *args, **kwargs):
        if host != "rebind.example":
            return real(host, *args, **kwargs)
        return real(next(answers, "127.0.0.2"), *args, **kwargs)

    monkeypatch.setattr(netguard.socket, "getaddrinfo", rebinding)
    with pytest.raises(netguard.BlockedAddress):
        netguard.fetch_url(f"http://rebind.example:{port}/x.mp4", tmp_path / "out.mp4", limit_bytes=1024)
    assert private.seen == []


def test_refused_and_unreachable_urls_get_one_plain_message(public_loopback, serve, tmp_path, user):
    """An open port answering 404 and a closed port look the same to the user."""
    open_port = serve({})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused, and no other test can take it
    closed_port = closed.getsockname()[1]
    messages, song_messages = set(), set()
    for url in (f"{open_port.url}/missing.mp4", f"http://127.0.0.1:{closed_port}/x.mp4"):
        with pytest.raises(netguard.FetchError) as caught:
            netguard.fetch_url(url, tmp_path / "out.mp4", limit_bytes=1024)
        messages.add(str(caught.value))
        with pytest.raises(audio.AudioImportError) as caught_song:
            audio.import_url(user, url)
        song_messages.add(str(caught_song.value))
    closed.close()
    assert messages == {netguard.COULD_NOT_DOWNLOAD}
    assert song_messages == {"Could not download audio from that URL."}


def test_yt_dlp_does_not_follow_a_redirect_to_a_private_host(public_loopback, serve, song_mp3, user):
    private = serve({"/song.mp3": (200, {"Content-Type": "audio/mpeg"}, song_mp3.read_bytes())}, host="127.0.0.2")
    start = serve({"/song.mp3": (302, {"Location": f"{private.url}/song.mp3"}, b"")})
    with pytest.raises(audio.AudioImportError, match="private or local network"):
        audio.import_url(user, f"{start.url}/song.mp3")
    assert private.seen == [] and AudioTrack.objects.count() == 0


def test_yt_dlp_does_not_fetch_hls_segments_from_a_private_host(public_loopback, serve, song_mp3, user, tmp_path):
    segment = tmp_path / "seg.ts"
    from mv import media

    media.run_ffmpeg(["-i", song_mp3, "-t", "2", "-c:a", "aac", "-f", "mpegts", segment])
    private = serve({"/seg0.ts": (200, {"Content-Type": "video/mp2t"}, segment.read_bytes())}, host="127.0.0.2")
    playlist = (f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
                f"#EXTINF:2.0,\n{private.url}/seg0.ts\n#EXT-X-ENDLIST\n").encode()
    start = serve({"/song.m3u8": (200, {"Content-Type": "application/vnd.apple.mpegurl"}, playlist)})
    with pytest.raises(audio.AudioImportError, match="private or local network"):
        audio.import_url(user, f"{start.url}/song.m3u8")
    assert start.seen and private.seen == [] and AudioTrack.objects.count() == 0


def test_yt_dlp_never_lets_ffmpeg_fetch_what_it_cannot(public_loopback, serve, song_mp3, user, tmp_path):
    """A playlist yt-dlp's own HLS downloader hands to ffmpeg (an encryption it does not do):
    ffmpeg may read local files only, so it fetches neither the playlist nor the segments."""
    from mv import media

    segment = tmp_path / "seg.ts"
    media.run_ffmpeg(["-i", song_mp3, "-t", "2", "-c:a", "aac", "-f", "mpegts", segment])
    private = serve({"/seg0.ts": (200, {}, segment.read_bytes()), "/key": (200, {}, b"0" * 16)}, host="127.0.0.2")
    playlist = (f'#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{private.url}/key"\n'
                f"#EXTINF:2.0,\n{private.url}/seg0.ts\n#EXT-X-ENDLIST\n").encode()
    start = serve({"/song.m3u8": (200, {"Content-Type": "application/vnd.apple.mpegurl"}, playlist)})
    with pytest.raises(audio.AudioImportError):
        audio.import_url(user, f"{start.url}/song.m3u8")
    assert private.seen == [] and start.seen.count("/song.m3u8") >= 1 and AudioTrack.objects.count() == 0


def test_yt_dlp_does_not_fetch_an_audio_tag_source_on_a_private_host(public_loopback, serve, song_mp3, user):
    private = serve({"/song.mp3": (200, {"Content-Type": "audio/mpeg"}, song_mp3.read_bytes())}, host="127.0.0.2")
    page = f'<html><head><title>A song</title></head><body><audio src="{private.url}/song.mp3"></audio></body></html>'
    start = serve({"/page.html": (200, {"Content-Type": "text/html"}, page.encode())})
    with pytest.raises(audio.AudioImportError, match="private or local network"):
        audio.import_url(user, f"{start.url}/page.html")
    assert start.seen and private.seen == [] and AudioTrack.objects.count() == 0


def test_the_guard_lets_a_public_direct_link_through(public_loopback, serve, song_mp3, user):
    """The same yt-dlp path, with nothing private in it, still imports the song."""
    start = serve({"/song.mp3": (200, {"Content-Type": "audio/mpeg"}, song_mp3.read_bytes())})
    track = audio.import_url(user, f"{start.url}/song.mp3")
    assert abs(track.duration - 40) < 0.5


# --- downloads stop at the size limit ---------------------------------------------------------------


def endless(written: list[int]) -> Callable:
    """A body that streams zeros without a Content-Length until the client hangs up (at most
    200 MB), adding up what it managed to send."""

    def send(wfile) -> None:
        block = b"\0" * 65536
        try:
            for _ in range(200 * 16):
                wfile.write(block)
                written.append(len(block))
        except (BrokenPipeError, ConnectionResetError):
            pass

    return send


def test_downloads_stop_at_the_size_limit_without_a_content_length(public_loopback, serve, user, settings,
                                                                 tmp_path):
    """A server streaming 200 MB without Content-Length: both the video fetch and yt-dlp stop
    reading at the limit (1 MB here) instead of taking it all and refusing it afterwards."""
    settings.MV_MAX_UPLOAD_MB = 1
    for path, fetch, refusal in (("/big.mp4", lambda url: netguard.fetch_url(url, tmp_path / "out.mp4",
                                                                             limit_bytes=1024 * 1024),
                                  netguard.TooLarge),
                                 ("/big.mp3", lambda url: audio.import_url(user, url), audio.AudioTooLarge)):
        written: list[int] = []
        start = serve({path: (200, {"Content-Type": "application/octet-stream", "X-No-Length": "1"},
                              endless(written))})
        with pytest.raises(refusal):
            fetch(start.url + path)
        start.httpd.shutdown()
        assert sum(written) < 20 * 1024 * 1024, path  # what the socket buffers held, not 200 MB
    assert AudioTrack.objects.count() == 0
