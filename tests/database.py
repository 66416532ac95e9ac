"""Which tests the PostgreSQL pass runs, how the test database is emptied between tests there,
and a migrated SQLite file for tests that start the app in a subprocess on a database of their own."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Fixtures that open the test database (pytest-django's, and the live server that serves from it).
DATABASE_FIXTURES = frozenset({"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                               "live_server"})


def on_postgresql() -> bool:
    from django.conf import settings

    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


def uses_the_database(item: pytest.Item) -> bool:
    """A test whose outcome can depend on the database engine: it opens the test database
    (pytest-django refuses any other test a query) or is about PostgreSQL itself. A test that
    starts the app in a subprocess on a SQLite file of its own (MV_SQLITE_PATH) does not."""
    return bool(DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))) or any(
        item.get_closest_marker(name) for name in ("django_db", "postgres"))


def keep_database_tests(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, leave out the tests that use no database: the SQLite pass ran them, and
    nothing in them can differ by engine."""
    if not on_postgresql():
        return
    kept = [item for item in items if uses_the_database(item)]
    left = [item for item in items if not uses_the_database(item)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


# Made by `migrate` once and never changed by a test: a flush leaves them in place, so it need
# not run the post_migrate handlers that would write them again (~25 queries after every test).
STATIC_TABLES = frozenset({"django_content_type", "auth_permission"})


def _cheaper_flush(sql_flush, *, delete: bool):
    """Leaves out STATIC_TABLES. On PostgreSQL (``delete``) also DELETE instead of TRUNCATE:
    TRUNCATE of the app's ~45 tables takes ~0.4 s with fsync on (it replaces every table's
    files), while a test leaves a few rows, which DELETE removes in milliseconds. Django creates
    every foreign key DEFERRABLE INITIALLY DEFERRED and runs the flush in one transaction, so
    the order of the DELETEs does not matter."""

    def flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        tables = [table for table in tables if table not in STATIC_TABLES]
        if delete and not (reset_sequences or allow_cascade):
            return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]
        return sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)

    return flush


@pytest.fixture(scope="session", autouse=True)
def _cheap_flush():
    from django.core.management.commands import flush
    from django.db import connection

    operations = type(connection.ops)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "sql_flush", _cheaper_flush(operations.sql_flush, delete=on_postgresql()))
        patch.setattr(flush, "emit_post_migrate_signal", lambda *args, **kwargs: None)
        yield


def app_environment(**extra: str) -> dict[str, str]:
    """The environment of a child process running the app with its real settings (none of
    this run's MV_, REPLICATE_ or database settings leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MV_", "REPLICATE_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="mvsite.settings", **extra)
    return env


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory, django_db_setup, django_db_blocker) -> Path:
    """A SQLite file as `manage.py migrate` leaves it. On the SQLite pass it is a copy of the
    test database right after pytest-django migrated it (nothing in it yet); otherwise
    `migrate` runs once, here. (pytest-django makes no test database when no test of the
    session uses one: the connection then still names the development file.)"""
    from django.db import connection

    template = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
    test_database = connection.settings_dict["NAME"] == connection.settings_dict.get("TEST", {}).get("NAME")
    with django_db_blocker.unblock():
        if connection.vendor == "sqlite" and test_database and not connection.is_in_memory_db():
            connection.ensure_connection()
            with sqlite3.connect(template) as copy:
                connection.connection.backup(copy)
            return template
    done = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, capture_output=True, text=True,
                          env=app_environment(MV_SQLITE_PATH=str(template)), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return template


@pytest.fixture
def migrated_sqlite(_migrated_sqlite_template, tmp_path) -> Path:
    """This test's own migrated SQLite file, for the app it starts in a subprocess."""
    path = tmp_path / "own.sqlite3"
    shutil.copyfile(_migrated_sqlite_template, path)
    return path


def closes_its_connections(function):
    """For a function a test runs on threads of its own: each such thread opens its own
    database connection, which Django closes only at the end of a request, so one left open
    kept PostgreSQL from dropping the test database at the end of the run (and 50 of them
    from one test ate half of its connection slots)."""
    import functools

    from django.db import connections

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run
