"""A 20-minute song upload: how long the upload takes to answer, and how long a page view sent
while it is under way takes, against the import done inside the request (as before it moved to
the worker). Loopback only; the upload goes to the production server (gunicorn 1 x 4, as small
as a deployment gets) with no worker running, so only the request's own work is timed.

Baseline: the synchronous import function (``mv.audio.import_upload``: checks, transcode,
waveform, registration), which is what the upload request ran before answering, timed directly
in the bench's process while the same page view is sent to the same server. The song is made
here with ffmpeg (a 16 kbps mono MP3, like the issue's 29.7-minute example) and never kept."""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from bench.common import ROOT, SCRATCH, Row, free_port, wait_port

MINUTES = 20
BAR_SECONDS = 3.0
UPLOADS = 3


def _song(folder: Path) -> Path:
    """20 minutes of a slowly wandering tone over quiet noise, 16 kbps mono MP3 (about 2.4 MB)."""
    from mv import media

    path = folder / f"song{MINUTES}min.mp3"
    if not path.exists():
        seconds = MINUTES * 60
        media.run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=220:duration={seconds}",
                          "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.05:duration={seconds}:seed=3",
                          "-filter_complex", "[0][1]amix=inputs=2:duration=shortest,vibrato=f=0.2:d=0.5",
                          "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame", "-b:a", "16k", path])
    return path


def _multipart(path: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            f"Content-Type: audio/mpeg\r\n\r\n").encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _post(port: int, key: str, body: bytes, kind: str) -> tuple[float, int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("POST", "/api/audio/upload", body=body, headers={"Content-Type": kind, "X-API-Key": key})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, response.status, data


def _page_view(port: int, cookie: str, url: str, marker: str) -> tuple[float, bool]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    conn.request("GET", url, headers={"Cookie": f"sessionid={cookie}"})
    response = conn.getresponse()
    ok = response.status == 200 and marker.encode() in response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, ok


def _beside(work, port: int, cookie: str, url: str, marker: str,
            pause: float) -> tuple[object, float, list[float], int]:
    """Run ``work`` and, sent at the same moment, page views ``pause`` seconds apart until it
    is done (at least one): (its result, its seconds, the page views' seconds, page views
    that failed)."""
    views: list[float] = []
    failed = [0]
    done = threading.Event()

    def viewer() -> None:
        while True:
            elapsed, ok = _page_view(port, cookie, url, marker)
            views.append(elapsed)
            failed[0] += 0 if ok else 1
            if done.wait(pause):
                return

    thread = threading.Thread(target=viewer)
    thread.start()
    start = time.perf_counter()
    try:
        result = work()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
    return result, seconds, views, failed[0]


def run(args) -> list[Row]:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from bench.pages import build
    from mv import audio
    from mv.models import AudioTrack

    folder = SCRATCH / "imports"
    folder.mkdir(exist_ok=True)
    song = _song(folder)
    user, _ = get_user_model().objects.get_or_create(username="bench-imports")
    project = build(user, 8)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    page = (f"/quick-gen/{project.pk}/", f'id="scene-{project.scenes.first().pk}"')
    key = uuid.uuid4().hex
    port = free_port()
    env = {**os.environ, "MV_SQLITE_PATH": str(settings.DATABASES["default"]["NAME"]),
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "MV_MANIFEST_STATIC": "false", "DEBUG": "false",
           "SECRET_KEY": settings.SECRET_KEY, "MV_API_KEYS": f"{user.username}:{key}", "MV_TASKS_BACKEND": "db"}
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "mvsite.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
                               "--threads", "4", "--timeout", "600", "--log-level", "warning"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body, kind = _multipart(song)
    try:
        wait_port(port)
        quiet = [_page_view(port, cookie, *page) for _ in range(5)]  # warm, and the page alone
        alone = statistics.median(t for t, _ in quiet)
        load_before = os.getloadavg()[0]
        answers, views, view_errors, statuses = [], [], 0, []
        for _ in range(UPLOADS):
            (elapsed, status, data), _, during, failed = _beside(lambda: _post(port, key, body, kind), port, cookie,
                                                               *page, pause=0.0)
            answers.append(elapsed)
            statuses.append(f"{status} {data[:60]!r}" if status != 201 else "201")
            views += during
            view_errors += failed
        importing = AudioTrack.objects.filter(owner=user, analysis_status=AudioTrack.AnalysisStatus.IMPORTING).count()
        uploaded = SimpleUploadedFile(song.name, song.read_bytes(), "audio/mpeg")
        track, sync_seconds, sync_views, sync_failed = _beside(lambda: audio.import_upload(user, uploaded), port,
                                                               cookie, *page, pause=1.0)
        load_after = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(10)
    ours = statistics.median(answers)
    ok = all(s == "201" for s in statuses) and importing == UPLOADS and view_errors == 0 and sync_failed == 0
    return [
        Row("imports", f"{MINUTES} min 16 kbps MP3 ({song.stat().st_size / 1e6:.1f} MB) upload answer "
                       f"(median of {UPLOADS}), gunicorn 1x4, load {load_before:.1f}->{load_after:.1f}",
            f"{ours:.2f} s ({'; '.join(statuses) if not all(s == '201' for s in statuses) else 'all 201 importing'})",
            f"import in the request: {sync_seconds:.1f} s ({track.duration / 60:.1f} min song)",
            f"{sync_seconds / ours:.0f}x sooner", f"<= {BAR_SECONDS:g} s, {UPLOADS} rows importing",
            ok and ours <= BAR_SECONDS),
        Row("imports", "a page view sent with the upload (median)",
            f"{statistics.median(views) * 1000:.0f} ms ({len(views)} views, {view_errors} failed)",
            f"while the in-request import ran: {statistics.median(sync_views) * 1000:.0f} ms "
            f"({len(sync_views)} views); alone {alone * 1000:.0f} ms",
            f"{statistics.median(sync_views) / statistics.median(views):.1f}x", "-", None),
    ]
