"""MV Studio settings: every value comes from the environment, with safe defaults.

This is the only module that reads ``os.environ``; the app reads ``django.conf.settings``.
"""

from __future__ import annotations

import math
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def envfloat(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None


def envlimit(name: str, kind: type[int] | type[float], minimum: int | float) -> int | float | None:
    """An optional limit: unset or empty is ``None`` (no limit), else a number >= ``minimum``."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        raise ImproperlyConfigured(f"{name} must be {what} of at least {minimum} (or unset for no limit), not {raw!r}")
    return value


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def kept_secret(path: Path) -> str:
    """The secret kept in `path`, made (random, readable by this user only) the first time:
    a fresh clone runs every command with no environment, and the key survives restarts. Two
    processes starting together agree: the file appears whole (a hard link) or not at all."""
    if not path.exists():
        import secrets

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(64))
            try:
                os.link(temp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
            finally:
                os.unlink(temp)
        except OSError as exc:
            raise ImproperlyConfigured(f"SECRET_KEY is not set and {path} cannot be written ({exc.strerror}): "
                                       f"set SECRET_KEY or MV_SECRET_KEY_FILE") from None
    value = path.read_text().strip()
    if not value:
        raise ImproperlyConfigured(f"{path} is empty: delete it (a new key is made) or set SECRET_KEY")
    return value


# DEBUG (Django's debug pages) is a developer's opt-in. The secret key: SECRET_KEY when set
# (production: the same on every machine), else one made once and kept in a git-ignored file.
DEBUG = envbool("DEBUG", False)
if env("SECRET_KEY") and not env("SECRET_KEY").strip():  # only spaces is no secret either
    raise ImproperlyConfigured("SECRET_KEY is only spaces: set a long random value, or unset it to use the kept key")
SECRET_KEY = env("SECRET_KEY") or kept_secret(Path(env("MV_SECRET_KEY_FILE", str(BASE_DIR / ".secret_key"))))
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "mv",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A view's database error that passes (locked, busy) answers 503 + Retry-After (mv.error_pages).
    "mv.error_pages.TransientDatabaseErrorMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "mvsite.urls"
WSGI_APPLICATION = "mvsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "mv.context_processors.provider",
                "mv.context_processors.page_polls",
            ],
        },
    },
]

# Database: SQLite (WAL, busy timeout) by default; DATABASE_URL for PostgreSQL (or SQLite elsewhere).
# The web process and the worker share a SQLite file: WAL lets readers run beside the writer,
# and IMMEDIATE + a busy timeout queue writers instead of failing with "database is locked".
# Every SQLite database gets them, the default path and any sqlite:/// DATABASE_URL alike.
MV_SQLITE_TIMEOUT = envfloat("MV_SQLITE_TIMEOUT", 30.0)
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": MV_SQLITE_TIMEOUT,
}
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("MV_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Kept open between requests and tasks: opening one (the PRAGMAs below and the
            # functions Django registers on each connection) cost more than a status poll.
            "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", 60),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**_SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
# How long in all the worker keeps retrying a unit of work that met a database error that
# passes (locked, busy, serialization failure, dropped connection), backing off (mv.dbretry);
# and the Retry-After a request that meets one answers with its 503.
MV_DB_RETRY_SECONDS = envfloat("MV_DB_RETRY_SECONDS", 300.0)
MV_DB_RETRY_AFTER = envint("MV_DB_RETRY_AFTER", 2)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logins and API keys: django-axes refuses an address or a user name after repeated failures.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "mv.auth.ApiKeyBackend",
]
AXES_FAILURE_LIMIT = envint("MV_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=envfloat("MV_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = "mv.auth.lockout_parameters"
AXES_LOCKOUT_CALLABLE = "mv.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "mv.auth.client_ip"
AXES_HANDLER = "mv.auth.LockoutHandler"  # separate counts per address and per user name
AXES_RESET_ON_SUCCESS = True  # only the user's own failures from that address (LockoutHandler)
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Sessions are read from the cache first, so a status poll costs no session query. The cache is
# the process's own unless MV_TASKS_BACKEND=rq (below: Redis, shared): `make run` serves from
# one process; a deployment with several web processes runs RQ.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))

MV_STORAGE = env("MV_STORAGE", "local")
if MV_STORAGE == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env("AWS_S3_REGION_NAME") or None,
            "access_key": env("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env("AWS_SECRET_ACCESS_KEY") or None,
            "file_overwrite": False,
            "querystring_auth": False,
        },
    }
elif MV_STORAGE == "local":
    _default_storage = {"BACKEND": "mv.storage.AtomicFileSystemStorage"}
else:
    raise ImproperlyConfigured(f"MV_STORAGE must be 'local' or 's3', not {MV_STORAGE!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if envbool("MV_MANIFEST_STATIC", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Background work: the database backend and `manage.py db_worker` by default.
MV_TASKS_BACKEND = env("MV_TASKS_BACKEND", "db")
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
if MV_TASKS_BACKEND == "db":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif MV_TASKS_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
elif MV_TASKS_BACKEND == "rq":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    INSTALLED_APPS.append("django_rq")
    # Several web processes (and machines) then share the sessions' cache: with a cache of
    # each process's own, a logout in one left the session alive in the others.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "mv-cache"}}
else:
    raise ImproperlyConfigured(f"MV_TASKS_BACKEND must be db, immediate or rq, not {MV_TASKS_BACKEND!r}")

# MV Studio itself.
MV_CONFIGS_DIR = Path(env("MV_CONFIGS_DIR", str(BASE_DIR / "configs")))
MV_DEBUG_MODE = envbool("MV_DEBUG_MODE", False)
REPLICATE_API_TOKEN = env("REPLICATE_API_TOKEN")
REPLICATE_BASE_URL = env("REPLICATE_BASE_URL")
MV_PROVIDER = env("MV_PROVIDER", "replicate" if REPLICATE_API_TOKEN else "local")
# Providers by name, loaded by dotted path (like TASKS or STORAGES); rows store the name.
MV_PROVIDERS = {
    "replicate": "mv.providers.replicate.ReplicateProvider",
    "local": "mv.providers.local.LocalProvider",
    "upload": "mv.providers.footage.FootageProvider",  # your own clips, fitted here (never a project's provider)
}
if MV_PROVIDER not in MV_PROVIDERS or MV_PROVIDER == "upload":
    raise ImproperlyConfigured(f"MV_PROVIDER must be replicate or local, not {MV_PROVIDER!r}")
MV_API_KEYS = envlist("MV_API_KEYS")  # "username:key" entries; a bare key acts as MV_API_USER
MV_API_USER = env("MV_API_USER", "api")  # the user bare MV_API_KEYS entries act as
MV_ADMIN_PASSWORD = env("MV_ADMIN_PASSWORD")  # first-run admin password; generated when unset
MV_FFMPEG = env("MV_FFMPEG")  # explicit ffmpeg binary; else PATH, else imageio-ffmpeg's
MV_MAX_UPLOAD_MB = envint("MV_MAX_UPLOAD_MB", 50)
MV_MAX_SONG_SECONDS = envfloat("MV_MAX_SONG_SECONDS", 1800.0)  # longest song accepted, measured by decoding it
MV_PREDICTION_TIMEOUT = envfloat("MV_PREDICTION_TIMEOUT", 900.0)  # seconds before a prediction is cancelled
# Seconds between polls of one prediction: the steady interval, as the replicate client's own
# default (mv.polling waits longer while a model's usual run time has not passed, and when so
# many run that polling them this often would pass Replicate's request budget).
MV_POLL_INTERVAL = envfloat("MV_POLL_INTERVAL", 0.5)
# Seconds between a page's checks on what is running (a clip, the scene writer); the slower
# ones (the song's analysis, the full video's stitch) wait twice as long.
MV_PAGE_POLL_SECONDS = envfloat("MV_PAGE_POLL_SECONDS", 1.0)
if not MV_PAGE_POLL_SECONDS > 0:
    raise ImproperlyConfigured(f"MV_PAGE_POLL_SECONDS must be a number of seconds above 0, not {MV_PAGE_POLL_SECONDS}")
# Replicate webhooks: with the app's public address (https://studio.example.com) every
# prediction is created with a webhook for its completion, so a finished prediction is taken in
# at once and polling becomes a slow fallback (MV_WEBHOOK_POLL_INTERVAL). Deliveries are signed:
# the secret is REPLICATE_WEBHOOK_SECRET (whsec_...) or, when unset, asked of Replicate's API
# once. A delivery whose timestamp is more than MV_WEBHOOK_TOLERANCE seconds off is refused.
MV_PUBLIC_URL = env("MV_PUBLIC_URL").rstrip("/")
REPLICATE_WEBHOOK_SECRET = env("REPLICATE_WEBHOOK_SECRET")
MV_WEBHOOK_TOLERANCE = envint("MV_WEBHOOK_TOLERANCE", 300)
MV_WEBHOOK_POLL_INTERVAL = envfloat("MV_WEBHOOK_POLL_INTERVAL", 30.0)
# A start cut off before its prediction id was stored is reconciled (mv.jobs.reconcile): a
# claim made on another machine is left to it for MV_START_GRACE seconds (this machine's
# claims are checked by process); the provider's newest MV_RECONCILE_PAGES pages of
# predictions are searched for the create's key; a create the provider does not list is
# started again once MV_CREATE_TIMEOUT seconds have passed since it was sent (the client's
# own read timeout for a create: by then it has landed or never will).
MV_START_GRACE = envfloat("MV_START_GRACE", 120.0)
MV_RECONCILE_PAGES = envint("MV_RECONCILE_PAGES", 5)
MV_CREATE_TIMEOUT = envfloat("MV_CREATE_TIMEOUT", 30.0)
# Song and video URLs given by users may point at private or local hosts only when this is on.
MV_ALLOW_PRIVATE_URLS = envbool("MV_ALLOW_PRIVATE_URLS", False)
# A worker start deletes local media files no row points at once they are this old (seconds).
MV_PRUNE_MEDIA_AFTER = envfloat("MV_PRUNE_MEDIA_AFTER", 3600.0)
# ... and the clips' parts (cuts kept for reuse) no stitch has used for this many days.
MV_PRUNE_PARTS_UNUSED_DAYS = envfloat("MV_PRUNE_PARTS_UNUSED_DAYS", 30.0)
if not 0 < MV_PRUNE_PARTS_UNUSED_DAYS <= 36500:
    raise ImproperlyConfigured("MV_PRUNE_PARTS_UNUSED_DAYS must be a number of days above 0 and at most 36500, "
                               f"not {MV_PRUNE_PARTS_UNUSED_DAYS}")
# Predictions in flight at once. Replicate publishes request rates, not a cap on running
# predictions: 600 creates a minute and 3000 other requests a minute, short bursts allowed
# (https://replicate.com/docs/topics/predictions/rate-limits; a recorded answer showed 599
# creates left after one, so a minute's worth may come in one burst). Polls stay within 80 % of
# the 3000 however many run (mv.polling spaces them out), so the bound is the creates: a
# project's clips are created in one burst, and 100 is a sixth of a minute's creates, leaving the
# rest of that minute to regenerations, lipsyncs and other people's projects.
MV_MAX_CONCURRENT_PREDICTIONS = envint("MV_MAX_CONCURRENT_PREDICTIONS", 100)
# Processes `manage.py mv_worker` runs the task queue in: the starts and finishing work (download,
# checks, poster) of a project's clips run side by side; a clip costs 35-60 ms of worker CPU in
# all (bench fanout), one process taking 64 of them in turn adds seconds.
MV_WORKER_PROCESSES = envint("MV_WORKER_PROCESSES", 3)
# The API's `wait`: at most this many seconds, in at most this many threads per web process
# (keep it below the threads per process); when all are busy a request answers 202 at once.
MV_MAX_WAIT_SECONDS = envfloat("MV_MAX_WAIT_SECONDS", 30.0)
MV_WAIT_SLOTS = envint("MV_WAIT_SLOTS", 2)
MV_CREATE_RETRIES = envint("MV_CREATE_RETRIES", 4)
# Per user: US dollars of estimated paid work per UTC day, and predictions running at once
# (more wait in that user's own queue). Unset: no limit.
MV_USER_DAILY_BUDGET_USD = envlimit("MV_USER_DAILY_BUDGET_USD", float, 0)
MV_USER_MAX_ACTIVE_PREDICTIONS = envlimit("MV_USER_MAX_ACTIVE_PREDICTIONS", int, 1)
MV_LOCAL_RENDER_SIZE = env("MV_LOCAL_RENDER_SIZE", "640x360")
# With media in S3, a stitch fetches the files it lacks in this many threads at once and keeps
# them in a cache on local disk (shared by the machine's processes, least recently used evicted
# past MV_FILE_CACHE_MB; 0 keeps nothing), so a re-stitch downloads nothing it already has.
MV_FETCH_THREADS = envint("MV_FETCH_THREADS", 8)
MV_FILE_CACHE_DIR = Path(env("MV_FILE_CACHE_DIR", str(Path(tempfile.gettempdir()) / "mv-file-cache")))
MV_FILE_CACHE_MB = envint("MV_FILE_CACHE_MB", 2048)

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploads stop as soon as they pass MV_MAX_UPLOAD_MB (signed in) or the small body limit above
# (anyone else), before Django spools them to memory or disk.
FILE_UPLOAD_HANDLERS = [
    "mv.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Security headers and a Content Security Policy the pages work under (no inline script).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
CSRF_FAILURE_VIEW = "mv.error_pages.csrf_failure"  # the styled 403 page, JSON under /api/
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "media-src": [CSP.SELF, "blob:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
MV_BEHIND_TLS_PROXY = envbool("MV_BEHIND_TLS_PROXY", False)  # also: the client address is the proxy's last hop
if MV_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"console": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "mv": {"handlers": ["console"], "level": "DEBUG" if MV_DEBUG_MODE else "INFO", "propagate": False},
        "django_tasks_db": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.tasks": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
