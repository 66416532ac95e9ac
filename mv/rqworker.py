"""RQ pieces for ``manage.py mv_worker`` with MV_TASKS_BACKEND=rq.

Deferred tasks (every poll of a running prediction) run only while some worker's scheduler
holds the queue's scheduler lock. A worker killed while holding it keeps it for 61 s, and an
idle RQ worker only looks for a missing scheduler at its maintenance run, which waits behind a
blocking dequeue of up to 405 s: polls would stall that long. So a starting worker frees a lock
whose holder was a process on this machine that is gone, and our idle workers look every few
seconds whether the queue has a scheduler at all, starting one when it has none."""

from __future__ import annotations

import socket

from rq import Worker as RQWorker
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

from mv.jobs import process_alive

MAINTENANCE_SECONDS = 60
SCHEDULER_CHECK_SECONDS = 5


class Worker(RQWorker):
    """An RQ worker that starts a scheduler whenever the queue is left without one."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)

    def work(self, *args, **kwargs) -> bool:
        self.batch = kwargs.get("burst", args[0] if args else False)
        return super().work(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """Wake up from an idle wait every few seconds, to notice a missing scheduler."""
        return SCHEDULER_CHECK_SECONDS

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return super().should_run_maintenance_tasks or self._queue_has_no_scheduler()

    def _queue_has_no_scheduler(self) -> bool:
        """True when this worker could take the scheduler lock: nobody holds it, or its holder
        was a process of this host that is gone. Maintenance then starts our scheduler. Not in a
        batch run (``mv_worker --batch``): it does what is queued and quits, and a scheduler this
        check started between its jobs once kept it from exiting."""
        scheduler = getattr(self, "scheduler", None)
        if scheduler is None or self.last_cleaned_at is None or getattr(self, "batch", False):
            return False
        process = scheduler._process
        if process is not None and process.is_alive():
            return False
        return any(not self.connection.exists(RQScheduler.get_locking_key(name))
                   or free_dead_scheduler_lock(self.connection, name) for name in self.queue_names())


def free_dead_scheduler_lock(connection, queue: str = "default") -> bool:
    """Delete the queue's scheduler lock when its holder was a process of this host that no
    longer runs (a killed worker). True when it freed one."""
    lock = RQScheduler.get_locking_key(queue)
    holder = connection.get(lock)
    if holder is None:
        return False
    info = connection.hgetall(SCHEDULER_KEY_TEMPLATE % holder.decode())
    host, pid = info.get(b"hostname", b"").decode(), info.get(b"pid", b"").decode()
    if host != socket.gethostname() or not pid.isdigit() or process_alive(int(pid)):
        return False
    return bool(connection.delete(lock))
