"""Fan-out: a project's clips against a fake Replicate whose predictions take L = 3 s,
rendered by the worker exactly as `make run` starts it (the Procfile's `worker:` command:
`manage.py mv_worker` with its arguments, the queue in MV_WORKER_PROCESSES processes). Wall
time / L, beside the one-at-a-time baseline of the tool this replaces, measured in the same run.

Every row runs at the app's DEFAULT settings; the bars are the issue's (8 scenes 1.5 L,
32 scenes 2.0 L, 64 scenes 2.5 L). The clock starts once every queue process of the worker has
said it is running (its "Starting worker" log line), not after a fixed sleep: on a busy machine
a worker's start took longer than the sleep, and the rows measured the start-up. Each queue
process has also run one warm-up task (a character image) first, as in a worker that is up.
Each row prints the machine's load average and the CPU the worker used per clip, and where the
time went."""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from bench.common import ROOT, SCRATCH, Row, free_port, wait_port

LATENCY = 3.0
PINNED = ("MV_MAX_CONCURRENT_PREDICTIONS", "MV_POLL_INTERVAL", "MV_WORKER_PROCESSES")
READY_LINE = "Starting worker"  # django_tasks_db's db_worker logs it once its loop runs


def procfile_worker() -> list[str]:
    """The worker's arguments as `make run` passes them (the Procfile's `worker:` line)."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "worker":
            words = shlex.split(command)
            return words[words.index("mv_worker") + 1:]
    raise RuntimeError("the Procfile has no worker")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its descendants, living and reaped (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        for task in os.listdir(f"/proc/{pid}/task"):
            for child in open(f"/proc/{pid}/task/{task}/children").read().split():
                total += _tree_cpu(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


@dataclass
class FanOut:
    wall: float
    cpu: float  # the worker's CPU seconds from the clock's start to the last clip
    where: str  # where the time went


class Worker:
    """`manage.py mv_worker` with the Procfile's arguments; ready once each of its queue
    processes logged that it runs."""

    def __init__(self, env: dict[str, str], args: list[str], processes: int) -> None:
        self.lines = 0
        self.ready = threading.Event()
        self.processes = processes
        self.proc = subprocess.Popen([sys.executable, "manage.py", "mv_worker", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()  # drained to the end: a full pipe would block it

    def _read(self) -> None:
        for line in self.proc.stderr:
            if READY_LINE in line:
                self.lines += 1
                if self.lines >= self.processes:
                    self.ready.set()

    def wait_ready(self, timeout: float = 180) -> None:
        if not self.ready.wait(timeout):
            raise RuntimeError(f"the worker did not start within {timeout:.0f} s")
        time.sleep(0.5)  # the last one logged just before its first look at the queue

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def _where(ids: list, clock: float) -> str:
    """From the rows' own timestamps: when the last prediction was created (accepted), how
    long after its prediction was done a clip was finished (poll wait + queue + finishing
    work), how long a ready task waited in the queue, and one finishing task's time."""
    from django.conf import settings
    from django_tasks_db.models import DBTaskResult

    from mv.models import Clip

    clips = list(Clip.objects.filter(pk__in=ids))
    keys = {str(c.pk) for c in clips}
    tasks: dict[str, list] = {}
    for t in DBTaskResult.objects.filter(task_path__endswith="advance_prediction").order_by("enqueued_at"):
        pk = t.args_kwargs.get("kwargs", {}).get("pk")
        if pk in keys and t.started_at and t.finished_at:
            tasks.setdefault(pk, []).append(t)
    accepted = [c.deadline_at.timestamp() - settings.MV_PREDICTION_TIMEOUT - clock for c in clips]
    lag = [c.finished_at.timestamp() - clock - (a + LATENCY) for c, a in zip(clips, accepted, strict=True)]
    waits, finishing = [], []
    for chain in tasks.values():
        finishing.append((chain[-1].finished_at - chain[-1].started_at).total_seconds())
        for t in chain:
            ready = max(t.enqueued_at, t.run_after) if t.run_after.year < 9999 else t.enqueued_at
            waits.append(max(0.0, (t.started_at - ready).total_seconds()))
    q90 = statistics.quantiles(waits, n=10)[8] if len(waits) > 1 else max(waits, default=0)
    return (f"last start +{max(accepted):.2f} s; done->finished median {statistics.median(lag):.2f} s, "
            f"max {max(lag):.2f} s; queue wait median {statistics.median(waits) * 1000:.0f} ms, p90 {q90 * 1000:.0f} ms; "
            f"finishing task median {statistics.median(finishing) * 1000:.0f} ms; "
            f"{sum(len(c) for c in tasks.values()) / max(1, len(tasks)):.1f} tasks a clip")


def _warm_up(owner, processes: int) -> None:
    """Before the clock: every queue process runs a task of a character image (another kind
    and model, so the clips' history of run times is untouched). A fresh process's first task
    paid ~1 s at load 7 (the Replicate client, its first connection), once per worker start,
    not per fan-out."""
    from django_tasks_db.models import DBTaskResult

    from mv import flavors
    from mv.models import CharacterImage
    from mv.pipeline import characters

    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while len(seen) < processes:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(seen)} of {processes} queue processes took a warm-up task")
        images = characters.request_character_images(owner=owner, flavor=flavors.resolve("default"),
                                                     description="warm-up", num_images=processes)
        ids = {str(i.pk) for i in images}
        while CharacterImage.objects.filter(pk__in=ids, finished_at__isnull=True).exists():
            time.sleep(0.05)
        for task in DBTaskResult.objects.filter(task_path__endswith="advance_prediction"):
            if task.args_kwargs.get("kwargs", {}).get("pk") in ids:
                seen.update(task.worker_ids)


def _project(owner, scenes: int):
    from tests.factories import written_project

    return written_project(owner, scenes=scenes, video_description=f"fanout {scenes}")


def _fan_out(owner, scenes: int, env: dict[str, str], args: list[str], processes: int) -> FanOut:
    from django.conf import settings

    from mv import flavors
    from mv.models import ACTIVE_STATUSES, Clip, JobStatus
    from mv.pipeline import rendering

    ids: list = []
    worker = Worker(env, args, processes)
    try:
        worker.wait_ready()
        _warm_up(owner, processes)
        project = _project(owner, scenes)
        cpu = _tree_cpu(worker.proc.pid)
        clock, start = time.time(), time.perf_counter()
        clips = rendering.start_project_clips(project, flavors.resolve("default"))
        ids = [c.pk for c in clips]
        while Clip.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() < len(ids):
            if Clip.objects.filter(pk__in=ids, status=JobStatus.FAILED).exists():
                raise RuntimeError(Clip.objects.filter(pk__in=ids, status=JobStatus.FAILED).first().error)
            if time.perf_counter() - start > 30 * LATENCY:
                raise RuntimeError("fan-out did not finish")
            time.sleep(0.02)
        wall = time.perf_counter() - start
        cpu = _tree_cpu(worker.proc.pid) - cpu
        assert settings.MV_PROVIDER == "replicate"
        return FanOut(wall, cpu, _where(ids, clock))
    finally:
        worker.stop()
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

    # The rows run at the app's own defaults: the worker gets none of these variables.
    pinned = [k for k in PINNED if k in os.environ]
    if pinned:
        raise RuntimeError(f"unset {', '.join(pinned)}: the fan-out rows measure the app's defaults")
    limit, poll, processes = (settings.MV_MAX_CONCURRENT_PREDICTIONS, settings.MV_POLL_INTERVAL,
                              settings.MV_WORKER_PROCESSES)
    worker_args = procfile_worker()
    if "--processes" in worker_args:
        processes = int(worker_args[worker_args.index("--processes") + 1])

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
            env = {**os.environ, **provider, "MV_TASKS_BACKEND": "db"}
            measured = 4 if args.quick else 8
            baseline = _one_at_a_time(measured) * 8 / measured  # seconds for 8 clips
            defaults = f"DEFAULTS: limit {limit}, poll {poll:g} s, {processes} queue processes"
            # The first row's clips are the model's first in this database: polled every
            # MV_POLL_INTERVAL. Later rows have its run times (mv.polling), as a worker that has
            # rendered clips of that model before.
            runs = (  # scenes, worker args, processes, settings label, bar (L), where the bar comes from
                (8, worker_args, processes, f"{defaults}; no run-time history", 1.5, "issue, 8 scenes"),
                (32, worker_args, processes, defaults, 2.0, "issue, 32 scenes"),
                (64, worker_args, processes, defaults, 2.5, f"issue, 64 scenes; limit {limit}"),
                # context, no bar: the same 32 with the queue in one process (the layout before)
                (32, [*worker_args, "--processes", "1"], 1, f"limit {limit}, ONE queue process", None, ""),
            )
            for scenes, wargs, count, label, bar, source in runs:
                what = f"{scenes} clips, L={LATENCY:g} s [{label}]"
                sequential = baseline * scenes / 8
                base_text = (f"one at a time {sequential:.1f} s = {sequential / LATENCY:.1f} L"
                             + ("" if scenes == measured else f" ({measured} measured, scaled)"))
                bar_text = "-" if bar is None else f"<= {bar:g} L ({source})"
                before = os.getloadavg()[0]
                try:
                    result = _fan_out(owner, scenes, env, wargs, count)
                except RuntimeError as exc:
                    rows.append(Row("fanout", what, f"failed: {exc}"[:80], base_text, "-", bar_text, False))
                    continue
                what += f" load {before:.1f}->{os.getloadavg()[0]:.1f}"
                print(f"  {scenes} clips [{label}]: {result.wall:.2f} s; worker CPU {result.cpu:.1f} s "
                      f"({result.cpu / scenes * 1000:.0f} ms a clip); {result.where}", flush=True)
                rows.append(Row("fanout", what, f"{result.wall:.2f} s = {result.wall / LATENCY:.2f} L, "
                                f"CPU {result.cpu / scenes * 1000:.0f} ms/clip", base_text,
                                f"{sequential / result.wall:.1f}x faster", bar_text,
                                None if bar is None else result.wall / LATENCY <= bar))
    finally:
        fake.terminate()
        fake.wait(10)
    return rows
