"""The same code on scale-out settings: S3-compatible storage (moto's server) and Redis/RQ."""

from __future__ import annotations

import json
import socket

import pytest

from mv import media
from mv.models import AudioTrack, Clip, Stitch

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # a port no one else holds
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_endpoint, settings, monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket="mv-media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": "mv-media", "endpoint_url": s3_endpoint, "region_name": "us-east-1",
            "access_key": "test", "secret_key": "test", "file_overwrite": False, "querystring_auth": False}},
    }
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_the_whole_api_works_with_media_in_s3(s3_storage, alice_client, song_mp3, tmp_path):
    with open(song_mp3, "rb") as fh:
        track_id = alice_client.post("/api/audio/upload", {"file": fh}).json()["audio_id"]
    ids = [post(alice_client, "/api/mv/generate_video", {"prompt": f"s3 {i}", "duration": 4, "wait": 60}).json()["video_id"]
           for i in range(2)]
    stitched = post(alice_client, "/api/mv/stitch-videos", {"video_ids": ids, "audio_overlay_id": track_id, "wait": 60})
    assert stitched.status_code == 200, stitched.content
    keys = {o["Key"] for o in s3_storage.list_objects_v2(Bucket="mv-media")["Contents"]}
    stitch = Stitch.objects.get(pk=stitched.json()["video_id"])
    assert stitch.file.name in keys and AudioTrack.objects.get(pk=track_id).file.name in keys
    assert all(Clip.objects.get(pk=i).file.name in keys for i in ids)
    response = alice_client.get(f"/api/mv/get_video/{stitch.pk}", HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206 and len(b"".join(response.streaming_content)) == 100
    out = tmp_path / "from-s3.mp4"
    out.write_bytes(b"".join(alice_client.get(f"/api/mv/get_video/{stitch.pk}").streaming_content))
    assert abs(media.probe(out).video.duration - 8) < 0.05
    assert response.get("Location") is None  # served from our stable URL, never a presigned redirect


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.3).close()
        return True
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_the_pipeline_runs_through_rq_and_a_real_redis(tmp_path, request, migrated_sqlite):
    """Settings only: MV_TASKS_BACKEND=rq, and `manage.py mv_worker` runs the tasks on RQ
    (after resuming what a killed worker left)."""
    import os
    import subprocess
    import sys
    import uuid

    from tests.database import ROOT, app_environment

    queue_db = 14
    env = app_environment(MV_TASKS_BACKEND="rq", REDIS_URL=f"redis://127.0.0.1:6379/{queue_db}",
                          MV_SQLITE_PATH=str(migrated_sqlite), MEDIA_ROOT=str(tmp_path / "media"), MV_PROVIDER="local",
                          MV_LOCAL_RENDER_SIZE="160x90")

    def python(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    import redis

    redis.Redis(db=queue_db).flushdb()
    request.addfinalizer(lambda: redis.Redis(db=queue_db).flushdb())  # leave no keys behind
    name = f"rq-{uuid.uuid4().hex[:8]}"
    project_id, stuck = python(
        "from django.contrib.auth.models import User\nfrom mv import flavors, tasks\n"
        "from mv.pipeline import projects, rendering\n"
        f"u = User.objects.create(username='{name}')\n"
        "p = projects.create_project(owner=u, video_description='rq', flavor=flavors.resolve('mv1'), number_of_scenes=2)\n"
        "projects.start_project(p)\n"
        # a local render a killed worker left running: the worker's start-up renders it again
        "with tasks.held():\n"
        "    c = rendering.request_clip(owner=u, flavor=flavors.resolve('default'), prompt='left running')\n"
        "c.status = 'running'; c.prediction_id = 'local-gone'; c.save()\nprint(p.pk, c.pk)").split()
    orphan = tmp_path / "media" / "clips" / "left-by-a-killed-process.mp4"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"no row points here")
    os.utime(orphan, (0, 0))
    worker = subprocess.run([sys.executable, "manage.py", "mv_worker", "--batch"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)  # the documented worker command, here on RQ
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "resumed" in worker.stdout and "removed 1 media file" in worker.stdout and not orphan.exists()
    summary = python(
        "from mv.models import Project, Clip\n"
        f"p = Project.objects.get(pk='{project_id}')\n"
        f"print(Clip.objects.get(pk='{stuck}').status, p.scenes_status, "
        "Clip.objects.filter(scene__project=p, status='succeeded').count(), p.stitches.filter(status='succeeded').count())")
    assert summary == "succeeded ready 2 1"
