"""Fan-out: a project's clips against a fake Replicate whose predictions take L = 3 s,
rendered by the worker exactly as `make run` starts it (`manage.py mv_worker`: the queue in
MV_WORKER_PROCESSES processes). Wall time / L, beside the one-at-a-time baseline of the tool
this replaces, measured in the same run.

Every row runs at the app's DEFAULT settings (MV_MAX_CONCURRENT_PREDICTIONS=40,
MV_POLL_INTERVAL=1, MV_WORKER_PROCESSES=3, worker queue checks every 0.2 s); the bars are the
issue's (8 scenes 1.5 L, 32 scenes 2.0 L, 64 scenes 2.5 L), and each row prints the machine's
load average while it ran."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import ROOT, SCRATCH, Row, free_port, wait_port

LATENCY = 3.0
DEFAULT_LIMIT, DEFAULT_POLL, DEFAULT_PROCESSES = 40, 1.0, 3  # the app's defaults (mvsite/settings.py), checked in run()
PINNED = ("MV_MAX_CONCURRENT_PREDICTIONS", "MV_POLL_INTERVAL", "MV_WORKER_PROCESSES")


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
        time.sleep(6)  # the worker processes are up and idle before the clock starts
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

    # The rows take the settings from the app itself: the worker gets none of these
    # variables, and the labels below must match what mvsite/settings.py falls back to.
    assert (settings.MV_MAX_CONCURRENT_PREDICTIONS, settings.MV_POLL_INTERVAL, settings.MV_WORKER_PROCESSES) == (
        DEFAULT_LIMIT, DEFAULT_POLL, DEFAULT_PROCESSES) or any(k in os.environ for k in PINNED), \
        "the app's defaults changed: update DEFAULT_LIMIT / DEFAULT_POLL / DEFAULT_PROCESSES in bench/fanout.py"
    clean_env = {k: v for k, v in os.environ.items() if k not in PINNED}

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
            defaults = (f"DEFAULTS: limit {DEFAULT_LIMIT}, poll {DEFAULT_POLL:g} s, "
                        f"{DEFAULT_PROCESSES} worker processes")
            runs = (  # scenes, mv_worker commands, env, worker args, settings label, bar (L), where the bar comes from
                (8, 1, base_env, (), defaults, 1.5, "issue, 8 scenes"),
                (32, 1, base_env, (), defaults, 2.0, "issue, 32 scenes"),
                (64, 1, base_env, (), defaults, 2.5, "issue, 64 scenes; 2 waves of <= 40"),
                # context, no bar: the same 32 with the queue in one process (the layout before)
                (32, 1, base_env, ("--processes", "1"), f"limit {DEFAULT_LIMIT}, ONE worker process", None, ""),
            )
            for scenes, workers, env, worker_args, label, bar, source in runs:
                what = f"{scenes} clips, L={LATENCY:g} s, {workers} mv_worker [{label}]"
                sequential = baseline * scenes / 8
                base_text = (f"one at a time {sequential:.1f} s = {sequential / LATENCY:.1f} L"
                             + ("" if scenes == measured else f" ({measured} measured, scaled)"))
                try:
                    before = os.getloadavg()[0]
                    wall = _fan_out(owner, scenes, env, workers, worker_args)
                    what += f" load {before:.1f}->{os.getloadavg()[0]:.1f}"
                except RuntimeError as exc:
                    rows.append(Row("fanout", what, f"failed: {exc}"[:80], base_text, "-", f"<= {bar} L ({source})", False))
                    continue
                rows.append(Row("fanout", what, f"{wall:.2f} s = {wall / LATENCY:.2f} L", base_text,
                                f"{sequential / wall:.1f}x faster", "-" if bar is None else f"<= {bar:g} L ({source})",
                                None if bar is None else wall / LATENCY <= bar))
    finally:
        fake.terminate()
        fake.wait(10)
    return rows
