"""Scale-out proven end to end: PostgreSQL + RQ on a real Redis + media in S3 (moto's server)
together, with the real worker command in several processes, one of them killed mid-render.

A project is written by the (fake) scene writer, its clips rendered by the fake Replicate,
one clip lipsynced, the video stitched; a worker is SIGKILLed while every clip is running
and the others (plus a restarted one) finish the work without a new prediction. Everything
the test made outside the app is removed: its database, its Redis keys, its bucket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.test_scaleout import free_port, redis_up

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[1]
VIDEO = "google/veo-3.1"
REDIS_DB = 13  # this test's own Redis database: emptied at the end, and checked empty


def postgres_url() -> str | None:
    """MV_TEST_POSTGRES_URL, or the server on 127.0.0.1:5432 when one answers."""
    import socket

    url = os.environ.get("MV_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.3).close()
    except OSError:
        return None
    return "postgres://postgres@127.0.0.1:5432/postgres"


needs_services = pytest.mark.skipif(postgres_url() is None or not redis_up(),
                                    reason="needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")


@pytest.fixture
def database():
    """A database of its own on the PostgreSQL server, dropped afterwards."""
    base = postgres_url()
    name = f"mv_scaleout_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base.replace("postgres://", "postgresql://", 1), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(base.replace("postgres://", "postgresql://", 1), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0


@pytest.fixture
def redis_db():
    import redis

    client = redis.Redis(db=REDIS_DB)
    client.flushdb()
    yield f"redis://127.0.0.1:6379/{REDIS_DB}"
    client.flushdb()
    assert client.dbsize() == 0


@pytest.fixture
def bucket():
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    name = f"mv-scaleout-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    yield s3, name, endpoint
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
    assert name not in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    server.stop()


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@needs_services
@pytest.mark.isolated  # in a run of its own: six queue processes and a killed worker beside a parallel suite starve 2 cores
def test_a_project_runs_on_postgresql_rq_and_s3_together_through_a_killed_worker(
        database, redis_db, bucket, _fake_replicate_server, song_mp3, tmp_path):
    fake = _fake_replicate_server
    fake.reset()
    fake.hold(VIDEO)  # clips stay running until released: the kill lands while all are in flight
    s3, bucket_name, endpoint = bucket
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MV_", "REPLICATE_", "DATABASE_URL", "AWS_"))}
    env.update(DJANGO_SETTINGS_MODULE="mvsite.settings", DATABASE_URL=database, MV_TASKS_BACKEND="rq",
               REDIS_URL=redis_db, MV_STORAGE="s3", AWS_STORAGE_BUCKET_NAME=bucket_name, AWS_S3_ENDPOINT_URL=endpoint,
               AWS_S3_REGION_NAME="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               MV_PROVIDER="replicate", REPLICATE_API_TOKEN=fake.token, REPLICATE_BASE_URL=fake.url,
               MV_POLL_INTERVAL="0.2", MEDIA_ROOT=str(tmp_path / "unused-media"), no_proxy="127.0.0.1,localhost",
               MV_FILE_CACHE_DIR=str(tmp_path / "file-cache"))  # the workers' shared cache of fetched files

    def python(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    logs: list[Path] = []

    def worker() -> subprocess.Popen:
        logs.append(tmp_path / f"worker-{len(logs)}.log")
        with logs[-1].open("wb") as log:
            return subprocess.Popen([sys.executable, "manage.py", "mv_worker", "--processes", "2"], cwd=ROOT, env=env,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def worker_logs() -> str:
        return "\n".join(f"--- {log.name}\n" + log.read_text(errors="replace")[-4000:] for log in logs)

    watcher = psycopg.connect(database.replace("postgres://", "postgresql://", 1), autocommit=True)

    def count(sql: str, *params: str) -> int:
        """What the waits watch, read with SQL: a Python that sets Django up for each look
        cost ~0.7 s of CPU, taken from the workers under test."""
        return watcher.execute(sql, params).fetchone()[0]

    def clips(status: str) -> int:
        return count("SELECT count(*) FROM mv_clip WHERE kind = 'generated' AND status = %s AND prediction_id <> ''",
                     status)

    def stitches() -> int:
        return count("SELECT count(*) FROM mv_stitch WHERE project_id = %s::uuid AND status = 'succeeded'", project_id)

    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    project_id = python(
        "from django.contrib.auth.models import User\nfrom django.core.files.uploadedfile import SimpleUploadedFile\n"
        "from mv import audio, flavors\nfrom mv.pipeline import projects\n"
        "u = User.objects.create(username='scaleout')\n"
        f"track = audio.import_upload(u, SimpleUploadedFile('song.mp3', open({str(song_mp3)!r}, 'rb').read(), 'audio/mpeg'))\n"
        "p = projects.create_project(owner=u, video_description='scale-out', flavor=flavors.resolve('default'),\n"
        "                            number_of_scenes=3, audio_track=track, song_end=24.0)\n"
        "projects.start_project(p)\nprint(p.pk)")
    workers = [worker(), worker()]  # several workers at once, two queue processes each
    try:
        wait_until(lambda: clips("running") == 3, 120, "all three clips running at the fake Replicate")
        os.killpg(workers[0].pid, signal.SIGKILL)  # a worker killed outright, with its queue processes
        workers[0].wait(10)
        created = fake.creates(VIDEO)
        fake.release(VIDEO)
        workers.append(worker())  # a restarted worker resumes from the stored prediction ids
        wait_until(lambda: clips("succeeded") == 3, 180, "the three clips to succeed")
        wait_until(lambda: stitches() == 1, 180, "the automatic stitch")
        assert fake.creates(VIDEO) == created == 3  # no clip was paid for twice
        lipsync = python(
            "from mv import flavors\nfrom mv.models import Project\nfrom mv.pipeline import rendering\n"
            f"p = Project.objects.get(pk='{project_id}')\nscene = p.scenes.order_by('position').first()\n"
            "c = rendering.request_lipsync(owner=p.owner, flavor=flavors.resolve('default'), source=scene.current_clip,\n"
            "                              audio_track=p.audio_track, start_time=scene.start, end_time=scene.end)\n"
            "print(c.pk)")
        state = f"from mv.models import Clip\nc = Clip.objects.get(pk='{lipsync}')\nprint(c.is_finished, c.status, c.prediction_id, c.error)"
        try:
            wait_until(lambda: count("SELECT count(*) FROM mv_clip WHERE id = %s::uuid AND status IN "
                                     "('succeeded', 'failed', 'canceled')", lipsync) == 1, 180, "the lipsync")
        except AssertionError:
            raise AssertionError(python(state) + "\n" + worker_logs()) from None
        outcome = python(f"from mv.models import Clip\nc = Clip.objects.get(pk='{lipsync}')\nprint(c.status, c.error)")
        assert outcome == "succeeded", outcome
        wait_until(lambda: stitches() == 2, 180, "the re-stitch")
        summary = python(
            "from mv.models import Project, Clip\n"
            f"p = Project.objects.get(pk='{project_id}')\ns = p.stitches.order_by('-created_at').first()\n"
            "first = p.scenes.order_by('position').first()\n"
            "print(s.file.name, round(s.duration, 1), first.current_clip.kind, "
            "Clip.objects.exclude(media={}).count(), Clip.objects.count())")
    finally:
        watcher.close()
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in workers:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
    stitch_key, seconds, kind, with_facts, all_clips = summary.split()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket_name).get("Contents", [])}
    assert stitch_key in keys and any(k.startswith("clips/") for k in keys) and any(k.startswith("audio/") for k in keys)
    assert float(seconds) == pytest.approx(24.0, abs=0.1) and kind == "lipsync"
    assert with_facts == all_clips == "4"  # 3 rendered + 1 lipsync, each with its media facts
    assert not list((tmp_path / "unused-media").rglob("*.*"))  # every file went to S3
