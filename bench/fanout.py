"""Fan-out: a project's clips against a fake Replicate whose predictions take L = 3 s,
rendered by ONE worker process (`manage.py mv_worker`). Wall time / L, beside the
one-at-a-time baseline of the tool this replaces, measured in the same run."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import ROOT, SCRATCH, Row, free_port, wait_port

LATENCY = 3.0
POLL = float(os.environ.get("BENCH_POLL", "1.0"))  # MV_POLL_INTERVAL for the run (production default: 2 s)


def _project(owner, scenes: int):
    from mv import flavors, pipeline
    from mv.models import Project, Scene

    project = pipeline.create_project(owner=owner, video_description=f"fanout {scenes}", flavor=flavors.resolve("default"))
    Project.objects.filter(pk=project.pk).update(scenes_status=Project.ScenesStatus.READY)
    for position in range(scenes):
        Scene.objects.create(project=project, position=position, description=f"scene {position}")
    return project


def _fan_out(owner, scenes: int, env: dict[str, str], workers: int = 1) -> float:
    from django.conf import settings

    from mv import flavors, pipeline
    from mv.models import Clip, JobStatus

    processes = [subprocess.Popen([sys.executable, "manage.py", "mv_worker", "--interval", "0.05"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        time.sleep(3)  # the worker is up and idle before the clock starts
        project = _project(owner, scenes)
        start = time.perf_counter()
        clips = pipeline.start_project_clips(project, flavors.resolve("default"))
        ids = [c.pk for c in clips]
        while Clip.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() < len(ids):
            if Clip.objects.filter(pk__in=ids, status=JobStatus.FAILED).exists():
                raise RuntimeError(Clip.objects.filter(pk__in=ids, status=JobStatus.FAILED).first().error)
            if time.perf_counter() - start > 30 * LATENCY:
                raise RuntimeError("fan-out did not finish")
            time.sleep(0.05)
        assert settings.MV_PROVIDER == "replicate"
        return time.perf_counter() - start
    finally:
        for worker in processes:
            worker.terminate()
            worker.wait(10)


def _one_at_a_time(scenes: int) -> float:
    """The original: each clip requested and waited for before the next."""
    from mv import flavors
    from mv.providers import get_provider
    from mv.providers.base import ClipRequest

    provider = get_provider("replicate")
    work = SCRATCH / "fanout-seq"
    work.mkdir(exist_ok=True)
    start = time.perf_counter()
    for i in range(scenes):
        update = provider.start_clip(flavors.resolve("default"), ClipRequest(prompt=f"scene {i}"), workdir=work)
        while update.state == "running":
            time.sleep(0.05)
            update = provider.poll(update.prediction_id, workdir=work)
    return time.perf_counter() - start


def run(args) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.replicate_server", "--port", str(port), "--latency",
                             str(LATENCY)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        wait_port(port)
        url = f"http://127.0.0.1:{port}"
        provider = {"MV_PROVIDER": "replicate", "REPLICATE_API_TOKEN": "r8_test_token", "REPLICATE_BASE_URL": url}
        owner, _ = get_user_model().objects.get_or_create(username="bench-fanout")
        with override_settings(**provider, MV_POLL_INTERVAL=POLL, MV_MAX_CONCURRENT_PREDICTIONS=32):
            base_env = {**os.environ, **provider, "MV_POLL_INTERVAL": str(POLL), "MV_TASKS_BACKEND": "db"}
            baseline = _one_at_a_time(4 if args.quick else 8) * (2 if args.quick else 1)
            for scenes, limit, workers, bar in ((8, 8, 1, 1.5), (32, 32, 1, 2.0), (32, 32, 2, 2.0)):
                wall = _fan_out(owner, scenes, {**base_env, "MV_MAX_CONCURRENT_PREDICTIONS": str(limit)}, workers)
                rows.append(Row("fanout", f"{scenes} clips, L={LATENCY:.0f} s, {workers} worker(s), limit {limit}",
                                f"{wall:.2f} s = {wall / LATENCY:.2f} L",
                                f"one at a time {baseline * scenes / 8:.1f} s = {baseline * scenes / 8 / LATENCY:.1f} L"
                                + ("" if scenes == 8 else " (8 measured, scaled)"),
                                f"{baseline * scenes / 8 / wall:.1f}x faster", f"<= {bar} L", wall / LATENCY <= bar))
    finally:
        fake.terminate()
        fake.wait(10)
    return rows
