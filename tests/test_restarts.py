"""Real processes killed mid-job: the worker (SIGKILL) and the web server (mid-upload)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from mv import flavors
from mv.models import AudioTrack, Clip, JobStatus
from mv.pipeline import rendering

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
    # Held predictions stay "processing" until released: the 8-running state is reached under
    # any load (creates are sequential), and nothing can finish before the kill.
    fake_replicate.hold("google/veo-3.1")
    clips = [rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=f"clip {i}") for i in range(8)]
    ids = [c.pk for c in clips]
    env = app_env(settings, MV_PROVIDER="replicate", REPLICATE_API_TOKEN=fake_replicate.token,
                  REPLICATE_BASE_URL=fake_replicate.url, MV_POLL_INTERVAL="0.2", MV_TASKS_BACKEND="db")
    # The first worker polls rarely: the database queue runs a ready deferred poll before a new
    # start, so fast polls of the held predictions could keep the 8th start waiting on a loaded
    # machine. The restarted worker polls at 0.2 s.
    worker = start_worker(env | {"MV_POLL_INTERVAL": "60"})
    try:
        # 8 creates seen by the provider and all 8 ids stored on their rows (a kill between the
        # two is the "interrupted" case, tested in test_reliability).
        assert wait_until(lambda: fake_replicate.creates() == 8, 120), \
            (fake_replicate.creates(), list(Clip.objects.filter(pk__in=ids).values_list("status", "prediction_id")))
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.RUNNING)
                          .exclude(prediction_id="").count() == 8, 60)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert fake_replicate.creates() == 8
        assert Clip.objects.filter(pk__in=ids, status=JobStatus.RUNNING).count() == 8
        fake_replicate.release("google/veo-3.1")
        worker = start_worker(env)
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 8, 120), \
            list(Clip.objects.filter(pk__in=ids).values_list("status", "error"))
    finally:
        worker.kill()
        worker.wait(10)
    assert fake_replicate.creates() == 8
    assert sorted(c.prediction_id for c in Clip.objects.filter(pk__in=ids)) == sorted(fake_replicate.predictions)
    media = Path(settings.MEDIA_ROOT)
    assert not list(media.rglob("*.part*"))
    for clip in Clip.objects.filter(pk__in=ids):
        assert Path(clip.file.path).stat().st_size > 1000


def test_worker_killed_while_creates_are_in_flight_loses_none_and_pays_none_twice(fake_replicate, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    # Each create is made at the provider at once, but its answer is held: the worker's two
    # queue processes each wait inside a create call when the kill lands.
    fake_replicate.hold_answers("POST", r"/v1/models/google/veo-3\.1/predictions$")
    clips = [rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=f"in flight {i}")
             for i in range(4)]
    ids = [c.pk for c in clips]
    env = app_env(settings, MV_PROVIDER="replicate", REPLICATE_API_TOKEN=fake_replicate.token,
                  REPLICATE_BASE_URL=fake_replicate.url, MV_POLL_INTERVAL="0.2", MV_TASKS_BACKEND="db",
                  MV_WORKER_PROCESSES="2")
    worker = start_worker(env)
    try:
        assert wait_until(lambda: fake_replicate.answers_waiting() == 2, 120), fake_replicate.answers_waiting()
        assert fake_replicate.creates() == 2
        worker.send_signal(signal.SIGKILL)  # its queue processes die with it
        worker.wait(10)
        assert Clip.objects.filter(pk__in=ids, status=JobStatus.QUEUED, prediction_id="").count() == 4
        assert Clip.objects.filter(pk__in=ids).exclude(start_key="").count() == 2  # sent, ids never stored
        fake_replicate.release_answers()  # the answers reach nobody
        worker = start_worker(env)
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 4, 180), \
            list(Clip.objects.filter(pk__in=ids).values_list("status", "error"))
    finally:
        fake_replicate.release_answers()
        worker.kill()
        worker.wait(10)
    assert fake_replicate.creates() == 4  # one create per clip: the two cut off were found again, not re-sent
    assert sorted(c.prediction_id for c in Clip.objects.filter(pk__in=ids)) == sorted(fake_replicate.predictions)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The web server runs with one fault hook that pauses the upload at a chosen point and says so
# in a marker file, so the kill always lands exactly there (no sleeps, no races):
#   body       - the view is reading the multipart body (half of it sent, the rest never comes)
# and a worker importing a stored upload (WORKER_WITH_PAUSE):
#   converting - ffmpeg is converting it (before anything is stored)
#   storing    - its AAC copy is being written into MEDIA_ROOT (half written)
SERVER_WITH_PAUSE = """
import os, sys, time, pathlib
import django
django.setup()
from django.conf import settings
from django.core.files import File
from django.core.files.uploadhandler import FileUploadHandler
from django.core.management import execute_from_command_line
from mv import files, media
from mv.pipeline import rendering

phase, marker = os.environ["MV_TEST_PAUSE"], pathlib.Path(os.environ["MV_TEST_MARKER"])

def pause():
    marker.write_text(phase)
    time.sleep(3600)

class MarkingHandler(FileUploadHandler):
    def receive_data_chunk(self, raw_data, start):
        if phase == "body" and start > 0:
            marker.write_text(phase)  # bytes of the file reached the parser; the rest never comes
        return raw_data
    def file_complete(self, file_size):
        return None

settings.FILE_UPLOAD_HANDLERS = ["__main__.MarkingHandler", *settings.FILE_UPLOAD_HANDLERS]
if phase == "converting":
    real_transcode = media.transcode_song
    def transcode_song(src, dst, **options):
        pause()
    media.transcode_song = transcode_song

class Stalling(File):
    def chunks(self, chunk_size=None):
        data = self.file.read()
        yield data[: len(data) // 2]
        pause()

if phase == "storing":
    real_store, stored = files.store, []
    def store(field_file, path, name):
        stored.append(name)
        if len(stored) == 2:
            with open(path, "rb") as fh:
                field_file.save(name, Stalling(fh), save=False)
        return real_store(field_file, path, name)
    files.store = store
execute_from_command_line(["manage.py", "runserver", sys.argv[1], "--noreload"])
"""
WORKER_WITH_PAUSE = SERVER_WITH_PAUSE.replace("len(stored) == 2", "len(stored) == 1").replace(
    'execute_from_command_line(["manage.py", "runserver", sys.argv[1], "--noreload"])',
    'execute_from_command_line(["manage.py", "mv_worker", "--interval", "0.1", "--processes", "1"])')


@pytest.mark.parametrize("phase", ["body"])
def test_killed_web_server_mid_upload_registers_no_track(user, settings, song_mp3, tmp_path, phase):
    port = free_port()
    marker = tmp_path / "paused"
    env = app_env(settings, MV_API_KEYS="restart-key", DEBUG="true", MV_TEST_PAUSE=phase, MV_TEST_MARKER=str(marker))
    server = subprocess.Popen([sys.executable, "-c", SERVER_WITH_PAUSE, f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sock = None
    try:
        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return server.poll() is not None  # died: stop waiting, the assert below says why

        assert wait_until(up, 60) and server.poll() is None, server.stderr.read().decode()[-2000:]
        data = song_mp3.read_bytes()
        boundary = "XyZ"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"song.mp3\"\r\n"
                "Content-Type: audio/mpeg\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        sent = data[: len(data) // 2] if phase == "body" else data + tail
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall((f"POST /api/audio/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: restart-key\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {len(head) + len(data) + len(tail)}\r\n\r\n").encode() + head + sent)
        assert wait_until(marker.exists, 60), f"the server never reached the {phase} pause"
        if phase == "storing":  # the kill really lands with song files half stored in MEDIA_ROOT
            assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    finally:
        if sock is not None:
            sock.close()
        server.kill()
        server.wait(10)
    assert AudioTrack.objects.count() == 0  # the guarantee: no (half) file is registered as a track
    media_root = Path(settings.MEDIA_ROOT)
    if phase == "storing":
        # The half-stored file exists only under its hidden temporary name (the storage renames
        # a file into place once complete); prune_media, which every worker start runs,
        # removes what no row points at.
        names = [p.name for p in media_root.rglob("*") if p.is_file()]
        assert any(n.startswith(".incoming-") and n.endswith(".m4a") for n in names), names
        assert not [n for n in names if n.endswith(".m4a") and not n.startswith(".incoming-")], names
        call_command("prune_media", "--older-than", "0", stdout=io.StringIO())
    stray = {str(p.relative_to(media_root)): p.stat().st_size for p in media_root.rglob("*") if p.is_file()}
    assert not stray, f"files left in MEDIA_ROOT by the killed upload: {stray}"


@pytest.mark.parametrize("phase", ["converting", "storing"])
def test_killed_worker_mid_import_leaves_the_song_importing_and_a_restart_imports_it(user, settings, song_mp3,
                                                                                       tmp_path, phase):
    """The upload's bytes are stored and its row says "importing"; a worker killed while it
    converts or stores the song registers nothing half made, and the next worker imports it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio, tasks

    track = audio.receive_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))  # as the request left it
    marker = tmp_path / "paused"
    env = app_env(settings, DEBUG="true", MV_TEST_PAUSE=phase, MV_TEST_MARKER=str(marker))
    worker = subprocess.Popen([sys.executable, "-c", WORKER_WITH_PAUSE], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        paused = wait_until(lambda: marker.exists() or worker.poll() is not None, 180) and worker.poll() is None
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert paused, f"the worker never reached the {phase} pause: {worker.stderr.read().decode()[-2000:]}"
    track.refresh_from_db()
    assert track.is_importing and track.original and not track.file and not track.waveform  # nothing half registered
    media_root = Path(settings.MEDIA_ROOT)
    if phase == "storing":  # the half-written copy exists only under its hidden temporary name
        assert any(p.name.startswith(".incoming-") for p in media_root.rglob("*") if p.is_file())
    tasks.resume_interrupted()  # what the next worker does first (the tests' queue runs it at once)
    track.refresh_from_db()
    assert track.analysis_status == AudioTrack.AnalysisStatus.READY and track.file and abs(track.duration - 40) < 0.1
    call_command("prune_media", "--older-than", "0", stdout=io.StringIO())
    kept = {p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file()}
    assert kept == {track.original.name, track.file.name, track.waveform.name}
