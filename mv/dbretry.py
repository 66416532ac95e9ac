"""Database errors that pass: SQLite's "database is locked" / busy, PostgreSQL's
serialization failures and deadlocks, a connection that dropped. The worker retries the
whole unit of work they hit (with backoff, ``call``); a request that meets one answers 503
with Retry-After (mv.error_pages). Never retried inside a transaction: a statement inside a
broken transaction cannot be repeated, so the error goes up to whoever runs the whole one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections

logger = logging.getLogger("mv.dbretry")

T = TypeVar("T")

# SQLSTATEs of PostgreSQL errors that pass: serialization_failure, deadlock_detected,
# lock_not_available, and the connection exceptions (class 08), admin shutdown, cannot connect now.
_PG_TRANSIENT = ("40001", "40P01", "55P03", "57P01", "57P03")
_MESSAGES = ("database is locked", "database table is locked", "database is busy", "server closed the connection",
             "connection reset", "connection refused", "terminating connection", "could not connect",
             "connection already closed", "the connection is closed", "connection timed out", "ssl connection has been closed")


def is_transient(exc: BaseException) -> bool:
    """Whether asking again, a little later, may well succeed."""
    if not isinstance(exc, DatabaseError):
        return False
    cause = exc.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None) or ""
    if code in _PG_TRANSIENT or code.startswith("08"):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        text = str(exc).lower()
        return any(message in text for message in _MESSAGES)
    return False


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` (a whole unit of work: its own transactions, none around it), again after
    a transient database error, backing off up to MV_DB_RETRY_SECONDS in all; then the
    error goes up. Inside a transaction it runs once (the caller retries the transaction)."""
    deadline = time.monotonic() + settings.MV_DB_RETRY_SECONDS
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except DatabaseError as exc:
            if not is_transient(exc) or any(c.in_atomic_block for c in connections.all(initialized_only=True)):
                raise
            attempt += 1
            pause = min(5.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.0)
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("database busy (%s); trying again in %.2f s (attempt %d)", _short(exc), pause, attempt)
            _drop_broken_connections()
            time.sleep(pause)


def _drop_broken_connections() -> None:
    """A connection that dropped is opened again on next use."""
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.is_usable():
            connection.close()


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
