"""Deferred work on RQ keeps running when the queue's scheduler dies: an idle worker notices
within seconds and starts one (RQ alone would wait for a dequeue timeout of minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.database import ROOT, app_environment
from tests.test_scaleout import redis_up

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")]

QUEUE_DB = 12
BATCH_DB = 11  # the batch test's own: the two run side by side under xdist
LOCK = "rq:scheduler-lock:default"


def _eventually(check, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    return check()


def test_a_killed_scheduler_is_replaced_and_deferred_polls_still_run(tmp_path, request, migrated_sqlite):
    import redis

    connection = redis.Redis(db=QUEUE_DB)
    connection.flushdb()
    request.addfinalizer(connection.flushdb)  # leave no keys behind
    env = app_environment(DEBUG="true", MV_TASKS_BACKEND="rq", REDIS_URL=f"redis://127.0.0.1:6379/{QUEUE_DB}",
                          MV_SQLITE_PATH=str(migrated_sqlite), MEDIA_ROOT=str(tmp_path / "media"), MV_PROVIDER="local")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "manage.py", "mv_worker", "--queue-only"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def scheduler_pid() -> int | None:
            holder = connection.get(LOCK)
            pid = holder and connection.hget(f"rq:scheduler:{holder.decode()}", "pid")
            return int(pid) if pid and int(pid) else None

        first = _eventually(scheduler_pid, 60)
        assert first, (tmp_path / "worker.log").read_text()
        os.kill(first, signal.SIGKILL)  # the scheduler dies; its lock would stay for a minute
        deferred = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()\nfrom datetime import timedelta\n"
             "from django.utils import timezone\nfrom mv import tasks\n"
             "r = tasks.advance_prediction.using(run_after=timezone.now() + timedelta(seconds=1))"
             f".enqueue(kind='clip', pk='{uuid.uuid4()}')\nprint(r.id)"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert deferred.returncode == 0, deferred.stderr[-2000:]
        second = _eventually(lambda: (pid := scheduler_pid()) != first and pid, 60)
        assert second and second != first, (tmp_path / "worker.log").read_text()
        assert _eventually(lambda: connection.zcard("rq:scheduled:default") == 0
                           and connection.zcard("rq:finished:default") == 1, 60), "the deferred poll never ran"
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        log.close()


def test_a_batch_worker_does_what_is_queued_and_quits_without_starting_a_scheduler(request):
    """A scheduler started by a batch run outlived the jobs and kept `mv_worker --batch`
    from exiting (seen once as a hung test run)."""
    import types

    import redis
    from rq import Queue
    from rq.worker import SimpleWorker

    from mv.rqworker import Worker

    connection = redis.Redis(db=BATCH_DB)
    connection.flushdb()
    request.addfinalizer(connection.flushdb)
    queue = Queue("default", connection=connection)
    jobs = [queue.enqueue("time.sleep", 0) for _ in range(3)]
    worker = Worker([queue], connection=connection)
    worker.execute_job = types.MethodType(SimpleWorker.execute_job, worker)  # no fork of this threaded process
    assert worker.work(burst=True, with_scheduler=True) is True
    assert [job.get_status(refresh=True) for job in jobs] == ["finished"] * 3
    assert worker.scheduler._process is None and not connection.exists(LOCK)
