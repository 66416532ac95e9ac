"""Fan-out: a project's clips against a fake Replicate whose predictions take L = 3 s,
rendered by ONE worker process (`manage.py mv_worker`). Wall time / L, beside the
one-at-a-time baseline of the tool this replaces, measured in the same run.

Rows run at the app's DEFAULT settings (MV_MAX_CONCURRENT_PREDICTIONS=8, MV_POLL_INTERVAL=1,
`mv_worker` as documented) and, labelled TUNED, at the settings the issue's 32-scene bar
needs (limit 32, polls every BENCH_POLL = 1 s, worker queue checks every 0.05 s). Each row
names its settings and its bar."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import ROOT, SCRATCH, Row, free_port, wait_port

LATENCY = 3.0
DEFAULT_LIMIT, DEFAULT_POLL = 8, 1.0  # the app's defaults (mvsite/settings.py), checked in run()
POLL = float(os.environ.get("BENCH_POLL", "1.0"))  # MV_POLL_INTERVAL of the TUNED rows
TUNED_INTERVAL = 0.05  # mv_worker --interval of the TUNED rows (default 0.2 s)


def _project(owner, scenes: int):
    from tests.factories import written_project

    return written_project(owner, scenes=scenes, video_description=f"fanout {scenes}")


def _fan_out(owner, scenes: int, env: dict[str, str], workers: int = 1, worker_args: tuple[str, ...] = ()) -> float:
    from django.conf import settings

    from mv import flavors
    from mv.models import ACTIVE_STATUSES, Clip, JobStatus
    from mv.pipeline import rendering

    ids: list = []
    processes = [subprocess.Popen([sys.executable, "manage.py", "mv_worker", *worker_args], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        time.sleep(3)  # the worker is up and idle before the clock starts
        project = _project(owner, scenes)
        start = time.perf_counter()
        clips = rendering.start_project_clips(project, flavors.resolve("default"))
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
        # A failed row must not leave clips "running": they would count against the next
        # row's concurrency limit.
        Clip.objects.filter(pk__in=ids, status__in=ACTIVE_STATUSES).update(status=JobStatus.FAILED,
                                                                           error="abandoned by the benchmark")


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
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    # The DEFAULT rows take the settings from the app itself: the worker gets neither
    # variable, and the labels below must match what mvsite/settings.py falls back to.
    pinned = [k for k in ("MV_MAX_CONCURRENT_PREDICTIONS", "MV_POLL_INTERVAL") if k in os.environ]
    if not pinned:
        assert (settings.MV_MAX_CONCURRENT_PREDICTIONS, settings.MV_POLL_INTERVAL) == (DEFAULT_LIMIT, DEFAULT_POLL), \
            "the app's defaults changed: update DEFAULT_LIMIT / DEFAULT_POLL in bench/fanout.py"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("MV_MAX_CONCURRENT_PREDICTIONS", "MV_POLL_INTERVAL")}

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
        with override_settings(**provider):
            base_env = {**clean_env, **provider, "MV_TASKS_BACKEND": "db"}
            measured = 4 if args.quick else 8
            baseline = _one_at_a_time(measured) * 8 / measured  # seconds for 8 clips
            defaults = f"DEFAULTS: limit {DEFAULT_LIMIT}, poll {DEFAULT_POLL:g} s, worker interval 0.2 s"
            tuned = f"TUNED: limit 32, poll {POLL:g} s, worker interval {TUNED_INTERVAL:g} s"
            waves = f"limit {DEFAULT_LIMIT}: 4 waves, floor 4 L; 1.5 L a wave"
            runs = (
                # scenes, workers, env, worker args, settings label, bar (L), where the bar comes from
                (8, 1, base_env, (), defaults, 1.5, "issue, 8 scenes"),
                (32, 1, base_env, (), defaults, 6.0, waves),
                (32, 1, {**base_env, "MV_MAX_CONCURRENT_PREDICTIONS": "32", "MV_POLL_INTERVAL": str(POLL)},
                 ("--interval", str(TUNED_INTERVAL)), tuned, 2.0, "issue, 32 scenes"),
                (32, 2, {**base_env, "MV_MAX_CONCURRENT_PREDICTIONS": "32", "MV_POLL_INTERVAL": str(POLL)},
                 ("--interval", str(TUNED_INTERVAL)), tuned, 2.0, "issue, 32 scenes"),
            )
            for scenes, workers, env, worker_args, label, bar, source in runs:
                what = f"{scenes} clips, L={LATENCY:g} s, {workers} worker(s) [{label}]"
                sequential = baseline * scenes / 8
                base_text = (f"one at a time {sequential:.1f} s = {sequential / LATENCY:.1f} L"
                             + ("" if scenes == measured else f" ({measured} measured, scaled)"))
                try:
                    wall = _fan_out(owner, scenes, env, workers, worker_args)
                except RuntimeError as exc:
                    rows.append(Row("fanout", what, f"failed: {exc}"[:80], base_text, "-", f"<= {bar:g} L ({source})",
                                    False))
                    continue
                rows.append(Row("fanout", what, f"{wall:.2f} s = {wall / LATENCY:.2f} L", base_text,
                                f"{sequential / wall:.1f}x faster", f"<= {bar:g} L ({source})", wall / LATENCY <= bar))
    finally:
        fake.terminate()
        fake.wait(10)
    return rows
