"""The API's ``wait``: hold a request open until its work is finished, without letting waiting
requests take the site down.

Each web process lends at most ``MV_WAIT_SLOTS`` of its threads to waiting (keep it below the
threads per process), each for at most ``MV_MAX_WAIT_SECONDS``. When every slot is taken the
request answers at once (202 with its status URL, like ``wait: 0``), so logins and pages always
find a free thread.
"""

from __future__ import annotations

import threading

from django.conf import settings

from mv import jobs

_slots: threading.BoundedSemaphore | None = None
_slots_size = 0
_lock = threading.Lock()


def _pool() -> threading.BoundedSemaphore:
    global _slots, _slots_size
    with _lock:
        if _slots is None or _slots_size != settings.MV_WAIT_SLOTS:  # a changed setting (tests) makes a new pool
            _slots, _slots_size = threading.BoundedSemaphore(max(0, settings.MV_WAIT_SLOTS)), settings.MV_WAIT_SLOTS
        return _slots


def wait_for(rows: list, seconds: float | None) -> bool:
    """Whether all rows are finished, waiting up to min(seconds, MV_MAX_WAIT_SECONDS) if a
    waiting slot is free (else just looking once)."""
    seconds = min(max(0.0, seconds or 0.0), settings.MV_MAX_WAIT_SECONDS)
    if seconds <= 0:
        return jobs.wait_for(rows, 0)
    pool = _pool()
    if not pool.acquire(blocking=False):
        return jobs.wait_for(rows, 0)
    try:
        return jobs.wait_for(rows, seconds)
    finally:
        pool.release()
