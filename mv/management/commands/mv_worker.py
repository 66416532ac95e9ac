"""The background worker: pick up what a crash left, warm the music analysis up, then run
the task queue in several processes (``MV_WORKER_PROCESSES``), so the finishing work of many
clips (download, checks, poster) runs side by side instead of one clip after another."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connections

from mv import dbretry, music, storage, tasks

logger = logging.getLogger("mv.worker")


class Command(BaseCommand):
    help = ("Run MV Studio's background worker: resume interrupted jobs and song analyses, prune media files "
            "no row points at, warm up the music analysis, then run the task queue in --processes processes "
            "(the database queue, or RQ with MV_TASKS_BACKEND=rq; start as many as you like).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between queue checks when idle (db)")
        parser.add_argument("--batch", action="store_true", help="process what is queued, then exit")
        parser.add_argument("--processes", type=int, default=None,
                            help="queue-running processes (default MV_WORKER_PROCESSES)")
        parser.add_argument("--queue-only", action="store_true", help="(internal) run the queue in this process only")

    def handle(self, *args, interval: float, batch: bool, processes: int | None, queue_only: bool, **options) -> None:
        if not queue_only:
            resumed = tasks.resume_interrupted()
            if resumed:
                self.stdout.write(f"resumed {resumed} interrupted job(s)")
            if settings.MV_TASKS_BACKEND == "rq":
                import django_rq

                from mv import rqworker

                if rqworker.free_dead_scheduler_lock(django_rq.get_connection("default")):
                    self.stdout.write("freed the scheduler lock a killed worker held")
            pruned = storage.prune_unreferenced(settings.MV_PRUNE_MEDIA_AFTER)
            if pruned:
                self.stdout.write(f"removed {len(pruned)} media file(s) a killed process left behind")
            music.warm_up()  # the beat tracker compiles now (seconds, once), not on a user's first song
            count = max(1, processes or settings.MV_WORKER_PROCESSES)
            if count > 1:
                sys.exit(self._run_several(count, interval, batch))
        self._run_queue(interval, batch)

    @staticmethod
    def _run_queue(interval: float, batch: bool) -> None:
        if settings.MV_TASKS_BACKEND == "rq":
            call_command("rqworker", "default", with_scheduler=True, job_class="django_tasks_rq.Job", burst=batch,
                         worker_class="mv.rqworker.Worker")
        else:
            # db_worker ends on a "database is locked" met while taking its next task (outside
            # the part it guards): the queue runs on once the database is free again.
            pause = 0.1
            while True:
                try:
                    call_command("db_worker", interval=interval, reload=False, queue_name="*", batch=batch,
                                 startup_delay=False)
                    return
                except DatabaseError as exc:
                    if not dbretry.is_transient(exc):
                        raise
                    logger.warning("database busy (the queue met it); running the queue again in %.1f s", pause)
                    connections.close_all()
                    time.sleep(pause)
                    pause = min(5.0, pause * 2)

    def _run_several(self, count: int, interval: float, batch: bool) -> int:
        """Run the queue in ``count`` child processes; a stop signal is passed on to them."""
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "mv_worker", "--queue-only",
                   "--interval", str(interval), *(["--batch"] if batch else [])]
        children = [subprocess.Popen(command, preexec_fn=_die_with_parent) for _ in range(count)]

        def stop(signum, frame) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"running the queue in {count} processes")
        self.stdout.flush()
        codes = [child.wait() for child in children]
        return max(codes, default=0)


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()  # found in the parent: a forked child must not look it up (find_library runs programs)


def _die_with_parent() -> None:
    """A worker killed outright takes its queue processes with it (Linux), as one process
    would go: what they were doing is resumed by the next worker start."""
    prctl = getattr(_LIBC, "prctl", None)
    if prctl is not None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
