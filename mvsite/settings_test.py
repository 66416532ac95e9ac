"""Test settings: the real settings with the offline provider, immediate tasks and a
throwaway media folder. DATABASE_URL still applies, so the suite runs on PostgreSQL too."""

import os
import tempfile
from pathlib import Path

# The real settings refuse to start without a SECRET_KEY when DEBUG is off; the tests (and
# the servers and workers they start as subprocesses) run with DEBUG off and a throwaway key.
os.environ.setdefault("SECRET_KEY", "test-only-" + os.urandom(16).hex())

from mvsite.settings import *  # noqa: E402, F403

MV_PROVIDER = "local"
REPLICATE_API_TOKEN = ""
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
MV_TASKS_BACKEND = "immediate"
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="mv-test-media-"))
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MV_POLL_INTERVAL = 0.02
MV_LOCAL_RENDER_SIZE = "160x90"  # the local renderer's clips: a third of the ffmpeg time of 640x360
MV_API_KEYS = ["test-api-key"]
MV_ALLOW_PRIVATE_URLS = True  # the tests serve song and video URLs from 127.0.0.1
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: the web thread and background task threads of the
    # browser tests then share it the way the real server and worker do (WAL, busy timeout).
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.mkdtemp(prefix="mv-test-db-")) / "test.sqlite3")}  # noqa: F405
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # The test database is thrown away: a commit need not wait for its WAL to reach the disk.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
