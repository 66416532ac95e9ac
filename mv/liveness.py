"""Who claimed a start, and whether that process still runs: a start whose claimer is gone
is reconciled now (mv.jobs), one whose claimer runs is left to it.

An identity is ``host/pid/start time`` (the start time from /proc, so a reused pid is not
taken for the claimer). Only this machine's processes can be checked; for a claim made on
another machine the answer is "unknown" and MV_START_GRACE decides.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
from collections.abc import Iterator

# Rows this process is starting right now (their create may be in flight in another thread).
_starting: set[str] = set()
_lock = threading.Lock()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] == b"Z":  # a zombie is gone
        return None
    return fields[19].decode()


@functools.cache
def _host() -> str:
    return socket.gethostname()


def identity() -> str:
    pid = os.getpid()
    return f"{_host()}/{pid}/{_start_time(pid) or '?'}"


def claimer_gone(claimer: str) -> bool | None:
    """True when the claiming process has ended, False while it runs, None when it cannot be
    told (another machine). An empty claimer: nobody is inside the start any more."""
    if not claimer:
        return True
    host, _, rest = claimer.partition("/")
    pid, _, started = rest.partition("/")
    if host != _host() or not pid.isdigit():
        return None
    if claimer == identity():
        return False  # this very process: the caller asks is_starting()
    if started == "?":  # no /proc here: only whether the pid runs
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return _start_time(int(pid)) != started


def claimer_is_me(claimer: str) -> bool:
    return claimer == identity()


@contextlib.contextmanager
def starting(pk: object) -> Iterator[None]:
    """Inside, the row is being started by this process (its create may be in flight)."""
    with _lock:
        _starting.add(str(pk))
    try:
        yield
    finally:
        with _lock:
            _starting.discard(str(pk))


def is_starting(pk: object) -> bool:
    with _lock:
        return str(pk) in _starting
