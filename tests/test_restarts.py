"""Real processes killed mid-job: the worker (SIGKILL) and the web server (mid-upload)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from mv import flavors, pipeline
from mv.models import AudioTrack, Clip, JobStatus

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def app_env(settings, **extra: str) -> dict[str, str]:
    """Environment for a child process that shares this test's database and media."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MV_", "REPLICATE_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="mvsite.settings", MEDIA_ROOT=str(settings.MEDIA_ROOT), PYTHONUNBUFFERED="1")
    if connection.vendor == "sqlite":
        env["MV_SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env.update(extra)
    return env


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "mv_worker", "--interval", "0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_worker_resumes_all_clips_without_new_predictions(fake_replicate, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    fake_replicate.set_latency("google/veo-3.1", run_s=4.0)
    clips = [pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=f"clip {i}") for i in range(8)]
    ids = [c.pk for c in clips]
    env = app_env(settings, MV_PROVIDER="replicate", REPLICATE_API_TOKEN=fake_replicate.token,
                  REPLICATE_BASE_URL=fake_replicate.url, MV_POLL_INTERVAL="0.2", MV_TASKS_BACKEND="db")
    worker = start_worker(env)
    try:
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.RUNNING).count() == 8, 30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert fake_replicate.creates() == 8
        worker = start_worker(env)
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 8, 60)
    finally:
        worker.kill()
        worker.wait(10)
    assert fake_replicate.creates() == 8
    media = Path(settings.MEDIA_ROOT)
    assert not list(media.rglob("*.part*"))
    for clip in Clip.objects.filter(pk__in=ids):
        assert Path(clip.file.path).stat().st_size > 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_killed_web_server_mid_upload_registers_no_track(user, settings, song_mp3):
    port = free_port()
    env = app_env(settings, MV_API_KEYS="restart-key", DEBUG="true")
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        assert wait_until(up, 30)
        data = song_mp3.read_bytes()
        boundary = "XyZ"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"song.mp3\"\r\n"
                "Content-Type: audio/mpeg\r\n\r\n").encode()
        body_len = len(head) + len(data) + len(f"\r\n--{boundary}--\r\n")
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall((f"POST /api/audio/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: restart-key\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {body_len}\r\n\r\n").encode()
                     + head + data[: len(data) // 2])
        time.sleep(0.5)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        sock.close()
    finally:
        server.kill()
        server.wait(10)
    assert AudioTrack.objects.count() == 0
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.mp3")) and not list(Path(settings.MEDIA_ROOT).rglob("*.m4a"))
