"""Shared fixtures: users, logged-in clients, a media folder per test, tiny real media."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.servers.basehttp import WSGIServer

from mv import media, polling
from tests.database import (  # noqa: F401  (fixtures)
    _cheap_flush,
    _migrated_sqlite_template,
    keep_database_tests,
    migrated_sqlite,
)
from tests.fakes.fixtures import (  # noqa: F401  (fixtures)
    _fake_replicate_server,
    _fake_replicate_tls_server,
    fake_replicate,
    fake_replicate_tls,
)
from tests.session_media import same_input_same_output

# The live server is Django's development server, which listens with a backlog of 10 and
# resets a burst of more clients arriving at once (gunicorn's backlog is 2048); the
# concurrency test sends 50 at once.
WSGIServer.request_queue_size = 128


def pytest_collection_modifyitems(config, items) -> None:
    keep_database_tests(config, items)


@pytest.fixture(scope="session", autouse=True)
def _all_of_mv_imported():
    """Hypothesis draws some examples from the constants of the project's loaded modules: with
    all of mv (and the URL map a first request loads) loaded before the first test, a
    derandomized property test meets the same examples on every run, whichever tests ran
    before it in its worker."""
    import importlib
    import pkgutil

    import mv

    for module in pkgutil.walk_packages(mv.__path__, "mv."):
        importlib.import_module(module.name)
    importlib.import_module("mvsite.urls")


@pytest.fixture(scope="session", autouse=True)
def _session_media(tmp_path_factory):
    """Songs transcoded and analysed once per session (tests/session_media.py)."""
    with same_input_same_output(tmp_path_factory.mktemp("session-media")) as cache:
        yield cache


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path: Path) -> Path:
    """Each test writes its files (and its cache of files fetched from S3) into its own folder."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.MV_FILE_CACHE_DIR = tmp_path / "file-cache"
    return root


@pytest.fixture(autouse=True)
def _no_poll_history():
    """Each test's database starts empty: what a worker remembered of models' run times goes."""
    polling.forget()


@pytest.fixture
def user(transactional_db):
    """Transactional: tasks are enqueued on commit, so work must really commit to run."""
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def other_user(transactional_db):
    return get_user_model().objects.create_user("bob", "bob@example.com", "pw-bob-123")


@pytest.fixture
def staff_user(transactional_db):
    return get_user_model().objects.create_user("staff", "staff@example.com", "pw-staff-123", is_staff=True)


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fixtures")


@pytest.fixture(scope="session")
def song_mp3(media_dir: Path) -> Path:
    """A 40 s mp3: a tone that changes pitch every 8 s, so slices are tellable apart."""
    path = media_dir / "song.mp3"
    parts = "".join(f"sine=frequency={220 * (i + 1)}:duration=8[a{i}];" for i in range(5))
    media.run_ffmpeg(
        ["-filter_complex", parts + "".join(f"[a{i}]" for i in range(5)) + "concat=n=5:v=0:a=1[out]",
         "-map", "[out]", "-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k", path]
    )
    return path


def make_clip(path: Path, *, seconds: float = 2.0, size: str = "320x180", rate: int = 24, tone: int = 440) -> Path:
    """A real H.264/AAC clip (testsrc2 + sine) for tests."""
    media.run_ffmpeg(
        ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency={tone}:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
         "-movflags", "+faststart", path]
    )
    return path


def dominant_hz(wav: bytes, start: float = 0.0, end: float | None = None) -> float:
    """The pitch of a pure tone in [start, end) seconds of a 16-bit WAV, from its zero
    crossings (two per period): tells the song_mp3 fixture's 8-second tones apart."""
    import io
    import wave

    import numpy as np

    with wave.open(io.BytesIO(wav)) as reader:
        assert reader.getsampwidth() == 2, "16-bit PCM expected"
        rate, channels = reader.getframerate(), reader.getnchannels()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").reshape(-1, channels)[:, 0]
    part = samples[int(start * rate): None if end is None else int(end * rate)].astype(np.int32)
    crossings = np.count_nonzero(np.signbit(part[:-1]) != np.signbit(part[1:]))
    return crossings / 2 / (len(part) / rate)


@pytest.fixture(scope="session")
def clip_mp4(media_dir: Path) -> Path:
    return make_clip(media_dir / "clip.mp4")


@pytest.fixture
def http_files(tmp_path, monkeypatch):
    """A static file server on 127.0.0.1 for URL inputs; returns (folder, base URL)."""
    import functools
    import http.server
    import threading

    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how many bad-input cases the fuzz tests tried."""
    import sys

    fuzz = sys.modules.get("tests.test_fuzz")
    if fuzz is not None and fuzz.TRIED["cases"]:
        terminalreporter.write_line(f"fuzz: {fuzz.TRIED['cases']} bad-input cases tried against the API, none caused a 5xx")
