"""Settings from the environment, SQLite WAL, login, the first-run admin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from tests.database import app_environment
from tests.test_scaleout import redis_up

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=app_environment(**env), capture_output=True,
                          text=True, timeout=60)


def test_provider_is_local_without_a_token_and_replicate_with_one():
    code = "import django; django.setup(); from django.conf import settings; print(settings.MV_PROVIDER)"
    assert run_python(code).stdout.strip() == "local"
    assert run_python(code, REPLICATE_API_TOKEN="r8_x").stdout.strip() == "replicate"


def test_bad_boolean_setting_is_a_clear_configuration_error():
    result = run_python("import django; django.setup()", MV_DEBUG_MODE="maybe")
    assert result.returncode != 0 and "MV_DEBUG_MODE must be true or false" in result.stderr


def test_a_page_poll_interval_of_zero_is_a_clear_configuration_error():
    result = run_python("import django; django.setup()", MV_PAGE_POLL_SECONDS="0")
    assert result.returncode != 0 and "MV_PAGE_POLL_SECONDS must be a number of seconds above 0" in result.stderr


@pytest.mark.parametrize("days", ["0", "inf", "1e9"])
def test_a_parts_pruning_age_out_of_range_is_a_clear_configuration_error(days):
    result = run_python("import django; django.setup()", MV_PRUNE_PARTS_UNUSED_DAYS=days)
    assert result.returncode != 0 and "MV_PRUNE_PARTS_UNUSED_DAYS must be a number of days above 0" in result.stderr


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 20000


def test_pages_need_login(client, transactional_db):
    for url in ("/", "/create/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_ensure_admin_creates_the_admin_once_and_prints_the_password(transactional_db, capsys, settings):
    settings.MV_ADMIN_PASSWORD = ""
    call_command("ensure_admin")
    first = capsys.readouterr().out
    assert "Created 'admin' with password: " in first
    password = first.split("password: ")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
    call_command("ensure_admin")
    assert "already exists" in capsys.readouterr().out
    assert get_user_model().objects.filter(username="admin").count() == 1


def test_ensure_admin_uses_the_configured_password(transactional_db, settings):
    settings.MV_ADMIN_PASSWORD = "s3cret-pass"
    call_command("ensure_admin")
    assert get_user_model().objects.get(username="admin").check_password("s3cret-pass")


def test_media_files_have_no_public_url_even_with_debug(settings):
    """Media are served only through the API's ownership checks, never as /media/ files."""
    import importlib

    import mvsite.urls

    settings.DEBUG = True
    try:
        patterns = importlib.reload(mvsite.urls).urlpatterns
        assert not [p for p in patterns if str(p.pattern).lstrip("^").startswith("media")]
    finally:
        settings.DEBUG = False
        importlib.reload(mvsite.urls)


def test_a_secret_key_of_spaces_is_refused():
    """A blank key is no secret: with DEBUG off or on, a SECRET_KEY of spaces stops every command."""
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY[:13])"
    for debug in ("false", "true"):
        spaces = run_python(code, DEBUG=debug, SECRET_KEY="   \t  ")
        assert spaces.returncode != 0 and "SECRET_KEY is only spaces" in spaces.stderr
    assert run_python(code, DEBUG="false", SECRET_KEY="k" * 50).stdout.strip() == "k" * 13


@pytest.mark.redis
@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_a_logout_in_one_web_process_ends_the_session_in_the_others(migrated_sqlite):
    """Deployed (MV_TASKS_BACKEND=rq) the web processes share the sessions' cache in Redis: a
    process that had read a session before it was deleted elsewhere no longer accepts it."""
    import redis

    env = app_environment(MV_TASKS_BACKEND="rq", REDIS_URL="redis://127.0.0.1:6379/10", MV_SQLITE_PATH=str(migrated_sqlite))
    redis.Redis(db=10).flushdb()
    setup = "import sys, django; django.setup()\nfrom django.contrib.sessions.backends.cached_db import SessionStore\n"
    web_a = subprocess.Popen([sys.executable, "-c", setup + (
        "s = SessionStore(); s['_auth_user_id'] = '1'; s.create(); print(s.session_key, flush=True)\n"
        "SessionStore(s.session_key).load()\n"  # read once: now in this process's view of the cache
        "sys.stdin.readline()\n"
        "print('alive' if SessionStore(s.session_key).load() else 'ended', flush=True)")],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        key = web_a.stdout.readline().strip()
        logout = subprocess.run([sys.executable, "-c", setup + f"SessionStore('{key}').delete()"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert logout.returncode == 0, logout.stderr[-2000:]
        answer, _ = web_a.communicate("go\n", timeout=60)
    finally:
        web_a.kill()
        redis.Redis(db=10).flushdb()
    assert answer.strip() == "ended"
