"""RQ pieces for ``manage.py mv_worker`` with MV_TASKS_BACKEND=rq.

Deferred tasks (every poll of a running prediction) run only while some worker holds the
queue's scheduler lock. A worker killed while holding it keeps it for 61 s, and RQ's other
workers only try again at their maintenance run (every 10 minutes by default): polls would
stall that long. So a starting worker frees a lock whose holder was a process on this machine
that is gone, and our workers retry every minute."""

from __future__ import annotations

import socket

from rq import Worker as RQWorker
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

from mv.jobs import process_alive

MAINTENANCE_SECONDS = 60


class Worker(RQWorker):
    """An RQ worker that looks for an orphaned scheduler lock every minute."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)


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

