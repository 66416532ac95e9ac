"""The locks a finish takes, in the one order every writer uses (the project row, then the
slot lock, then the rows themselves), and the signal that starts rows granted a slot.

A prediction's finish and everything it causes commit in one transaction; locking the
project row first serializes the finishes of one project (two last clips finishing at once:
the second sees the first's finish and stitches, exactly once), on PostgreSQL as on SQLite.
"""

from __future__ import annotations

import zlib
from typing import Any

from django.db import connection
from django.dispatch import Signal


# Sent with the rows a start or a finish granted a slot to (sender: their model class): their
# chains are started once the grant commits (mv.pipeline.followups).
slots_granted = Signal()


def lock_project(pk: Any) -> None:
    """Lock a project's row to the end of the transaction: a finish and everything it causes
    in that project are written by one transaction at a time (on SQLite the IMMEDIATE
    transaction holds the database's write lock already)."""
    from django.apps import apps

    list(apps.get_model("mv", "Project").objects.select_for_update().filter(pk=pk).values_list("pk", flat=True))


def lock_slots(kind: type, provider: str) -> None:
    """The slot lock of one kind on one provider, to the end of the transaction: grants and
    the finishes that free slots run one at a time. PostgreSQL: an advisory transaction lock
    (no row lock, so it cannot cross a row lock held elsewhere); SQLite's IMMEDIATE
    transactions hold the write lock already."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"mv-slots:{kind._meta.label}:{provider}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
