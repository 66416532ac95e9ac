"""Database errors that pass (locked, busy, serialization failure, a dropped connection) are
retried by the worker and never fail paid work; a request that meets one answers 503 with
Retry-After, never 500. Any SQLite database gets WAL, IMMEDIATE and a busy timeout."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError, connection, transaction

from mv import dbretry, flavors
from mv.models import Clip, JobStatus, Project
from mv.pipeline import rendering
from tests.test_restarts import ROOT, app_env, wait_until

sqlite_only = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="locks the SQLite file")


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _wrapped(message: str, cause: Exception | None = None) -> OperationalError:
    error = OperationalError(message)
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("error", [_wrapped("database is locked"), _wrapped("database table is locked"),
                                   _wrapped("could not serialize access", _PgError("40001")),
                                   _wrapped("deadlock detected", _PgError("40P01")),
                                   _wrapped("server closed the connection unexpectedly")])
def test_errors_that_pass_are_told_apart(error):
    assert dbretry.is_transient(error)


@pytest.mark.parametrize("error", [_wrapped("no such table: mv_clip"), ValueError("database is locked"), None])
def test_other_errors_are_not_retried(error):
    assert not dbretry.is_transient(error)


def test_a_unit_of_work_is_run_again_after_a_lock_and_not_inside_a_transaction(transactional_db, settings):
    settings.MV_DB_RETRY_SECONDS = 30
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _wrapped("database is locked")
        return "done"

    assert dbretry.call(flaky) == "done" and len(calls) == 3
    calls.clear()
    with transaction.atomic(), pytest.raises(OperationalError):
        dbretry.call(flaky)  # a statement inside a broken transaction is never repeated
    assert len(calls) == 1


def test_a_sqlite_database_url_gets_wal_immediate_and_the_busy_timeout(tmp_path):
    path = tmp_path / "elsewhere.sqlite3"
    script = ("import django; django.setup(); from django.conf import settings; from django.db import connection; "
              "import json; c = connection.cursor(); c.execute('PRAGMA journal_mode'); "
              "print(json.dumps([settings.DATABASES['default']['OPTIONS'], c.fetchone()[0]]))")
    env = app_env_without_database() | {"DATABASE_URL": f"sqlite:///{path}", "MV_SQLITE_TIMEOUT": "7"}
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    options, journal = json.loads(run.stdout.strip().splitlines()[-1])
    assert options["transaction_mode"] == "IMMEDIATE" and options["timeout"] == 7
    assert "journal_mode=WAL" in options["init_command"] and journal == "wal"


def app_env_without_database() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MV_", "REPLICATE_", "DATABASE_URL"))}
    return env | {"DJANGO_SETTINGS_MODULE": "mvsite.settings", "DEBUG": "true", "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def locked_database():
    """Another connection holds SQLite's write lock (readers go on: WAL) until the block ends."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], timeout=30, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextlib.contextmanager
def short_busy_timeout(seconds: float):
    """This process's connection gives up on a lock after ``seconds`` (a lock held longer is
    "past the busy timeout")."""
    options = connection.settings_dict["OPTIONS"]
    before = options.get("timeout")
    connection.close()
    options["timeout"] = seconds
    try:
        yield
    finally:
        connection.close()
        options["timeout"] = before


@sqlite_only
def test_requests_that_meet_a_locked_database_answer_503_with_retry_after(alice_client, user):
    with short_busy_timeout(0.2):
        alice_client.get("/")  # the session is read once before the lock (then it comes from the cache)
        with locked_database():
            api = alice_client.post("/api/mv/create_scenes", json.dumps({"idea": "a locked night"}),
                                    content_type="application/json")
            page = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                         "video_description": "a locked night"})
            reading = alice_client.get("/")  # a page that only reads: WAL serves it beside the lock
        assert api.status_code == 503 and api["Retry-After"].isdigit()
        body = api.json()
        assert body["error"] == "busy" and "try again" in body["message"]
        assert page.status_code == 503 and page["Retry-After"].isdigit()
        assert "Busy for a moment" in page.content.decode() and "Traceback" not in page.content.decode()
        assert reading.status_code == 200
        assert Project.objects.count() == 0
        after = alice_client.post("/api/mv/create_scenes", json.dumps({"idea": "a locked night"}),
                                  content_type="application/json")
        assert after.status_code in (200, 201, 202), after.content  # the lock is gone: the same request works


@sqlite_only
@pytest.mark.slow
def test_clips_finishing_while_the_database_is_locked_past_its_busy_timeout_all_succeed(
        fake_replicate, user, alice_client, settings, tmp_path):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    fake_replicate.hold("google/veo-3.1")
    ids = [rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=f"locked {i}").pk
           for i in range(4)]
    env = app_env(settings, MV_PROVIDER="replicate", REPLICATE_API_TOKEN=fake_replicate.token,
                  REPLICATE_BASE_URL=fake_replicate.url, MV_POLL_INTERVAL="0.2", MV_TASKS_BACKEND="db",
                  MV_SQLITE_TIMEOUT="0.3", MV_WORKER_PROCESSES="2")
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "manage.py", "mv_worker", "--interval", "0.1"], cwd=ROOT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    answers = []
    try:
        assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.RUNNING)
                          .exclude(prediction_id="").count() == 4, 120)
        # Both queue processes are inside a poll (its answer held) when the lock is taken; the
        # answer then says "succeeded", so each finishes its clip with the database locked.
        fake_replicate.hold_answers("GET", r"^/v1/predictions/[a-z0-9]+$")
        assert wait_until(lambda: fake_replicate.answers_waiting() == 2, 120)
        with short_busy_timeout(0.2):
            with locked_database():
                fake_replicate.release("google/veo-3.1")  # they finish at the provider now
                fake_replicate.release_answers()
                # Held until both processes have met the lock finishing, several busy timeouts over.
                assert wait_until(lambda: Path(log).read_text().count("trying again in") >= 4, 120), \
                    Path(log).read_text()[-3000:]
                answers.append(alice_client.post("/api/mv/create_scenes", json.dumps({"idea": "x"}),
                                                 content_type="application/json"))
                answers.append(alice_client.get(f"/api/mv/get_video/{ids[0]}/info"))
                assert Clip.objects.filter(pk__in=ids, status__in=[JobStatus.FAILED, JobStatus.SUCCEEDED]).count() == 0
            assert wait_until(lambda: Clip.objects.filter(pk__in=ids, status=JobStatus.SUCCEEDED).count() == 4, 120), \
                list(Clip.objects.filter(pk__in=ids).values_list("status", "error"))
    finally:
        fake_replicate.release_answers()
        worker.kill()
        worker.wait(10)
    assert [a.status_code for a in answers if a.status_code >= 500] == [503]  # the write; the read was served
    assert all(a.status_code != 500 for a in answers)
    assert fake_replicate.creates() == 4
    assert "Traceback" not in Path(log).read_text()


@pytest.mark.urls("tests.error_urls")
@pytest.mark.parametrize("debug", [False, True])
def test_a_view_meeting_a_locked_database_answers_503_not_500(db, settings, debug):
    from django.test import Client

    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    page, api = client.get("/locked/"), client.get("/api/locked/")
    assert page.status_code == 503 and page["Retry-After"] == str(settings.MV_DB_RETRY_AFTER)
    assert "Busy for a moment" in page.content.decode() and "database is locked" not in page.content.decode()
    assert api.status_code == 503 and api.json()["error"] == "busy" and "locked" not in api.json()["message"]


@pytest.mark.urls("tests.error_urls")
def test_a_middleware_meeting_a_locked_database_answers_503_not_500(db, settings):
    from django.test import Client

    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.error_urls.LockedMiddleware"]
    client = Client(raise_request_exception=False)
    page, api = client.get("/locked-early/"), client.get("/api/locked-early/")
    assert page.status_code == 503 and "Busy for a moment" in page.content.decode()
    assert api.status_code == 503 and api.json()["error"] == "busy" and api["Retry-After"]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="drops a PostgreSQL connection")
def test_a_dropped_postgresql_connection_is_opened_again_and_the_work_done(transactional_db, settings):
    import psycopg

    settings.MV_DB_RETRY_SECONDS = 30
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                         dbname=db["NAME"], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])  # as a restarted server or a proxy would
    attempts = []

    def count_projects() -> int:
        attempts.append(1)
        return Project.objects.count()

    assert dbretry.call(count_projects) == 0 and len(attempts) == 2  # the first met the dropped connection
    assert connection.connection.info.backend_pid != pid
